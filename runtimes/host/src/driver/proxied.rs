//! A control connection from a trusted proxy, before its PROXY header is read.
//!
//! The [`Driver`](super::Driver) of such a connection starts here instead of with a session:
//! the bytes the runtime reads are gathered until they hold a whole header
//! ([`proxy_protocol::parse`]), within [`HEADER_TIMEOUT`] (the driver's timer) and
//! [`MAX_HEADER`](crate::proxy_protocol::MAX_HEADER) bytes. Then the session starts for the
//! client the header names, with the bytes after the header as its first input; anything else
//! (no header in time, a bad one, the end of the connection, shutdown) closes the connection
//! without a word, as a proxy's health check expects.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use thinftp::Input;

use super::Completion;
use crate::proxy_protocol::{self, Parsed, HEADER_TIMEOUT};

/// The header being read.
#[derive(Debug)]
pub(super) struct HeaderWait {
    /// What came so far (at most a header's worth and one read).
    bytes: Vec<u8>,
    deadline: Instant,
    /// The connection's local address, for the session.
    pub(super) local: SocketAddr,
    /// Refused after the header (over the client's limit): close once the `421` is written.
    pub(super) closing: bool,
}

/// What the driver does next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Wait for more bytes, until the deadline.
    Wait(Instant),
    /// Start the session of `client` (`None`: the proxy's own connection, its address stands);
    /// `rest` came after the header.
    Start {
        client: Option<SocketAddr>,
        rest: Bytes,
    },
    /// Close the connection.
    Close,
}

impl HeaderWait {
    pub(super) fn new(local: SocketAddr, now: Instant) -> Self {
        HeaderWait {
            bytes: Vec::new(),
            deadline: now.checked_add(HEADER_TIMEOUT).unwrap_or(now),
            local,
            closing: false,
        }
    }

    /// Takes what the runtime reported (`None`: nothing more for now) and says what to do.
    pub(super) fn step<S>(&mut self, now: Instant, next: Option<Completion<S>>) -> Step {
        match next {
            Some(Completion::Input(Input::ControlBytes(bytes))) => {
                self.bytes.extend_from_slice(&bytes)
            }
            Some(Completion::Input(Input::ControlEof | Input::Shutdown)) => return Step::Close,
            // Nothing else is asked for before the session starts.
            Some(_) => {}
            None => {}
        }
        match proxy_protocol::parse(&self.bytes) {
            Parsed::Header { len, client } => {
                let rest = Bytes::copy_from_slice(self.bytes.get(len..).unwrap_or_default());
                self.bytes = Vec::new();
                Step::Start { client, rest }
            }
            Parsed::Invalid(why) => {
                tracing::info!("connection from the proxy closed: {why}");
                Step::Close
            }
            Parsed::Incomplete if now >= self.deadline => {
                tracing::info!("connection from the proxy closed: no PROXY header in time");
                Step::Close
            }
            Parsed::Incomplete => Step::Wait(self.deadline),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    type C = Completion<()>;

    fn bytes(b: &'static [u8]) -> Option<C> {
        Some(Completion::Input(Input::ControlBytes(Bytes::from_static(
            b,
        ))))
    }

    fn local() -> SocketAddr {
        "127.0.0.1:21".parse().unwrap()
    }

    #[test]
    fn a_header_in_pieces_starts_the_session_with_what_follows() {
        let now = Instant::now();
        let mut wait = HeaderWait::new(local(), now);
        let deadline = now + HEADER_TIMEOUT;
        assert_eq!(wait.step(now, None::<C>), Step::Wait(deadline));
        assert_eq!(
            wait.step(now, bytes(b"PROXY TCP4 192.0.2.7 ")),
            Step::Wait(deadline)
        );
        assert_eq!(
            wait.step(now, bytes(b"127.0.0.1 5000 21\r\nUSER a\r\n")),
            Step::Start {
                client: Some("192.0.2.7:5000".parse().unwrap()),
                rest: Bytes::from_static(b"USER a\r\n")
            }
        );
    }

    #[test]
    fn silence_a_bad_header_or_the_end_closes() {
        let now = Instant::now();
        let mut wait = HeaderWait::new(local(), now);
        let _ = wait.step(now, bytes(b"PROXY TCP4"));
        let late = now + HEADER_TIMEOUT + Duration::from_millis(1);
        assert_eq!(wait.step(late, Some(C::Input(Input::Timeout))), Step::Close);
        let mut wait = HeaderWait::new(local(), now);
        assert_eq!(wait.step(now, bytes(b"USER anonymous\r\n")), Step::Close);
        let mut wait = HeaderWait::new(local(), now);
        assert_eq!(
            wait.step(now, Some(C::Input(Input::ControlEof))),
            Step::Close
        );
        let mut wait = HeaderWait::new(local(), now);
        assert_eq!(wait.step(now, Some(C::Input(Input::Shutdown))), Step::Close);
    }
}
