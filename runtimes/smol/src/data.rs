//! What waits for a data connection in this runtime: a task accepting on a passive listener,
//! or one connecting out with the data timeout. It reports through the session's channel.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use async_channel::Sender;
use async_executor::Task;
use async_io::{Async, Timer};
use futures_lite::FutureExt;
use thinftp::DataId;
use thinftp_host::driver::{self, Completion};
use tracing::{Instrument, Span};

use crate::EXECUTOR;

/// What a session's tasks report, boxed (see [`crate::session`]). Data connections are handed
/// over as blocking std sockets: transfers copy with `sendfile`/`splice` on the blocking pool.
pub(crate) type Report = Box<Completion<TcpStream>>;

/// The waiter of one data channel. Dropping it cancels its task, and closes the listener.
pub(crate) struct Waiter {
    _task: Task<()>,
    /// For a passive listener: what accepting again takes.
    listener: Option<Listener>,
}

struct Listener {
    id: DataId,
    socket: Arc<Async<TcpListener>>,
    tx: Sender<Report>,
    span: Span,
}

impl Waiter {
    /// Starts accepting on `socket` for channel `id`.
    pub(crate) fn accepting(
        id: DataId,
        socket: TcpListener,
        tx: Sender<Report>,
        span: Span,
    ) -> io::Result<Waiter> {
        let listener = Listener {
            id,
            socket: Arc::new(Async::new(socket)?),
            tx,
            span,
        };
        Ok(Waiter {
            _task: listener.accept(),
            listener: Some(listener),
        })
    }

    /// Starts connecting to the client's `addr` for channel `id`, giving up after `timeout`.
    pub(crate) fn connecting(
        id: DataId,
        addr: SocketAddr,
        timeout: Duration,
        tx: Sender<Report>,
        span: Span,
    ) -> Waiter {
        let task = async move {
            let timed_out = async {
                Timer::after(timeout).await;
                Err(io::Error::from(io::ErrorKind::TimedOut))
            };
            let connected = Async::<TcpStream>::connect(addr).or(timed_out).await;
            let result = connected.and_then(Async::into_inner);
            let _ = tx.try_send(Box::new(Completion::Connected { id, result, addr }));
        };
        Waiter {
            _task: EXECUTOR.spawn(task.instrument(span)),
            listener: None,
        }
    }
}

impl driver::Waiter for Waiter {
    fn accept_again(&mut self) {
        if let Some(listener) = &self.listener {
            self._task = listener.accept();
        }
    }
}

/// The listener stops listening as soon as its channel is dropped, not only once the executor
/// gets to drop the cancelled task (which holds a clone): a closed listener must no longer count
/// against the client's `--max-passive-per-ip`, as in thinftp-std.
impl Drop for Waiter {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            thinftp_host::passive::wake_listener(listener.socket.get_ref());
        }
    }
}

impl Listener {
    /// A task that accepts one connection and reports it. Cancelled by dropping it.
    fn accept(&self) -> Task<()> {
        let (id, socket, tx) = (self.id, Arc::clone(&self.socket), self.tx.clone());
        let task = async move {
            loop {
                // A connection reset before accept, or a transient lack of file descriptors:
                // the core's data timer decides when to give up, not this error.
                match socket
                    .accept()
                    .await
                    .and_then(|(s, peer)| Ok((s.into_inner()?, peer)))
                {
                    Ok((stream, peer)) => {
                        let _ = tx.try_send(Box::new(Completion::Accepted { id, stream, peer }));
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(%id, "passive accept failed: {e}");
                        Timer::after(Duration::from_millis(50)).await;
                    }
                }
            }
        };
        EXECUTOR.spawn(task.instrument(self.span.clone()))
    }
}
