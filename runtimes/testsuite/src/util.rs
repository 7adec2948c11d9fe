//! Helpers shared by the scenarios: deadlines, test data, sockets, directory trees.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Condvar, Mutex, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait may take before the test fails. Generous: debug builds on a loaded
/// machine are slow, and a correct server answers long before.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Name prefix of the server's temporary upload files (thinftp-host's `TEMP_PREFIX`).
pub const TEMP_PREFIX: &str = ".thinftp-part.";

/// `len` random bytes from `seed`: random so that a shifted, repeated or truncated copy shows.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    fastrand::Rng::with_seed(seed).fill(&mut bytes);
    bytes
}

/// 64 MiB of random bytes, made once per test process (making them is the slow part).
pub fn big_bytes() -> &'static [u8] {
    static BIG: OnceLock<Vec<u8>> = OnceLock::new();
    BIG.get_or_init(|| random_bytes(0x6464, 64 << 20))
}

/// Compares two byte strings and, when they differ, says where instead of printing megabytes.
#[track_caller]
pub fn assert_same_bytes(actual: &[u8], expected: &[u8], what: &str) {
    if actual == expected {
        return;
    }
    let first_diff = actual
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(actual.len().min(expected.len()));
    panic!(
        "{what}: {} bytes, expected {}; first difference at byte {first_diff}",
        actual.len(),
        expected.len()
    );
}

/// Raises this process's soft limit on open files (inherited by the servers it starts): the
/// session-limit scenario holds more than a thousand connections at both ends.
pub fn raise_fd_limit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        const WANTED: u64 = 8192;
        let limit = getrlimit(Resource::Nofile);
        if limit.current.is_some_and(|soft| soft >= WANTED) {
            return;
        }
        let hard = limit.maximum.map_or(WANTED, |hard| hard.max(WANTED));
        let raised = Rlimit {
            current: Some(WANTED),
            maximum: Some(hard),
        };
        if setrlimit(Resource::Nofile, raised).is_err() {
            // Not allowed to raise the hard limit: go as far as it allows.
            let capped = Rlimit {
                current: limit.maximum.map(|hard| hard.min(WANTED)),
                maximum: limit.maximum,
            };
            let _ = setrlimit(Resource::Nofile, capped);
        }
    });
}

/// The soft limit on open files.
pub fn fd_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

/// Accepts one connection, failing the test if none comes within [`TIMEOUT`].
pub fn accept(listener: &TcpListener) -> TcpStream {
    listener
        .set_nonblocking(true)
        .expect("make the listener non-blocking");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream
                    .set_nonblocking(false)
                    .expect("make the stream blocking");
                set_timeouts(&stream);
                return stream;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "the server did not connect to {:?}",
                    listener.local_addr()
                );
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Connects to `addr`, failing the test if that fails.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    set_timeouts(&stream);
    stream
}

/// Connects to `addr` from the local address `from` (such as 127.0.0.2).
pub fn connect_from(from: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(from, 0).into())?;
    socket.connect_timeout(&addr.into(), TIMEOUT)?;
    let stream = TcpStream::from(socket);
    set_timeouts(&stream);
    Ok(stream)
}

/// Closes `stream` with a reset (`SO_LINGER` 0) instead of a clean end: what a crashed client or
/// a broken network looks like to the server.
pub fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .expect("set SO_LINGER to 0");
    drop(stream);
}

/// Read and write timeouts of [`TIMEOUT`], so that a silent server fails the test, not hangs it.
pub fn set_timeouts(stream: &TcpStream) {
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("set a read timeout");
    stream
        .set_write_timeout(Some(TIMEOUT))
        .expect("set a write timeout");
}

/// Checks that the peer closes `conn` without sending anything.
#[track_caller]
pub fn assert_closed(conn: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 256];
    match conn.read(&mut buf) {
        Ok(0) => {}
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
            ) => {}
        Ok(n) => panic!(
            "{what}: expected the connection closed, got {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => panic!("{what}: expected the connection closed, got {e}"),
    }
}

/// Names of the server's temporary upload files in `dir` (on the disk).
pub fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("read the directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(TEMP_PREFIX))
        .collect()
}

/// Waits until `cond` holds, polling the disk, for at most [`TIMEOUT`]. Only for what no
/// connection can tell (a file appearing on the disk while a transfer runs).
#[track_caller]
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// What a directory tree holds: relative path → `None` for a directory, `Some(bytes)` for a file.
pub type Tree = BTreeMap<String, Option<Vec<u8>>>;

/// Reads the tree beneath `dir` (symlinks are not followed; there are none in test trees).
pub fn read_tree(dir: &Path) -> Tree {
    fn walk(base: &Path, dir: &Path, tree: &mut Tree) {
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.expect("read a directory entry");
            let path = entry.path();
            let rel = path
                .strip_prefix(base)
                .expect("beneath the base")
                .to_string_lossy()
                .into_owned();
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                tree.insert(rel, None);
                walk(base, &path, tree);
            } else {
                tree.insert(rel, Some(fs::read(&path).expect("read a file")));
            }
        }
    }
    let mut tree = Tree::new();
    walk(dir, dir, &mut tree);
    tree
}

/// Writes a tree of `files` files of random sizes (some empty) in nested directories beneath
/// `dir`, and returns it.
pub fn make_tree(dir: &Path, files: usize, seed: u64) -> Tree {
    let mut rng = fastrand::Rng::with_seed(seed);
    for i in 0..files {
        // Up to three levels: d0/ .. d3/, then s0/ .. s4/, then a few files at each level.
        let rel = match i % 4 {
            0 => format!("top-{i}.bin"),
            1 => format!("d{}/f-{i}.bin", i % 3),
            _ => format!("d{}/s{}/deep {i}.dat", i % 3, i % 5),
        };
        let len = match i % 10 {
            0 => 0,
            1 => 1,
            _ => rng.usize(..48 * 1024),
        };
        let path = dir.join(&rel);
        fs::create_dir_all(path.parent().expect("a parent")).expect("create directories");
        fs::write(&path, random_bytes(seed ^ i as u64, len)).expect("write a file");
    }
    read_tree(dir)
}

/// Compares two trees, naming the first difference.
#[track_caller]
pub fn assert_same_tree(actual: &Tree, expected: &Tree, what: &str) {
    let actual_names: Vec<_> = actual.keys().collect();
    let expected_names: Vec<_> = expected.keys().collect();
    assert_eq!(actual_names, expected_names, "{what}: the paths differ");
    for (name, content) in expected {
        match (actual.get(name), content) {
            (Some(Some(a)), Some(e)) => assert_same_bytes(a, e, &format!("{what}: {name}")),
            (Some(None), None) => {}
            _ => panic!("{what}: {name} is a file on one side and a directory on the other"),
        }
    }
}

/// Lets a group of threads wait for each other, with a deadline: unlike
/// [`std::sync::Barrier`], a thread that fails before arriving makes the others fail instead of
/// waiting forever.
#[derive(Debug)]
pub struct Gate {
    expected: usize,
    arrived: Mutex<usize>,
    all_in: Condvar,
}

impl Gate {
    /// A gate for `expected` threads.
    pub fn new(expected: usize) -> Gate {
        Gate {
            expected,
            arrived: Mutex::new(0),
            all_in: Condvar::new(),
        }
    }

    /// Arrives, then waits for the others (at most [`TIMEOUT`]).
    pub fn arrive_and_wait(&self) {
        let mut arrived = self.arrived.lock().unwrap_or_else(|e| e.into_inner());
        *arrived += 1;
        self.all_in.notify_all();
        let (arrived, timeout) = self
            .all_in
            .wait_timeout_while(arrived, TIMEOUT, |n| *n < self.expected)
            .unwrap_or_else(|e| e.into_inner());
        assert!(
            !timeout.timed_out(),
            "only {} of {} threads arrived",
            *arrived,
            self.expected
        );
    }
}

/// Whether `program` is there (see [`installed`]); prints the skip notice when it is not, so
/// that a real-client scenario can return early and pass.
pub fn require(program: &str, probe: &[&str]) -> bool {
    let found = installed(program, probe);
    if !found {
        println!("skipped: {program} not installed");
    }
    found
}

/// Whether `program` is installed and works: `program args...` runs and succeeds.
pub fn installed(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// How a client program run by [`run_tool`] ended, and what it printed.
#[derive(Debug)]
pub struct ToolRun {
    /// The command, for messages.
    pub what: String,
    /// Its exit status; `None` if it was killed at the time limit.
    pub status: Option<std::process::ExitStatus>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl ToolRun {
    /// Standard output and error of a program that succeeded; fails the test, with both
    /// outputs, if it failed or was killed.
    #[track_caller]
    pub fn success(self) -> (String, String) {
        let ToolRun {
            what,
            status,
            stdout,
            stderr,
        } = self;
        match status {
            Some(status) if status.success() => (stdout, stderr),
            Some(status) => {
                panic!("{what} failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}")
            }
            None => panic!("{what} took too long\nstdout:\n{stdout}\nstderr:\n{stderr}"),
        }
    }
}

/// Runs `cmd` to its end with `input` on its standard input (none: nothing), killing it after
/// `limit`; its outputs are read on threads, so a chatty program cannot block. Fails the test
/// only if the program cannot be started.
#[track_caller]
pub fn run_tool(cmd: &mut std::process::Command, input: Option<&str>, limit: Duration) -> ToolRun {
    use std::io::Write;
    use std::process::Stdio;
    let what = format!("{cmd:?}");
    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut child = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    if let (Some(mut stdin), Some(input)) = (child.stdin.take(), input) {
        let input = input.to_owned();
        // A writer thread, so that a client that stops reading cannot block the test.
        thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
    }
    let read = |stream: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut stream) = stream {
                let _ = stream.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = read(child.stdout.take().map(|s| Box::new(s) as _));
    let stderr = read(child.stderr.take().map(|s| Box::new(s) as _));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    ToolRun {
        what,
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}
