//! The control connection, clear or through TLS: the driver's side of FTPS. The runtime keeps
//! reading and writing socket bytes; here they become plaintext for the core (and the core's
//! replies become TLS records) once [`Output::SecureControl`](thinftp::Output::SecureControl)
//! asked for it, until `CCC` ([`Output::ClearControl`](thinftp::Output::ClearControl)) or the
//! end. The session's [`SessionTls`] (its own resumption store) is made here at the first need,
//! for the control connection and every data connection of the session.

use bytes::Bytes;
use thinftp::{Input, TlsInfo};

use crate::tls::{ControlTls, Negotiated, SessionTls};
use crate::Host;

/// See the [module docs](self).
#[derive(Debug, Default)]
pub(super) struct ControlChannel {
    /// The session's TLS configuration, once made.
    session: Option<SessionTls>,
    /// The TLS connection, from `SecureControl` until the client's `close_notify` after `CCC`.
    tls: Option<ControlTls>,
    state: State,
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
    /// After `CCC`: our `close_notify` is sent, replies go out clear, and what the client sends
    /// is read through TLS until its own `close_notify`.
    Clearing,
    /// Our `close_notify` before the FIN is sent, or TLS failed: nothing more through TLS.
    Done,
}

impl ControlChannel {
    /// The session's TLS configuration, made at the first call; `None` if FTPS is off.
    pub(super) fn session_tls(&mut self, host: &Host) -> Option<SessionTls> {
        if self.session.is_none() {
            self.session = host.session_tls();
        }
        self.session.clone()
    }

    /// For `SecureControl`: the handshake starts with the next bytes read. The answer to feed
    /// at once if it cannot (no TLS configuration).
    pub(super) fn secure(&mut self, host: &Host) -> Option<Input> {
        let config = self.session_tls(host)?.config;
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

    /// For `ClearControl` (the `200` is written): `close_notify`, then clear text.
    pub(super) fn clear(&mut self) {
        if let (Some(tls), State::Secured) = (&mut self.tls, self.state) {
            tls.close_notify();
            self.state = State::Clearing;
        }
    }

    /// The inputs for `bytes` read from the socket.
    pub(super) fn received(&mut self, bytes: &Bytes) -> Vec<Input> {
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
            if self.state == State::Clearing {
                // Both sides said close_notify: clear text from now on.
                self.tls = None;
                self.state = State::Clear;
            } else {
                inputs.push(Input::ControlEof);
            }
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
