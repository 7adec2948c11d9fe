//! Data channels of one session: passive listeners accepted asynchronously, active connects with
//! the data timeout, and the connections they yield until a transfer takes them.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use async_channel::Sender;
use async_executor::Task;
use async_io::{Async, Timer};
use futures_lite::FutureExt;
use thinftp::{DataId, Input};
use tracing::{Instrument, Span};

use crate::session::Event;
use crate::EXECUTOR;

/// One data channel, under the id the core gave it.
pub(crate) enum Channel {
    /// A passive listener; the task accepts one connection and reports it as
    /// [`Event::Accepted`]. Dropping the task closes the listener.
    Accepting { _task: Task<()> },
    /// An active connect under way, reported as [`Event::Connected`] or
    /// [`Input::ConnectFailed`]. Dropping the task gives up.
    Connecting { _task: Task<()> },
    /// A connection just reported with [`Input::DataConnected`]. The core may still refuse it;
    /// then the listener it came from goes back to accepting.
    Offered {
        stream: Async<TcpStream>,
        listener: Option<Async<TcpListener>>,
    },
    /// A connection the core kept: it waits for its transfer.
    Connected(Async<TcpStream>),
}

impl Channel {
    /// The connection of an offered or kept channel, for a transfer.
    pub(crate) fn into_stream(self) -> Option<Async<TcpStream>> {
        match self {
            Channel::Offered { stream, .. } | Channel::Connected(stream) => Some(stream),
            Channel::Accepting { .. } | Channel::Connecting { .. } => None,
        }
    }
}

/// Accepts one connection on `listener` and reports it, listener included (the core may refuse
/// the connection and want the next one). Cancelled by dropping the task.
pub(crate) fn accept(
    id: DataId,
    listener: Async<TcpListener>,
    tx: Sender<Box<Event>>,
    span: Span,
) -> Channel {
    let task = async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let accepted = Event::Accepted {
                        id,
                        listener,
                        stream,
                        peer,
                    };
                    let _ = tx.try_send(Box::new(accepted));
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
    Channel::Accepting {
        _task: EXECUTOR.spawn(task.instrument(span)),
    }
}

/// Connects to the client's `addr` for active mode, giving up after `timeout`.
pub(crate) fn connect(
    id: DataId,
    addr: SocketAddr,
    timeout: Duration,
    tx: Sender<Box<Event>>,
    span: Span,
) -> Channel {
    let task = async move {
        let timed_out = async {
            Timer::after(timeout).await;
            Err(io::Error::from(io::ErrorKind::TimedOut))
        };
        let event = match Async::<TcpStream>::connect(addr).or(timed_out).await {
            Ok(stream) => Event::Connected {
                id,
                stream,
                peer: addr,
            },
            Err(e) => {
                tracing::debug!(%id, %addr, "active connect failed: {e}");
                Event::Input(Input::ConnectFailed { id })
            }
        };
        let _ = tx.try_send(Box::new(event));
    };
    Channel::Connecting {
        _task: EXECUTOR.spawn(task.instrument(span)),
    }
}
