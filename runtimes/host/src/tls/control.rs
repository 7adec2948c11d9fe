//! The control connection's TLS, sans-IO: a [`rustls::ServerConnection`] beside the session.
//! Bytes from the socket go in ([`ControlTls::receive`]) and come out as the plaintext for the
//! core; replies go in ([`ControlTls::seal`]) and come out as the bytes to write. The runtime
//! writes and reads as before and never sees TLS.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::{ServerConfig, ServerConnection};

use super::Negotiated;

/// What came of bytes read from the control connection.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// Plaintext for the core.
    pub plain: Vec<u8>,
    /// The handshake has just finished: what it negotiated (reported once).
    pub secured: Option<Negotiated>,
    /// The handshake or the connection failed (the alert, if any, waits in
    /// [`ControlTls::outgoing`]): why.
    pub failed: Option<String>,
    /// The client sent `close_notify`: no more plaintext comes.
    pub closed: bool,
}

/// The TLS state of one control connection: see the [module docs](self).
#[derive(Debug)]
pub struct ControlTls {
    conn: ServerConnection,
    /// The handshake's end was reported.
    secured: bool,
}

impl ControlTls {
    /// A server connection waiting for the client's hello.
    pub fn new(config: Arc<ServerConfig>) -> Result<ControlTls, rustls::Error> {
        let mut conn = ServerConnection::new(config)?;
        // Replies are small and few; nothing is held back for want of room.
        conn.set_buffer_limit(None);
        Ok(ControlTls {
            conn,
            secured: false,
        })
    }

    /// Whether the handshake is over.
    pub fn is_secured(&self) -> bool {
        self.secured
    }

    /// Takes `bytes` read from the socket.
    pub fn receive(&mut self, mut bytes: &[u8]) -> Received {
        let mut received = Received::default();
        while !bytes.is_empty() {
            if let Err(e) = self.conn.read_tls(&mut bytes) {
                received.failed = Some(e.to_string());
                return received;
            }
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    received.failed = Some(e.to_string());
                    return received;
                }
            };
            let mut want = state.plaintext_bytes_to_read();
            while want > 0 {
                let start = received.plain.len();
                received.plain.resize(start + want, 0);
                match self.conn.reader().read(&mut received.plain[start..]) {
                    Ok(n) => {
                        received.plain.truncate(start + n);
                        want -= n.min(want);
                        if n == 0 {
                            break;
                        }
                    }
                    Err(_) => {
                        received.plain.truncate(start);
                        break;
                    }
                }
            }
            if state.peer_has_closed() {
                received.closed = true;
            }
        }
        if !self.secured && !self.conn.is_handshaking() {
            self.secured = true;
            received.secured = Some(Negotiated::of(&self.conn));
        }
        received
    }

    /// Encrypts `plain` (a batch of replies); the bytes to write follow in
    /// [`outgoing`](Self::outgoing).
    pub fn seal(&mut self, plain: &[u8]) {
        // Unlimited buffer: the writer takes everything.
        let _ = self.conn.writer().write_all(plain);
    }

    /// Queues `close_notify` (before the connection's FIN, or for `CCC`).
    pub fn close_notify(&mut self) {
        self.conn.send_close_notify();
    }

    /// The TLS bytes waiting to be written (handshake messages, records, alerts), if any.
    pub fn outgoing(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut out).is_err() {
                break;
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testing;

    /// Drives a rustls client against a [`ControlTls`] in memory until neither has bytes to
    /// send; returns what the server received.
    fn pump(client: &mut rustls::ClientConnection, server: &mut ControlTls) -> Received {
        let mut all = Received::default();
        for _ in 0..20 {
            let mut moved = false;
            let mut to_server = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut to_server).unwrap();
            }
            if !to_server.is_empty() {
                moved = true;
                let r = server.receive(&to_server);
                all.plain.extend(r.plain);
                all.secured = all.secured.or(r.secured);
                all.failed = all.failed.or(r.failed);
                all.closed |= r.closed;
            }
            if let Some(to_client) = server.outgoing() {
                moved = true;
                let _ = client.read_tls(&mut &to_client[..]);
                if client.process_new_packets().is_err() {
                    return all;
                }
            }
            if !moved {
                break;
            }
        }
        all
    }

    #[test]
    fn a_handshake_secures_and_replies_travel_both_ways() {
        let (server_config, client_config) = testing::configs(&[b"ftp"]);
        let mut server = ControlTls::new(server_config).unwrap();
        let mut client = testing::client(client_config);
        let got = pump(&mut client, &mut server);
        let negotiated = got.secured.expect("secured once the handshake is over");
        assert!(server.is_secured());
        assert_eq!(negotiated.version, "TLSv1.3");
        assert_eq!(negotiated.alpn.as_deref(), Some("ftp"));
        assert_eq!(negotiated.sni.as_deref(), Some("localhost"));
        assert!(!negotiated.resumed);

        client.writer().write_all(b"USER alice\r\n").unwrap();
        let got = pump(&mut client, &mut server);
        assert_eq!(got.plain, b"USER alice\r\n");
        assert_eq!(got.secured, None, "reported once");

        server.seal(b"331 Password required\r\n");
        pump(&mut client, &mut server);
        let mut reply = vec![0; 64];
        let n = client.reader().read(&mut reply).unwrap();
        assert_eq!(&reply[..n], b"331 Password required\r\n");

        client.send_close_notify();
        assert!(pump(&mut client, &mut server).closed);
    }

    #[test]
    fn a_client_offering_another_protocol_is_refused() {
        let (server_config, client_config) = testing::configs(&[b"http/1.1"]);
        let mut server = ControlTls::new(server_config).unwrap();
        let mut client = testing::client(client_config);
        let got = pump(&mut client, &mut server);
        assert!(got.failed.is_some(), "{got:?}");
        assert!(got.secured.is_none());
    }

    #[test]
    fn a_client_certificate_from_the_client_ca_is_reported_and_none_is_fine_too() {
        use rcgen::{
            BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        };
        let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let mut params = CertificateParams::new(vec!["client".to_owned()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let certified = crate::tls::CertifiedKey::self_signed().unwrap();
        let server = Arc::new(crate::tls::server_config(certified, Some(&ca_file)).unwrap());

        let chain = vec![cert.der().clone()];
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into();
        let mut client = testing::client(testing::client_with_certificate(chain, key));
        let mut control = ControlTls::new(Arc::clone(&server)).unwrap();
        let negotiated = pump(&mut client, &mut control).secured.expect("secured");
        assert_eq!(
            negotiated.client_certificate,
            Some(crate::tls::fingerprint(cert.der()))
        );

        let (_, anonymous) = testing::configs(&[]);
        let mut client = testing::client(anonymous);
        let mut control = ControlTls::new(server).unwrap();
        let negotiated = pump(&mut client, &mut control).secured.expect("optional");
        assert_eq!(negotiated.client_certificate, None);
    }

    #[test]
    fn garbage_fails_the_handshake() {
        let (server_config, _) = testing::configs(&[]);
        let mut server = ControlTls::new(server_config).unwrap();
        let got = server.receive(b"USER alice\r\n");
        assert!(got.failed.is_some());
        assert!(got.plain.is_empty());
    }
}
