//! Metrics (`--metrics-listen`), the transfer log (`--transfer-log`, both formats) and audit
//! lines, read from the running server the way Prometheus, a log analyser and an operator read
//! them.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use crate::util::{big_bytes, random_bytes, wait_until};
use crate::{Client, DataMode, Server};

/// Starts `bin` with metrics on an OS-chosen loopback port; the server and that address.
fn with_metrics(bin: &Path, args: &[&str]) -> (Server, SocketAddr) {
    let mut all = vec!["--metrics-listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let server = Server::start(bin, &all);
    let line = server.wait_for_line(&["metrics on http://"]);
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no metrics address in {line:?}"));
    (server, addr)
}

/// `GET /metrics`: each sample (`name{labels}`) and its value.
fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let text = http_get(addr, "/metrics");
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("name value");
            (name.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut conn = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    crate::util::set_timeouts(&conn);
    write!(conn, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).expect("read the response");
    text
}

/// The value of `sample` (0 when it is not there yet: a labelled counter appears at its first
/// increment).
fn value(metrics: &HashMap<String, f64>, sample: &str) -> f64 {
    metrics.get(sample).copied().unwrap_or(0.0)
}

/// How much each of `samples` moved from `before` to `after`.
#[track_caller]
fn assert_moved(
    before: &HashMap<String, f64>,
    after: &HashMap<String, f64>,
    moves: &[(&str, f64)],
) {
    for (sample, by) in moves {
        let moved = value(after, sample) - value(before, sample);
        assert_eq!(moved, *by, "{sample} moved by {moved}, not {by}");
    }
}

/// The counters move as they should during and after a download, an upload, a failed and a
/// good login, a missing file and a refused session; a path other than /metrics is a 404.
pub fn metrics_count_what_happens(bin: &Path) {
    let (server, metrics) = with_metrics(
        bin,
        &[
            "--user",
            "alice:secret",
            "--max-sessions-per-ip",
            "3",
            "--ban-user-after",
            "2",
        ],
    );
    let size = 8 << 20;
    fs::write(server.path("big"), &big_bytes()[..size]).unwrap();
    let start = scrape(metrics);
    assert_eq!(value(&start, "thinftp_sessions_active"), 0.0);
    assert!(http_get(metrics, "/other").starts_with("HTTP/1.1 404"));

    let mut c = Client::open(server.addr());
    c.expect("USER alice", 331);
    c.expect("PASS wrong", 530);
    c.expect("USER alice", 331);
    c.expect("PASS secret", 230);
    c.expect("TYPE I", 200);
    let logged_in = scrape(metrics);
    assert_moved(
        &start,
        &logged_in,
        &[
            ("thinftp_sessions_total", 1.0),
            ("thinftp_sessions_active", 1.0),
            ("thinftp_logins_total{result=\"failed\"}", 1.0),
            ("thinftp_logins_total{result=\"ok\"}", 1.0),
            ("thinftp_commands_total{verb=\"USER\",class=\"3xx\"}", 2.0),
            ("thinftp_commands_total{verb=\"PASS\",class=\"5xx\"}", 1.0),
            ("thinftp_commands_total{verb=\"PASS\",class=\"2xx\"}", 1.0),
        ],
    );

    // During a download: the data connection counts, the transfer not yet.
    let mut data = c
        .open_transfer(DataMode::Pasv, "RETR big")
        .unwrap_or_else(|r| panic!("RETR big got {r}"));
    let mut first = vec![0u8; 4096];
    data.read_exact(&mut first).unwrap();
    let during = scrape(metrics);
    assert_moved(
        &logged_in,
        &during,
        &[
            ("thinftp_data_connections_total{mode=\"passive\"}", 1.0),
            (
                "thinftp_transfers_total{direction=\"download\",status=\"ok\"}",
                0.0,
            ),
            ("thinftp_transfer_bytes_total{direction=\"download\"}", 0.0),
            ("thinftp_commands_total{verb=\"RETR\",class=\"2xx\"}", 0.0),
        ],
    );
    let mut rest = Vec::new();
    data.read_to_end(&mut rest).unwrap();
    assert_eq!(first.len() + rest.len(), size);
    c.expect_reply(226, "RETR big");
    let downloaded = scrape(metrics);
    assert_moved(
        &during,
        &downloaded,
        &[
            (
                "thinftp_transfers_total{direction=\"download\",status=\"ok\"}",
                1.0,
            ),
            (
                "thinftp_transfer_bytes_total{direction=\"download\"}",
                size as f64,
            ),
            (
                "thinftp_transfer_duration_seconds_count{direction=\"download\"}",
                1.0,
            ),
            ("thinftp_commands_total{verb=\"RETR\",class=\"2xx\"}", 1.0),
        ],
    );

    // An upload in active mode, a missing file, an unknown verb.
    let up = random_bytes(13, 100_000);
    c.stor(DataMode::Port, "up.bin", &up);
    c.expect("SIZE missing", 550);
    c.expect("FROBNICATE x", 500);
    c.expect("XPWD", 257);
    let after = scrape(metrics);
    assert_moved(
        &downloaded,
        &after,
        &[
            ("thinftp_data_connections_total{mode=\"active\"}", 1.0),
            (
                "thinftp_transfers_total{direction=\"upload\",status=\"ok\"}",
                1.0,
            ),
            (
                "thinftp_transfer_bytes_total{direction=\"upload\"}",
                up.len() as f64,
            ),
            ("thinftp_storage_errors_total{kind=\"not_found\"}", 1.0),
            ("thinftp_commands_total{verb=\"SIZE\",class=\"5xx\"}", 1.0),
            ("thinftp_commands_total{verb=\"other\",class=\"5xx\"}", 1.0),
            ("thinftp_commands_total{verb=\"PWD\",class=\"2xx\"}", 1.0),
            ("thinftp_commands_total{verb=\"PORT\",class=\"2xx\"}", 1.0),
        ],
    );

    // An aborted download counts the bytes it moved before the abort, not 0.
    fs::write(server.path("huge"), big_bytes()).unwrap();
    let mut data = c
        .open_transfer(DataMode::Pasv, "RETR huge")
        .unwrap_or_else(|r| panic!("RETR huge got {r}"));
    data.read_exact(&mut first).unwrap();
    c.send("ABOR");
    c.expect_reply(426, "the aborted RETR");
    c.expect_reply(226, "ABOR");
    drop(data);
    let aborted = scrape(metrics);
    assert_moved(
        &after,
        &aborted,
        &[(
            "thinftp_transfers_total{direction=\"download\",status=\"aborted\"}",
            1.0,
        )],
    );
    let bytes = "thinftp_transfer_bytes_total{direction=\"download\"}";
    let moved = value(&aborted, bytes) - value(&after, bytes);
    #[allow(clippy::cast_precision_loss)]
    let whole = big_bytes().len() as f64;
    assert!(
        (first.len() as f64..whole).contains(&moved),
        "an aborted download counted {moved} bytes"
    );

    // An upload whose connection breaks fails, and counts the bytes it had read.
    let mut data = c
        .open_transfer(DataMode::Pasv, "STOR cut.bin")
        .unwrap_or_else(|r| panic!("STOR cut.bin got {r}"));
    data.write_all(&big_bytes()[..1 << 20]).unwrap();
    wait_until("the upload's first bytes", || {
        fs::metadata(server.path("cut.bin")).is_ok_and(|m| m.len() > 0)
    });
    crate::util::reset(data);
    c.expect_reply(426, "a STOR whose connection was reset");
    let failed = scrape(metrics);
    assert_moved(
        &aborted,
        &failed,
        &[(
            "thinftp_transfers_total{direction=\"upload\",status=\"failed\"}",
            1.0,
        )],
    );
    let bytes = "thinftp_transfer_bytes_total{direction=\"upload\"}";
    let moved = value(&failed, bytes) - value(&aborted, bytes);
    assert!(
        (1.0..=f64::from(1u32 << 20)).contains(&moved),
        "a failed upload counted {moved} bytes"
    );

    // Two failed logins of one name, then its ban (--ban-user-after 2).
    let mut guesser = Client::open(server.addr());
    for _ in 0..2 {
        guesser.expect("USER mallory", 331);
        guesser.expect("PASS guess", 530);
    }
    guesser.expect("USER mallory", 331);
    assert_eq!(guesser.cmd("PASS guess").code, 421, "a banned name");
    drop(guesser);
    wait_until("the guesser's session to end", || {
        value(&scrape(metrics), "thinftp_sessions_active") == 1.0
    });
    let after = scrape(metrics);
    assert_moved(
        &failed,
        &after,
        &[
            ("thinftp_logins_total{result=\"failed\"}", 2.0),
            ("thinftp_logins_total{result=\"banned\"}", 1.0),
        ],
    );

    // Over --max-sessions-per-ip: refused with 421, counted by reason.
    let second = Client::login(server.addr(), "alice", "secret");
    let third = Client::login(server.addr(), "alice", "secret");
    let mut fourth = crate::util::connect(server.addr());
    assert_eq!(crate::ftp::read_greeting(&mut fourth).unwrap(), Some(421));
    let refused = scrape(metrics);
    assert_moved(
        &after,
        &refused,
        &[
            (
                "thinftp_sessions_refused_total{reason=\"max_sessions_per_ip\"}",
                1.0,
            ),
            ("thinftp_sessions_total", 2.0),
            ("thinftp_sessions_active", 2.0),
        ],
    );
    drop((second, third, fourth));
    c.expect("QUIT", 221);
    wait_until("the sessions to end", || {
        value(&scrape(metrics), "thinftp_sessions_active") == 0.0
    });
}

/// The lines of `path` once it has `n` of them.
fn lines_of(path: &Path, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    wait_until(&format!("{} to have {n} lines", path.display()), || {
        lines = fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        lines.len() >= n
    });
    assert_eq!(lines.len(), n, "{lines:#?}");
    lines
}

/// A completed upload, a completed download and an aborted download make a line each; SIGHUP
/// reopens the file after it was moved away.
fn transfers_for_the_log(server: &Server) -> usize {
    let upload = random_bytes(5, 70_000);
    fs::write(server.path("big"), big_bytes()).unwrap();
    let mut c = Client::login(server.addr(), "alice", "secret");
    c.stor(DataMode::Pasv, "my file.bin", &upload);
    assert_eq!(c.retr(DataMode::Epsv, "my file.bin"), upload);
    let mut data = c
        .open_transfer(DataMode::Pasv, "RETR big")
        .unwrap_or_else(|r| panic!("RETR big got {r}"));
    let mut first = [0u8; 4096];
    data.read_exact(&mut first).unwrap();
    c.send("ABOR");
    c.expect_reply(426, "the aborted RETR");
    c.expect_reply(226, "ABOR");
    drop(data);
    c.expect("QUIT", 221);
    upload.len()
}

/// The transfer log in the xferlog format: one line per transfer with the wu-ftpd fields.
pub fn transfer_log_xferlog(bin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("xferlog");
    let server = Server::start(
        bin,
        &[
            "--user",
            "alice:secret",
            "--transfer-log",
            log.to_str().unwrap(),
        ],
    );
    let size = transfers_for_the_log(&server).to_string();
    let lines = lines_of(&log, 3);
    let fields: Vec<Vec<&str>> = lines
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for (line, f) in lines.iter().zip(&fields) {
        // current-time (5 words) transfer-time remote-host file-size filename transfer-type
        // special-action-flag direction access-mode username service-name
        // authentication-method authenticated-user-id completion-status
        assert_eq!(f.len(), 18, "{line}");
        assert!(f[4].parse::<u32>().is_ok_and(|y| y >= 2024), "year: {line}");
        assert!(f[5].parse::<u64>().is_ok_and(|s| s >= 1), "seconds: {line}");
        assert_eq!(f[6], "127.0.0.1", "{line}");
        assert_eq!(
            &f[9..],
            ["b", "_", f[11], "r", "alice", "ftp", "0", "*", f[17]],
            "{line}"
        );
    }
    assert_eq!(
        (fields[0][7], fields[0][8], fields[0][11], fields[0][17]),
        (size.as_str(), "/my_file.bin", "i", "c")
    );
    assert_eq!(
        (fields[1][7], fields[1][8], fields[1][11], fields[1][17]),
        (size.as_str(), "/my_file.bin", "o", "c")
    );
    assert_eq!(
        (fields[2][8], fields[2][11], fields[2][17]),
        ("/big", "o", "i"),
        "aborted: incomplete"
    );
    assert_aborted_bytes(fields[2][7], &lines[2]);

    // logrotate: move the file away, SIGHUP, and the next line goes to a new file.
    fs::rename(&log, dir.path().join("xferlog.1")).unwrap();
    let pid = rustix::process::Pid::from_raw(server.pid() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    server.wait_for_line(&["reloaded"]);
    let mut c = Client::login(server.addr(), "alice", "secret");
    c.retr(DataMode::Pasv, "my file.bin");
    c.expect("QUIT", 221);
    let after = lines_of(&log, 1);
    assert!(
        after[0].contains(" /my_file.bin b _ o r alice ftp 0 * c"),
        "{after:?}"
    );
    assert_eq!(lines_of(&dir.path().join("xferlog.1"), 3), lines);
}

/// The transfer log as JSON lines: time, client, user, path, direction, bytes, seconds, status.
pub fn transfer_log_json(bin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("transfers.json");
    let server = Server::start(
        bin,
        &[
            "--user",
            "alice:secret",
            "--transfer-log",
            log.to_str().unwrap(),
            "--transfer-log-format",
            "json",
        ],
    );
    let size = transfers_for_the_log(&server);
    let lines = lines_of(&log, 3);
    let expect = [
        ("upload", "/my file.bin", "complete", Some(size)),
        ("download", "/my file.bin", "complete", Some(size)),
        ("download", "/big", "aborted", None),
    ];
    for (line, (direction, path, status, bytes)) in lines.iter().zip(expect) {
        assert!(
            line.starts_with("{\"time\":\"20") && line.ends_with('}'),
            "{line}"
        );
        for part in [
            "\"client\":\"127.0.0.1\"".to_owned(),
            "\"user\":\"alice\"".to_owned(),
            format!("\"path\":\"{path}\""),
            format!("\"direction\":\"{direction}\""),
            format!("\"status\":\"{status}\""),
            "\"seconds\":".to_owned(),
        ] {
            assert!(line.contains(&part), "{part} not in {line}");
        }
        if let Some(bytes) = bytes {
            assert!(line.contains(&format!("\"bytes\":{bytes},")), "{line}");
        }
    }
    let bytes = lines[2]
        .split("\"bytes\":")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no bytes in {}", lines[2]));
    assert_aborted_bytes(bytes, &lines[2]);
}

/// The aborted download of [`transfers_for_the_log`] is logged with the bytes it moved: at
/// least the 4,096 the client read, less than the whole file.
#[track_caller]
fn assert_aborted_bytes(bytes: &str, line: &str) {
    let bytes: usize = bytes
        .parse()
        .unwrap_or_else(|_| panic!("bytes {bytes:?}: {line}"));
    assert!(
        (4096..big_bytes().len()).contains(&bytes),
        "an aborted download logged {bytes} bytes: {line}"
    );
}

/// Every change gets an audit line (target `thinftp::audit`) that names the session and the
/// user; log lines after login carry the user too.
pub fn audit_lines_for_every_change(bin: &Path) {
    let server = Server::start(bin, &["--user", "alice:secret"]);
    let mut c = Client::login(server.addr(), "alice", "secret");
    let login = server.wait_for_line(&["login accepted"]);
    assert!(
        login.contains("session{id=1") && login.contains("user=\"alice\""),
        "{login}"
    );
    c.stor(DataMode::Pasv, "a.txt", b"hello");
    c.expect("MKD d", 257);
    c.expect("RNFR a.txt", 350);
    c.expect("RNTO d/b.txt", 250);
    c.expect("SITE CHMOD 600 d/b.txt", 200);
    c.expect("MFMT 20200102030405 d/b.txt", 213);
    c.expect("DELE d/b.txt", 250);
    c.expect("RMD d", 250);
    c.expect("DELE nothing", 550);
    for (action, path) in [
        ("upload", "/a.txt"),
        ("mkdir", "/d"),
        ("rename", "/a.txt"),
        ("chmod", "/d/b.txt"),
        ("mfmt", "/d/b.txt"),
        ("delete", "/d/b.txt"),
        ("rmdir", "/d"),
        ("delete", "/nothing"),
    ] {
        let line = server.wait_for_line(&["thinftp::audit", &format!("action=\"{action}\"")]);
        assert!(line.contains(&format!("path=\"{path}\"")), "{line}");
        assert!(
            line.contains("user=\"alice\"") && line.contains("session{id=1"),
            "{line}"
        );
        if path == "/nothing" {
            assert!(line.contains("outcome=\"not_found\""), "{line}");
        } else if action != "upload" {
            assert!(line.contains("outcome=\"ok\""), "{line}");
        }
    }
    c.expect("QUIT", 221);
}

/// A download that shutdown cuts short is in the transfer log when the server has exited: the
/// writer's last lines are written before the process ends.
pub fn transfer_log_keeps_what_shutdown_cut(bin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("xferlog");
    let mut server = Server::start(
        bin,
        &[
            "--user",
            "alice:secret",
            "--shutdown-grace",
            "0",
            "--transfer-log",
            log.to_str().unwrap(),
        ],
    );
    fs::write(server.path("big"), big_bytes()).unwrap();
    let mut c = Client::login(server.addr(), "alice", "secret");
    let mut data = c
        .open_transfer(DataMode::Pasv, "RETR big")
        .unwrap_or_else(|r| panic!("RETR big got {r}"));
    let mut first = [0u8; 4096];
    data.read_exact(&mut first).unwrap();
    server.terminate();
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(1), "a transfer was cut: {status}");
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text:?}");
    assert!(
        lines[0].ends_with(" /big b _ o r alice ftp 0 * i"),
        "{text}"
    );
    let bytes = lines[0].split_whitespace().nth(7).unwrap_or_default();
    assert_aborted_bytes(bytes, lines[0]);
    drop(data);
}
