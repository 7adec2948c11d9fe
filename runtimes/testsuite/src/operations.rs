//! Running the server as an operator does: a config file, several listeners and IPv6, systemd
//! socket activation and readiness notification, and SIGHUP reloading the users.
//!
//! These scenarios start the binary themselves (a `Daemon`), since they choose how it listens
//! and keep reading its log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::ftp::{Client, DataMode};
use crate::util::{assert_same_bytes, random_bytes, TIMEOUT};

/// A server process started by a scenario: its log lines are kept for the scenario to wait on;
/// dropping it kills the process.
pub(crate) struct Daemon {
    child: Child,
    lines: Receiver<String>,
    addrs: Vec<SocketAddr>,
}

impl Daemon {
    /// Runs `command` (the binary, or a wrapper that `exec`s it) and waits for the line naming
    /// the addresses it listens on.
    pub(crate) fn start(mut command: Command) -> Daemon {
        crate::util::raise_fd_limit();
        let mut child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the server");
        let (tx, lines) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    eprintln!("server: {line}");
                    let _ = tx.send(line);
                }
            });
        }
        let mut daemon = Daemon {
            child,
            lines,
            addrs: Vec::new(),
        };
        let line = daemon.wait_for_line("listening on ");
        daemon.addrs = parse_addrs(&line).unwrap_or_else(|| panic!("no addresses in {line:?}"));
        daemon
    }

    /// The first address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Waits (at most [`TIMEOUT`]) for a log line holding `needle`, and returns it.
    #[track_caller]
    pub(crate) fn wait_for_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(wait) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("the server logged no line with {needle:?} ({e})"),
            }
        }
    }

    pub(crate) fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, signal).expect("signal the server");
    }

    #[track_caller]
    fn wait_exit(&mut self) -> ExitStatus {
        wait_exit(&mut self.child)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits at most [`TIMEOUT`] for `child` to exit; kills it and fails if it does not.
#[track_caller]
fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the server") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not exit");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The addresses in `... listening on 127.0.0.1:2121, [::1]:2121: serving ...`.
fn parse_addrs(line: &str) -> Option<Vec<SocketAddr>> {
    let rest = line.split("listening on ").nth(1)?;
    let (list, _) = rest.split_once(": ")?;
    list.split(", ").map(|a| a.parse().ok()).collect()
}

/// `bin` serving `root`, with `args`.
pub(crate) fn server_command(bin: &Path, root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(bin);
    command
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null());
    command
}

pub(crate) fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("thinftp-ops.")
        .tempdir()
        .expect("create a temporary directory")
}

/// Whether this machine can listen on `::1` (a container may have no IPv6).
fn has_ipv6_loopback() -> bool {
    TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// The options come from `--config`: the server greets with its banner and lets its user in.
/// A file with an unknown key stops the server at start, with the key and its line.
pub fn config_file_is_read_and_checked(bin: &Path) {
    let dir = temp_dir();
    let config = dir.path().join("thinftp.toml");
    std::fs::write(
        &config,
        "# test\nlisten = [\"127.0.0.1:0\"]\nbanner = \"from the file\"\nuser = [\"cfg:pw\"]\n",
    )
    .unwrap();
    let daemon = Daemon::start(server_command(
        bin,
        dir.path(),
        &["--config", config.to_str().unwrap()],
    ));
    let mut c = Client::connect(daemon.addr());
    let greeting = c.expect_reply(220, "the greeting");
    assert!(greeting.text.contains("from the file"), "{greeting}");
    c.expect("USER cfg", 331);
    c.expect("PASS pw", 230);
    drop(daemon);

    std::fs::write(&config, "banner = \"x\"\nmax-sesions = 3\n").unwrap();
    let mut child = server_command(bin, dir.path(), &["--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let status = wait_exit(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("line 2, key `max-sesions`: unknown key"),
        "{stderr}"
    );
}

/// Several `--listen` addresses in one process: each accepts sessions (IPv6 too, where the
/// machine has `::1`).
pub fn several_listen_addresses(bin: &Path) {
    let dir = temp_dir();
    let mut args = vec![
        "--user",
        "u:p",
        "--listen",
        "127.0.0.1:0",
        "--listen",
        "127.0.0.1:0",
    ];
    let ipv6 = has_ipv6_loopback();
    if ipv6 {
        args.extend(["--listen", "[::1]:0"]);
    } else {
        eprintln!("skipped the IPv6 listener: no ::1 here");
    }
    let daemon = Daemon::start(server_command(bin, dir.path(), &args));
    assert_eq!(
        daemon.addrs.len(),
        if ipv6 { 3 } else { 2 },
        "{:?}",
        daemon.addrs
    );
    std::fs::write(dir.path().join("f"), b"hello").unwrap();
    for addr in &daemon.addrs {
        let mut c = Client::login(*addr, "u", "p");
        assert_eq!(c.retr(DataMode::Epsv, "f"), b"hello", "through {addr}");
        c.expect("QUIT", 221);
    }
}

/// On an IPv6 control connection (`::1`): EPSV and EPRT carry transfers, PASV (which can only
/// name an IPv4 address) is refused with a reply that points to EPSV.
pub fn ipv6_extended_data_connections(bin: &Path) {
    if !has_ipv6_loopback() {
        println!("skipped: no ::1 on this machine");
        return;
    }
    let dir = temp_dir();
    let daemon = Daemon::start(server_command(
        bin,
        dir.path(),
        &["--user", "u:p", "--listen", "[::1]:0"],
    ));
    assert_eq!(daemon.addr().ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
    let bytes = random_bytes(6, 300_000);
    std::fs::write(dir.path().join("six"), &bytes).unwrap();
    let mut c = Client::login(daemon.addr(), "u", "p");
    let refused = c.expect("PASV", 522);
    assert!(refused.text.contains("EPSV"), "{refused}");
    assert_same_bytes(
        &c.retr(DataMode::Epsv, "six"),
        &bytes,
        "RETR over EPSV on ::1",
    );
    assert_same_bytes(
        &c.retr(DataMode::Eprt, "six"),
        &bytes,
        "RETR over EPRT on ::1",
    );
    c.stor(DataMode::Eprt, "up", &bytes);
    assert_same_bytes(
        &std::fs::read(dir.path().join("up")).unwrap(),
        &bytes,
        "STOR over EPRT on ::1",
    );
    // A PORT (IPv4 only) on an IPv6 session is refused too, and the session goes on.
    let port = c.cmd("PORT 127,0,0,1,200,10");
    assert!(port.code >= 500, "PORT on ::1 got {port}");
    c.expect("NOOP", 200);
}

/// Socket activation as systemd does it: the listening socket is descriptor 3, `LISTEN_FDS=1`
/// and `LISTEN_PID` the server's pid. The server serves on it instead of binding `--listen`
/// (here an address it could not bind), and says so.
pub fn socket_activation_uses_the_inherited_listener(bin: &Path) {
    let dir = temp_dir();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the listener to pass");
    let addr = listener.local_addr().unwrap();
    // The listener goes in as standard input; the shell moves it to descriptor 3 and `exec`s
    // the server, so that `$$` is the server's pid.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"exec 3<&0 0</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@""#)
        .arg(bin)
        .arg("--root")
        .arg(dir.path())
        .args(["--user", "u:p", "--listen", "192.0.2.1:21"])
        .stdin(Stdio::from(OwnedFd::from(listener)));
    let daemon = Daemon::start(command);
    assert_eq!(daemon.addrs, [addr]);
    daemon.wait_for_line("sockets systemd passed");
    let mut c = Client::login(addr, "u", "p");
    c.expect("NOOP", 200);
    c.expect("QUIT", 221);
}

/// `sd_notify`: with `NOTIFY_SOCKET` set, the server sends `READY=1` once it accepts
/// connections, and `STOPPING=1` on SIGTERM.
pub fn readiness_is_notified(bin: &Path) {
    let dir = temp_dir();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut command = server_command(bin, dir.path(), &["--listen", "127.0.0.1:0"]);
    command.env("NOTIFY_SOCKET", &path);
    let mut daemon = Daemon::start(command);
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("READY=1 within the timeout");
    assert_eq!(&buf[..n], b"READY=1");
    // Ready means accepting.
    Client::open(daemon.addr());
    daemon.signal(rustix::process::Signal::TERM);
    let n = socket
        .recv(&mut buf)
        .expect("STOPPING=1 within the timeout");
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(daemon.wait_exit().success());
}

/// Under systemd with its output going to the journal (`JOURNAL_STREAM` names standard
/// error), each log line starts with its syslog priority and has no time stamp or colours.
pub fn journal_format_when_stderr_is_the_journal(bin: &Path) {
    use std::os::unix::fs::MetadataExt;
    let dir = temp_dir();
    let log_path = dir.path().join("journal.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let meta = log.metadata().unwrap();
    let mut child = server_command(bin, dir.path(), &["--listen", "127.0.0.1:0"])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the server");
    let deadline = Instant::now() + TIMEOUT;
    let text = loop {
        let text = std::fs::read_to_string(&log_path).unwrap();
        if text.contains("listening on") {
            break text;
        }
        if Instant::now() >= deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no first log line: {text:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let _ = child.kill();
    let _ = child.wait();
    let first = text.lines().find(|l| l.contains("listening on")).unwrap();
    assert!(first.starts_with("<6>"), "{first:?}");
    let rest = first.trim_start_matches("<6>");
    assert!(
        rest.trim_start().starts_with("INFO"),
        "a time stamp? {first:?}"
    );
    assert!(!text.contains('\x1b'), "colour codes in {text:?}");
}

/// A users file for `users` (name, password), with hashes made by the server binary.
fn users_file(bin: &Path, users: &[(&str, &str)]) -> String {
    let mut text = String::new();
    for (name, password) in users {
        let mut child = Command::new(bin)
            .arg("--hash-password")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run --hash-password");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        let mut hash = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut hash)
            .unwrap();
        assert!(wait_exit(&mut child).success());
        text += &format!(
            "[[user]]\nname = \"{name}\"\npassword_hash = \"{}\"\nwrite = true\n\n",
            hash.trim()
        );
    }
    text
}

fn logs_in(addr: SocketAddr, user: &str, password: &str) -> bool {
    let mut c = Client::open(addr);
    c.expect(&format!("USER {user}"), 331);
    let reply = c.cmd(&format!("PASS {password}"));
    reply.code == 230
}

/// SIGHUP reads the config file and the users file again: a user added is let in, a session
/// already logged in goes on; a broken file is reported and the old users stay in force.
pub fn sighup_reloads_users_and_keeps_sessions(bin: &Path) {
    let dir = temp_dir();
    let users: PathBuf = dir.path().join("users.toml");
    let config = dir.path().join("thinftp.toml");
    let config_text = |banner: &str| {
        format!(
            "users-file = \"{}\"\nbanner = \"{banner}\"\n",
            users.display()
        )
    };
    std::fs::write(&users, users_file(bin, &[("alice", "a-pw")])).unwrap();
    std::fs::write(&config, config_text("first")).unwrap();
    let mut daemon = Daemon::start(server_command(
        bin,
        dir.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ],
    ));
    std::fs::write(dir.path().join("f"), b"kept").unwrap();
    let mut alice = Client::login(daemon.addr(), "alice", "a-pw");
    assert!(
        !logs_in(daemon.addr(), "bob", "b-pw"),
        "bob before he was added"
    );

    let both = users_file(bin, &[("alice", "a-pw"), ("bob", "b-pw")]);
    std::fs::write(&users, &both).unwrap();
    std::fs::write(&config, config_text("second")).unwrap();
    daemon.signal(rustix::process::Signal::HUP);
    daemon.wait_for_line("reloaded");
    assert!(
        logs_in(daemon.addr(), "bob", "b-pw"),
        "bob after the reload"
    );
    let mut c = Client::connect(daemon.addr());
    let greeting = c.expect_reply(220, "greeting after the reload");
    assert!(greeting.text.contains("second"), "{greeting}");
    // The session from before the reload goes on.
    assert_eq!(alice.retr(DataMode::Pasv, "f"), b"kept");

    // A broken users file: reported, and the users of the last good one stay.
    std::fs::write(&users, "[[user]\nname = ").unwrap();
    daemon.signal(rustix::process::Signal::HUP);
    let failed = daemon.wait_for_line("reload failed");
    assert!(failed.contains("users.toml"), "{failed}");
    assert!(
        logs_in(daemon.addr(), "bob", "b-pw"),
        "bob after a failed reload"
    );
    // A broken config file too, with the key and its line.
    std::fs::write(&config, "banner = \"x\"\nno-such-option = 1\n").unwrap();
    daemon.signal(rustix::process::Signal::HUP);
    let failed = daemon.wait_for_line("reload failed");
    assert!(failed.contains("line 2, key `no-such-option`"), "{failed}");
    assert!(
        logs_in(daemon.addr(), "alice", "a-pw"),
        "alice after a failed reload"
    );
    alice.expect("NOOP", 200);

    // Session limits change too: with one session per address, alice's is the one; she goes on.
    std::fs::write(&users, &both).unwrap();
    std::fs::write(
        &config,
        format!(
            "users-file = \"{}\"\nmax-sessions-per-ip = 1\n",
            users.display()
        ),
    )
    .unwrap();
    daemon.signal(rustix::process::Signal::HUP);
    daemon.wait_for_line("reloaded");
    Client::connect(daemon.addr()).expect_reply(421, "a second session past the new limit");
    alice.expect("NOOP", 200);

    // SIGHUP is no stop signal; SIGTERM still is.
    daemon.signal(rustix::process::Signal::TERM);
    assert!(daemon.wait_exit().success());
}

#[cfg(test)]
mod tests {
    use super::parse_addrs;

    #[test]
    fn finds_every_address_in_the_first_log_line() {
        let line = "INFO thinftp_host::server: thinftp-std listening on 127.0.0.1:1, [::1]:2: \
                    serving /tmp/x to 1 user(s)";
        assert_eq!(
            parse_addrs(line),
            Some(vec![
                "127.0.0.1:1".parse().unwrap(),
                "[::1]:2".parse().unwrap()
            ])
        );
        assert_eq!(parse_addrs("listening on nothing: x"), None);
    }
}
