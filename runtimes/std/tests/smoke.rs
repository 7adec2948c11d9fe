//! The `thinftp-std` binary on 127.0.0.1, driven by a minimal client: login, passive and active
//! transfers, listing, abort, the session limit and the idle timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(root: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_thinftp-std"))
            .arg("--root")
            .arg(root)
            .args(["--listen", "127.0.0.1:0", "--user", "u:p"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start thinftp-std");
        // The first log line names the address (the port was picked by the system).
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let addr = line
            .split_whitespace()
            .find_map(|w| w.trim_end_matches(':').parse::<SocketAddr>().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> (Client, String) {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let writer = stream.try_clone().unwrap();
        let mut client = Client {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = client.reply();
        (client, greeting)
    }

    fn login(addr: SocketAddr) -> Client {
        let (mut c, greeting) = Client::connect(addr);
        assert!(greeting.starts_with("220"), "{greeting}");
        assert!(c.cmd("USER u").starts_with("331"));
        assert!(c.cmd("PASS p").starts_with("230"));
        c
    }

    /// One whole reply (all lines of a multi-line one).
    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap() == 0 {
                return all;
            }
            all.push_str(&line);
            let b = line.as_bytes();
            if b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ' {
                return all;
            }
        }
    }

    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
    }

    fn cmd(&mut self, line: &str) -> String {
        self.send(line);
        self.reply()
    }

    /// EPSV, then connects to the port it names.
    fn passive(&mut self, addr: SocketAddr) -> TcpStream {
        let reply = self.cmd("EPSV");
        assert!(reply.starts_with("229"), "{reply}");
        let port: u16 = reply
            .split("|||")
            .nth(1)
            .and_then(|r| r.split('|').next())
            .unwrap()
            .parse()
            .unwrap();
        TcpStream::connect((addr.ip(), port)).unwrap()
    }
}

fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

#[test]
fn upload_download_list_and_rename() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut c = Client::login(server.addr);
    assert!(c.cmd("TYPE I").starts_with("200"));
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let mut conn = c.passive(server.addr);
    assert!(c.cmd("STOR f.bin").starts_with("150"));
    conn.write_all(&data).unwrap();
    drop(conn);
    assert!(c.reply().starts_with("226"));
    assert!(std::fs::read(dir.path().join("f.bin")).unwrap() == data);

    let conn = c.passive(server.addr);
    assert!(c.cmd("RETR f.bin").starts_with("150"));
    assert!(read_all(conn) == data);
    assert!(c.reply().starts_with("226"));

    assert!(c.cmd("REST 1000").starts_with("350"));
    let conn = c.passive(server.addr);
    assert!(c.cmd("RETR f.bin").starts_with("150"));
    assert!(read_all(conn)[..] == data[1000..]);
    assert!(c.reply().starts_with("226"));

    let conn = c.passive(server.addr);
    assert!(c.cmd("NLST").starts_with("150"));
    assert_eq!(read_all(conn), b"f.bin\r\n");
    assert!(c.reply().starts_with("226"));

    assert!(c.cmd("RNFR f.bin").starts_with("350"));
    assert!(c.cmd("RNTO g.bin").starts_with("250"));
    assert!(dir.path().join("g.bin").exists());
    assert!(c.cmd("QUIT").starts_with("221"));
}

#[test]
fn active_mode_download() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"active\n").unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut c = Client::login(server.addr);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    assert!(c
        .cmd(&format!("EPRT |1|127.0.0.1|{port}|"))
        .starts_with("200"));
    assert!(c.cmd("RETR a.txt").starts_with("150"));
    let (conn, _) = listener.accept().unwrap();
    assert_eq!(read_all(conn), b"active\r\n", "TYPE A is the default");
    assert!(c.reply().starts_with("226"));
}

#[test]
fn abort_mid_download() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big"), vec![0u8; 64 << 20]).unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut c = Client::login(server.addr);
    c.cmd("TYPE I");
    let mut conn = c.passive(server.addr);
    assert!(c.cmd("RETR big").starts_with("150"));
    let mut buf = [0u8; 4096];
    conn.read_exact(&mut buf).unwrap();
    let started = Instant::now();
    let first = c.cmd("ABOR");
    assert!(first.starts_with("426"), "{first}");
    assert!(c.reply().starts_with("226"));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(c.cmd("NOOP").starts_with("200"));
}

#[test]
fn sessions_over_the_limit_get_421() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-sessions", "2"]);
    let (_a, ga) = Client::connect(server.addr);
    let (_b, gb) = Client::connect(server.addr);
    let (mut c, gc) = Client::connect(server.addr);
    assert!(ga.starts_with("220") && gb.starts_with("220"));
    assert_eq!(gc, "421 Too many connections\r\n");
    assert_eq!(c.reply(), "", "closed after the 421");
}

#[test]
fn idle_sessions_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--idle-timeout", "1"]);
    let mut c = Client::login(server.addr);
    let started = Instant::now();
    let reply = c.reply();
    assert!(reply.starts_with("421"), "{reply}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
