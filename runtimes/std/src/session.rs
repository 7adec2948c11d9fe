//! One session on its own thread: the loop that feeds the core its inputs and carries out its
//! outputs. The session thread reads the control connection itself; helper threads (accepts,
//! connects and transfers) report through its [`Inbox`], and it sleeps in one `poll` on both
//! with the core's deadline as the timeout. After each answer it first busy-polls both for a
//! short window ([`thinftp_host::busy_poll`]): the client's next command usually arrives within
//! it. Filesystem requests and password checks run on the session thread itself.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use thinftp::{DataId, Input, Output, Session};
use thinftp_host::channels::{DataChannels, Event};
use thinftp_host::work::{Transfers, Work};
use thinftp_host::{passive, socket, Host, SessionStorage}; // per-user storage (hostsec)
use tracing::Span;

use crate::inbox::{self, Inbox, Mailbox, NoWait, Report, Woken};

/// What waits for a data connection on a helper thread.
enum Waiter {
    /// A thread accepting on this passive listener. Dropping the waiter wakes that thread and
    /// closes the listener.
    Accepting(Arc<TcpListener>),
    /// A thread connecting out; what it reports after the channel is gone is dropped.
    Connecting,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if let Waiter::Accepting(listener) = self {
            passive::wake_listener(listener);
        }
    }
}

/// Runs the session of the control connection `control` until it closes. Call it inside the
/// session's span `span`, which helper threads enter too.
pub fn run(host: &Arc<Host>, control: TcpStream, peer: SocketAddr, span: &Span) {
    let Some(session) = host.new_session(&control, peer) else {
        return;
    };
    let (inbox, mailbox) = match inbox::inbox() {
        Ok(pair) => pair,
        Err(e) => return tracing::warn!("cannot make the session's inbox: {e}"),
    };
    // Replies are small: a client that stops reading them is as good as idle.
    let _ = control.set_write_timeout(Some(host.reply_timeout()));
    let mut runner = Runner {
        host: Arc::clone(host),
        span: span.clone(),
        session,
        control,
        inbox,
        mailbox,
        channels: DataChannels::new(),
        transfers: Transfers::new(),
        storage: SessionStorage::new(host), // per-user storage (hostsec)
        peer,                               // passive listeners per client (hostsec)
        immediate: VecDeque::new(),
        replies: Vec::new(),
        control_dead: false,
        control_ended: false,
    };
    runner.run();
    runner.close();
    tracing::debug!("closed");
}

struct Runner {
    host: Arc<Host>,
    span: Span,
    session: Session,
    control: TcpStream,
    /// Reports of helper threads, and the control connection, are waited for here.
    inbox: Inbox,
    /// Handed to helper threads; also keeps the inbox from ever being disconnected.
    mailbox: Mailbox,
    channels: DataChannels<TcpStream, Waiter>,
    transfers: Transfers,
    /// The root before login, the user's home after. // per-user storage (hostsec)
    storage: SessionStorage,
    /// The client's address. // passive listeners per client (hostsec)
    peer: SocketAddr,
    /// Answers known at once (a listener bound, a write that failed): fed before waiting again.
    immediate: VecDeque<Input>,
    /// Replies gathered while draining, written in one go.
    replies: Vec<u8>,
    /// Writing a reply failed: the connection is gone, EOF has been queued once.
    control_dead: bool,
    /// The control connection reached its end (or failed): stop reading and polling it.
    control_ended: bool,
}

/// Capacity of the reply buffer kept between drains.
const REPLY_BUF_KEEP: usize = 16 * 1024;

impl Runner {
    /// Feeds inputs until the session closes: answers known at once first, then reports of
    /// helpers (bounded: one of each kind at a time, so they cannot starve the client, while a
    /// client that keeps sending could starve them), then the control connection.
    fn run(&mut self) {
        self.drain();
        while !self.session.is_closed() {
            if let Some(input) = self.immediate.pop_front() {
                self.feed(input);
            } else if let Some(report) = self.inbox.try_recv() {
                self.report(report);
            } else if let Some(input) = self.read_control() {
                self.feed(input);
            } else if !self.busy_poll() {
                self.sleep();
            }
        }
    }

    /// Polls the inbox and the control connection for a short window, if a place is free.
    /// True if something arrived (and was fed).
    fn busy_poll(&mut self) -> bool {
        let Some(window) = self.host.busy_poll() else {
            return false;
        };
        while !window.is_over() {
            if let Some(report) = self.inbox.try_recv() {
                drop(window);
                self.report(report);
                return true;
            }
            if let Some(input) = self.read_control() {
                drop(window);
                self.feed(input);
                return true;
            }
            std::hint::spin_loop();
        }
        false
    }

    /// Sleeps until the control connection is readable, a helper reports, or the core's
    /// deadline; feeds what woke it.
    fn sleep(&mut self) {
        let deadline = self.session.poll_timeout();
        let timeout = deadline.map(|at| at.saturating_duration_since(Instant::now()));
        let control = (!self.control_ended).then_some(&self.control);
        match self.inbox.wait(control, timeout) {
            Woken::Timeout => self.feed(Input::Timeout),
            // A readable control connection, or a report, is taken by the next turn of `run`.
            Woken::Control | Woken::Report | Woken::Interrupted => {}
        }
    }

    /// Reads what the control connection has now, without waiting.
    fn read_control(&mut self) -> Option<Input> {
        if self.control_ended {
            return None;
        }
        let input = socket::read_control(&mut NoWait(&self.control))?;
        if input == Input::ControlEof {
            self.control_ended = true;
        }
        Some(input)
    }

    fn report(&mut self, report: Report) {
        if let Some(input) = self.channels.input(report) {
            self.feed(input);
        }
    }

    /// Feeds one input, then carries out every output.
    fn feed(&mut self, input: Input) {
        let input = self.storage.fed(input); // per-user storage (hostsec)
                                             // A finished transfer counts for shutdown until its final reply is written below.
        let _ended = self.transfers.ended(&input);
        if let Err(e) = self.session.handle_input(Instant::now(), input) {
            // A bug in this runtime, not the client's doing: the session is unchanged.
            tracing::error!("runtime fed the session wrongly: {e}");
        }
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(output) = self.session.poll_output() {
            // Replies in a row (a pipelined batch of commands answers many at once) are gathered
            // and go out in one write; anything else happens after the replies before it left.
            if !matches!(output, Output::Reply(_)) {
                self.flush_replies();
            }
            self.carry_out(output);
        }
        self.flush_replies();
        self.channels.settle();
    }

    /// Writes the replies gathered by [`drain`](Self::drain) in one write.
    fn flush_replies(&mut self) {
        if self.replies.is_empty() {
            return;
        }
        if let Err(e) = self.control.write_all(&self.replies) {
            tracing::debug!("writing a reply failed: {e}");
            self.control_dead = true;
            if !self.control_ended {
                self.control_ended = true;
                self.immediate.push_back(Input::ControlEof);
            }
        }
        self.replies.clear();
        // A big batch (a long multi-line reply) does not stay allocated while the session idles.
        if self.replies.capacity() > REPLY_BUF_KEEP {
            self.replies = Vec::new();
        }
    }

    fn carry_out(&mut self, output: Output) {
        match output {
            Output::Reply(reply) => {
                if !self.control_dead {
                    self.replies.extend_from_slice(reply.as_bytes());
                }
            }
            // Filesystem requests and password checks block this session only: this thread is
            // the session's own, and what the client sends meanwhile waits in the socket.
            // A thread each would cost more than the work (a stat takes microseconds); its answer
            // is fed after the outputs carried out now, as if it came back from a thread.
            Output::Fs { id, op } => {
                let answer = Work::Fs { id, op }.run(&self.host, &self.storage); // per-user storage (hostsec)
                self.immediate.push_back(answer);
            }
            Output::Authenticate { id, user, password } => {
                let answer = Work::Auth { id, user, password }.run(&self.host, &self.storage); // per-user storage (hostsec)
                self.immediate.push_back(answer);
            }
            Output::OpenPassive { id, ip } => {
                let client = self.peer.ip(); // passive listeners per client (hostsec)
                let opened = self.host.open_passive(client, ip).map(|(listener, addr)| {
                    let listener = Arc::new(listener);
                    self.accept_on(id, &listener);
                    (Waiter::Accepting(listener), addr)
                });
                let answer = self.channels.listening(id, opened);
                self.immediate.push_back(answer);
            }
            Output::Connect { id, addr } => {
                self.channels.connecting(id, Waiter::Connecting);
                let (host, mailbox) = (Arc::clone(&self.host), self.mailbox.clone());
                let spawned = spawn(&self.span, "connect", move || {
                    let result = host.connect(addr);
                    let _ = mailbox.send(Event::Connected { id, result, addr });
                });
                if !spawned {
                    let result = Err(io::Error::other("no thread to connect"));
                    let failed = Event::Connected { id, result, addr };
                    self.immediate.extend(self.channels.input(failed));
                }
            }
            Output::RefuseDataConnection { id } => {
                if let Some(Waiter::Accepting(listener)) = self.channels.refuse(id) {
                    let listener = Arc::clone(listener);
                    self.accept_on(id, &listener);
                }
            }
            Output::CloseData { id } => self.channels.close(id),
            Output::StartTransfer { id, data, kind } => {
                let stream = self.channels.take_stream(data);
                match self.transfers.start(&self.host, id, kind, stream) {
                    Ok(work) => self.work(work),
                    Err(answer) => self.immediate.push_back(answer),
                }
            }
            Output::AbortTransfer { id } => self.transfers.abort(id),
            Output::CloseSession => {
                let _ = self.control.flush();
            }
            other => tracing::error!("output not handled by this runtime: {other:?}"),
        }
    }

    /// Runs `work` (a transfer) on a thread of its own and reports its answer; answers at once if
    /// no thread could be started.
    fn work(&mut self, work: Work) {
        let (host, mailbox) = (Arc::clone(&self.host), self.mailbox.clone());
        let storage = self.storage.clone(); // per-user storage (hostsec)
        let not_started = work.not_started();
        let spawned = spawn(&self.span, work.name(), move || {
            let _ = mailbox.send(Event::Input(work.run(&host, &storage))); // per-user storage (hostsec)
        });
        if !spawned {
            self.immediate.push_back(not_started);
        }
    }

    /// Starts a thread that waits for one connection on `listener`.
    fn accept_on(&self, id: DataId, listener: &Arc<TcpListener>) {
        let (listener, mailbox) = (Arc::clone(listener), self.mailbox.clone());
        // Not started (out of threads): the core's data timeout ends the wait.
        let _ = spawn(&self.span, "accept", move || loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    let _ = mailbox.send(Event::Accepted { id, stream, peer });
                    return;
                }
                // The client gave up before we accepted: wait for its next try.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                // Closed by `wake_listener`, or out of descriptors: the core's data timeout
                // ends the wait.
                Err(_) => return,
            }
        });
    }

    /// Ends everything the session still has: transfers, listeners, the control connection.
    fn close(&mut self) {
        self.transfers.abort_all();
        self.channels.clear();
        let _ = self.control.flush();
        let _ = self.control.shutdown(Shutdown::Both);
    }
}

/// Runs `work` on a new thread inside the session's span. Returns false (and logs) if no thread
/// could be started: the caller then answers the core itself.
#[must_use]
fn spawn(span: &Span, what: &str, work: impl FnOnce() + Send + 'static) -> bool {
    let span = span.clone();
    match crate::threads::spawn(move || span.in_scope(work)) {
        Ok(()) => true,
        Err(e) => {
            tracing::error!("cannot start a {what} thread: {e}");
            false
        }
    }
}
