//! PROXY protocol (v1 text, v2 binary) from trusted load balancers, parsed with `ppp`.
//!
//! Behind a TCP load balancer (HAProxy with `send-proxy-v2`) every connection comes from the
//! balancer's address; the balancer sends a PROXY header first that names the real client. A
//! connection from an address of `--proxy-protocol-from` must start with one, and the client it
//! names is the session's peer from then on: per-address limits, bans, logs, the core's check
//! that a data connection comes from the client, and the per-client cap on passive listeners
//! all see the client, not the balancer. A connection from any other address is never parsed:
//! a PROXY header from there is just a bad command (v1), or lines ending in `QUIT` (v2's
//! signature is made so that line-based servers quit on it).
//!
//! The parse is sans-IO ([`parse`]): it takes the first bytes of a connection and says whether
//! they hold a whole header, how long it is and whom it names. The control connection's header
//! is read by the [`Driver`](crate::driver::Driver) from the bytes the runtime hands it, with
//! its timer as the deadline; a passive data connection's header is read by a job
//! ([`read_data_header`]) before the connection is offered to the core. Either way at most
//! [`MAX_HEADER`] bytes are read for it and it must come within [`HEADER_TIMEOUT`].

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::str::FromStr;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use ppp::v1;
use ppp::v2;
use ppp::{HeaderResult, PartialResult};

/// The longest header taken: v1 is at most 107 bytes; v2 is 16 bytes, then 12 (IPv4), 36
/// (IPv6) or 216 (Unix) bytes of addresses, then TLVs, which HAProxy sends only when told to.
pub const MAX_HEADER: usize = 536;

/// How long a connection from a trusted proxy has to send its whole header; it is closed
/// afterwards (HAProxy sends it with the connection's first bytes).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// How a v1 header starts.
const V1_PREFIX: &[u8] = b"PROXY ";

/// The longest v1 header, with its CRLF.
const V1_MAX: usize = 107;

/// What the first bytes of a connection from a trusted proxy hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The start of a header (or nothing yet): more bytes are needed.
    Incomplete,
    /// A whole header of `len` bytes: the bytes after it are the connection's own.
    Header {
        /// The header's length.
        len: usize,
        /// The client it names; `None` for a connection the proxy made itself (v2 `LOCAL`, v1
        /// `UNKNOWN`, or an address family other than IP): then the connection's own address
        /// stands.
        client: Option<SocketAddr>,
    },
    /// Not a PROXY header, or one too long: the connection is closed.
    Invalid(String),
}

/// Parses the first bytes of a connection: see [`Parsed`].
pub fn parse(bytes: &[u8]) -> Parsed {
    // A v1 line is whole only at its CRLF: `ppp` takes some cut lines for bad ones (a line cut
    // after a space reads as an empty port).
    let start = bytes
        .get(..bytes.len().min(V1_PREFIX.len()))
        .unwrap_or_default();
    if V1_PREFIX.starts_with(start) && !bytes.contains(&b'\n') {
        if bytes.len() >= V1_MAX {
            return Parsed::Invalid(format!("no end of the PROXY line in {V1_MAX} bytes"));
        }
        return Parsed::Incomplete;
    }
    let result = HeaderResult::parse(bytes);
    if result.is_incomplete() {
        if bytes.len() >= MAX_HEADER {
            return Parsed::Invalid(format!("no whole PROXY header in {MAX_HEADER} bytes"));
        }
        return Parsed::Incomplete;
    }
    let (len, client) = match result {
        HeaderResult::V1(Ok(header)) => (header.header.len(), v1_client(&header.addresses)),
        HeaderResult::V2(Ok(header)) => (header.len(), v2_client(&header)),
        HeaderResult::V1(Err(e)) => return Parsed::Invalid(format!("bad PROXY header: {e}")),
        HeaderResult::V2(Err(e)) => return Parsed::Invalid(format!("bad PROXY header: {e}")),
    };
    if len > MAX_HEADER {
        return Parsed::Invalid(format!("PROXY header of {len} bytes"));
    }
    Parsed::Header { len, client }
}

fn v1_client(addresses: &v1::Addresses) -> Option<SocketAddr> {
    match addresses {
        v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Unknown => None,
    }
}

fn v2_client(header: &v2::Header<'_>) -> Option<SocketAddr> {
    if header.command == v2::Command::Local {
        return None;
    }
    match header.addresses {
        v2::Addresses::IPv4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::IPv6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
    }
}

/// The addresses whose connections must start with a PROXY header (`--proxy-protocol-from`):
/// networks (`10.0.0.0/8`) or single addresses (`127.0.0.1`, `::1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// These networks.
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    /// Whether connections from `ip` come through a trusted proxy. An IPv4 address seen as an
    /// IPv4-mapped IPv6 address (on a dual-stack listener) counts as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether no address is trusted (the option is not given): no header is ever parsed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One `--proxy-protocol-from` entry: a network in CIDR notation, or an address alone.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(ip) = IpAddr::from_str(s) {
        return Ok(IpNet::from(ip));
    }
    IpNet::from_str(s).map_err(|e| format!("{s:?} is neither an address nor a network: {e}"))
}

/// Reads the PROXY header at the start of the data connection `stream` from a trusted proxy,
/// leaving every byte after it unread (an upload's first bytes may follow it in the same
/// segment): the bytes are peeked at until they hold a whole header, then exactly the header is
/// consumed. Blocking, at most [`HEADER_TIMEOUT`]. The client it names, or the connection's
/// own address `peer` for one the proxy made itself; an error for a missing or bad header.
pub fn read_data_header(stream: &TcpStream, peer: SocketAddr) -> io::Result<SocketAddr> {
    let deadline = Instant::now() + HEADER_TIMEOUT;
    stream.set_nonblocking(false)?;
    let mut buf = [0u8; MAX_HEADER];
    let mut seen = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no PROXY header in time",
            ));
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.peek(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        match parse(buf.get(..n).unwrap_or_default()) {
            Parsed::Header { len, client } => {
                let mut header = buf;
                (&*stream).read_exact(header.get_mut(..len).unwrap_or_default())?;
                return Ok(client.unwrap_or(peer));
            }
            Parsed::Invalid(why) => return Err(io::Error::new(io::ErrorKind::InvalidData, why)),
            // A part of the header: peeking again returns at once, so wait a little for the
            // rest (rare: a proxy sends the header in one segment).
            Parsed::Incomplete => {
                if n == seen {
                    std::thread::sleep(Duration::from_millis(5));
                }
                seen = n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A v2 header from `src` to `dst`; `command` 1 is PROXY, 0 LOCAL.
    pub(crate) fn v2_header(command: u8, src: &str, dst: &str) -> Vec<u8> {
        let addresses = v2::Addresses::from((addr(src), addr(dst)));
        v2::Builder::with_addresses(0x20 | command, v2::Protocol::Stream, addresses)
            .build()
            .unwrap()
    }

    #[test]
    fn v1_names_the_client_and_ends_at_its_crlf() {
        let line = b"PROXY TCP4 192.0.2.7 198.51.100.1 40001 21\r\nUSER a\r\n";
        assert_eq!(
            parse(line),
            Parsed::Header {
                len: 44,
                client: Some(addr("192.0.2.7:40001"))
            }
        );
        let v6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 40001 21\r\n";
        assert_eq!(
            parse(v6),
            Parsed::Header {
                len: v6.len(),
                client: Some(addr("[2001:db8::7]:40001"))
            }
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Parsed::Header {
                len: 15,
                client: None
            }
        );
    }

    #[test]
    fn v2_names_the_client_and_local_names_none() {
        let mut bytes = v2_header(1, "192.0.2.7:40001", "198.51.100.1:21");
        let len = bytes.len();
        assert_eq!(len, 28);
        bytes.extend_from_slice(b"STOR x\r\n");
        assert_eq!(
            parse(&bytes),
            Parsed::Header {
                len,
                client: Some(addr("192.0.2.7:40001"))
            }
        );
        let v6 = v2_header(1, "[2001:db8::7]:5", "[2001:db8::1]:21");
        assert_eq!(
            parse(&v6),
            Parsed::Header {
                len: 52,
                client: Some(addr("[2001:db8::7]:5"))
            }
        );
        let local = v2_header(0, "192.0.2.7:40001", "198.51.100.1:21");
        assert_eq!(
            parse(&local),
            Parsed::Header {
                len: 28,
                client: None
            }
        );
    }

    #[test]
    fn a_header_in_pieces_is_incomplete_until_whole() {
        let v1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 40001 21\r\n";
        let v2 = v2_header(1, "192.0.2.7:40001", "198.51.100.1:21");
        for whole in [&v1[..], &v2[..]] {
            for cut in 0..whole.len() {
                assert_eq!(parse(&whole[..cut]), Parsed::Incomplete, "{cut} bytes");
            }
            assert!(matches!(parse(whole), Parsed::Header { .. }));
        }
    }

    #[test]
    fn anything_else_is_invalid() {
        for bad in [
            &b"USER anonymous\r\n"[..],
            b"PROXY TCP4 not-an-ip 198.51.100.1 1 2\r\n",
            b"PROXY TCP9 1.2.3.4 1.2.3.4 1 2\r\n",
            b"\r\n\r\n\0\r\nQUIT\n\x30\x11\0\x0c",
        ] {
            assert!(matches!(parse(bad), Parsed::Invalid(_)), "{bad:?}");
        }
        // No end in sight: refused once the bound is reached, not read on forever.
        let endless = b"PROXY TCP4 ".repeat(60);
        assert!(matches!(parse(&endless), Parsed::Invalid(_)));
        let mut huge = v2_header(1, "192.0.2.7:1", "198.51.100.1:21");
        huge[14..16].copy_from_slice(&2000u16.to_be_bytes());
        huge.resize(16 + 2000, 0);
        assert!(matches!(parse(&huge), Parsed::Invalid(_)), "over the bound");
        huge.truncate(MAX_HEADER - 1);
        assert_eq!(parse(&huge), Parsed::Incomplete);
        huge.resize(MAX_HEADER, 0);
        assert!(matches!(parse(&huge), Parsed::Invalid(_)));
    }

    #[test]
    fn trusted_networks_and_addresses() {
        let trusted = TrustedProxies::new(vec![
            parse_net("10.0.0.0/8").unwrap(),
            parse_net(" 127.0.0.1").unwrap(),
            parse_net("2001:db8::/32").unwrap(),
        ]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(trusted.contains(ip("10.1.2.3")));
        assert!(trusted.contains(ip("127.0.0.1")));
        assert!(trusted.contains(ip("::ffff:127.0.0.1")), "mapped on [::]");
        assert!(trusted.contains(ip("2001:db8:5::1")));
        assert!(!trusted.contains(ip("127.0.0.2")));
        assert!(!trusted.contains(ip("11.0.0.1")));
        assert!(!trusted.contains(ip("::1")));
        assert!(TrustedProxies::default().is_empty());
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("proxy.example").is_err());
    }

    #[test]
    fn a_data_header_is_consumed_exactly() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut sent = v2_header(1, "192.0.2.7:40001", "198.51.100.1:21");
        sent.extend_from_slice(b"upload bytes");
        let to = listener.local_addr().unwrap();
        let writer = std::thread::spawn(move || {
            let mut conn = TcpStream::connect(to).unwrap();
            // In two pieces, the second after a pause: the reader waits for the rest.
            std::io::Write::write_all(&mut conn, &sent[..10]).unwrap();
            std::thread::sleep(Duration::from_millis(30));
            std::io::Write::write_all(&mut conn, &sent[10..]).unwrap();
        });
        let (stream, peer) = listener.accept().unwrap();
        assert_eq!(
            read_data_header(&stream, peer).unwrap(),
            addr("192.0.2.7:40001")
        );
        writer.join().unwrap();
        let mut rest = Vec::new();
        (&stream).read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"upload bytes");
        // No header at all: refused, not waited on past the end.
        let writer = std::thread::spawn(move || {
            let mut conn = TcpStream::connect(to).unwrap();
            std::io::Write::write_all(&mut conn, b"plain bytes\r\n").unwrap();
        });
        let (stream, peer) = listener.accept().unwrap();
        assert!(read_data_header(&stream, peer).is_err());
        writer.join().unwrap();
    }
}
