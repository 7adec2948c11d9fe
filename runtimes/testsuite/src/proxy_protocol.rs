//! PROXY protocol headers written by hand on raw sockets: the test plays the load balancer.
//!
//! The server trusts 127.0.0.1 (`--proxy-protocol-from`); every header names a client in
//! 192.0.2.0/24, so what the server counts (limits, bans), logs and checks (the data
//! connection's address) shows whether it took the header's client or the socket's address.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use crate::ftp::{read_greeting, Client};
use crate::util::{self, TIMEOUT};
use crate::Server;

/// A v1 header naming `client` (port 40000 + `n`) as the source.
fn v1(client: &str, n: u16) -> String {
    format!("PROXY TCP4 {client} 198.51.100.1 {} 21\r\n", 40000 + n)
}

/// A v2 header (PROXY command, TCP over IPv4) naming `client:port` as the source.
pub fn v2(client: Ipv4Addr, port: u16, to: SocketAddr) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.extend_from_slice(&[0x21, 0x11, 0, 12]);
    header.extend_from_slice(&client.octets());
    let to_ip = match to.ip() {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
    };
    header.extend_from_slice(&to_ip.octets());
    header.extend_from_slice(&port.to_be_bytes());
    header.extend_from_slice(&to.port().to_be_bytes());
    header
}

/// A control connection to `addr` that starts with `header`.
fn through_proxy(addr: SocketAddr, header: &[u8]) -> Client {
    let mut stream = util::connect(addr);
    stream.write_all(header).expect("send the PROXY header");
    Client::from_stream(stream)
}

/// A logged-in session of `client` through the "proxy" (this test, on 127.0.0.1).
fn login_as(addr: SocketAddr, client: &str, n: u16) -> Client {
    let mut session = through_proxy(addr, v1(client, n).as_bytes());
    session.expect_reply(220, "the greeting after the header");
    session.expect("USER u", 331);
    session.expect("PASS p", 230);
    session
}

/// v1 and v2 from an allowed address: the session is the header's client for the
/// per-address limit, bans, logs and the data-connection check; a proxied connection that
/// sends no header is closed.
pub fn headers_from_an_allowed_proxy_name_the_client(bin: &Path) {
    let args = [
        "--user",
        "u:p",
        "--proxy-protocol-from",
        "10.0.0.0/8,127.0.0.1",
        "--max-sessions-per-ip",
        "1",
        "--ban-after",
        "2",
    ];
    let server = Server::start(bin, &args);
    let addr = server.addr();
    std::fs::write(server.path("a.txt"), b"through the proxy").unwrap();

    // v1: the session is 192.0.2.7's.
    let mut first = login_as(addr, "192.0.2.7", 1);
    server.wait_for_log("peer=192.0.2.7:40001");
    assert!(
        server
            .wait_for_log("login accepted")
            .contains("proxy=127.0.0.1:"),
        "the log names the proxy beside the client"
    );
    // The per-address cap (1) counts 192.0.2.7, not the proxy all sessions come from.
    let mut second = through_proxy(addr, v1("192.0.2.7", 2).as_bytes());
    second.expect_reply(421, "a second session of 192.0.2.7");
    second.expect_closed();
    // v2, for another client through the same proxy address.
    let header = v2(Ipv4Addr::new(192, 0, 2, 8), 5555, addr);
    let mut other = through_proxy(addr, &header);
    other.expect_reply(220, "v2: another client");
    other.expect("USER u", 331);
    other.expect("PASS p", 230);
    server.wait_for_log("peer=192.0.2.8:5555");

    // The data connection: from the proxy too, with a header naming the client. One naming
    // another client is refused by the core's check, as a foreign connection; the client's
    // is taken.
    let data = first.pasv();
    let mut foreign = util::connect(data);
    foreign.write_all(v1("192.0.2.99", 3).as_bytes()).unwrap();
    util::assert_closed(&mut foreign, "a data connection for another client");
    let mut data_conn = util::connect(data);
    data_conn.write_all(v1("192.0.2.7", 4).as_bytes()).unwrap();
    first.expect("RETR a.txt", 150);
    let mut bytes = Vec::new();
    data_conn.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"through the proxy");
    first.expect_reply(226, "RETR through the proxy");
    // An upload whose first bytes follow the header in one write keeps every byte.
    // (The connection must be there, header and all, before the 150.)
    let data = first.epsv();
    let mut data_conn = util::connect(data);
    let mut sent = v2(Ipv4Addr::new(192, 0, 2, 7), 6000, data);
    sent.extend_from_slice(b"first bytes");
    data_conn.write_all(&sent).unwrap();
    first.expect("STOR up.bin", 150);
    drop(data_conn);
    first.expect_reply(226, "STOR through the proxy");
    assert_eq!(
        std::fs::read(server.path("up.bin")).unwrap(),
        b"first bytes"
    );

    // Bans: two failures from 192.0.2.9 ban it (even with the right password), not the proxy.
    let mut guesser = through_proxy(addr, v1("192.0.2.9", 5).as_bytes());
    guesser.expect_reply(220, "the guesser's greeting");
    for _ in 0..2 {
        guesser.expect("USER u", 331);
        guesser.expect("PASS wrong", 530);
    }
    guesser.expect("USER u", 331);
    guesser.expect("PASS p", 421);
    drop(first);
    let _fine = login_as(addr, "192.0.2.10", 7);

    // From the proxy without a header: closed once the header's deadline (5 s) is over,
    // without a greeting.
    let mut silent = util::connect(addr);
    assert_eq!(read_greeting(&mut silent).ok().flatten(), None);
    // A bad header: closed at once.
    let mut bad = util::connect(addr);
    bad.write_all(b"USER u\r\n").unwrap();
    util::assert_closed(&mut bad, "a proxied connection without a header");
}

/// From an address not in `--proxy-protocol-from`, and without the option, a PROXY header is
/// not understood: v1 is a bad command, v2's signature ends in `QUIT`.
pub fn a_header_from_elsewhere_is_a_bad_command(bin: &Path) {
    for args in [&["--proxy-protocol-from", "10.9.9.9/32"][..], &[][..]] {
        let server = Server::start(bin, args);
        let mut client = Client::open(server.addr());
        let reply = client.cmd(v1("192.0.2.7", 1).trim_end());
        assert_eq!(reply.code, 500, "{args:?}: {reply}");
        client.expect("NOOP", 200);
        let mut stream = util::connect(server.addr());
        assert_eq!(read_greeting(&mut stream).ok().flatten(), Some(220));
        stream
            .write_all(&v2(Ipv4Addr::new(192, 0, 2, 7), 1, server.addr()))
            .unwrap();
        let mut rest = Vec::new();
        let _ = stream.set_read_timeout(Some(TIMEOUT));
        let _ = stream.read_to_end(&mut rest);
        let text = String::from_utf8_lossy(&rest);
        assert!(
            text.contains("221"),
            "{args:?}: v2 is read as QUIT: {text:?}"
        );
    }
}
