//! A server binary under test: started on a port the system picks, killed when dropped.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::util::TIMEOUT;

/// A running server process serving a fresh temporary root. Dropping it kills the process and
/// waits for it, so a failing test never leaves one behind; the root goes with it.
#[derive(Debug)]
pub struct Server {
    child: Child,
    addr: SocketAddr,
    first_line: String,
    root: TempDir,
    /// The lines the server logs after its first one, for [`wait_for_line`](Self::wait_for_line).
    lines: Receiver<String>,
}

impl Server {
    /// Starts `bin` serving a new empty temporary directory, with `args` after `--root` and
    /// `--listen 127.0.0.1:0`, and waits until it logs the address it listens on. Its log level
    /// is `info`, or the `RUST_LOG`-style filter in the `THINFTP_TEST_LOG` environment variable.
    pub fn start(bin: &Path, args: &[&str]) -> Server {
        Server::start_in(bin, &std::env::temp_dir(), args)
    }

    /// [`start`](Self::start), with `env` added to the server's environment (the credentials of
    /// an object store).
    pub fn start_with_env(bin: &Path, args: &[&str], env: &[(&str, String)]) -> Server {
        Server::start_full(bin, &std::env::temp_dir(), args, env)
    }

    /// [`start`](Self::start) with the temporary root made in `parent` (such as `/dev/shm`, for
    /// tests that write gigabytes).
    pub fn start_in(bin: &Path, parent: &Path, args: &[&str]) -> Server {
        Server::start_full(bin, parent, args, &[])
    }

    fn start_full(bin: &Path, parent: &Path, args: &[&str], env: &[(&str, String)]) -> Server {
        let root = tempfile::Builder::new()
            .prefix("thinftp-root.")
            .tempdir_in(parent)
            .expect("create a temporary root");
        crate::util::raise_fd_limit();
        let log_filter = std::env::var("THINFTP_TEST_LOG").ok();
        let verbose = log_filter.is_some();
        let mut child = Command::new(bin)
            .arg("--root")
            .arg(root.path())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            // A known level, so that the line naming the address is there whatever the caller's
            // environment says; THINFTP_TEST_LOG (a RUST_LOG filter) asks for more when debugging.
            .env("RUST_LOG", log_filter.as_deref().unwrap_or("info"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let (tx, rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            forward_lines("stdout", stdout, tx.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            forward_lines("stderr", stderr, tx);
        }
        let mut server = Server {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            first_line: String::new(),
            root,
            lines: rx,
        };
        // The first line names the address. With a more verbose THINFTP_TEST_LOG, other lines
        // may come first: the first one that names an address counts.
        let deadline = Instant::now() + TIMEOUT;
        let (first, addr) = loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = match server.lines.recv_timeout(wait) {
                Ok(line) => line,
                Err(e) => {
                    let status = server.child.try_wait();
                    panic!("the server logged no address ({e}); exit status: {status:?}")
                }
            };
            if let Some(addr) = parse_listen_line(&line) {
                break (line, addr);
            }
            assert!(
                verbose,
                "no address in the server's first log line: {line:?}"
            );
        };
        server.addr = addr;
        server.first_line = first;
        server
    }

    /// The next line the server logs (on standard error or output) that contains every one of
    /// `needles`; the lines before it are passed over. Fails the test after [`TIMEOUT`].
    #[track_caller]
    pub fn wait_for_line(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(wait) {
                Ok(line) if needles.iter().all(|n| line.contains(n)) => return line,
                Ok(_) => {}
                Err(e) => panic!("the server logged no line with {needles:?} ({e})"),
            }
        }
    }

    /// The control connection's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id (to read its memory from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first line the server logged (it names the address and says what is served).
    pub fn first_log_line(&self) -> &str {
        &self.first_line
    }

    /// The served directory on the disk.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `rel` beneath the served directory, on the disk.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// Sends SIGTERM to the server.
    pub fn terminate(&self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .expect("send SIGTERM to the server");
    }

    /// Waits for the server to exit (at most [`TIMEOUT`]) and returns how it ended.
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the server") {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the server's `stream` to its end on a thread, so the server never blocks on a full
/// pipe: each line goes to the test's output (which the harness shows only when the test fails)
/// and to `tx`.
fn forward_lines(name: &'static str, stream: impl Read + Send + 'static, tx: Sender<String>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            eprintln!("server {name}: {line}");
            let _ = tx.send(line);
        }
    });
}

/// The address in a line such as `... thinftp-std listening on 127.0.0.1:40123: serving ...`.
fn parse_listen_line(line: &str) -> Option<SocketAddr> {
    let rest = line.split("listening on ").nth(1)?;
    let addr = rest.split_whitespace().next()?.trim_end_matches([':', ',']);
    addr.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_listen_line;

    #[test]
    fn finds_the_address_in_the_first_log_line() {
        let line = "2026-01-01T00:00:00Z  INFO thinftp_std: thinftp-std listening on \
                    127.0.0.1:40123: serving /tmp/x to 1 user(s)";
        assert_eq!(
            parse_listen_line(line),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        assert_eq!(parse_listen_line("listening on nothing"), None);
        assert_eq!(parse_listen_line("starting"), None);
    }
}
