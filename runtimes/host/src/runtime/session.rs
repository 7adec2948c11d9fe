//! One session's loop, but for its I/O: the [`Driver`]'s actions that need no socket of the
//! session's own are carried out here, through the [`Runtime`]; what is left for the adapter is
//! an [`Io`]. [`SessionLoop::look`] decides when to busy-poll and when to sleep.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thinftp::Input;

use super::data::{DataChannel, DataWait};
use super::Runtime;
use crate::busy_poll::Polling;
use crate::driver::{Action, Completion, Driver};
use crate::{Admission, Host};

/// What is left of the driver's actions for the adapter: the control connection and the timer.
#[derive(Debug)]
#[must_use = "every action is an obligation for the runtime"]
pub enum Io {
    /// Write all of these bytes to the control connection; if that fails, or takes longer than
    /// [`SessionLoop::write_timeout`], call [`SessionLoop::write_failed`].
    Write(Vec<u8>),
    /// Wake the session at this instant (in place of any earlier arming) and call
    /// [`SessionLoop::timer_fired`] then. A timer left armed from before is harmless.
    ArmTimer(Instant),
    /// The session is over: call [`SessionLoop::close`]. Nothing more comes.
    Close,
}

/// What [`SessionLoop::look`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Something came: carry out [`SessionLoop::poll_io`] again.
    Came,
    /// Nothing yet, within the busy-poll window: let others run for a moment (a spin, a yield)
    /// and look again.
    Again,
    /// Nothing: sleep until a report, the control connection (if
    /// [`wants_control`](SessionLoop::wants_control)) or the timer, then look again (or, for a
    /// report or the timer, hand it over and carry out [`poll_io`](SessionLoop::poll_io)).
    Wait,
}

/// Where a session is between two batches of actions: see [`SessionLoop::look`].
enum Idle {
    /// It has just answered: the next look that finds nothing may start a window.
    Answered,
    /// Busy-polling until this window is over.
    Polling(Polling),
    /// It waits (no window, or it is over) until something comes.
    Waiting,
}

/// One session: its [`Driver`], carried out through the runtime `R`.
pub struct SessionLoop<R: Runtime> {
    host: Arc<Host>,
    driver: Driver<TcpStream, DataWait<R>>,
    /// Cloned into every helper; held here too, so that the session's own channel never counts
    /// as closed while the session runs.
    runtime: R,
    idle: Idle,
}

impl<R: Runtime> SessionLoop<R> {
    /// The loop of the admitted control connection from `peer` to `local`; the server's shutdown
    /// reaches it through `runtime`.
    pub(super) fn new(
        host: Arc<Host>,
        admission: Admission,
        peer: std::net::SocketAddr,
        local: std::net::SocketAddr,
        runtime: R,
    ) -> Self {
        let now = Instant::now();
        let mut driver = Driver::new(Arc::clone(&host), admission, peer, local, now, R::BLOCKING);
        let stop = runtime.clone();
        driver.on_shutdown(move || stop.report(Completion::Input(Input::Shutdown)));
        SessionLoop {
            host,
            driver,
            runtime,
            idle: Idle::Answered,
        }
    }

    /// The next thing for the adapter to do, or `None` when there is nothing more until
    /// something comes ([`look`](Self::look)). Work, listeners and connects are started here.
    pub fn poll_io(&mut self) -> Option<Io> {
        loop {
            match self.driver.poll_action(Instant::now())? {
                Action::Write(bytes) => return Some(Io::Write(bytes)),
                Action::ArmTimer(at) => return Some(Io::ArmTimer(at)),
                Action::Close => return Some(Io::Close),
                Action::Run(job) => {
                    let not_started = job.not_started();
                    let name = job.name();
                    let (host, runtime) = (Arc::clone(&self.host), self.runtime.clone());
                    // The job enters the session's span itself.
                    let work = move || runtime.report(job.run(&host));
                    if let Err(e) = self.runtime.spawn(work) {
                        tracing::error!("cannot start a thread for {name}: {e}");
                        self.driver.complete(Completion::Input(not_started));
                    }
                }
                Action::Listen { id, ip, client } => {
                    let channel = self.channel(id);
                    let opened = self
                        .host
                        .open_passive(client, ip)
                        .and_then(|(listener, addr)| {
                            Ok((DataWait::accepting(listener, channel)?, addr))
                        });
                    self.driver.listening(id, opened);
                }
                Action::Connect { id, addr, timeout } => {
                    let channel = self.channel(id);
                    match self.runtime.connect(addr, timeout, channel) {
                        Ok(wait) => self.driver.connecting(id, DataWait::connecting(wait)),
                        Err(e) => {
                            tracing::error!("cannot start connecting to {addr}: {e}");
                            let result = Err(e);
                            self.driver.connecting(id, DataWait::connecting_failed());
                            self.driver
                                .complete(Completion::Connected { id, result, addr });
                        }
                    }
                }
            }
        }
    }

    fn channel(&self, id: thinftp::DataId) -> DataChannel<R> {
        DataChannel::new(id, self.runtime.clone(), self.driver.span().clone())
    }

    /// Looks, without waiting, at `report` (the next report already sent, if any: reports go
    /// first, as there is at most one of each kind at a time, while a client that keeps sending
    /// could starve them) and then at what the control connection has (`control` reads it without
    /// blocking: `WouldBlock` means nothing came).
    ///
    /// When nothing came, the first look after an answer may open a busy-poll window
    /// ([`crate::busy_poll`]): until it is over, the answer is [`Look::Again`]; then
    /// [`Look::Wait`] until something comes.
    pub fn look(&mut self, report: Option<Completion<TcpStream>>, control: &mut impl Read) -> Look {
        if let Some(report) = report {
            self.driver.complete(report);
        } else if !self.driver.read_control(control) {
            return self.nothing_came();
        }
        self.idle = Idle::Answered;
        Look::Came
    }

    fn nothing_came(&mut self) -> Look {
        if matches!(self.idle, Idle::Answered) {
            self.idle = match self.driver.busy_poll() {
                Some(window) => Idle::Polling(window),
                None => Idle::Waiting,
            };
        }
        match &self.idle {
            Idle::Polling(window) if !window.is_over() => Look::Again,
            _ => {
                // Gives the window's place back before the session sleeps.
                self.idle = Idle::Waiting;
                Look::Wait
            }
        }
    }

    /// Hands over a report the adapter waited for (one taken by [`look`](Self::look) needs
    /// nothing more); carry out [`poll_io`](Self::poll_io) then.
    pub fn complete(&mut self, report: Completion<TcpStream>) {
        self.driver.complete(report);
        self.idle = Idle::Answered;
    }

    /// The timer armed by [`Io::ArmTimer`] fired; carry out [`poll_io`](Self::poll_io) then.
    pub fn timer_fired(&mut self) {
        self.driver.timer_fired();
        self.idle = Idle::Answered;
    }

    /// Writing an [`Io::Write`] failed or timed out: the client is gone.
    pub fn write_failed(&mut self, e: &io::Error) {
        self.driver.write_failed(e);
    }

    /// How long writing one [`Io::Write`] may take.
    pub fn write_timeout(&self) -> Duration {
        self.driver.write_timeout()
    }

    /// Whether to wait on the control connection (not once it has ended).
    pub fn wants_control(&self) -> bool {
        self.driver.wants_control()
    }

    /// For [`Io::Close`]: shuts down the write half of `control` (the client reads FIN after the
    /// last reply) and ends the session, which closes the rest once the adapter drops
    /// `control`.
    pub fn close(self, control: &TcpStream) {
        let _ = control.shutdown(Shutdown::Write);
        drop(self);
    }
}
