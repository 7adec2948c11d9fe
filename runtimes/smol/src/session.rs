//! One session as a task: the loop that feeds the core its inputs and carries out its outputs.
//!
//! The task waits for the first of three things, raced with `futures_lite`'s `or`: an answer on
//! the session's channel of completed work (filesystem requests, password checks and transfers
//! run on `blocking::unblock`; accepts and connects are small tasks of their own), the control
//! socket becoming readable, or the core's deadline. It feeds that one input, then drains
//! `poll_output` and carries every output out in order before it waits again. Before it waits,
//! it busy-polls the channel and the socket for a short window ([`thinftp_host::busy_poll`]),
//! yielding to other tasks between looks: the client's next command usually arrives within it,
//! and then the executor thread never went to sleep.
//!
//! An idle session holds no read buffer: the control socket is read only once it is readable,
//! into a buffer on the stack of a plain function, so the task itself stays small. Reports
//! travel boxed: an unbounded channel keeps a block of 31 slots allocated per session once
//! used, and boxing keeps that block small (a pointer a slot) for each of thousands of idle
//! sessions.

use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use async_io::{Async, Timer};
use futures_lite::future::{self, FutureExt};
use futures_lite::AsyncWriteExt;
use thinftp::{DataId, Input, Output, Session, TransferId, TransferKind};
use thinftp_host::channels::{DataChannels, Event};
use thinftp_host::work::{Transfers, Work};
use thinftp_host::{socket, Host, SessionStorage}; // per-user storage (hostsec)
use tracing::Span;

use crate::data::{self, Report, Waiter};

/// What woke the session.
enum Wake {
    Work(Event<Async<TcpStream>>),
    Readable,
    Deadline,
}

/// Runs the session of the control connection `control` from `peer` until it closes. Call it
/// inside the session's span (`span`, which work on other threads enters too).
pub(crate) async fn run(host: Arc<Host>, control: Async<TcpStream>, peer: SocketAddr, span: Span) {
    let Some(session) = host.new_session(control.get_ref(), peer) else {
        return;
    };
    let (tx, rx) = async_channel::unbounded();
    let mut driver = Driver {
        write_timeout: host.reply_timeout(),
        data_timeout: host.session_config().data_timeout,
        storage: SessionStorage::new(&host), // per-user storage (hostsec)
        peer,                                // passive listeners per client (hostsec)
        host,
        span,
        session,
        control,
        tx,
        rx,
        channels: DataChannels::new(),
        transfers: Transfers::new(),
        read_eof: false,
        write_failed: false,
        replies: Vec::new(),
        timer: Timer::never(),
        armed: None,
    };
    driver.run().await;
    driver.close();
    tracing::debug!("closed");
}

/// The state of one session's loop.
struct Driver {
    host: Arc<Host>,
    span: Span,
    session: Session,
    control: Async<TcpStream>,
    /// Cloned into every piece of work; also keeps `rx` from ever reporting "closed".
    tx: Sender<Report>,
    rx: Receiver<Report>,
    channels: DataChannels<Async<TcpStream>, Waiter>,
    transfers: Transfers,
    /// The root before login, the user's home after. // per-user storage (hostsec)
    storage: SessionStorage,
    /// The client's address. // passive listeners per client (hostsec)
    peer: SocketAddr,
    /// The control connection reached its end (or failed): stop reading it.
    read_eof: bool,
    /// Writing a reply failed: the client is gone.
    write_failed: bool,
    /// Replies gathered while draining, written in one go (empty, unallocated, between drains).
    replies: Vec<u8>,
    /// Fires at `armed`, no later than the core's deadline (see [`Driver::arm_timer`]).
    timer: Timer,
    /// When `timer` fires; `None` when it is not armed (or has fired).
    armed: Option<Instant>,
    /// A reply that cannot be written for this long means the client stopped reading.
    write_timeout: Duration,
    data_timeout: Duration,
}

impl Driver {
    async fn run(&mut self) {
        self.drain().await;
        while !self.session.is_closed() {
            let input = match self.busy_poll().await {
                Some(input) => Some(input),
                None => match self.wait().await {
                    Wake::Work(event) => self.channels.input(event),
                    Wake::Readable => self.read_control(),
                    Wake::Deadline => Some(Input::Timeout),
                },
            };
            let Some(input) = input else {
                continue;
            };
            // A finished transfer counts for shutdown until its final reply is written.
            let ended = self.transfers.ended(&input);
            self.feed(input);
            self.drain().await;
            drop(ended);
        }
    }

    /// Looks at the channel and the control socket, without waiting, for a short window if a
    /// place is free; yields to the executor's other tasks between looks. The input to feed, if
    /// something came.
    async fn busy_poll(&mut self) -> Option<Input> {
        let window = self.host.busy_poll()?;
        while !window.is_over() {
            if let Ok(event) = self.rx.try_recv() {
                if let Some(input) = self.channels.input(*event) {
                    return Some(input);
                }
            }
            if !self.read_eof {
                if let Some(input) = self.read_control() {
                    return Some(input);
                }
            }
            future::yield_now().await;
        }
        None
    }

    /// Waits for the next event. Completed work goes first: it is bounded (one request of each
    /// kind at a time), so it cannot starve the control connection, while a client that keeps
    /// the control socket readable could otherwise starve the answers.
    async fn wait(&mut self) -> Wake {
        self.arm_timer();
        let Driver {
            rx,
            control,
            read_eof,
            timer,
            armed,
            ..
        } = self;
        let work = async {
            match rx.recv().await {
                Ok(event) => Wake::Work(*event),
                // Never: `self.tx` keeps the channel open.
                Err(_) => future::pending().await,
            }
        };
        let readable = async {
            if *read_eof {
                future::pending::<()>().await;
            }
            // An error here shows up again in the read that follows.
            let _ = control.readable().await;
            Wake::Readable
        };
        let deadline = async {
            if armed.is_none() {
                future::pending::<()>().await;
            }
            timer.await;
            *armed = None;
            Wake::Deadline
        };
        work.or(readable).or(deadline).await
    }

    /// Makes the session's timer fire no later than the core's deadline. Most commands push the
    /// idle deadline later; the timer is left where it is then (it fires early, and an early
    /// [`Input::Timeout`] does nothing but re-arm it), because every re-arm registers a timer
    /// with the reactor and wakes its thread: that was a wake-up per command.
    fn arm_timer(&mut self) {
        let Some(deadline) = self.session.poll_timeout() else {
            // Nothing to wait for; a timer still armed fires harmlessly.
            return;
        };
        if self.armed.is_some_and(|at| at <= deadline) {
            return;
        }
        self.timer.set_at(deadline);
        self.armed = Some(deadline);
    }

    /// Reads what the control socket has, without waiting. `None` after a spurious wake-up.
    fn read_control(&mut self) -> Option<Input> {
        let mut socket: &TcpStream = self.control.get_ref();
        let input = socket::read_control(&mut socket)?;
        if input == Input::ControlEof {
            self.read_eof = true;
        }
        Some(input)
    }

    /// Feeds one input. An error is a mismatch between this runtime and the core (typically a
    /// late answer for something already closed): nothing changes.
    fn feed(&mut self, input: Input) {
        let input = self.storage.fed(input); // per-user storage (hostsec)
        if let Err(e) = self.session.handle_input(Instant::now(), input) {
            tracing::debug!("input refused by the session: {e}");
        }
    }

    /// Carries out every output of the session, in order.
    async fn drain(&mut self) {
        loop {
            while let Some(output) = self.session.poll_output() {
                // Replies in a row (a pipelined batch of commands answers many at once) are
                // gathered and go out in one write; anything else happens after the replies
                // before it left.
                if !matches!(output, Output::Reply(_)) {
                    self.flush_replies().await;
                }
                self.carry_out(output).await;
            }
            self.flush_replies().await;
            // A reply could not be written: the client is gone, as if it had closed.
            if self.write_failed && !self.read_eof && !self.session.is_closed() {
                self.read_eof = true;
                self.feed(Input::ControlEof);
                continue;
            }
            break;
        }
        self.channels.settle();
    }

    async fn carry_out(&mut self, output: Output) {
        match output {
            Output::Reply(reply) => {
                if !self.write_failed {
                    self.replies.extend_from_slice(reply.as_bytes());
                }
            }
            Output::Fs { id, op } => self.work(Work::Fs { id, op }),
            Output::Authenticate { id, user, password } => {
                self.work(Work::Auth { id, user, password });
            }
            Output::OpenPassive { id, ip } => self.open_passive(id, ip),
            Output::Connect { id, addr } => {
                let (tx, span) = (self.tx.clone(), self.span.clone());
                let waiter = Waiter::connecting(id, addr, self.data_timeout, tx, span);
                self.channels.connecting(id, waiter);
            }
            Output::RefuseDataConnection { id } => {
                if let Some(Waiter::Accepting { listener, task }) = self.channels.refuse(id) {
                    let listener = Arc::clone(listener);
                    *task = data::accept(id, listener, self.tx.clone(), self.span.clone());
                }
            }
            // Dropping a channel closes its connection or listener and cancels its task.
            Output::CloseData { id } => self.channels.close(id),
            Output::StartTransfer { id, data, kind } => self.start_transfer(id, data, kind),
            Output::AbortTransfer { id } => self.transfers.abort(id),
            // The loop ends once the session is closed; `close` releases the rest.
            Output::CloseSession => {}
            other => tracing::warn!(?other, "output not known to this runtime: ignored"),
        }
    }

    /// Writes the replies gathered by [`drain`](Self::drain) in one write. A client that does
    /// not read its replies for the idle timeout is gone.
    async fn flush_replies(&mut self) {
        if self.replies.is_empty() {
            return;
        }
        let replies = std::mem::take(&mut self.replies);
        self.write(&replies).await;
        // An idle session keeps no buffer: thousands of them wait at once.
        drop(replies);
    }

    async fn write(&mut self, bytes: &[u8]) {
        if self.write_failed {
            return;
        }
        let timeout = async {
            Timer::after(self.write_timeout).await;
            Err(io::Error::from(io::ErrorKind::TimedOut))
        };
        let mut control = &self.control;
        if let Err(e) = control.write_all(bytes).or(timeout).await {
            tracing::debug!("cannot write to the control connection: {e}");
            self.write_failed = true;
        }
    }

    /// Runs `work` on the blocking pool, in the session's span, and reports its answer. Work
    /// that takes no time (a login without a password hash) runs here instead: handing it to a
    /// pool thread and back would cost more than the work.
    fn work(&self, work: Work) {
        if work.is_quick(&self.host) {
            self.answer(work.run(&self.host, &self.storage)); // per-user storage (hostsec)
            return;
        }
        let host = Arc::clone(&self.host);
        let storage = self.storage.clone(); // per-user storage (hostsec)
        let tx = self.tx.clone();
        let span = self.span.clone();
        blocking::unblock(move || {
            let _entered = span.enter();
            // The session may have closed meanwhile: then nobody wants the answer.
            let _ = tx.try_send(Box::new(Event::Input(work.run(&host, &storage))));
            // per-user storage (hostsec)
        })
        .detach();
    }

    /// Answers the core through the channel like any other answer, so it is fed after the
    /// outputs being carried out now.
    fn answer(&self, input: Input) {
        let _ = self.tx.try_send(Box::new(Event::Input(input)));
    }

    fn open_passive(&mut self, id: DataId, ip: IpAddr) {
        // Binding is quick (no waiting on the network): it is done here, not on the pool.
        let bound = self.host.open_passive(self.peer.ip(), ip); // passive per client (hostsec)
        let opened = bound.and_then(|(listener, addr)| {
            let listener = Arc::new(Async::new(listener)?);
            let (tx, span) = (self.tx.clone(), self.span.clone());
            Ok((Waiter::accepting(id, listener, tx, span), addr))
        });
        let answer = self.channels.listening(id, opened);
        self.answer(answer);
    }

    fn start_transfer(&mut self, id: TransferId, data: DataId, kind: TransferKind) {
        // The transfer blocks in std::io::copy (sendfile/splice): it needs a blocking std socket.
        let stream = self.channels.take_stream(data).and_then(|stream| {
            stream
                .into_inner()
                .inspect_err(|e| tracing::debug!(%id, "data connection unusable: {e}"))
                .ok()
        });
        match self.transfers.start(&self.host, id, kind, stream) {
            Ok(work) => self.work(work),
            Err(answer) => self.answer(answer),
        }
    }

    /// Releases everything the session holds once it has closed.
    fn close(self) {
        self.transfers.abort_all();
        // FIN after the last reply; dropping the rest closes listeners and data connections.
        let _ = self.control.get_ref().shutdown(Shutdown::Write);
    }
}
