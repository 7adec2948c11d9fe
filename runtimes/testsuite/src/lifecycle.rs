//! The server's life as a process: SIGTERM stops it gracefully.

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
