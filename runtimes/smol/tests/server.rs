//! The `thinftp-smol` binary on 127.0.0.1, driven by a raw TCP client: login, passive and active
//! transfers both ways, a data connection from a foreign address, ABOR, the session limit, and
//! SIGTERM.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(20);

/// The server process; killed when dropped, so a failing test leaves nothing behind.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Starts the binary serving `root` with `args` on a port the system picks, and waits for
    /// its first log line, which names that port.
    fn start(root: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_thinftp-smol"))
            .arg("--root")
            .arg(root)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start thinftp-smol");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        // Keeps reading the log, so the server never blocks on a full pipe.
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("server: {line}");
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(TIMEOUT)
            .expect("the server logs its address");
        let addr = first
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split(": ").next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in the first log line: {first}"));
        assert!(
            first.contains("1 user(s)"),
            "first line says what is served: {first}"
        );
        Server { child, addr }
    }

    /// Sends SIGTERM and waits for the exit.
    fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success());
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the server") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit after SIGTERM"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A control connection.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to the server");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let writer = stream.try_clone().unwrap();
        Client {
            reader: BufReader::new(stream),
            writer,
        }
    }

    /// Reads one reply (all its lines) and returns its code and text.
    fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        let mut first = String::new();
        self.reader.read_line(&mut first).expect("read a reply");
        assert!(first.len() >= 4, "short reply line {first:?}");
        text.push_str(&first);
        let code: u16 = first[..3]
            .parse()
            .unwrap_or_else(|_| panic!("bad reply {first:?}"));
        if first.as_bytes()[3] == b'-' {
            let end = format!("{code} ");
            loop {
                let mut line = String::new();
                assert!(self.reader.read_line(&mut line).expect("read a reply line") > 0);
                text.push_str(&line);
                if line.starts_with(&end) {
                    break;
                }
            }
        }
        (code, text)
    }

    /// Sends a command and checks the code of its reply.
    fn cmd(&mut self, line: &str, expected: u16) -> String {
        self.send(line);
        let (code, text) = self.reply();
        assert_eq!(code, expected, "{line} got {text:?}");
        text
    }

    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("send a command");
    }

    fn login(addr: SocketAddr) -> Client {
        let mut client = Client::connect(addr);
        assert_eq!(client.reply().0, 220);
        client.cmd("USER u", 331);
        client.cmd("PASS p", 230);
        client.cmd("TYPE I", 200);
        client
    }

    /// `PASV`, and the address it names.
    fn pasv(&mut self) -> SocketAddr {
        let text = self.cmd("PASV", 227);
        let inner = text
            .split(['(', ')'])
            .nth(1)
            .expect("227 (h1,h2,h3,h4,p1,p2)");
        let n: Vec<u8> = inner
            .split(',')
            .map(|x| x.trim().parse().unwrap())
            .collect();
        assert_eq!(n.len(), 6, "{text}");
        let ip = Ipv4Addr::new(n[0], n[1], n[2], n[3]);
        SocketAddr::V4(SocketAddrV4::new(
            ip,
            u16::from(n[4]) << 8 | u16::from(n[5]),
        ))
    }

    /// `RETR` over a passive connection; returns the file's bytes.
    fn retr_passive(&mut self, name: &str) -> Vec<u8> {
        let data = connect_data(self.pasv());
        self.cmd(&format!("RETR {name}"), 150);
        let bytes = read_all(data);
        assert_eq!(self.reply().0, 226);
        bytes
    }

    /// `STOR` over a passive connection.
    fn stor_passive(&mut self, name: &str, bytes: &[u8]) {
        let mut data = connect_data(self.pasv());
        self.cmd(&format!("STOR {name}"), 150);
        data.write_all(bytes).expect("upload");
        data.shutdown(Shutdown::Write).unwrap();
        drop(data);
        assert_eq!(self.reply().0, 226);
    }
}

fn connect_data(addr: SocketAddr) -> TcpStream {
    let data = TcpStream::connect(addr).expect("connect the data connection");
    data.set_read_timeout(Some(TIMEOUT)).unwrap();
    data
}

fn read_all(mut data: TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).expect("download");
    bytes
}

/// Checks that the server closed `conn` without sending anything (a timeout is a failure).
fn assert_closed(conn: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 64];
    match conn.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("{what} should be closed at once, got {other:?}"),
    }
}

/// Bytes that show a shifted or truncated copy.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn passive_retr_and_stor_then_sigterm() {
    let root = tempfile::tempdir().unwrap();
    let content = pattern(300_000);
    fs::write(root.path().join("hello.bin"), &content).unwrap();
    let server = Server::start(root.path(), &["--user", "u:p"]);

    let mut client = Client::login(server.addr);
    assert_eq!(client.retr_passive("hello.bin"), content);

    let upload = pattern(1_000_003);
    client.stor_passive("up.bin", &upload);
    assert_eq!(fs::read(root.path().join("up.bin")).unwrap(), upload);
    // And back again, through the server.
    assert_eq!(client.retr_passive("up.bin"), upload);

    client.cmd("SIZE up.bin", 213);
    client.cmd("RETR missing.bin", 425); // no data channel set up
    client.cmd("QUIT", 221);

    let status = server.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

#[test]
fn active_mode_retr() {
    let root = tempfile::tempdir().unwrap();
    let content = pattern(200_000);
    fs::write(root.path().join("a.bin"), &content).unwrap();
    let server = Server::start(root.path(), &["--user", "u:p"]);

    let mut client = Client::login(server.addr);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    client.cmd(
        &format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xff),
        200,
    );
    client.cmd("RETR a.bin", 150);
    let (data, _) = listener.accept().expect("the server connects");
    assert_eq!(read_all(data), content);
    assert_eq!(client.reply().0, 226);
}

#[test]
fn data_connection_from_a_foreign_address_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let content = pattern(50_000);
    fs::write(root.path().join("f.bin"), &content).unwrap();
    let server = Server::start(root.path(), &["--user", "u:p"]);

    let mut client = Client::login(server.addr);
    let pasv = client.pasv();
    // Someone at 127.0.0.2 races the client to the port: the server drops that connection...
    let intruder =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    intruder
        .bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .unwrap();
    intruder
        .connect(&pasv.into())
        .expect("connect from 127.0.0.2");
    let mut intruder = TcpStream::from(intruder);
    intruder.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_closed(&mut intruder, "the foreign connection");
    // ... and keeps listening for the client's own.
    let data = connect_data(pasv);
    client.cmd("RETR f.bin", 150);
    assert_eq!(read_all(data), content);
    assert_eq!(client.reply().0, 226);
}

#[test]
fn abor_stops_a_running_download() {
    let root = tempfile::tempdir().unwrap();
    // Larger than what loopback socket buffers hold, so the transfer is still running.
    fs::write(root.path().join("big.bin"), pattern(64 << 20)).unwrap();
    let server = Server::start(root.path(), &["--user", "u:p"]);

    let mut client = Client::login(server.addr);
    let mut data = connect_data(client.pasv());
    client.cmd("RETR big.bin", 150);
    let mut first = [0u8; 4096];
    data.read_exact(&mut first).expect("the download starts");
    client.send("ABOR");
    assert_eq!(client.reply().0, 426);
    assert_eq!(client.reply().0, 226);
    // The session goes on.
    client.cmd("NOOP", 200);
}

#[test]
fn sessions_over_the_limit_get_421() {
    let root = tempfile::tempdir().unwrap();
    let server = Server::start(root.path(), &["--user", "u:p", "--max-sessions", "2"]);

    let mut first = Client::connect(server.addr);
    assert_eq!(first.reply().0, 220);
    let mut second = Client::connect(server.addr);
    assert_eq!(second.reply().0, 220);
    let mut third = Client::connect(server.addr);
    assert_eq!(third.reply().0, 421);
    assert_closed(third.reader.get_mut(), "an over-limit session");

    // A place frees up when a session ends.
    first.cmd("QUIT", 221);
    drop(first);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut next = Client::connect(server.addr);
        match next.reply().0 {
            220 => break,
            421 if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            code => panic!("expected 220 once a session ended, got {code}"),
        }
    }
    second.cmd("NOOP", 200);
}
