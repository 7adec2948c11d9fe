//! The server's life as a process: SIGTERM stops it gracefully: transfers get the grace
//! period, then every session still open gets `426` (for a transfer cut short) and `421`.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::ftp::{Client, DataMode};
use crate::server::Server;
use crate::util::{assert_same_bytes, big_bytes, TIMEOUT};

/// SIGTERM while a download runs: the server stops taking sessions at once, lets the transfer
/// finish (`226`, every byte), then exits successfully.
pub fn sigterm_lets_transfers_finish(bin: &Path) {
    let mut server = Server::start(bin, &["--user", "u:p", "--shutdown-grace", "60"]);
    fs::write(server.path("big"), big_bytes()).unwrap();
    let mut c = Client::login(server.addr(), "u", "p");
    let mut data = c
        .open_transfer(DataMode::Pasv, "RETR big")
        .unwrap_or_else(|r| panic!("RETR big got {r}"));
    let mut received = vec![0u8; 4096];
    data.read_exact(&mut received).expect("the download starts");

    server.terminate();
    // The signal is handled asynchronously: a session may still get in just after it, but
    // soon none does (refused, closed, or left without a greeting).
    let deadline = Instant::now() + TIMEOUT;
    while greets(&server) {
        assert!(
            Instant::now() < deadline,
            "still accepting sessions after SIGTERM"
        );
        thread::sleep(Duration::from_millis(10));
    }

    data.read_to_end(&mut received)
        .expect("the rest of the download");
    assert_same_bytes(&received, big_bytes(), "a download running at SIGTERM");
    c.expect_reply(226, "a download running at SIGTERM");
    let status = server.wait_exit();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

/// SIGTERM with `--shutdown-grace 1` while a download is stalled (the client reads nothing of
/// it): once the grace period is over the download is aborted and the client reads `426` for
/// it and `421` on the control connection, then the end of it; the data connection ends too.
/// The server exits with status 1: shutdown cut a transfer short.
pub fn sigterm_past_the_grace_replies_426_and_421(bin: &Path) {
    let mut server = Server::start(bin, &["--user", "u:p", "--shutdown-grace", "1"]);
    fs::write(server.path("big"), big_bytes()).unwrap();
    let mut c = Client::login(server.addr(), "u", "p");
    let mut data = c
        .open_transfer(DataMode::Pasv, "RETR big")
        .unwrap_or_else(|r| panic!("RETR big got {r}"));
    let mut first = [0u8; 4096];
    data.read_exact(&mut first).expect("the download starts");

    server.terminate();
    c.expect_reply(426, "a download cut short by shutdown");
    let reply = c.expect_reply(421, "a session closed by shutdown");
    assert!(reply.text.contains("shutting down"), "{reply}");
    c.expect_closed();
    // Whatever was on its way still arrives, then the end (or a reset): the transfer is over.
    let mut rest = Vec::new();
    let _ = data.read_to_end(&mut rest);
    assert!(
        first.len() + rest.len() < big_bytes().len(),
        "the whole file arrived, so nothing was cut short"
    );
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(1), "exit status after a cut: {status}");
}

/// SIGTERM while a logged-in session is idle (no transfer anywhere): the session gets `421`
/// and the end of the connection, and the server exits successfully.
pub fn sigterm_tells_idle_sessions_421(bin: &Path) {
    let mut server = Server::start(bin, &["--user", "u:p"]);
    let mut c = Client::login(server.addr(), "u", "p");
    c.expect("NOOP", 200);

    server.terminate();
    let reply = c.expect_reply(421, "an idle session at SIGTERM");
    assert!(reply.text.contains("shutting down"), "{reply}");
    c.expect_closed();
    let status = server.wait_exit();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

/// Whether a new connection gets the `220` greeting within a short while.
fn greets(server: &Server) -> bool {
    let Ok(stream) = TcpStream::connect(server.addr()) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(300)));
    let mut line = String::new();
    match BufReader::new(stream).read_line(&mut line) {
        Ok(_) => line.starts_with("220"),
        Err(_) => false,
    }
}
