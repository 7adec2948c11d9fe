//! The accept loop's decisions for control connections: who gets in, what a failed `accept`
//! costs, when to stop.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use tracing::Span;

use super::{Runtime, SessionLoop};
use crate::{limits, passive, Admission, Host};

/// Lets control connections in, for every listener of a server.
#[derive(Debug, Clone)]
pub struct Acceptor {
    host: Arc<Host>,
    /// Most sessions this runtime can run at once, whatever `--max-sessions` says (see
    /// [`capacity`](super::capacity)); past it, `421`.
    capacity: usize,
}

/// What to do with what `accept` returned: see [`Acceptor::accepted`].
#[derive(Debug)]
#[must_use]
pub enum Accepted {
    /// A session to run: start it on a thread or a task of its own, inside
    /// [`NewSession::span`].
    Session(NewSession),
    /// `accept` failed: pause this long (so that a lasting error such as running out of file
    /// descriptors does not spin), then accept again.
    Pause(Duration),
    /// The connection was turned away (it got `421`, or it was gone): accept the next.
    Next,
    /// The server shuts down: end this loop (dropping the listener).
    Stop,
}

/// An admitted control connection whose session is to start.
#[derive(Debug)]
pub struct NewSession {
    host: Arc<Host>,
    stream: TcpStream,
    peer: SocketAddr,
    admission: Admission,
}

impl Acceptor {
    /// An acceptor for `host`'s listeners, in a runtime that runs at most `capacity` sessions.
    pub fn new(host: &Arc<Host>, capacity: usize) -> Acceptor {
        Acceptor {
            host: Arc::clone(host),
            capacity,
        }
    }

    /// Makes the accept loop on `listener` stop once the server shuts down: a thread waits for
    /// the shutdown flag (a signal only raises it), then wakes the blocked or waiting `accept`,
    /// whose result [`accepted`](Self::accepted) then answers with [`Accepted::Stop`].
    pub fn stop_on_shutdown(&self, listener: &TcpListener) -> io::Result<()> {
        let waker = listener.try_clone()?;
        let shutdown = self.host.lifecycle().shutdown().clone();
        std::thread::Builder::new()
            .name("shutdown".into())
            .spawn(move || {
                shutdown.wait();
                passive::wake_listener(&waker);
            })
            .map(drop)
    }

    /// Takes what `accept` returned on a control listener and says what to do next. An
    /// admitted connection has its socket options set and a place within the limits (see
    /// [`Gate::admit`](crate::Gate::admit)); one turned away was sent `421`.
    pub fn accepted(&self, result: io::Result<(TcpStream, SocketAddr)>) -> Accepted {
        let gate = self.host.admission();
        if self.host.lifecycle().shutdown().is_triggered() {
            return Accepted::Stop;
        }
        let (mut stream, peer) = match result {
            Ok(accepted) => accepted,
            Err(e) => return Accepted::Pause(gate.accept_failed(&e)),
        };
        if gate.active() >= self.capacity {
            tracing::warn!(%peer, "the runtime's session capacity is reached: refused with 421");
            limits::reject(&mut stream);
            return Accepted::Next;
        }
        match gate.admit(peer, &mut stream) {
            Some(admission) => Accepted::Session(NewSession {
                host: Arc::clone(&self.host),
                stream,
                peer,
                admission,
            }),
            None => Accepted::Next,
        }
    }
}

impl NewSession {
    /// The session's span: run the session inside it.
    pub fn span(&self) -> &Span {
        &self.admission.span
    }

    /// The control connection (blocking, as accepted) and the session's loop, whose helpers run
    /// on `runtime`; `None` if the connection is gone already.
    pub fn start<R: Runtime>(self, runtime: R) -> Option<(TcpStream, SessionLoop<R>)> {
        let local = self.stream.local_addr().ok()?;
        let NewSession {
            host,
            stream,
            peer,
            admission,
        } = self;
        Some((
            stream,
            SessionLoop::new(host, admission, peer, local, runtime),
        ))
    }
}
