//! FTPS (RFC 4217) outside the protocol: the rustls configuration, the certificate, and each
//! session's own resumption store. The core knows TLS *state* only; the bytes are here.
//!
//! - One crypto provider, chosen explicitly: *ring* (rustls with `default-features = false`).
//!   aws-lc-rs would need cmake and a long C build on this machine's two cores; ring builds in
//!   seconds and its AES-GCM runs at memory speed with AES-NI.
//! - TLS 1.2 and 1.3, ALPN `ftp`: a client that offers ALPN without `ftp` is refused (no ALPN
//!   at all is fine: most FTP clients send none).
//! - The control connection is secured sans-IO inside the driver ([`ControlTls`]): both
//!   runtimes keep moving bytes and know nothing of TLS.
//! - Data connections (PROT P) are secured in the blocking transfer job ([`data`]), and by
//!   default must *resume* the control connection's session, as vsftpd's `require_ssl_reuse`:
//!   each session gets a [`SessionTls`], a copy of the server's configuration with its own
//!   session cache and its own ticket key, so only the client holding the control connection
//!   can resume (a second client, even from the same address, cannot).
//! - `--tls-reuse-same-user` relaxes that for clients with several control connections and one
//!   session cache (rclone): see [`tickets`].
//! - The certificate is read again on SIGHUP ([`Tls::reload`]); sessions already running keep
//!   the one they started with.

mod certs;
mod control;
pub mod data;
mod tickets;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::ServerConfig;

pub use certs::{fingerprint, CertifiedKey};
pub use control::{ControlTls, Received};
pub use tickets::SessionTickets;

use crate::cli::TlsRequired;
use crate::Options;

/// The protocol name offered by ALPN (RFC 7301's registry, and RFC 4217's own).
pub const ALPN_FTP: &[u8] = b"ftp";

/// Sessions each session's cache holds (TLS 1.2 session ids): its data connections resume one
/// of the few the control connection's client was given.
const SESSION_CACHE: usize = 32;

/// Where the certificate comes from, to read it again on SIGHUP.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned,
}

/// The server's TLS settings, shared by every session: see the [module docs](self).
#[derive(Debug)]
pub struct Tls {
    /// What each session's configuration is copied from (replaced by a reload).
    base: RwLock<Arc<ServerConfig>>,
    source: Source,
    client_ca: Option<PathBuf>,
    /// Data connections must resume the control connection's session.
    require_reuse: bool,
    /// With `--tls-reuse-same-user`: every session's ticket key, so that a data connection may
    /// resume another open session's of the same user and address.
    shared_tickets: Option<Arc<tickets::Registry>>,
}

/// One session's TLS configuration: the server's, with a session cache and ticket key of its
/// own (see the [module docs](self)). Cloning it shares them.
#[derive(Debug, Clone)]
pub struct SessionTls {
    /// For the control connection, which hands out the tickets data connections resume.
    pub config: Arc<ServerConfig>,
    /// For the data connections: the same session cache and ticket key, but no new tickets.
    /// A TLS 1.3 ticket is a message the client reads after the handshake; a client that only
    /// uploads never reads it, and closing its socket with it unread sends a reset that can
    /// cut the upload's last bytes.
    pub data: Arc<ServerConfig>,
    /// Data connections must resume the control connection's session.
    pub require_reuse: bool,
    /// The ticket key of `config` and `data`: tell it who is logged in.
    pub tickets: SessionTickets,
}

impl SessionTls {
    /// The session is logged in as `user` now (`None`: not yet): with
    /// `--tls-reuse-same-user`, its tickets resume on the data connections of that user's other
    /// sessions from the same address, and theirs on its own.
    pub fn logged_in(&self, user: Option<&str>) {
        self.tickets.set_user(user);
    }
}

impl Tls {
    /// The TLS settings the options ask for: `None` when FTPS is off (no `--ftps`, no
    /// `--implicit-listen`). An error names what is missing or cannot be read.
    pub fn from_options(options: &Options) -> Result<Option<Tls>, String> {
        let wanted = options.ftps || !options.implicit_listen.is_empty();
        let has_cert = options.tls_cert.is_some() || options.tls_key.is_some();
        if !wanted {
            let tls_only = has_cert
                || options.tls_self_signed
                || options.tls_client_ca.is_some()
                || options.tls_required_control != TlsRequired::None
                || options.tls_required_data != TlsRequired::None
                || options.tls_allow_ccc
                || options.tls_reuse_same_user;
            if tls_only {
                return Err(
                    "TLS options given, but FTPS is off: add --ftps (explicit AUTH TLS) \
                            or --implicit-listen"
                        .to_owned(),
                );
            }
            return Ok(None);
        }
        let source = match (&options.tls_cert, &options.tls_key, options.tls_self_signed) {
            (Some(cert), Some(key), false) => Source::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            (None, None, true) => Source::SelfSigned,
            (Some(_), Some(_), true) => {
                return Err("--tls-self-signed and --tls-cert exclude each other".to_owned())
            }
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err("--tls-cert and --tls-key go together".to_owned())
            }
            (None, None, false) => {
                return Err(
                    "FTPS needs a certificate: --tls-cert FILE --tls-key FILE, or \
                            --tls-self-signed to generate one"
                        .to_owned(),
                )
            }
        };
        let certified = certified_key(&source)?;
        if source == Source::SelfSigned {
            tracing::info!(
                sha256 = %certified.fingerprint(),
                "generated a self-signed TLS certificate for localhost"
            );
        }
        let base = server_config(certified, options.tls_client_ca.as_ref())?;
        Ok(Some(Tls {
            base: RwLock::new(Arc::new(base)),
            source,
            client_ca: options.tls_client_ca.clone(),
            require_reuse: !options.tls_no_session_reuse_required,
            shared_tickets: options
                .tls_reuse_same_user
                .then(|| Arc::new(tickets::Registry::default())),
        }))
    }

    /// Reads the certificate (and the client CA file) again, for new sessions: running ones
    /// keep theirs. On an error nothing changes. A self-signed certificate is kept.
    pub fn reload(&self) -> Result<(), String> {
        if self.source == Source::SelfSigned {
            return Ok(());
        }
        let certified = certified_key(&self.source)?;
        let fingerprint = certified.fingerprint();
        let config = server_config(certified, self.client_ca.as_ref())?;
        *self.base.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        tracing::info!(sha256 = %fingerprint, "TLS certificate reloaded");
        Ok(())
    }

    /// A new session's configuration, for the client at `ip`: the server's, with its own
    /// session cache and ticket key.
    pub fn session(&self, ip: IpAddr) -> Result<SessionTls, String> {
        let base = Arc::clone(&self.base.read().unwrap_or_else(|e| e.into_inner()));
        let mut config = (*base).clone();
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
        // Stateless tickets, with a key that only this session has: a TLS 1.3 ticket from the
        // session cache could be used once only, and clients resume one ticket for every data
        // connection.
        let own = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| format!("cannot make a TLS ticket key: {e}"))?;
        let tickets = SessionTickets::new(own, ip, self.shared_tickets.as_ref());
        config.ticketer = Arc::new(tickets.clone());
        let mut data = config.clone();
        data.send_tls13_tickets = 0;
        Ok(SessionTls {
            config: Arc::new(config),
            data: Arc::new(data),
            require_reuse: self.require_reuse,
            tickets,
        })
    }
}

fn certified_key(source: &Source) -> Result<CertifiedKey, String> {
    match source {
        Source::Files { cert, key } => CertifiedKey::from_pem_files(cert, key),
        Source::SelfSigned => CertifiedKey::self_signed(),
    }
}

/// The one crypto provider: ring.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server's configuration for `certified`, asking for (but not requiring) a client
/// certificate signed by a CA of the PEM file `client_ca`, if one is given.
fn server_config(
    certified: CertifiedKey,
    client_ca: Option<&PathBuf>,
) -> Result<ServerConfig, String> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = certs_of(path)?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("no usable CA certificate in {}", path.display()));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("client CA {}: {e}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certified.chain, certified.key)
        .map_err(|e| format!("TLS certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![ALPN_FTP.to_vec()];
    Ok(config)
}

fn certs_of(path: &PathBuf) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))
}

/// What a finished handshake gave, for the log line and the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// The cipher suite, such as `TLS13_AES_128_GCM_SHA256`.
    pub cipher: String,
    /// The name the client asked for (SNI).
    pub sni: Option<String>,
    /// The protocol ALPN agreed on.
    pub alpn: Option<String>,
    /// The SHA-256 fingerprint of the client's certificate, if it sent one.
    pub client_certificate: Option<String>,
    /// The handshake resumed an earlier session.
    pub resumed: bool,
}

impl Negotiated {
    /// What `conn` negotiated (call it once its handshake is over).
    pub fn of(conn: &rustls::ServerConnection) -> Negotiated {
        let version = conn.protocol_version().map_or_else(
            || "unknown".to_owned(),
            |v| format!("{v:?}").replace('_', "."),
        );
        let cipher = conn
            .negotiated_cipher_suite()
            .map_or_else(|| "unknown".to_owned(), |s| format!("{:?}", s.suite()));
        Negotiated {
            version,
            cipher,
            sni: conn.server_name().map(str::to_owned),
            alpn: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            client_certificate: conn
                .peer_certificates()
                .and_then(<[_]>::first)
                .map(|c| fingerprint(c)),
            resumed: matches!(conn.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
        }
    }

    /// Logs the handshake of the connection `what` (control, data), once.
    pub fn log(&self, what: &str) {
        let kind = if self.resumed { "resumed" } else { "full" };
        tracing::info!(
            version = %self.version,
            cipher = %self.cipher,
            sni = self.sni.as_deref().unwrap_or("-"),
            client_certificate = self.client_certificate.as_deref().unwrap_or("-"),
            "TLS handshake on the {what} connection: {kind}"
        );
    }
}

#[cfg(test)]
pub(crate) mod testing;
