//! The session state machine. (work in progress)

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::Config;
use crate::error::DriveError;
use crate::events::{Input, Output};

/// One client's control connection, as a pure state machine. See the [crate docs](crate) for
/// the run loop.
#[derive(Debug)]
pub struct Session {
    _config: Config,
}

impl Session {
    /// Starts a session for a client at `peer` that connected to `local`. The `220` greeting is
    /// queued: drain [`poll_output`](Self::poll_output) next.
    pub fn new(config: Config, peer: SocketAddr, local: SocketAddr, now: Instant) -> Self {
        let _ = (peer, local, now);
        Self { _config: config }
    }

    /// Feeds one event. Drain [`poll_output`](Self::poll_output) afterwards. An error means the
    /// runtime fed something nobody asked for; the session is unchanged.
    pub fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), DriveError> {
        let _ = (now, input);
        todo!()
    }

    /// The next thing for the runtime to do, or `None` when there is nothing more until the next
    /// input.
    pub fn poll_output(&mut self) -> Option<Output> {
        todo!()
    }

    /// The earliest deadline: feed [`Input::Timeout`] once it has passed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!()
    }

    /// Whether the session has ended ([`Output::CloseSession`] was emitted).
    pub fn is_closed(&self) -> bool {
        todo!()
    }

    /// The name of the logged-in user, for the runtime's logs.
    pub fn user(&self) -> Option<&str> {
        todo!()
    }
}
