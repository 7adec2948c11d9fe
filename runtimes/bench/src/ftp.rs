//! A minimal blocking FTP client: just what the benchmarks need, and fast.
//!
//! Replies are parsed in place in one reused read buffer, so reading a reply allocates nothing
//! unless its text is wanted, and many pipelined replies are read with one `read` call.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::tls::Stream;

/// What can go wrong while talking to the server.
#[derive(Debug)]
pub enum Error {
    /// A socket operation failed (refused, reset, timed out, ...).
    Io(io::Error),
    /// The server gave a reply the benchmark did not expect.
    Reply {
        /// The command that was answered (passwords are not echoed).
        to: String,
        /// The reply, first line only.
        reply: String,
    },
    /// The server's bytes are not an FTP reply.
    Protocol(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A read timeout surfaces as WouldBlock on Linux; name it for what it is.
            Error::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                write!(f, "timed out")
            }
            Error::Io(e) => write!(f, "{e}"),
            Error::Reply { to, reply } => write!(f, "{to} -> {reply}"),
            Error::Protocol(m) => write!(f, "protocol: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// Result of the client's operations.
pub type Result<T> = std::result::Result<T, Error>;

/// How the data connection is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PasvMode {
    /// EPSV, and PASV from then on if the server refuses EPSV.
    Auto,
    /// EPSV only.
    Epsv,
    /// PASV only.
    Pasv,
}

/// A reply: its code and its text (all lines, CRLF-separated, without the final CRLF).
#[derive(Debug)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The full text as sent, lines joined with "\n".
    pub text: String,
}

impl Reply {
    /// The first line, for error messages.
    pub fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }
}

/// A logged-in (or about to be) control connection.
pub struct Control {
    stream: Stream,
    /// `--tls`: this session's TLS configuration (its data connections resume its session).
    tls: Option<Arc<rustls::ClientConfig>>,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    peer: IpAddr,
    mode: PasvMode,
    timeout: Duration,
}

/// Read buffer of a control connection: large enough to take thousands of pipelined replies
/// per `read`, small enough that 10,000 idle sessions do not weigh much (they drop it anyway).
pub const CONTROL_BUF: usize = 16 * 1024;

impl Control {
    /// Connects, reads the greeting (expects 220, skipping 120 "ready soon").
    pub fn connect(addr: SocketAddr, timeout: Duration, mode: PasvMode) -> Result<Control> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        Self::greet(stream, timeout, mode)
    }

    /// Wraps a connected stream whose greeting was read already (or is not wanted), with a read
    /// buffer of `cap` bytes.
    pub fn attach(
        stream: TcpStream,
        timeout: Duration,
        mode: PasvMode,
        cap: usize,
    ) -> Result<Control> {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        // Commands are small request/response exchanges: never let Nagle hold one back.
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?.ip();
        Ok(Control {
            stream: Stream::Plain(stream),
            tls: None,
            buf: vec![0; cap.max(512)],
            pos: 0,
            len: 0,
            peer,
            mode,
            timeout,
        })
    }

    /// Wraps a freshly connected stream and reads the greeting.
    pub fn greet(stream: TcpStream, timeout: Duration, mode: PasvMode) -> Result<Control> {
        let mut c = Self::attach(stream, timeout, mode, CONTROL_BUF)?;
        loop {
            let r = c.read_reply()?;
            match r.code {
                120 => continue,
                220 => break,
                _ => {
                    return Err(Error::Reply {
                        to: "greeting".into(),
                        reply: r.first_line().to_owned(),
                    })
                }
            }
        }
        if let Some(config) = crate::tls::for_session() {
            c.cmd_class("AUTH TLS", 2)?;
            let Stream::Plain(tcp) = c.stream else {
                unreachable!("secured once only")
            };
            c.stream = Stream::secure(&config, tcp)?;
            c.tls = Some(config);
        }
        Ok(c)
    }

    /// Connects and logs in: USER, then PASS unless USER alone was enough.
    pub fn login(
        addr: SocketAddr,
        timeout: Duration,
        mode: PasvMode,
        user: &str,
        pass: &str,
    ) -> Result<Control> {
        let mut c = Self::connect(addr, timeout, mode)?;
        c.authenticate(user, pass)?;
        Ok(c)
    }

    /// USER + PASS on this connection.
    pub fn authenticate(&mut self, user: &str, pass: &str) -> Result<()> {
        self.send(&format!("USER {user}"))?;
        let r = self.read_reply()?;
        match r.code {
            230 => self.protect(),
            331 | 332 => {
                self.send(&format!("PASS {pass}"))?;
                let r = self.read_reply()?;
                if r.code / 100 == 2 {
                    self.protect()
                } else {
                    Err(Error::Reply {
                        to: "PASS".into(),
                        reply: r.first_line().to_owned(),
                    })
                }
            }
            _ => Err(Error::Reply {
                to: format!("USER {user}"),
                reply: r.first_line().to_owned(),
            }),
        }
    }

    /// Under `--tls`, after login: data connections are protected (PBSZ 0, PROT P).
    fn protect(&mut self) -> Result<()> {
        if self.tls.is_some() {
            self.cmd_class("PBSZ 0", 2)?;
            self.cmd_class("PROT P", 2)?;
        }
        Ok(())
    }

    /// The underlying socket, e.g. to hold an idle session without its read buffer (under
    /// `--tls` its TLS state is dropped: the session is only held, not used).
    pub fn into_stream(self) -> TcpStream {
        match self.stream {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.sock.tcp,
        }
    }

    /// Sends one command line (CRLF appended) in one write.
    pub fn send(&mut self, cmd: &str) -> Result<()> {
        let mut line = Vec::with_capacity(cmd.len() + 2);
        line.extend_from_slice(cmd.as_bytes());
        line.extend_from_slice(b"\r\n");
        self.write_raw(&line)
    }

    /// Writes bytes as they are: several pipelined commands at once.
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    /// Sends a command and reads its reply.
    pub fn cmd(&mut self, cmd: &str) -> Result<Reply> {
        self.send(cmd)?;
        self.read_reply()
    }

    /// Sends a command and requires a reply of class `class` (1..=5).
    pub fn cmd_class(&mut self, cmd: &str, class: u16) -> Result<Reply> {
        let r = self.cmd(cmd)?;
        if r.code / 100 == class {
            Ok(r)
        } else {
            Err(Error::Reply {
                to: cmd.to_owned(),
                reply: r.first_line().to_owned(),
            })
        }
    }

    /// Sends QUIT and reads the 221 (the server closes afterwards).
    pub fn quit(mut self) -> Result<()> {
        self.cmd_class("QUIT", 2).map(drop)
    }

    /// Reads one complete reply, keeping its text.
    pub fn read_reply(&mut self) -> Result<Reply> {
        let mut text = String::new();
        let code = self.read_reply_into(Some(&mut text))?;
        Ok(Reply { code, text })
    }

    /// Reads one complete reply and returns only its code: no allocation.
    pub fn read_code(&mut self) -> Result<u16> {
        self.read_reply_into(None)
    }

    /// Reads a reply (single or multi-line, RFC 959 4.2): "DDD text" or "DDD-text" ... "DDD text".
    fn read_reply_into(&mut self, mut text: Option<&mut String>) -> Result<u16> {
        let (s, e) = self.read_line()?;
        let first = &self.buf[s..e];
        let code = parse_code(first).ok_or_else(|| {
            Error::Protocol(format!(
                "bad reply line {:?}",
                String::from_utf8_lossy(first)
            ))
        })?;
        let multi = first.get(3) == Some(&b'-');
        if let Some(t) = text.as_deref_mut() {
            t.push_str(&String::from_utf8_lossy(first));
        }
        if multi {
            loop {
                let (s, e) = self.read_line()?;
                let line = &self.buf[s..e];
                if let Some(t) = text.as_deref_mut() {
                    t.push('\n');
                    t.push_str(&String::from_utf8_lossy(line));
                }
                // The last line repeats the code followed by a space (or nothing at all).
                if parse_code(line) == Some(code) && line.get(3).is_none_or(|&b| b == b' ') {
                    break;
                }
            }
        }
        Ok(code)
    }

    /// The next line without its CRLF (or bare LF), as a range of `buf` valid until the next read.
    fn read_line(&mut self) -> Result<(usize, usize)> {
        let mut scanned = self.pos;
        loop {
            if let Some(i) = self.buf[scanned..self.len].iter().position(|&b| b == b'\n') {
                let nl = scanned + i;
                let start = self.pos;
                self.pos = nl + 1;
                let end = if nl > start && self.buf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                return Ok((start, end));
            }
            // No full line buffered: compact, then read more.
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.len, 0);
                self.len -= self.pos;
                self.pos = 0;
            }
            scanned = self.len;
            if self.len == self.buf.len() {
                return Err(Error::Protocol(format!(
                    "reply line longer than {} bytes",
                    self.buf.len()
                )));
            }
            let n = self.stream.read(&mut self.buf[self.len..])?;
            if n == 0 {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                )));
            }
            self.len += n;
        }
    }

    /// Asks for a passive data address: EPSV (229), or PASV (227) if so configured or refused.
    fn passive(&mut self) -> Result<SocketAddr> {
        if self.mode != PasvMode::Pasv {
            let r = self.cmd("EPSV")?;
            if r.code == 229 {
                let port = parse_epsv(&r.text).ok_or_else(|| {
                    Error::Protocol(format!("bad EPSV reply {:?}", r.first_line()))
                })?;
                return Ok(SocketAddr::new(self.peer, port));
            }
            if self.mode == PasvMode::Epsv || r.code / 100 != 5 {
                return Err(Error::Reply {
                    to: "EPSV".into(),
                    reply: r.first_line().to_owned(),
                });
            }
            self.mode = PasvMode::Pasv;
        }
        let r = self.cmd("PASV")?;
        if r.code != 227 {
            return Err(Error::Reply {
                to: "PASV".into(),
                reply: r.first_line().to_owned(),
            });
        }
        let port = parse_pasv(&r.text)
            .ok_or_else(|| Error::Protocol(format!("bad PASV reply {:?}", r.first_line())))?;
        // Like ftplib and curl, connect to the control connection's address, not the one in the
        // reply (a server behind NAT may announce another).
        Ok(SocketAddr::new(self.peer, port))
    }

    /// Opens a passive data connection and issues `cmd` on it; returns once the server said 1xx.
    pub fn open_data(&mut self, cmd: &str) -> Result<Stream> {
        let addr = self.passive()?;
        let data = TcpStream::connect_timeout(&addr, self.timeout)?;
        data.set_read_timeout(Some(self.timeout))?;
        data.set_write_timeout(Some(self.timeout))?;
        let r = self.cmd(cmd)?;
        if r.code / 100 != 1 {
            return Err(Error::Reply {
                to: cmd.to_owned(),
                reply: r.first_line().to_owned(),
            });
        }
        match &self.tls {
            None => Ok(Stream::Plain(data)),
            Some(config) => Ok(Stream::secure(config, data)?),
        }
    }

    /// Reads the reply that ends a transfer (226 or 250), after the data connection is done.
    pub fn finish_data(&mut self, what: &str) -> Result<()> {
        let r = self.read_reply()?;
        if r.code / 100 == 2 {
            Ok(())
        } else {
            Err(Error::Reply {
                to: what.to_owned(),
                reply: r.first_line().to_owned(),
            })
        }
    }

    /// SIZE of a path in bytes (binary type must be set for a meaningful answer).
    pub fn size(&mut self, path: &str) -> Result<u64> {
        let cmd = format!("SIZE {path}");
        let r = self.cmd_class(&cmd, 2)?;
        r.first_line()
            .get(4..)
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| Error::Protocol(format!("bad SIZE reply {:?}", r.first_line())))
    }
}

/// The three-digit code at the start of a reply line, if there is one.
fn parse_code(line: &[u8]) -> Option<u16> {
    match line {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// Port of "229 Entering Extended Passive Mode (|||port|)" (RFC 2428; any delimiter).
fn parse_epsv(text: &str) -> Option<u16> {
    let inner = &text[text.find('(')? + 1..];
    let d = inner.chars().next()?;
    let mut parts = inner.split(d);
    // "", "", "", port, ")": the port is the fourth field.
    parts.nth(3)?.trim().parse().ok()
}

/// Port of "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)": the first six numbers after the code.
fn parse_pasv(text: &str) -> Option<u16> {
    let rest = text.get(3..)?;
    let start = rest.find(|c: char| c.is_ascii_digit())?;
    let nums: Vec<u16> = rest[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(6)
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    match nums[..] {
        [_, _, _, _, p1, p2] if p1 < 256 && p2 < 256 => Some(p1 * 256 + p2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    #[test]
    fn passive_replies_parse() {
        assert_eq!(
            parse_epsv("229 Entering Extended Passive Mode (|||30012|)"),
            Some(30012)
        );
        assert_eq!(parse_epsv("229 ok (!!!2121!)"), Some(2121));
        assert_eq!(parse_epsv("229 no parens"), None);
        assert_eq!(
            parse_pasv("227 Entering Passive Mode (127,0,0,1,117,48)."),
            Some(117 * 256 + 48)
        );
        assert_eq!(parse_pasv("227 =127,0,0,1,4,1"), Some(1025));
        assert_eq!(parse_pasv("227 (127,0,0,1,300,1)"), None);
        assert_eq!(parse_pasv("227 (1,2,3)"), None);
    }

    #[test]
    fn code_needs_three_digits() {
        assert_eq!(parse_code(b"230 ok"), Some(230));
        assert_eq!(parse_code(b"23"), None);
        assert_eq!(parse_code(b"2x0 ok"), None);
    }

    /// A scripted server: writes `script` after accepting, then echoes nothing.
    fn scripted(script: &'static [u8]) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            // The client may hang up early (overlong line): ignore write errors.
            let _ = s.write_all(script);
            let mut sink = [0u8; 256];
            while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
        });
        addr
    }

    fn scripted_then_close(script: &'static [u8]) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let _ = s.write_all(script);
        });
        addr
    }

    #[test]
    fn multiline_and_pipelined_replies_are_split_correctly() {
        let addr = scripted(
            b"120 soon\r\n220-hello\r\n220 not the end because 220- started it\r\n\
              220 end\r\n211-Features:\r\n 211 inner line\r\n211\r\n200 a\n200 b\r\n",
        );
        let mut c = Control::connect(addr, Duration::from_secs(5), PasvMode::Auto).unwrap();
        // "220 not the end" closes the multi-line greeting per RFC 959; "220 end" is a new reply.
        assert_eq!(c.read_code().unwrap(), 220);
        let r = c.read_reply().unwrap();
        assert_eq!(r.code, 211);
        assert_eq!(r.text.lines().count(), 3);
        assert_eq!(c.read_code().unwrap(), 200);
        assert_eq!(c.read_reply().unwrap().text, "200 b");
        // The server then waits: a further read times out instead of inventing a reply.
        c.stream
            .tcp()
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        assert!(matches!(c.read_code(), Err(Error::Io(_))));
    }

    #[test]
    fn garbage_and_eof_are_errors_not_panics() {
        let addr = scripted(b"hello there\r\n");
        assert!(matches!(
            Control::connect(addr, Duration::from_secs(5), PasvMode::Auto),
            Err(Error::Protocol(_))
        ));
        // The server stops mid-reply and closes: an EOF error.
        let addr = scripted_then_close(b"220-unfinished\r\n");
        let e = Control::connect(addr, Duration::from_secs(5), PasvMode::Auto)
            .err()
            .unwrap();
        assert!(
            matches!(&e, Error::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof),
            "{e}"
        );
        let addr = scripted(b"421 go away\r\n");
        assert!(matches!(
            Control::connect(addr, Duration::from_secs(5), PasvMode::Auto),
            Err(Error::Reply { .. })
        ));
    }

    #[test]
    fn overlong_line_is_an_error() {
        static LONG: [u8; 40000] = [b'x'; 40000];
        let addr = scripted(&LONG);
        assert!(matches!(
            Control::connect(addr, Duration::from_secs(5), PasvMode::Auto),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn refused_epsv_falls_back_to_pasv_for_good() {
        let data = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = data.local_addr().unwrap().port();
        let ctl = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = ctl.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = ctl.accept().unwrap();
            let pasv = format!(
                "227 Entering Passive Mode (10,9,8,7,{},{})\r\n",
                port / 256,
                port % 256
            );
            s.write_all(b"220 hi\r\n").unwrap();
            let mut got = Vec::new();
            let mut b = [0u8; 256];
            // One reply per command line, each sent once its line has arrived.
            let replies = [
                &b"502 no EPSV here\r\n"[..],
                pasv.as_bytes(),
                b"150 go\r\n",
                pasv.as_bytes(),
                b"150 go\r\n",
            ];
            for (i, reply) in replies.into_iter().enumerate() {
                while got.iter().filter(|&&c| c == b'\n').count() == i {
                    let n = s.read(&mut b).unwrap();
                    assert!(n > 0, "client hung up early");
                    got.extend_from_slice(&b[..n]);
                }
                s.write_all(reply).unwrap();
            }
            while let Ok(n @ 1..) = s.read(&mut b) {
                got.extend_from_slice(&b[..n]);
            }
            String::from_utf8(got).unwrap()
        });
        let mut c = Control::connect(addr, Duration::from_secs(5), PasvMode::Auto).unwrap();
        let d1 = c.open_data("RETR a").unwrap();
        // The 227 announced 10.9.8.7: the client connected to the control address instead.
        assert_eq!(
            d1.tcp().peer_addr().unwrap(),
            SocketAddr::new(addr.ip(), port)
        );
        assert_eq!(c.mode, PasvMode::Pasv);
        let _d2 = c.open_data("RETR b").unwrap();
        drop(c);
        assert_eq!(
            server.join().unwrap(),
            "EPSV\r\nPASV\r\nRETR a\r\nPASV\r\nRETR b\r\n"
        );
    }
}
