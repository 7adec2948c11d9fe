//! One session on its own thread: the [`Driver`] on blocking std sockets.
//!
//! The session thread reads the control connection itself and runs filesystem requests and
//! password checks in place ([`Blocking::Allowed`]); helper threads (transfers, accepts,
//! connects) report through its [`Inbox`]. It sleeps in one `poll` on both, with the armed
//! timer as the timeout, after first busy-polling them for the window the driver allows.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use thinftp::{DataId, Input};
use thinftp_host::driver::{self, Action, Blocking, Completion, Driver};
use thinftp_host::{passive, Admission, Host};
use tracing::Span;

use crate::inbox::{self, Inbox, Mailbox, NoWait, Woken};

/// What waits for a data connection on a helper thread.
enum Waiter {
    /// A thread accepting on this passive listener. Dropping the waiter wakes that thread and
    /// closes the listener.
    Accepting {
        id: DataId,
        listener: Arc<TcpListener>,
        mailbox: Mailbox,
        span: Span,
    },
    /// A thread connecting out; what it reports after the channel is gone is ignored.
    Connecting,
}

/// Runs the session of the admitted control connection `control` from `peer` until it closes.
/// Call it inside the session's span.
pub fn run(host: &Arc<Host>, control: TcpStream, peer: SocketAddr, admission: Admission) {
    let Ok(local) = control.local_addr() else {
        return;
    };
    let (inbox, mailbox) = match inbox::inbox() {
        Ok(pair) => pair,
        Err(e) => return tracing::warn!("cannot make the session's inbox: {e}"),
    };
    let now = Instant::now();
    let host = Arc::clone(host);
    let mut driver = Driver::new(
        Arc::clone(&host),
        admission,
        peer,
        local,
        now,
        Blocking::Allowed,
    );
    let stop = mailbox.clone();
    driver.on_shutdown(move || {
        let _ = stop.send(Completion::Input(Input::Shutdown));
    });
    let _ = control.set_write_timeout(Some(driver.write_timeout()));
    let mut thread = SessionThread {
        host,
        control,
        inbox,
        mailbox,
        driver,
        armed: None,
    };
    thread.run();
}

struct SessionThread {
    host: Arc<Host>,
    control: TcpStream,
    inbox: Inbox,
    /// Cloned into every helper; also keeps the inbox from ever being disconnected.
    mailbox: Mailbox,
    driver: Driver<TcpStream, Waiter>,
    /// When the timer fires: the poll's timeout.
    armed: Option<Instant>,
}

impl SessionThread {
    fn run(&mut self) {
        loop {
            while let Some(action) = self.driver.poll_action(Instant::now()) {
                if !self.carry_out(action) {
                    return;
                }
            }
            if !next_event(&mut self.driver, &self.inbox, &self.control) {
                self.sleep();
            }
        }
    }

    /// Carries out one action; false once the session is over.
    fn carry_out(&mut self, action: Action<TcpStream>) -> bool {
        match action {
            Action::Write(bytes) => {
                if let Err(e) = (&self.control).write_all(&bytes) {
                    self.driver.write_failed(&e);
                }
            }
            Action::Run(job) => {
                let (host, mailbox) = (Arc::clone(&self.host), self.mailbox.clone());
                let not_started = job.not_started();
                let name = job.name();
                // The job enters the session's span itself.
                let run = move || {
                    let _ = mailbox.send(job.run(&host));
                };
                if !spawn(name, run) {
                    self.driver.complete(Completion::Input(not_started));
                }
            }
            Action::Listen { id, ip, client } => {
                let opened = self.host.open_passive(client, ip).map(|(listener, addr)| {
                    let (mailbox, span) = (self.mailbox.clone(), self.driver.span().clone());
                    let listener = Arc::new(listener);
                    accept_on(id, &listener, &mailbox, &span);
                    let waiter = Waiter::Accepting {
                        id,
                        listener,
                        mailbox,
                        span,
                    };
                    (waiter, addr)
                });
                self.driver.listening(id, opened);
            }
            Action::Connect { id, addr, timeout } => {
                self.driver.connecting(id, Waiter::Connecting);
                let (mailbox, span) = (self.mailbox.clone(), self.driver.span().clone());
                let spawned = spawn("connect", move || {
                    let _entered = span.enter();
                    let result = TcpStream::connect_timeout(&addr, timeout);
                    let _ = mailbox.send(Completion::Connected { id, result, addr });
                });
                if !spawned {
                    let result = Err(io::Error::other("no thread to connect"));
                    self.driver
                        .complete(Completion::Connected { id, result, addr });
                }
            }
            Action::ArmTimer(at) => self.armed = Some(at),
            Action::Close => {
                let _ = self.control.shutdown(Shutdown::Write);
                return false;
            }
            other => tracing::warn!(?other, "action not known to this runtime: ignored"),
        }
        true
    }

    /// Sleeps until the control connection is readable, a helper reports, or the timer.
    fn sleep(&mut self) {
        let timeout = self
            .armed
            .map(|at| at.saturating_duration_since(Instant::now()));
        let control = self.driver.wants_control().then_some(&self.control);
        if self.inbox.wait(control, timeout) == Woken::Timeout {
            self.armed = None;
            self.driver.timer_fired();
        }
        // A readable control connection, or a report, is taken by the next `next_event`.
    }
}

/// Hands the driver a report of a helper (bounded: one of each kind at a time, so they cannot
/// starve the client, while a client that keeps sending could starve them) or what the control
/// connection has, without sleeping, for the busy-poll window if the driver allows one. False
/// if nothing came: sleep.
fn next_event(driver: &mut Driver<TcpStream, Waiter>, inbox: &Inbox, control: &TcpStream) -> bool {
    let look = |driver: &mut Driver<_, _>| match inbox.try_recv() {
        Some(report) => {
            driver.complete(report);
            true
        }
        None => driver.read_control(&mut NoWait(control)),
    };
    if look(driver) {
        return true;
    }
    let Some(window) = driver.busy_poll() else {
        return false;
    };
    while !window.is_over() {
        if look(driver) {
            return true;
        }
        std::hint::spin_loop();
    }
    false
}

impl driver::Waiter for Waiter {
    fn accept_again(&mut self) {
        if let Waiter::Accepting {
            id,
            listener,
            mailbox,
            span,
        } = self
        {
            accept_on(*id, listener, mailbox, span);
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if let Waiter::Accepting { listener, .. } = self {
            passive::wake_listener(listener);
        }
    }
}

/// Starts a thread that waits for one connection on `listener` and reports it.
fn accept_on(id: DataId, listener: &Arc<TcpListener>, mailbox: &Mailbox, span: &Span) {
    let (listener, mailbox, span) = (Arc::clone(listener), mailbox.clone(), span.clone());
    // Not started (out of threads): the core's data timeout ends the wait.
    let _ = spawn("accept", move || loop {
        let _entered = span.enter();
        match listener.accept() {
            Ok((stream, peer)) => {
                let _ = mailbox.send(Completion::Accepted { id, stream, peer });
                return;
            }
            // The client gave up before we accepted: wait for its next try.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                ) => {}
            // Closed by `wake_listener`, or out of descriptors: the core's data timeout ends
            // the wait.
            Err(_) => return,
        }
    });
}

/// Runs `work` on a thread. False (logged) if no thread could be started: the caller then
/// reports the failure itself.
#[must_use]
fn spawn(what: &str, work: impl FnOnce() + Send + 'static) -> bool {
    match crate::threads::spawn(work) {
        Ok(()) => true,
        Err(e) => {
            tracing::error!("cannot start a {what} thread: {e}");
            false
        }
    }
}
