//! The data channels of one session, as the core sees them, for any runtime.
//!
//! A channel is opened by [`Output::OpenPassive`](thinftp::Output::OpenPassive) or
//! [`Output::Connect`](thinftp::Output::Connect) and then waits for a connection; once one
//! arrives it is reported with [`Input::DataConnected`] and *offered*: while the outputs that
//! follow are carried out, the core may refuse it
//! ([`Output::RefuseDataConnection`](thinftp::Output::RefuseDataConnection): it came from
//! another address than the client's), and the listener then accepts again. Otherwise the core
//! keeps it until a transfer takes it or [`Output::CloseData`](thinftp::Output::CloseData)
//! closes it.
//!
//! [`DataChannels`] holds that state machine for the [`Driver`](super::Driver). It is generic
//! over the runtime's connection type `S` and its *waiter* `W`: whatever waits for a connection
//! on the runtime's side (a thread or task accepting on a listener, or connecting out; see
//! [`Waiter`](super::Waiter)). Dropping a waiter must stop the wait and, for a passive one, close
//! the listener; [`DataChannels`] drops it once its channel no longer wants a connection.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use thinftp::{DataId, Input};

use crate::throttle::Throttle;

/// At most one "cannot open a passive listener" warning per this long, for the process.
static PASSIVE_FAILED_LOG: Throttle = Throttle::new(Duration::from_secs(5));

/// What work outside a session's loop reports back to it (over a channel, typically): give it
/// to [`Driver::complete`](super::Driver::complete).
#[derive(Debug)]
pub enum Completion<S> {
    /// An answer ready to feed as it is: what a [`Job`](super::Job) returned.
    Input(Input),
    /// The file of transfer `id` is open (what an open [`Job`](super::Job) returned): the
    /// driver keeps it until the core's `150` is written, and then moves the bytes.
    TransferOpened {
        /// The transfer.
        id: thinftp::TransferId,
        /// The opened file.
        opened: crate::transfer::Opened,
    },
    /// A connection accepted on the passive listener of channel `id`.
    Accepted {
        /// The channel.
        id: DataId,
        /// The connection.
        stream: S,
        /// Who connected.
        peer: SocketAddr,
    },
    /// The PROXY header of a passive data connection from a trusted proxy was read (what its
    /// job returned): the connection and the client the header names, or `None` when it had no
    /// good header (the listener then accepts again).
    HeaderRead {
        /// The channel.
        id: DataId,
        /// The connection and its client.
        result: Option<(S, SocketAddr)>,
    },
    /// The active connection of channel `id` to `addr` is up, or failed.
    Connected {
        /// The channel.
        id: DataId,
        /// The connection, or why there is none.
        result: io::Result<S>,
        /// Where it connects to.
        addr: SocketAddr,
    },
}

/// One session's data channels: see the [module docs](self).
#[derive(Debug)]
pub(super) struct DataChannels<S, W> {
    channels: HashMap<DataId, Channel<S, W>>,
    /// The channel just reported with `DataConnected`, until [`settle`](DataChannels::settle).
    offered: Option<DataId>,
}

#[derive(Debug)]
enum Channel<S, W> {
    /// Waiting for a connection: a passive listener accepting, or an active connect.
    Waiting(W),
    /// Reported to the core; the waiter is kept in case the core refuses the connection.
    Offered {
        stream: S,
        peer: SocketAddr,
        waiter: W,
    },
    /// Kept by the core: it waits for its transfer.
    Connected(S),
}

impl<S, W> Default for DataChannels<S, W> {
    fn default() -> Self {
        DataChannels {
            channels: HashMap::new(),
            offered: None,
        }
    }
}

impl<S, W> DataChannels<S, W> {
    /// No channel.
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// For [`Output::OpenPassive`](thinftp::Output::OpenPassive): records the listener's waiter
    /// and address, or logs why there is none, and returns the answer to feed: [`Input::PassiveListening`] or
    /// [`Input::PassiveFailed`].
    pub(super) fn listening(&mut self, id: DataId, opened: io::Result<(W, SocketAddr)>) -> Input {
        match opened {
            Ok((waiter, addr)) => {
                self.channels.insert(id, Channel::Waiting(waiter));
                Input::PassiveListening { id, addr }
            }
            Err(e) => {
                // A client can ask for listeners past its cap at will: one line per interval
                // for the whole process, with a count of the ones held back.
                if let Some(suppressed) = PASSIVE_FAILED_LOG.admit(Instant::now()) {
                    tracing::warn!(%id, suppressed, "cannot open a passive listener: {e}");
                }
                Input::PassiveFailed { id }
            }
        }
    }

    /// For [`Output::Connect`](thinftp::Output::Connect): records the connect under way. Report
    /// its end as [`Completion::Connected`].
    pub(super) fn connecting(&mut self, id: DataId, waiter: W) {
        self.channels.insert(id, Channel::Waiting(waiter));
    }

    /// Turns what some work reported into the input to feed, updating the channels. `None`: the
    /// event needs no input (a connection for a channel closed meanwhile, which is dropped).
    pub(super) fn input(&mut self, event: Completion<S>) -> Option<Input> {
        match event {
            Completion::Input(input) => Some(input),
            // Transfers and PROXY headers are the driver's: it never hands these here.
            Completion::TransferOpened { .. } | Completion::HeaderRead { .. } => None,
            Completion::Accepted { id, stream, peer } => self.connected(id, stream, peer),
            Completion::Connected {
                id,
                result: Ok(stream),
                addr,
            } => self.connected(id, stream, addr),
            Completion::Connected {
                id,
                result: Err(e),
                addr,
            } => {
                // Not waiting any more: closed meanwhile; the core does not want to hear of it.
                if !matches!(self.channels.get(&id), Some(Channel::Waiting(_))) {
                    return None;
                }
                tracing::debug!(%id, %addr, "active connection failed: {e}");
                self.channels.remove(&id);
                Some(Input::ConnectFailed { id })
            }
        }
    }

    /// A connection arrived for `id`: it is offered to the core, until [`settle`](Self::settle).
    fn connected(&mut self, id: DataId, stream: S, peer: SocketAddr) -> Option<Input> {
        match self.channels.remove(&id) {
            Some(Channel::Waiting(waiter)) => {
                let offered = Channel::Offered {
                    stream,
                    peer,
                    waiter,
                };
                self.channels.insert(id, offered);
                self.offered = Some(id);
                Some(Input::DataConnected { id, peer })
            }
            // Only a waiting channel reports a connection; anything else is left as it is.
            Some(other) => {
                tracing::debug!(%id, "a second connection for a data channel: dropped");
                self.channels.insert(id, other);
                None
            }
            None => None,
        }
    }

    /// For [`Output::RefuseDataConnection`]: drops the connection offered on `id` and returns the
    /// channel's waiter, now waiting again: the runtime restarts its accept on the listener (for
    /// a passive channel). `None` when `id` has no offered connection.
    ///
    /// [`Output::RefuseDataConnection`]: thinftp::Output::RefuseDataConnection
    pub(super) fn refuse(&mut self, id: DataId) -> Option<&mut W> {
        match self.channels.remove(&id) {
            Some(Channel::Offered { peer, waiter, .. }) => {
                tracing::info!(%peer, "data connection from a foreign address refused");
                if self.offered == Some(id) {
                    self.offered = None;
                }
                match self.channels.entry(id).or_insert(Channel::Waiting(waiter)) {
                    Channel::Waiting(waiter) => Some(waiter),
                    _ => None,
                }
            }
            Some(other) => {
                tracing::debug!(%id, "refusal of a data connection that was not offered");
                self.channels.insert(id, other);
                None
            }
            None => {
                tracing::debug!(%id, "refusal of an unknown data connection");
                None
            }
        }
    }

    /// The waiter of `id` if it is waiting for a connection (to make it accept again after a
    /// connection it reported turned out bad).
    pub(super) fn waiting(&mut self, id: DataId) -> Option<&mut W> {
        match self.channels.get_mut(&id) {
            Some(Channel::Waiting(waiter)) => Some(waiter),
            _ => None,
        }
    }

    /// Call after carrying out the outputs that followed an input: a connection offered and not
    /// refused is kept by the core, so its waiter is dropped (the listener stops accepting).
    pub(super) fn settle(&mut self) {
        let Some(id) = self.offered.take() else {
            return;
        };
        if let Some(Channel::Offered { stream, .. }) = self.channels.remove(&id) {
            self.channels.insert(id, Channel::Connected(stream));
        }
    }

    /// For [`Output::StartTransfer`](thinftp::Output::StartTransfer): takes the connection of
    /// `id` out for the transfer. The channel is gone afterwards; `None` (a runtime bug) when it
    /// had no connection.
    pub(super) fn take_stream(&mut self, id: DataId) -> Option<S> {
        if self.offered == Some(id) {
            self.offered = None;
        }
        match self.channels.remove(&id)? {
            Channel::Offered { stream, .. } | Channel::Connected(stream) => Some(stream),
            Channel::Waiting(_) => None,
        }
    }

    /// For [`Output::CloseData`](thinftp::Output::CloseData): drops the channel's waiter or
    /// connection.
    pub(super) fn close(&mut self, id: DataId) {
        if self.offered == Some(id) {
            self.offered = None;
        }
        self.channels.remove(&id);
    }

    /// Drops every channel (when the session ends).
    pub(super) fn clear(&mut self) {
        self.offered = None;
        self.channels.clear();
    }

    /// How many channels are open.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether no channel is open.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Counts its drops: a dropped waiter has stopped waiting (its listener is closed).
    struct Waiter(Rc<Cell<u32>>);

    impl Drop for Waiter {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    const CLIENT: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::LOCALHOST,
        40000,
    ));
    const LISTENER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::LOCALHOST,
        50000,
    ));

    fn id(n: u64) -> DataId {
        DataId::from_raw(n)
    }

    fn passive(channels: &mut DataChannels<&'static str, Waiter>, n: u64) -> Rc<Cell<u32>> {
        let drops = Rc::new(Cell::new(0));
        let answer = channels.listening(id(n), Ok((Waiter(Rc::clone(&drops)), LISTENER)));
        assert_eq!(
            answer,
            Input::PassiveListening {
                id: id(n),
                addr: LISTENER
            }
        );
        drops
    }

    fn accepted(stream: &'static str, n: u64) -> Completion<&'static str> {
        Completion::Accepted {
            id: id(n),
            stream,
            peer: CLIENT,
        }
    }

    #[test]
    fn a_kept_connection_closes_its_listener_and_goes_to_the_transfer() {
        let mut channels = DataChannels::new();
        let drops = passive(&mut channels, 1);
        assert_eq!(
            channels.input(accepted("conn", 1)),
            Some(Input::DataConnected {
                id: id(1),
                peer: CLIENT
            })
        );
        assert_eq!(drops.get(), 0, "kept while the core may refuse it");
        channels.settle();
        assert_eq!(drops.get(), 1, "the listener stops accepting");
        assert_eq!(channels.take_stream(id(1)), Some("conn"));
        assert!(channels.is_empty());
        assert_eq!(channels.take_stream(id(1)), None);
    }

    #[test]
    fn a_refused_connection_is_dropped_and_the_listener_waits_again() {
        let mut channels = DataChannels::new();
        let drops = passive(&mut channels, 1);
        let _ = channels.input(accepted("intruder", 1));
        assert!(channels.refuse(id(1)).is_some());
        assert_eq!(drops.get(), 0, "the waiter is handed back, not dropped");
        // Settling after a refusal keeps the channel waiting.
        channels.settle();
        assert_eq!((drops.get(), channels.len()), (0, 1));
        assert_eq!(channels.take_stream(id(1)), None, "no connection yet");
        assert_eq!(drops.get(), 1);
        // Refusing what is not offered does nothing.
        let drops = passive(&mut channels, 2);
        assert!(channels.refuse(id(2)).is_none());
        assert!(channels.refuse(id(3)).is_none());
        assert_eq!((drops.get(), channels.len()), (0, 1));
    }

    #[test]
    fn connections_for_closed_channels_are_not_reported() {
        let mut channels = DataChannels::new();
        let drops = passive(&mut channels, 1);
        channels.close(id(1));
        assert_eq!(drops.get(), 1);
        assert_eq!(channels.input(accepted("late", 1)), None);
        let connect = |result| Completion::Connected {
            id: id(2),
            result,
            addr: CLIENT,
        };
        channels.connecting(id(2), Waiter(Rc::new(Cell::new(0))));
        channels.close(id(2));
        assert_eq!(channels.input(connect(Ok("late"))), None);
        assert_eq!(
            channels.input(connect(Err(io::ErrorKind::TimedOut.into()))),
            None
        );
        assert!(channels.is_empty());
    }

    #[test]
    fn active_connects_report_success_or_failure() {
        let mut channels = DataChannels::<&str, Waiter>::new();
        channels.connecting(id(1), Waiter(Rc::new(Cell::new(0))));
        let failed = Completion::Connected {
            id: id(1),
            result: Err(io::ErrorKind::ConnectionRefused.into()),
            addr: CLIENT,
        };
        assert_eq!(
            channels.input(failed),
            Some(Input::ConnectFailed { id: id(1) })
        );
        assert!(channels.is_empty());
        channels.connecting(id(2), Waiter(Rc::new(Cell::new(0))));
        let up = Completion::Connected {
            id: id(2),
            result: Ok("conn"),
            addr: CLIENT,
        };
        assert_eq!(
            channels.input(up),
            Some(Input::DataConnected {
                id: id(2),
                peer: CLIENT
            })
        );
        channels.settle();
        assert_eq!(channels.take_stream(id(2)), Some("conn"));
    }

    #[test]
    fn a_listener_that_could_not_open_is_not_kept() {
        let mut channels = DataChannels::<&str, Waiter>::new();
        let answer = channels.listening(id(1), Err(io::ErrorKind::AddrInUse.into()));
        assert_eq!(answer, Input::PassiveFailed { id: id(1) });
        assert!(channels.is_empty());
        let passed = Input::ControlEof;
        assert_eq!(
            channels.input(Completion::Input(passed.clone())),
            Some(passed)
        );
    }
}
