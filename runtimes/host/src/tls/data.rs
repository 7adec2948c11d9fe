//! Data connections under `PROT P`: the server handshake, run in the blocking transfer job
//! after the `150`, and the stream the transfer then reads and writes.
//!
//! Bulk bytes cross rustls in large buffers: a transfer writes 256 KiB at a time, which become
//! sixteen records sent with one `writev`, and reads go through a 256 KiB buffer in front of
//! the socket, so that no record costs a system call of its own.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use rustls::ServerConnection;

use super::{Negotiated, SessionTls};

/// Bytes read from the socket at a time, and the size transfers write in.
pub const BUF: usize = 256 * 1024;

/// How long a data connection that resumed the ticket of another session still logging in
/// waits for that login (`--tls-reuse-same-user`: see [`super::tickets`]); a client's login
/// takes milliseconds.
const LOGIN_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Why a data connection could not be secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataTlsError {
    /// The handshake failed (or the client went away during it): why.
    Failed(String),
    /// The handshake did not resume the control connection's session, and that is required.
    NotResumed,
}

/// A secured data connection: see the [module docs](self).
#[derive(Debug)]
pub struct TlsStream {
    conn: ServerConnection,
    sock: Buffered,
}

/// Runs the server handshake on the data connection `stream` (blocking; its read and write
/// timeouts bound it) with the session's configuration, and logs it. With
/// [`SessionTls::require_reuse`], a handshake that does not resume one of the session's own
/// TLS sessions (or, with `--tls-reuse-same-user`, one of the same user's other sessions) is
/// refused: the client is sent `close_notify` and nothing else.
pub fn accept(session: &SessionTls, stream: TcpStream) -> Result<TlsStream, DataTlsError> {
    let failed = |e: &dyn std::fmt::Display| DataTlsError::Failed(e.to_string());
    let mut conn = ServerConnection::new(session.data.clone()).map_err(|e| failed(&e))?;
    conn.set_buffer_limit(None);
    let mut tls = TlsStream {
        conn,
        sock: Buffered::new(stream),
    };
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            tracing::info!("TLS handshake on the data connection failed: {e}");
            return Err(failed(&e));
        }
    }
    tls.flush_tls().map_err(|e| failed(&e))?;
    let negotiated = Negotiated::of(&tls.conn);
    negotiated.log("data");
    if session.require_reuse && !(negotiated.resumed && session.tickets.confirm(LOGIN_WAIT)) {
        tracing::info!(
            "data connection refused: its TLS session is not the control connection's \
             (see --tls-no-session-reuse-required)"
        );
        tls.finish();
        return Err(DataTlsError::NotResumed);
    }
    Ok(tls)
}

impl TlsStream {
    /// The TCP connection beneath (to shut it down on abort).
    pub fn tcp(&self) -> &TcpStream {
        &self.sock.stream
    }

    /// Sends `close_notify` (before the FIN the caller sends). Errors are ignored: the
    /// transfer's result is already known.
    pub fn finish(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush_tls();
    }

    fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock.stream)?;
        }
        Ok(())
    }
}

impl Read for TlsStream {
    /// Plaintext; `Ok(0)` once the client sent `close_notify`. An end of the connection
    /// without it is an `UnexpectedEof` error: the data may be cut short.
    ///
    /// Fills `buf` with every record already read from the socket (one socket read brings
    /// about [`BUF`] bytes, sixteen records), so that an upload writes its file in large
    /// pieces rather than one record at a time; it waits on the socket only while it has
    /// nothing to return.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        loop {
            match self
                .conn
                .reader()
                .read(buf.get_mut(filled..).unwrap_or_default())
            {
                Ok(0) => return Ok(filled),
                Ok(n) => {
                    filled += n;
                    if filled == buf.len() {
                        return Ok(filled);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // What came before the error is good: it goes first, the error comes again.
                Err(_) if filled > 0 => return Ok(filled),
                Err(e) => return Err(e),
            }
            if filled > 0 && self.sock.is_empty() {
                return Ok(filled);
            }
            if let Err(e) = self.conn.read_tls(&mut self.sock) {
                return if filled > 0 { Ok(filled) } else { Err(e) };
            }
            let processed = self.conn.process_new_packets();
            // Alerts, key updates: whatever rustls has to say goes out now.
            let _ = self.flush_tls();
            if let Err(e) = processed {
                if filled > 0 {
                    return Ok(filled);
                }
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The buffer limit is off: the writer takes all of it.
        self.conn.writer().write_all(buf)?;
        self.flush_tls()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}

/// The socket with a large read buffer in front (rustls reads one record at a time).
#[derive(Debug)]
struct Buffered {
    stream: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Buffered {
    fn new(stream: TcpStream) -> Buffered {
        Buffered {
            stream,
            buf: vec![0; BUF].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }
}

impl Buffered {
    /// Whether every byte read from the socket was handed on.
    fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl Read for Buffered {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            let n = self.stream.read(&mut self.buf)?;
            self.start = 0;
            self.end = n;
        }
        let have = self.buf.get(self.start..self.end).unwrap_or_default();
        let n = have.len().min(out.len());
        out[..n].copy_from_slice(&have[..n]);
        self.start += n;
        Ok(n)
    }
}

impl Write for Buffered {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.stream.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testing;
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::thread;

    fn session(require_reuse: bool) -> (SessionTls, Arc<rustls::ClientConfig>) {
        let (server, client) = testing::configs(&[]);
        let mut config = (*server).clone();
        let own = rustls::crypto::ring::Ticketer::new().unwrap();
        let tickets = super::super::SessionTickets::new(own, [127, 0, 0, 1].into(), None);
        config.ticketer = Arc::new(tickets.clone());
        let mut data = config.clone();
        data.send_tls13_tickets = 0;
        let session = SessionTls {
            config: Arc::new(config),
            data: Arc::new(data),
            require_reuse,
            tickets,
        };
        (session, client)
    }

    /// Connects a rustls client with `client` to a server thread that runs [`accept`] with
    /// `session` and then echoes `echo` bytes back, or reports the error.
    fn connect(
        session: &SessionTls,
        client: &Arc<rustls::ClientConfig>,
        payload: &[u8],
    ) -> (Result<Vec<u8>, DataTlsError>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let session = session.clone();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut tls = accept(&session, stream)?;
            let mut got = Vec::new();
            tls.read_to_end(&mut got).unwrap();
            tls.write_all(&got).unwrap();
            tls.finish();
            Ok(got)
        });
        let mut conn = testing::client(client.clone());
        let mut sock = TcpStream::connect(addr).unwrap();
        let mut echoed = Vec::new();
        let mut stream = rustls::Stream::new(&mut conn, &mut sock);
        if stream.write_all(payload).is_ok() {
            stream.conn.send_close_notify();
            let _ = stream.flush();
            let _ = stream.read_to_end(&mut echoed);
        }
        (server.join().unwrap(), echoed)
    }

    #[test]
    fn bytes_cross_a_secured_data_connection_exactly() {
        let (session, client) = session(false);
        let payload: Vec<u8> = (0..3 * BUF + 17).map(|i| (i % 251) as u8).collect();
        let (got, echoed) = connect(&session, &client, &payload);
        assert_eq!(got.unwrap(), payload);
        assert_eq!(echoed, payload);
    }

    #[test]
    fn a_read_returns_every_record_already_received_not_one() {
        let (session, client) = session(false);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (sent_tx, sent_rx) = std::sync::mpsc::channel();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut tls = accept(&session, stream).unwrap();
            // Every record is in the socket before the first read.
            sent_rx.recv().unwrap();
            thread::sleep(std::time::Duration::from_millis(100));
            let mut buf = vec![0; BUF];
            let first = tls.read(&mut buf).unwrap();
            let mut rest = Vec::new();
            tls.read_to_end(&mut rest).unwrap();
            (first, first + rest.len())
        });
        let mut conn = testing::client(client);
        let mut sock = TcpStream::connect(addr).unwrap();
        let mut stream = rustls::Stream::new(&mut conn, &mut sock);
        // Four full records: 64 KiB fits the socket's first receive buffer.
        stream.write_all(&[7u8; 4 * 16384]).unwrap();
        stream.conn.send_close_notify();
        stream.flush().unwrap();
        sent_tx.send(()).unwrap();
        let (first, total) = server.join().unwrap();
        assert_eq!(total, 4 * 16384);
        assert!(
            first > 16384,
            "one read gave one record only: {first} bytes"
        );
    }

    #[test]
    fn only_a_resumed_session_is_taken_when_reuse_is_required() {
        let (session, client) = session(true);
        // Before the control connection gave the client a ticket: a full handshake, refused.
        let (got, echoed) = connect(&session, &client, b"x");
        assert_eq!(got.unwrap_err(), DataTlsError::NotResumed);
        assert!(echoed.is_empty());
        // The control connection (the configuration that hands out tickets).
        let control = SessionTls {
            data: Arc::clone(&session.config),
            require_reuse: false,
            ..session.clone()
        };
        assert_eq!(connect(&control, &client, b"c").0.unwrap(), b"c");
        // The same client resumes the session it was given: taken.
        let (got, _) = connect(&session, &client, b"hello");
        assert_eq!(got.unwrap(), b"hello");
        // Another session's server (its own ticket key) does not know that session.
        let (other, _) = self::session(true);
        let (got, _) = connect(&other, &client, b"x");
        assert_eq!(got.unwrap_err(), DataTlsError::NotResumed);
    }
}
