//! What waits for a data connection in this runtime: a task accepting on a passive listener,
//! or one connecting out with the data timeout. The channels' state machine itself is
//! [`DataChannels`](thinftp_host::channels::DataChannels), in the host.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use async_channel::Sender;
use async_executor::Task;
use async_io::{Async, Timer};
use futures_lite::FutureExt;
use thinftp::DataId;
use thinftp_host::channels::Event;
use tracing::{Instrument, Span};

use crate::EXECUTOR;

/// What a session's tasks report: boxed (see [`crate::session`]).
pub(crate) type Report = Box<Event<Async<TcpStream>>>;

/// The waiter of one data channel. Dropping it cancels its task, and closes the listener.
pub(crate) enum Waiter {
    /// A passive listener; the task accepts one connection and reports it as
    /// [`Event::Accepted`]. The listener stays here, for when the core refuses the connection
    /// and wants the next one.
    Accepting {
        listener: Arc<Async<TcpListener>>,
        task: Task<()>,
    },
    /// An active connect under way, reported as [`Event::Connected`].
    Connecting { _task: Task<()> },
}

impl Waiter {
    /// Starts accepting on `listener` for channel `id`.
    pub(crate) fn accepting(
        id: DataId,
        listener: Arc<Async<TcpListener>>,
        tx: Sender<Report>,
        span: Span,
    ) -> Waiter {
        let task = accept(id, Arc::clone(&listener), tx, span);
        Waiter::Accepting { listener, task }
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
            let result = Async::<TcpStream>::connect(addr).or(timed_out).await;
            let _ = tx.try_send(Box::new(Event::Connected { id, result, addr }));
        };
        Waiter::Connecting {
            _task: EXECUTOR.spawn(task.instrument(span)),
        }
    }
}

// passive listeners per client (hostsec): the listener stops listening when its channel is
// dropped, not only once the executor gets to drop the cancelled task (which holds a clone), so
// that it no longer counts against the client's --max-passive-per-ip (as in thinftp-std).
impl Drop for Waiter {
    fn drop(&mut self) {
        if let Waiter::Accepting { listener, .. } = self {
            thinftp_host::passive::wake_listener(listener.get_ref());
        }
    }
}

/// Accepts one connection on `listener` and reports it. Cancelled by dropping the task.
pub(crate) fn accept(
    id: DataId,
    listener: Arc<Async<TcpListener>>,
    tx: Sender<Report>,
    span: Span,
) -> Task<()> {
    let task = async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let _ = tx.try_send(Box::new(Event::Accepted { id, stream, peer }));
                    return;
                }
                // A connection that was reset before accept, or a transient lack of file
                // descriptors: the core's data timer decides when to give up, not this error.
                Err(e) => {
                    tracing::debug!(%id, "passive accept failed: {e}");
                    Timer::after(Duration::from_millis(50)).await;
                }
            }
        }
    };
    EXECUTOR.spawn(task.instrument(span))
}
