//! Many sessions at once, the session limits, and the idle and data timeouts.

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::ftp::{read_greeting, Client, DataMode};
use crate::server::Server;
use crate::util::{
    self, assert_closed, assert_same_bytes, connect, connect_from, fd_limit, random_bytes, Gate,
    TIMEOUT,
};

/// 200 sessions open at the same time, each doing a RETR and a STOR: all succeed, byte-exact.
pub fn concurrent_sessions(bin: &Path) {
    const SESSIONS: usize = 200;
    let server = Server::start(bin, &["--user", "u:p", "--max-sessions-per-ip", "1000"]);
    let shared = Arc::new(random_bytes(80, 64 * 1024));
    fs::write(server.path("shared.bin"), shared.as_slice()).unwrap();
    let gate = Arc::new(Gate::new(SESSIONS));
    let addr = server.addr();
    let sessions: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let (gate, shared) = (Arc::clone(&gate), Arc::clone(&shared));
            thread::Builder::new()
                .name(format!("session-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut c = Client::login(addr, "u", "p");
                    // Every session is logged in before any transfer starts.
                    gate.arrive_and_wait();
                    let mode = if i % 2 == 0 {
                        DataMode::Pasv
                    } else {
                        DataMode::Epsv
                    };
                    let got = c.retr(mode, "shared.bin");
                    assert_same_bytes(&got, &shared, &format!("session {i}: RETR"));
                    let upload = random_bytes(1000 + i as u64, 16 * 1024 + i);
                    c.stor(mode, &format!("up-{i}"), &upload);
                    c.expect("QUIT", 221);
                    upload
                })
                .expect("start a client thread")
        })
        .collect();
    for (i, session) in sessions.into_iter().enumerate() {
        let upload = session
            .join()
            .unwrap_or_else(|_| panic!("session {i} failed (its panic is printed above)"));
        let disk = fs::read(server.path(&format!("up-{i}"))).unwrap();
        assert_same_bytes(&disk, &upload, &format!("session {i}: STOR"));
    }
}

/// With the default `--max-sessions 1024`, the 1025th session gets `421` and is closed at once;
/// the others are unaffected, and a place frees up when one ends.
pub fn session_limit_total(bin: &Path) {
    const LIMIT: usize = 1024;
    // Both ends of every connection live in this process and the server, plus a margin.
    let needed = (2 * LIMIT + 256) as u64;
    util::raise_fd_limit();
    assert!(
        fd_limit() >= needed,
        "this test needs {needed} open files; the limit is {} and could not be raised",
        fd_limit()
    );
    // Sessions that never log in are capped at 3/4 of --max-sessions by default: lift that.
    let server = Server::start(
        bin,
        &[
            "--user",
            "u:p",
            "--max-sessions-per-ip",
            "2000",
            "--max-unauthenticated-sessions",
            "1024",
        ],
    );
    let mut held: Vec<TcpStream> = (0..LIMIT)
        .map(|i| {
            let mut conn = connect(server.addr());
            let code = read_greeting(&mut conn).expect("read a greeting");
            assert_eq!(code, Some(220), "session {}", i + 1);
            conn
        })
        .collect();
    let mut over = connect(server.addr());
    let code = read_greeting(&mut over).expect("read the refusal");
    assert_eq!(code, Some(421), "session {}", LIMIT + 1);
    assert_closed(&mut over, "a session over the limit");

    // The sessions that got in still work.
    for i in [0, LIMIT - 1] {
        let conn = &mut held[i];
        conn.write_all(b"NOOP\r\n").unwrap();
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf).unwrap();
        assert!(
            buf[..n].starts_with(b"200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
    }

    // One ends; its place goes to the next client (once the server has noticed).
    let gone = held.pop().expect("a session");
    gone.shutdown(Shutdown::Both).unwrap();
    drop(gone);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut next = connect(server.addr());
        match read_greeting(&mut next).expect("read a greeting") {
            Some(220) => break,
            Some(421) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            other => panic!("expected 220 once a session ended, got {other:?}"),
        }
    }
}

/// `--max-sessions-per-ip` counts each client address on its own; `--max-sessions` counts all.
pub fn session_limit_per_ip(bin: &Path) {
    let ip = |last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
    let server = Server::start(bin, &["--user", "u:p", "--max-sessions-per-ip", "3"]);
    let mut held: Vec<Client> = (0..3).map(|_| Client::open(server.addr())).collect();
    let mut over = connect(server.addr());
    assert_eq!(
        read_greeting(&mut over).unwrap(),
        Some(421),
        "a 4th session from one address"
    );
    assert_closed(&mut over, "a session over the per-address limit");
    // Another address still gets in.
    let other = connect_from(ip(2), server.addr()).expect("connect from 127.0.0.2");
    let mut other = Client::from_stream(other);
    other.expect_reply(220, "a session from 127.0.0.2");
    other.expect("USER u", 331);
    other.expect("PASS p", 230);
    for c in &mut held {
        c.expect("NOOP", 200);
    }
    drop(server);

    let server = Server::start(bin, &["--user", "u:p", "--max-sessions", "2"]);
    let mut first = Client::from_stream(connect_from(ip(3), server.addr()).unwrap());
    first.expect_reply(220, "the 1st session");
    let mut second = Client::from_stream(connect_from(ip(4), server.addr()).unwrap());
    second.expect_reply(220, "the 2nd session");
    let mut third = connect_from(ip(5), server.addr()).unwrap();
    assert_eq!(
        read_greeting(&mut third).unwrap(),
        Some(421),
        "a 3rd session in all"
    );
    assert_closed(&mut third, "a session over the total limit");
}

/// With `--idle-timeout 1`: a session without commands gets `421` and is closed, before and after
/// login; commands and a transfer that keeps moving keep it alive.
pub fn idle_timeout(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p", "--idle-timeout", "1"]);

    let mut c = Client::open(server.addr());
    let started = Instant::now();
    c.expect_reply(421, "an idle session before login");
    c.expect_closed();
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "421 too early"
    );

    let mut c = Client::login(server.addr(), "u", "p");
    // Commands keep the session alive past the timeout.
    for _ in 0..6 {
        thread::sleep(Duration::from_millis(200));
        c.expect("NOOP", 200);
    }
    // So does an upload that keeps moving, even with no command for longer than the timeout.
    let mut data = c
        .open_transfer(DataMode::Pasv, "STOR slow")
        .unwrap_or_else(|r| panic!("STOR slow got {r}"));
    for piece in 0..8u8 {
        data.write_all(&[piece; 1000]).unwrap();
        thread::sleep(Duration::from_millis(200));
    }
    data.shutdown(Shutdown::Write).unwrap();
    drop(data);
    c.expect_reply(226, "a slow upload");
    assert_eq!(fs::read(server.path("slow")).unwrap().len(), 8000);
    let started = Instant::now();
    c.expect_reply(421, "an idle session after login");
    c.expect_closed();
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "421 too early"
    );
}

/// With `--idle-timeout 1`, a download that the client stops reading fails (`426`) once nothing
/// has moved for the timeout; the session goes on.
pub fn stalled_transfer_fails(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p", "--idle-timeout", "2"]);
    fs::write(server.path("big"), util::big_bytes()).unwrap();
    let mut c = Client::login(server.addr(), "u", "p");
    let mut data = c
        .open_transfer(DataMode::Pasv, "RETR big")
        .unwrap_or_else(|r| panic!("RETR big got {r}"));
    let mut first = [0u8; 1024];
    data.read_exact(&mut first).unwrap();
    let stalled = Instant::now();
    c.expect_reply(426, "a stalled download");
    // Once the buffers are full, no byte moves: the download ends after the idle timeout, not
    // a multiple of it (a blocking sendfile waited the timeout again for each run of pages the
    // window let through, 6 to 8 s here).
    let took = stalled.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_millis(3500),
        "a download stalled for the 2 s idle timeout ended after {took:?}"
    );
    c.expect("NOOP", 200);
    drop(data);
}

/// With `--data-timeout 1`: a transfer command whose data connection never comes gets `425`, in
/// passive mode (nobody connects) and active mode (the client's listener never accepts).
pub fn data_timeout(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p", "--data-timeout", "1"]);
    fs::write(server.path("f"), b"data").unwrap();
    let mut c = Client::login(server.addr(), "u", "p");

    let pasv = c.pasv();
    let started = Instant::now();
    c.send("RETR f");
    c.expect_reply(425, "RETR without a data connection");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "425 too early"
    );
    // The listener is closed with it.
    if let Ok(mut late) = TcpStream::connect(pasv) {
        util::set_timeouts(&late);
        assert_closed(&mut late, "a data connection after the timeout");
    }
    c.expect("NOOP", 200);
    assert_eq!(c.retr(DataMode::Pasv, "f"), b"data");

    // Active mode: a listener whose accept queue is full drops the server's connection attempt.
    let listener = full_listener();
    let port = listener.addr.port();
    c.expect(&format!("EPRT |1|127.0.0.1|{port}|"), 200);
    let started = Instant::now();
    c.send("RETR f");
    c.expect_reply(425, "RETR to a listener that never answers");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "425 too early"
    );
    c.expect("NOOP", 200);
    assert_eq!(c.retr(DataMode::Eprt, "f"), b"data");
    drop(listener);
    c.expect("QUIT", 221);
}

/// A listening socket that will not complete another connection: backlog 0, taken by one that
/// is never accepted. Linux drops further SYNs, so a connect to it hangs until its timeout.
struct FullListener {
    addr: SocketAddr,
    _listener: socket2::Socket,
    _filler: TcpStream,
}

fn full_listener() -> FullListener {
    let listener = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("create a socket");
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    listener.listen(0).expect("listen");
    let addr = listener
        .local_addr()
        .expect("address")
        .as_socket()
        .expect("an IP address");
    let filler = connect(addr);
    FullListener {
        addr,
        _listener: listener,
        _filler: filler,
    }
}

/// Busy polling (`--busy-poll`) changes only how a session waits: with it off, every command is
/// read after a sleep; with a long window, sessions poll (one at a time per spare CPU) while
/// others sleep. Either way pipelined and sequential commands, a transfer and the idle timeout
/// behave the same.
pub fn busy_polling_off_and_long(bin: &Path) {
    for window in ["0", "10000"] {
        let args = [
            "--user",
            "u:p",
            "--idle-timeout",
            "1",
            "--busy-poll",
            window,
        ];
        let server = Server::start(bin, &args);
        fs::write(server.path("f"), b"contents\n").unwrap();
        let mut sessions: Vec<Client> = (0..3)
            .map(|_| Client::login(server.addr(), "u", "p"))
            .collect();
        for round in 0..20 {
            for c in &mut sessions {
                c.expect("NOOP", 200);
                if round % 10 == 0 {
                    assert_eq!(
                        c.retr(DataMode::Pasv, "f"),
                        b"contents\n",
                        "--busy-poll {window}"
                    );
                }
            }
        }
        let c = &mut sessions[0];
        // Three commands in one write get three replies, in order.
        c.send("NOOP\r\nPWD\r\nSYST");
        assert_eq!(c.reply().code, 200, "--busy-poll {window}");
        assert_eq!(c.reply().code, 257, "--busy-poll {window}");
        assert_eq!(c.reply().code, 215, "--busy-poll {window}");
        let started = Instant::now();
        c.expect_reply(421, "the idle timeout");
        c.expect_closed();
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
            "--busy-poll {window}: 421 after {waited:?}"
        );
    }
}
