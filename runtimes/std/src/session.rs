//! One session on its own thread: the host's [`SessionLoop`] on blocking std sockets.
//!
//! The session thread reads the control connection itself and runs filesystem requests and
//! password checks in place ([`Blocking::Allowed`]); helper threads (transfers, accepts,
//! connects) report through its [`Inbox`]. It sleeps in one `poll` on both, with the armed
//! timer as the timeout, after busy-polling them for the window the host allows.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thinftp_host::driver::{Blocking, Completion};
use thinftp_host::runtime::{threads, DataChannel, Io, Look, NewSession, Runtime};

use crate::inbox::{self, Mailbox, NoWait};

/// Runs the session of `new` until it closes. Call it inside the session's span.
pub fn run(new: NewSession) {
    let (inbox, mailbox) = match inbox::inbox() {
        Ok(pair) => pair,
        Err(e) => return tracing::warn!("cannot make the session's inbox: {e}"),
    };
    let Some((control, mut session)) = new.start(Helpers(mailbox)) else {
        return;
    };
    let _ = control.set_write_timeout(Some(session.write_timeout()));
    // When the timer fires: the poll's timeout.
    let mut armed: Option<Instant> = None;
    loop {
        while let Some(io) = session.poll_io() {
            match io {
                Io::Write(bytes) => {
                    if let Err(e) = (&control).write_all(&bytes) {
                        session.write_failed(&e);
                    }
                }
                Io::ArmTimer(at) => armed = Some(at),
                Io::Close => return session.close(&control),
            }
        }
        loop {
            match session.look(inbox.try_recv(), &mut NoWait(&control)) {
                Look::Came => break,
                Look::Again => std::hint::spin_loop(),
                Look::Wait => {
                    let timeout = armed.map(|at| at.saturating_duration_since(Instant::now()));
                    let wanted = session.wants_control().then_some(&control);
                    // A readable control connection, or a report, is taken by the next look.
                    if inbox.wait(wanted, timeout) {
                        armed = None;
                        session.timer_fired();
                        break;
                    }
                }
            }
        }
    }
}

/// A session's helpers: threads that report into its inbox.
#[derive(Clone)]
struct Helpers(Mailbox<Completion<TcpStream>>);

impl Runtime for Helpers {
    const BLOCKING: Blocking = Blocking::Allowed;
    /// A thread: it returns once its listener is closed, or after its one connect.
    type Wait = ();

    fn spawn(&self, work: impl FnOnce() + Send + 'static) -> io::Result<()> {
        threads::spawn(work)
    }

    fn accept(&self, listener: Arc<TcpListener>, channel: DataChannel<Self>) -> io::Result<()> {
        threads::spawn(move || {
            let _entered = channel.span().enter();
            while let Some(pause) = channel.accepted(listener.accept()) {
                std::thread::sleep(pause);
            }
        })
    }

    fn connect(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        channel: DataChannel<Self>,
    ) -> io::Result<()> {
        threads::spawn(move || {
            let _entered = channel.span().enter();
            channel.connected(addr, TcpStream::connect_timeout(&addr, timeout));
        })
    }

    fn report(&self, completion: Completion<TcpStream>) {
        let _ = self.0.send(completion);
    }
}
