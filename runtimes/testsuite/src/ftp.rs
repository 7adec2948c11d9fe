//! A small blocking FTP client over `std::net::TcpStream`, strict about replies: every helper
//! checks the codes it gets, so a scenario reads as the conversation it expects.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};

use crate::util::{self, set_timeouts};

/// One reply: its code and all its lines (with their line ends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The full text, every line included.
    pub text: String,
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.trim_end())
    }
}

/// How a transfer's data connection is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// `PASV`: the client connects to the address in the `227`.
    Pasv,
    /// `EPSV`: the client connects to the port in the `229`.
    Epsv,
    /// `PORT`: the server connects to the client's listener.
    Port,
    /// `EPRT`: the same, with the extended syntax.
    Eprt,
}

impl DataMode {
    /// All four.
    pub const ALL: [DataMode; 4] = [
        DataMode::Pasv,
        DataMode::Epsv,
        DataMode::Port,
        DataMode::Eprt,
    ];
}

/// A data channel set up by `PASV`/`EPSV` (already connected) or `PORT`/`EPRT` (listening).
#[derive(Debug)]
pub enum Data {
    /// Connected to the server's passive port.
    Connected(TcpStream),
    /// Waiting for the server to connect.
    Listening(TcpListener),
}

impl Data {
    /// The data connection, once the server has sent its `150`.
    pub fn stream(self) -> TcpStream {
        match self {
            Data::Connected(stream) => stream,
            Data::Listening(listener) => util::accept(&listener),
        }
    }
}

/// A control connection.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Connects to `addr` without reading the greeting.
    pub fn connect(addr: SocketAddr) -> Client {
        Client::from_stream(util::connect(addr))
    }

    /// A client on a control connection made elsewhere (say from another local address); the
    /// greeting is not read yet.
    pub fn from_stream(stream: TcpStream) -> Client {
        set_timeouts(&stream);
        let writer = stream.try_clone().expect("clone the control connection");
        Client {
            reader: BufReader::new(stream),
            writer,
        }
    }

    /// Connects and checks the `220` greeting.
    pub fn open(addr: SocketAddr) -> Client {
        let mut client = Client::connect(addr);
        client.expect_reply(220, "the greeting");
        client
    }

    /// Connects and logs in as `user` with `password`; binary type.
    pub fn login(addr: SocketAddr, user: &str, password: &str) -> Client {
        let mut client = Client::open(addr);
        client.expect(&format!("USER {user}"), 331);
        client.expect(&format!("PASS {password}"), 230);
        client.expect("TYPE I", 200);
        client
    }

    /// Reads the next reply, or `None` if the server closed the connection first.
    pub fn try_reply(&mut self) -> io::Result<Option<Reply>> {
        let mut first = String::new();
        if self.reader.read_line(&mut first)? == 0 {
            return Ok(None);
        }
        let code = parse_code(&first)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{first:?}")))?;
        let mut text = first.clone();
        if first.as_bytes().get(3) == Some(&b'-') {
            // A multi-line reply ends with a line starting with the same code and a space.
            let end = format!("{code} ");
            loop {
                let mut line = String::new();
                if self.reader.read_line(&mut line)? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("unterminated reply {text:?}"),
                    ));
                }
                text.push_str(&line);
                if line.starts_with(&end) {
                    break;
                }
            }
        }
        Ok(Some(Reply { code, text }))
    }

    /// Reads the next reply; fails the test on a closed connection or a timeout.
    #[track_caller]
    pub fn reply(&mut self) -> Reply {
        match self.try_reply() {
            Ok(Some(reply)) => reply,
            Ok(None) => panic!("the server closed the control connection instead of replying"),
            Err(e) => panic!("reading a reply: {e}"),
        }
    }

    /// Reads the next reply and checks its code.
    #[track_caller]
    pub fn expect_reply(&mut self, code: u16, what: &str) -> Reply {
        let reply = self.reply();
        assert_eq!(reply.code, code, "{what}: got {reply}");
        reply
    }

    /// Sends one command line (CRLF added).
    #[track_caller]
    pub fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap_or_else(|e| panic!("send {line:?}: {e}"));
    }

    /// Sends a command and returns its reply.
    #[track_caller]
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.send(line);
        self.reply()
    }

    /// Sends a command and checks its reply's code.
    #[track_caller]
    pub fn expect(&mut self, line: &str, code: u16) -> Reply {
        self.send(line);
        let reply = self.reply();
        assert_eq!(reply.code, code, "{line} got {reply}");
        reply
    }

    /// Checks that the server closes the control connection now (after its last reply).
    #[track_caller]
    pub fn expect_closed(&mut self) {
        match self.try_reply() {
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Ok(Some(reply)) => panic!("expected the connection closed, got {reply}"),
            Err(e) => panic!("expected the connection closed, got {e}"),
        }
    }

    /// `PASV`, and the address in its reply.
    #[track_caller]
    pub fn pasv(&mut self) -> SocketAddr {
        let reply = self.expect("PASV", 227);
        parse_pasv(&reply.text).unwrap_or_else(|| panic!("bad 227: {reply}"))
    }

    /// `EPSV`, and the address it names (the control connection's host, the port in the reply).
    #[track_caller]
    pub fn epsv(&mut self) -> SocketAddr {
        let reply = self.expect("EPSV", 229);
        let port = parse_epsv(&reply.text).unwrap_or_else(|| panic!("bad 229: {reply}"));
        SocketAddr::new(self.server_ip(), port)
    }

    /// Sets up a data channel in `mode`: connected for passive modes, listening for active ones.
    #[track_caller]
    pub fn data(&mut self, mode: DataMode) -> Data {
        match mode {
            DataMode::Pasv => Data::Connected(util::connect(self.pasv())),
            DataMode::Epsv => Data::Connected(util::connect(self.epsv())),
            DataMode::Port | DataMode::Eprt => {
                let listener = TcpListener::bind((self.local_ip(), 0)).expect("bind a listener");
                let addr = listener.local_addr().expect("listener address");
                let line = match (mode, addr.ip()) {
                    (DataMode::Port, IpAddr::V4(ip)) => {
                        let [a, b, c, d] = ip.octets();
                        let port = addr.port();
                        format!("PORT {a},{b},{c},{d},{},{}", port >> 8, port & 0xff)
                    }
                    (_, ip) => {
                        let proto = if ip.is_ipv4() { 1 } else { 2 };
                        format!("EPRT |{proto}|{ip}|{}|", addr.port())
                    }
                };
                self.expect(&line, 200);
                Data::Listening(listener)
            }
        }
    }

    /// Sets up a data channel in `mode` and sends `line`. On `150` (or `125`) returns the data
    /// connection; otherwise the reply (the data channel is dropped).
    #[track_caller]
    pub fn open_transfer(&mut self, mode: DataMode, line: &str) -> Result<TcpStream, Reply> {
        let data = self.data(mode);
        let reply = self.cmd(line);
        if matches!(reply.code, 125 | 150) {
            Ok(data.stream())
        } else {
            Err(reply)
        }
    }

    /// `RETR path` (or any command that sends data, such as `LIST`) in `mode`; the bytes.
    #[track_caller]
    pub fn download(&mut self, mode: DataMode, line: &str) -> Vec<u8> {
        let mut data = self
            .open_transfer(mode, line)
            .unwrap_or_else(|reply| panic!("{line} ({mode:?}) got {reply}"));
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)
            .unwrap_or_else(|e| panic!("{line}: reading the data connection: {e}"));
        self.expect_reply(226, line);
        bytes
    }

    /// `RETR path` in `mode`.
    #[track_caller]
    pub fn retr(&mut self, mode: DataMode, path: &str) -> Vec<u8> {
        self.download(mode, &format!("RETR {path}"))
    }

    /// A command that receives data (`STOR`, `APPE`, `STOU`) in `mode`: sends `bytes`, closes
    /// the data connection, checks the `226`, and returns the `150` and `226` texts together.
    #[track_caller]
    pub fn upload(&mut self, mode: DataMode, line: &str, bytes: &[u8]) -> String {
        let data = self.data(mode);
        let opening = self.cmd(line);
        assert!(
            matches!(opening.code, 125 | 150),
            "{line} ({mode:?}) got {opening}"
        );
        let mut data = data.stream();
        data.write_all(bytes)
            .unwrap_or_else(|e| panic!("{line}: writing the data connection: {e}"));
        data.shutdown(Shutdown::Write)
            .unwrap_or_else(|e| panic!("{line}: closing the data connection: {e}"));
        drop(data);
        let done = self.expect_reply(226, line);
        format!("{}{}", opening.text, done.text)
    }

    /// `STOR path` in `mode`.
    #[track_caller]
    pub fn stor(&mut self, mode: DataMode, path: &str, bytes: &[u8]) {
        self.upload(mode, &format!("STOR {path}"), bytes);
    }

    /// A listing command (`LIST`, `NLST`, `MLSD`) over a passive connection, as text.
    #[track_caller]
    pub fn listing(&mut self, line: &str) -> String {
        String::from_utf8(self.download(DataMode::Pasv, line)).expect("a UTF-8 listing")
    }

    /// The names `NLST [path]` gives, sorted.
    #[track_caller]
    pub fn nlst(&mut self, path: &str) -> Vec<String> {
        let line = if path.is_empty() {
            "NLST".to_owned()
        } else {
            format!("NLST {path}")
        };
        let text = self.listing(&line);
        let mut names: Vec<String> = text
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    }

    /// The server's address on the control connection.
    pub fn server_ip(&self) -> IpAddr {
        self.writer
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip())
    }

    /// The client's address on the control connection.
    pub fn local_ip(&self) -> IpAddr {
        self.writer
            .local_addr()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip())
    }

    /// The control connection's stream, for tests that manipulate it directly.
    pub fn stream(&self) -> &TcpStream {
        &self.writer
    }
}

/// The code of a reply's first line.
fn parse_code(line: &str) -> Option<u16> {
    let digits = line.get(..3)?;
    let sep = line.as_bytes().get(3).copied();
    if !digits.bytes().all(|b| b.is_ascii_digit())
        || !matches!(sep, Some(b' ' | b'-' | b'\r' | b'\n'))
    {
        return None;
    }
    digits.parse().ok()
}

/// The address in `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).`
pub fn parse_pasv(text: &str) -> Option<SocketAddr> {
    let inner = text.split(['(', ')']).nth(1)?;
    let numbers: Vec<u8> = inner
        .split(',')
        .map(|n| n.trim().parse().ok())
        .collect::<Option<_>>()?;
    let [a, b, c, d, p1, p2] = numbers[..] else {
        return None;
    };
    let port = u16::from(p1) << 8 | u16::from(p2);
    Some(SocketAddr::from((Ipv4Addr::new(a, b, c, d), port)))
}

/// The port in `229 Entering Extended Passive Mode (|||port|).`
pub fn parse_epsv(text: &str) -> Option<u16> {
    let inner = text.split(['(', ')']).nth(1)?;
    inner.trim_matches('|').parse().ok()
}

/// The code of the first reply line on a raw connection, or `None` if the server closed it
/// first: for the session limits, where a [`Client`] per connection would double the sockets.
pub fn read_greeting(stream: &mut TcpStream) -> io::Result<Option<u16>> {
    set_timeouts(stream);
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(parse_code(&line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passive_replies() {
        assert_eq!(
            parse_pasv("227 Entering Passive Mode (127,0,0,1,195,80).\r\n"),
            Some("127.0.0.1:50000".parse().unwrap())
        );
        assert_eq!(
            parse_pasv("227 Entering Passive Mode (127,0,0,1,195)."),
            None
        );
        assert_eq!(parse_pasv("227 nothing"), None);
        assert_eq!(
            parse_epsv("229 Entering Extended Passive Mode (|||50001|).\r\n"),
            Some(50001)
        );
        assert_eq!(parse_epsv("229 (|||x|)"), None);
    }

    #[test]
    fn parses_codes() {
        assert_eq!(parse_code("220 ready\r\n"), Some(220));
        assert_eq!(parse_code("211-Features:\r\n"), Some(211));
        assert_eq!(parse_code("22 x"), None);
        assert_eq!(parse_code("2200 x"), None);
    }
}
