//! The control connection, clear or through TLS: the driver's side of FTPS. The runtime keeps
//! reading and writing socket bytes; here they become plaintext for the core (and the core's
//! replies become TLS records) once [`Output::SecureControl`](thinftp::Output::SecureControl)
//! asked for it, until `CCC` ([`Output::ClearControl`](thinftp::Output::ClearControl)) or the
//! end. The session's [`SessionTls`] (its own resumption store) is made here at the first need,
//! for the control connection and every data connection of the session.

use std::net::IpAddr;

use bytes::Bytes;
use thinftp::{Input, TlsInfo};

use crate::tls::{ControlTls, Negotiated, SessionTls};
use crate::Host;

/// See the [module docs](self).
#[derive(Debug, Default)]
pub(super) struct ControlChannel {
    /// The session's TLS configuration, once made.
    session: Option<SessionTls>,
    /// The user the session is logged in as, for its ticket key (see [`SessionTls::logged_in`]).
    user: Option<String>,
    /// The TLS connection, from `SecureControl` until the client's `close_notify` after `CCC`.
    tls: Option<ControlTls>,
    state: State,
    /// Where the client's TLS records end while [`State::Clearing`].
    records: Records,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No TLS (yet, or again after `CCC`).
    #[default]
    Clear,
    /// The handshake runs.
    Handshaking,
    /// Everything passes through TLS.
    Secured,
    /// After `CCC`: our `close_notify` is sent and replies go out clear. What the client sends
    /// is read through TLS up to its own `close_notify`, or up to the first byte that cannot
    /// start a TLS record (see [`Records`]): curl's default (`--ftp-ssl-ccc-mode passive`)
    /// sends no `close_notify` and goes on in clear text at once.
    Clearing,
    /// Our `close_notify` before the FIN is sent, or TLS failed: nothing more through TLS.
    Done,
}

impl ControlChannel {
    /// The session's TLS configuration, made at the first call for the client at `ip`; `None`
    /// if FTPS is off.
    pub(super) fn session_tls(&mut self, host: &Host, ip: IpAddr) -> Option<SessionTls> {
        if self.session.is_none() {
            self.session = host.session_tls(ip);
            if let Some(session) = &self.session {
                session.logged_in(self.user.as_deref());
            }
        }
        self.session.clone()
    }

    /// The session is logged in as `user` now.
    pub(super) fn logged_in(&mut self, user: &str) {
        self.user = Some(user.to_owned());
        if let Some(session) = &self.session {
            session.logged_in(Some(user));
        }
    }

    /// For `SecureControl`: the handshake starts with the next bytes read. The answer to feed
    /// at once if it cannot (no TLS configuration).
    pub(super) fn secure(&mut self, host: &Host, ip: IpAddr) -> Option<Input> {
        let config = self.session_tls(host, ip)?.config;
        match ControlTls::new(config) {
            Ok(tls) => {
                self.tls = Some(tls);
                self.state = State::Handshaking;
                None
            }
            Err(e) => {
                tracing::error!("cannot start TLS on the control connection: {e}");
                Some(Input::ControlTlsFailed)
            }
        }
    }

    /// For `ClearControl` (the `200` is written): the `close_notify` to write now, then clear
    /// text.
    pub(super) fn clear(&mut self) -> Option<Vec<u8>> {
        let (Some(tls), State::Secured) = (&mut self.tls, self.state) else {
            return None;
        };
        tls.close_notify();
        self.state = State::Clearing;
        self.records = Records::default();
        tls.outgoing()
    }

    /// The inputs for `bytes` read from the socket.
    pub(super) fn received(&mut self, bytes: &Bytes) -> Vec<Input> {
        if self.state == State::Clearing {
            return self.received_clearing(bytes);
        }
        let Some(tls) = self.tls.as_mut().filter(|_| self.state != State::Done) else {
            return if self.state == State::Done {
                Vec::new()
            } else {
                vec![Input::ControlBytes(bytes.clone())]
            };
        };
        let received = tls.receive(bytes);
        let mut inputs = Vec::new();
        if let Some(negotiated) = received.secured {
            negotiated.log("control");
            self.state = State::Secured;
            inputs.push(Input::ControlSecured(Box::new(info(negotiated))));
        }
        if !received.plain.is_empty() {
            inputs.push(Input::ControlBytes(Bytes::from(received.plain)));
        }
        if let Some(why) = received.failed {
            if self.state == State::Handshaking {
                tracing::info!("TLS handshake on the control connection failed: {why}");
                inputs.push(Input::ControlTlsFailed);
            } else {
                tracing::debug!("TLS on the control connection failed: {why}");
                inputs.push(Input::ControlEof);
            }
            self.state = State::Done;
        } else if received.closed {
            inputs.push(Input::ControlEof);
        }
        inputs
    }

    /// [`received`](Self::received) after `CCC`: the client's TLS records go through TLS (a
    /// command it sent before its `close_notify` still counts); from its `close_notify`, or
    /// from the first byte that cannot start a record, everything is clear text.
    fn received_clearing(&mut self, bytes: &Bytes) -> Vec<Input> {
        let mut inputs = Vec::new();
        let mut rest = bytes.clone();
        while !rest.is_empty() {
            let Some(tls) = self.tls.as_mut() else { break };
            let Some(n) = self.records.take(&rest) else {
                // Clear text: the client left TLS without a close_notify.
                self.tls = None;
                self.state = State::Clear;
                break;
            };
            let record = rest.split_to(n);
            let received = tls.receive(&record);
            if !received.plain.is_empty() {
                inputs.push(Input::ControlBytes(Bytes::from(received.plain)));
            }
            if let Some(why) = received.failed {
                tracing::debug!("TLS on the control connection failed after CCC: {why}");
                self.state = State::Done;
                inputs.push(Input::ControlEof);
                return inputs;
            }
            if received.closed {
                // Both sides said close_notify: clear text from now on.
                self.tls = None;
                self.state = State::Clear;
            }
        }
        if self.state == State::Clear && !rest.is_empty() {
            inputs.push(Input::ControlBytes(rest));
        }
        inputs
    }

    /// TLS bytes of the connection's own waiting to be written (handshake, alerts).
    pub(super) fn outgoing(&mut self) -> Option<Vec<u8>> {
        self.tls.as_mut()?.outgoing()
    }

    /// The bytes to write for a batch of replies: sealed while TLS is in force.
    pub(super) fn seal(&mut self, batch: Vec<u8>) -> Vec<u8> {
        match (&mut self.tls, self.state) {
            (Some(tls), State::Secured) => {
                tls.seal(&batch);
                tls.outgoing().unwrap_or_default()
            }
            _ => batch,
        }
    }

    /// Once, when the session closes: the `close_notify` to write before the FIN, if TLS is in
    /// force.
    pub(super) fn close_notify(&mut self) -> Option<Vec<u8>> {
        let tls = self.tls.as_mut()?;
        if self.state != State::Secured {
            return None;
        }
        self.state = State::Done;
        tls.close_notify();
        tls.outgoing()
    }
}

/// The TLS record boundaries in what a client sends after `CCC`, so that the TLS records
/// and the clear text after them can be told apart even in one read: a record starts with
/// its content type (20 to 24: change_cipher_spec, alert, handshake, application_data,
/// heartbeat), a command with a letter.
#[derive(Debug, Default)]
struct Records {
    /// The current record's header bytes seen so far (a record is 5 header bytes, then as
    /// many as its length says).
    header: [u8; 5],
    have: usize,
    /// Body bytes of the current record still to come.
    body_left: usize,
}

impl Records {
    /// How many of `bytes` (not empty) belong to TLS records; `None` if `bytes` starts
    /// between records with a byte that cannot start one (clear text from there on).
    fn take(&mut self, bytes: &[u8]) -> Option<usize> {
        if self.have == 0 && !bytes.first().is_some_and(|b| (20..=24).contains(b)) {
            return None;
        }
        let mut used = 0;
        while self.have < self.header.len() {
            let Some(&byte) = bytes.get(used) else {
                return Some(used);
            };
            self.header[self.have] = byte;
            self.have += 1;
            used += 1;
            if self.have == self.header.len() {
                self.body_left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
            }
        }
        let body = self.body_left.min(bytes.len() - used);
        self.body_left -= body;
        used += body;
        if self.body_left == 0 {
            // The record is complete: the next byte starts a record or clear text.
            self.have = 0;
        }
        Some(used)
    }
}

/// What the core hears of a handshake.
fn info(negotiated: Negotiated) -> TlsInfo {
    let mut info =
        TlsInfo::new(negotiated.version, negotiated.cipher).with_resumed(negotiated.resumed);
    if let Some(sni) = negotiated.sni {
        info = info.with_sni(sni);
    }
    if let Some(alpn) = negotiated.alpn {
        info = info.with_alpn(alpn.into_bytes());
    }
    if let Some(certificate) = negotiated.client_certificate {
        info = info.with_client_certificate(certificate);
    }
    info
}

#[cfg(test)]
mod tests {
    use super::Records;

    #[test]
    fn records_end_where_their_length_says_even_split_over_reads() {
        // An alert record (5 header bytes, a 2-byte body), then clear text.
        let mut records = Records::default();
        assert_eq!(records.take(&[21, 3, 3, 0, 2, 1, 0, b'P', b'W']), Some(7));
        assert_eq!(records.take(b"PWD\r\n"), None);
        // The same record in pieces: inside a record every byte is TLS, even a letter.
        let mut records = Records::default();
        assert_eq!(records.take(&[23, 3]), Some(2));
        assert_eq!(records.take(&[3, 0]), Some(2));
        assert_eq!(records.take(&[3, b'N']), Some(2));
        assert_eq!(records.take(b"OOP"), Some(2));
        assert_eq!(records.take(b"P\r\n"), None);
        // An empty record ends with its header.
        let mut records = Records::default();
        assert_eq!(records.take(&[22, 3, 3, 0, 0, b'N']), Some(5));
        assert_eq!(records.take(b"N"), None);
    }
}
