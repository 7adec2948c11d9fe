//! One session as a task: the [`Driver`] on smol's sockets, timer and blocking pool.
//!
//! The task carries out the driver's actions, then waits for the first of three things, raced
//! with `futures_lite`'s `or`: a report on the session's channel (jobs run on
//! `blocking::unblock`; accepts and connects are small tasks of their own), the control socket
//! becoming readable, or the timer. Before it waits, it busy-polls the channel and the socket
//! for the window the driver allows, yielding to other tasks between looks: the client's next
//! command usually arrives within it, and then the executor thread never went to sleep.
//!
//! Reports travel boxed: an unbounded channel keeps a block of 31 slots allocated per session
//! once used, and boxing keeps that block small (a pointer a slot) for each of thousands of idle
//! sessions.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use async_channel::{Receiver, Sender};
use async_io::{Async, Timer};
use futures_lite::future::{self, FutureExt};
use futures_lite::AsyncWriteExt;
use thinftp::Input;
use thinftp_host::driver::{Action, Blocking, Completion, Driver};
use thinftp_host::{Admission, Host};

use crate::data::{Report, Waiter};

/// Runs the session of the admitted control connection `control` from `peer` until it closes.
/// Call it inside the session's span.
pub(crate) async fn run(
    host: Arc<Host>,
    control: Async<TcpStream>,
    peer: SocketAddr,
    admission: Admission,
) {
    let Ok(local) = control.get_ref().local_addr() else {
        return;
    };
    let mut driver = Driver::new(
        Arc::clone(&host),
        admission,
        peer,
        local,
        Instant::now(),
        Blocking::Never,
    );
    let (tx, rx) = async_channel::unbounded();
    let stop = tx.clone();
    driver.on_shutdown(move || {
        // Unbounded: never full; closed only once the session has ended.
        let _ = stop.try_send(Box::new(Completion::Input(Input::Shutdown)));
    });
    let mut task = SessionTask {
        host,
        control,
        driver,
        tx,
        rx,
        timer: Timer::never(),
        armed: false,
    };
    task.run().await;
}

struct SessionTask {
    host: Arc<Host>,
    control: Async<TcpStream>,
    driver: Driver<TcpStream, Waiter>,
    /// Cloned into every job and waiter; also keeps `rx` from ever reporting "closed".
    tx: Sender<Report>,
    rx: Receiver<Report>,
    timer: Timer,
    /// Whether `timer` is armed (and has not fired).
    armed: bool,
}

impl SessionTask {
    async fn run(&mut self) {
        loop {
            while let Some(action) = self.driver.poll_action(Instant::now()) {
                if !self.carry_out(action).await {
                    return;
                }
            }
            if !self.busy_poll().await {
                self.wait().await;
            }
        }
    }

    /// Carries out one action; false once the session is over.
    async fn carry_out(&mut self, action: Action<TcpStream>) -> bool {
        match action {
            Action::Write(bytes) => self.write(&bytes).await,
            Action::Run(job) => {
                let (host, tx) = (Arc::clone(&self.host), self.tx.clone());
                blocking::unblock(move || {
                    // The session may have closed meanwhile: then nobody wants the answer.
                    let _ = tx.try_send(Box::new(job.run(&host)));
                })
                .detach();
            }
            Action::Listen { id, ip, client } => {
                let (tx, span) = (self.tx.clone(), self.driver.span().clone());
                let opened = self
                    .host
                    .open_passive(client, ip)
                    .and_then(|(listener, addr)| {
                        Ok((Waiter::accepting(id, listener, tx, span)?, addr))
                    });
                self.driver.listening(id, opened);
            }
            Action::Connect { id, addr, timeout } => {
                let (tx, span) = (self.tx.clone(), self.driver.span().clone());
                let waiter = Waiter::connecting(id, addr, timeout, tx, span);
                self.driver.connecting(id, waiter);
            }
            Action::ArmTimer(at) => {
                self.timer.set_at(at);
                self.armed = true;
            }
            Action::Close => {
                let _ = self.control.get_ref().shutdown(Shutdown::Write);
                return false;
            }
            other => tracing::warn!(?other, "action not known to this runtime: ignored"),
        }
        true
    }

    async fn write(&mut self, bytes: &[u8]) {
        let timeout = async {
            Timer::after(self.driver.write_timeout()).await;
            Err(io::Error::from(io::ErrorKind::TimedOut))
        };
        let mut control = &self.control;
        if let Err(e) = control.write_all(bytes).or(timeout).await {
            self.driver.write_failed(&e);
        }
    }

    /// Looks at the channel and the control socket without waiting, for the window the driver
    /// allows; yields to the executor's other tasks between looks. True if something came.
    async fn busy_poll(&mut self) -> bool {
        let Some(window) = self.driver.busy_poll() else {
            return false;
        };
        while !window.is_over() {
            if let Ok(report) = self.rx.try_recv() {
                self.driver.complete(*report);
                return true;
            }
            if self.driver.read_control(&mut self.control.get_ref()) {
                return true;
            }
            future::yield_now().await;
        }
        false
    }

    /// Waits for the next event and hands it to the driver. Reports go first: they are bounded
    /// (one request of each kind at a time), so they cannot starve the control connection,
    /// while a client that keeps the control socket readable could otherwise starve them.
    async fn wait(&mut self) {
        enum Wake {
            Report(Report),
            Readable,
            Timer,
        }
        let wants_control = self.driver.wants_control();
        let SessionTask {
            rx,
            control,
            timer,
            armed,
            ..
        } = self;
        let report = async {
            match rx.recv().await {
                Ok(report) => Wake::Report(report),
                // Never: `self.tx` keeps the channel open.
                Err(_) => future::pending().await,
            }
        };
        let readable = async {
            if !wants_control {
                future::pending::<()>().await;
            }
            // An error here shows up again in the read that follows.
            let _ = control.readable().await;
            Wake::Readable
        };
        let deadline = async {
            if !*armed {
                future::pending::<()>().await;
            }
            timer.await;
            *armed = false;
            Wake::Timer
        };
        match report.or(readable).or(deadline).await {
            Wake::Report(report) => self.driver.complete(*report),
            Wake::Readable => {
                self.driver.read_control(&mut self.control.get_ref());
            }
            Wake::Timer => self.driver.timer_fired(),
        }
    }
}
