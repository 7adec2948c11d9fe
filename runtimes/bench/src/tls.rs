//! `--tls`: explicit FTPS (AUTH TLS, PBSZ 0, PROT P), with rustls on ring, trusting any server
//! certificate (benchmarks run against test certificates). Each control connection gets its own
//! resumption store, and its data connections resume its TLS session (servers that require it,
//! as vsftpd and thinftp do by default, refuse any other).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

static BASE: OnceLock<Arc<ClientConfig>> = OnceLock::new();

/// Turns FTPS on for every connection made from now on.
pub fn enable() {
    let _ = BASE.set(base_config());
}

fn base_config() -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate))
        .with_no_client_auth();
    Arc::new(config)
}

/// A configuration for one control connection and its data connections (its own resumption
/// store), if `--tls` is on.
pub fn for_session() -> Option<Arc<ClientConfig>> {
    BASE.get().map(with_own_store)
}

/// A configuration as [`for_session`] gives, whether or not `--tls` is on.
pub fn standalone() -> Arc<ClientConfig> {
    with_own_store(&base_config())
}

fn with_own_store(base: &Arc<ClientConfig>) -> Arc<ClientConfig> {
    let mut config = (**base).clone();
    config.resumption = Resumption::in_memory_sessions(8);
    Arc::new(config)
}

/// A connection, clear or secured.
pub enum Stream {
    /// Clear.
    Plain(TcpStream),
    /// Secured.
    Tls(Box<StreamOwned<ClientConnection, Sock>>),
}

impl Stream {
    /// Starts a client TLS connection over `tcp` (the handshake runs on the first read or write).
    pub fn secure(config: &Arc<ClientConfig>, tcp: TcpStream) -> io::Result<Stream> {
        let name = ServerName::try_from("localhost").expect("a valid name");
        let mut conn = ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
        // An upload's chunk is encrypted at once and leaves in one writev.
        conn.set_buffer_limit(Some(SOCK_BUF));
        Ok(Stream::Tls(Box::new(StreamOwned::new(
            conn,
            Sock::new(tcp),
        ))))
    }

    /// The TCP connection beneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock.tcp,
        }
    }

    /// The end of an upload: `close_notify` (under TLS), then FIN.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        if let Stream::Tls(s) = self {
            s.conn.send_close_notify();
            s.flush()?;
        }
        self.tcp().shutdown(Shutdown::Write)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The socket beneath a TLS stream, with a large read buffer in front: rustls reads at most
/// 4 KiB at a time, which straight from the socket would be a system call per 4 KiB and make
/// the client, not the server, the limit of a download.
pub struct Sock {
    /// The connection.
    pub tcp: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// Bytes read from the socket at a time.
const SOCK_BUF: usize = 256 * 1024;

impl Sock {
    fn new(tcp: TcpStream) -> Sock {
        Sock {
            tcp,
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }
}

impl Read for Sock {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            if self.buf.is_empty() {
                self.buf = vec![0; SOCK_BUF];
            }
            self.end = self.tcp.read(&mut self.buf)?;
            self.start = 0;
        }
        let have = &self.buf[self.start..self.end];
        let n = have.len().min(out.len());
        out[..n].copy_from_slice(&have[..n]);
        self.start += n;
        Ok(n)
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.tcp.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// ring, as thinftp uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any server certificate: the benchmark measures, it does not authenticate.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
