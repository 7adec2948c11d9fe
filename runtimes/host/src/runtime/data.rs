//! Waiting for a data connection: what the adapter's accept or connect hands its result to
//! ([`DataChannel`]), and what the driver holds while the channel waits ([`DataWait`]).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use thinftp::DataId;
use tracing::Span;

use super::Runtime;
use crate::driver::{self, Completion};
use crate::passive;

/// How long to pause after a failed passive `accept` that may last (out of file descriptors)
/// before the next one; the core's data timeout decides when to give up, not the error.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// One data channel's end of a wait: where its accept or connect reports.
#[derive(Clone)]
pub struct DataChannel<R> {
    id: DataId,
    runtime: R,
    span: Span,
}

impl<R: Runtime> DataChannel<R> {
    pub(super) fn new(id: DataId, runtime: R, span: Span) -> Self {
        DataChannel { id, runtime, span }
    }

    /// The session's span: enter it on the thread or task that waits.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Takes what a passive listener's `accept` returned. `None`: the wait is over (the
    /// connection is reported, or the listener was closed); `Some(pause)`: accept again after
    /// `pause` (the client gave up before the accept, or a lasting error such as running out of
    /// file descriptors: the core's data timeout ends the wait, not this error).
    pub fn accepted(&self, result: io::Result<(TcpStream, SocketAddr)>) -> Option<Duration> {
        let e = match result {
            Ok((stream, peer)) => {
                let id = self.id;
                self.runtime
                    .report(Completion::Accepted { id, stream, peer });
                return None;
            }
            Err(e) => e,
        };
        match e.kind() {
            io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => Some(Duration::ZERO),
            // `accept` on a listener that `wake_listener` shut down: the channel is gone.
            io::ErrorKind::InvalidInput => None,
            _ => {
                tracing::debug!(id = %self.id, "passive accept failed: {e}");
                Some(ACCEPT_PAUSE)
            }
        }
    }

    /// Takes the end of an active connect to `addr`.
    pub fn connected(&self, addr: SocketAddr, result: io::Result<TcpStream>) {
        let id = self.id;
        self.runtime
            .report(Completion::Connected { id, result, addr });
    }
}

/// What waits for a data connection, held by the driver while its channel waits. Dropping it
/// closes a passive listener at once (so that it no longer counts against the client's
/// `--max-passive-per-ip`, and a thread blocked in its `accept` returns), and drops the
/// runtime's wait.
pub struct DataWait<R: Runtime> {
    /// For a passive channel: the listener and where it reports, to accept again.
    listener: Option<(Arc<TcpListener>, DataChannel<R>)>,
    wait: Option<R::Wait>,
}

impl<R: Runtime> DataWait<R> {
    /// Starts accepting on `listener` for `channel`.
    pub(super) fn accepting(listener: TcpListener, channel: DataChannel<R>) -> io::Result<Self> {
        let listener = Arc::new(listener);
        let wait = channel
            .runtime
            .accept(Arc::clone(&listener), channel.clone())?;
        Ok(DataWait {
            listener: Some((listener, channel)),
            wait: Some(wait),
        })
    }

    /// A connect under way.
    pub(super) fn connecting(wait: R::Wait) -> Self {
        DataWait {
            listener: None,
            wait: Some(wait),
        }
    }

    /// A connect that could not be started (its failure is reported already).
    pub(super) fn connecting_failed() -> Self {
        DataWait {
            listener: None,
            wait: None,
        }
    }
}

impl<R: Runtime> driver::Waiter for DataWait<R> {
    fn accept_again(&mut self) {
        let Some((listener, channel)) = &self.listener else {
            return;
        };
        match channel
            .runtime
            .accept(Arc::clone(listener), channel.clone())
        {
            Ok(wait) => self.wait = Some(wait),
            // The core's data timeout ends the wait.
            Err(e) => tracing::warn!("cannot accept again: {e}"),
        }
    }
}

impl<R: Runtime> Drop for DataWait<R> {
    fn drop(&mut self) {
        if let Some((listener, _)) = &self.listener {
            passive::wake_listener(listener);
        }
    }
}
