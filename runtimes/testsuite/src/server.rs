//! A server binary under test: started on a port the system picks, killed when dropped.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
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
    root: Root,
    /// The lines logged after the first ([`logged`](Server::logged),
    /// [`wait_for_line`](Server::wait_for_line)).
    log: Mutex<Log>,
}

/// What the server logged after its first line.
#[derive(Debug)]
struct Log {
    rx: Receiver<String>,
    /// Every line taken from `rx` so far.
    lines: Vec<String>,
    /// The first of `lines` that [`Server::wait_for_line`] has not passed over.
    next: usize,
}

/// What the server serves.
#[derive(Debug)]
enum Root {
    /// A temporary directory of its own.
    Own(TempDir),
    /// Storage named by the caller's arguments (shared with other servers), removed by it.
    Given,
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
        let root_arg = root
            .path()
            .to_str()
            .expect("a UTF-8 temporary path")
            .to_owned();
        let mut all = vec!["--root", &root_arg];
        all.extend_from_slice(args);
        Server::launch(bin, Root::Own(root), &all, env)
    }

    /// Starts `bin` on the storage its `args` name (`--root DIR`, shared with other servers:
    /// the caller makes and removes it), like [`start`](Self::start) otherwise.
    /// [`root`](Self::root) is then empty.
    pub fn start_on_storage(bin: &Path, args: &[&str]) -> Server {
        Server::launch(bin, Root::Given, args, &[])
    }

    /// [`start_on_storage`](Self::start_on_storage), with `env` added to the server's
    /// environment (the credentials of an object store).
    pub fn start_on_storage_with_env(bin: &Path, args: &[&str], env: &[(&str, String)]) -> Server {
        Server::launch(bin, Root::Given, args, env)
    }

    fn launch(bin: &Path, root: Root, args: &[&str], env: &[(&str, String)]) -> Server {
        crate::util::raise_fd_limit();
        let log_filter = std::env::var("THINFTP_TEST_LOG").ok();
        let verbose = log_filter.is_some();
        let mut child = Command::new(bin)
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
            log: Mutex::new(Log {
                rx,
                lines: Vec::new(),
                next: 0,
            }),
        };
        // The first line names the address. With a more verbose THINFTP_TEST_LOG, other lines
        // may come first: the first one that names an address counts.
        let deadline = Instant::now() + TIMEOUT;
        let (first, addr) = loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let next = server.lock_log().rx.recv_timeout(wait);
            let line = match next {
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
            {
                let mut log = self.lock_log();
                let log = &mut *log;
                log.lines.extend(log.rx.try_iter());
                while let Some(line) = log.lines.get(log.next) {
                    log.next += 1;
                    if needles.iter().all(|n| line.contains(n)) {
                        return line.clone();
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "the server logged no line with {needles:?}"
            );
            thread::sleep(Duration::from_millis(10));
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

    /// The served directory on the disk (empty for [`start_on_storage`](Self::start_on_storage)).
    pub fn root(&self) -> &Path {
        match &self.root {
            Root::Own(dir) => dir.path(),
            Root::Given => Path::new(""),
        }
    }

    /// `rel` beneath the served directory, on the disk.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// Every line the server logged after the first, so far.
    pub fn logged(&self) -> Vec<String> {
        let mut log = self.lock_log();
        let log = &mut *log;
        log.lines.extend(log.rx.try_iter());
        log.lines.clone()
    }

    /// Waits (at most [`TIMEOUT`]) until the server has logged a line containing `what`.
    #[track_caller]
    pub fn wait_for_log(&self, what: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(line) = self.logged().into_iter().find(|l| l.contains(what)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "the server never logged {what:?}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn lock_log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Kills the server at once (SIGKILL), as a crash would, and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
