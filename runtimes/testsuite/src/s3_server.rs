//! A real S3-compatible server for the object-store scenarios: `s3s-fs` (crate `s3s-fs`, built
//! by `cargo install s3s-fs --version 0.14.1 --locked --features binary`; `.ci/run` installs it),
//! started on 127.0.0.1 on a port the system picks, over a fresh temporary directory, and
//! killed when dropped.
//!
//! `s3s-fs` keeps each bucket as a directory and each object as a file beneath it (its key as
//! the path), so a scenario can look at what the store holds without an S3 client.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The program.
pub const PROGRAM: &str = "s3s-fs";

/// The bucket every server starts with.
pub const BUCKET: &str = "thinftp-test";

/// A running `s3s-fs` with one empty bucket, [`BUCKET`]. Dropping it kills the process; its
/// directory goes with it.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    addr: SocketAddr,
    dir: TempDir,
    access_key: String,
    secret_key: String,
}

impl S3Server {
    /// Starts the server, or, when `s3s-fs` is not installed, prints `skipped: s3s-fs not
    /// installed` and returns `None` so that the scenario can pass; in CI (`CI=true`) a missing
    /// server fails the test instead, since a skip there would hide every object-store failure.
    pub fn start() -> Option<S3Server> {
        let Some(program) = find_program() else {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "{PROGRAM} is not installed (.ci/run installs it with cargo install)"
            );
            println!("skipped: {PROGRAM} not installed");
            return None;
        };
        // The port is picked by the system, then given to s3s-fs (which takes a number): another
        // process could take it in between, so a server that does not come up is retried.
        for _ in 0..3 {
            if let Some(server) = Self::try_start(&program) {
                return Some(server);
            }
        }
        panic!("{PROGRAM} did not start");
    }

    fn try_start(program: &Path) -> Option<S3Server> {
        let dir = tempfile::Builder::new()
            .prefix("thinftp-s3.")
            .tempdir()
            .expect("create the store's directory");
        std::fs::create_dir(dir.path().join(BUCKET)).expect("create the bucket's directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("pick a port")
            .port();
        let access_key = format!("thinftp{:08x}", fastrand::u32(..));
        let secret_key = format!("{:032x}", fastrand::u128(..));
        let mut child = Command::new(program)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &access_key, "--secret-key", &secret_key])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
        Some(S3Server {
            child,
            addr,
            dir,
            access_key,
            secret_key,
        })
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`), for `--s3-endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `--storage` URL of the bucket with the key prefix `prefix` (empty: the whole bucket).
    pub fn storage_url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// The environment a client of this server needs: its keys and a region.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]
    }

    /// Where the object `key` of [`BUCKET`] is kept on the disk.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.dir.path().join(BUCKET).join(key)
    }

    /// The bytes of the object `key`, read from the disk; `None` if it does not exist.
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        let path = self.object_path(key);
        path.is_file()
            .then(|| std::fs::read(path).expect("read an object"))
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `s3s-fs` on the `PATH`, or where `cargo install` puts it.
fn find_program() -> Option<PathBuf> {
    let probe = |p: &Path| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let on_path = PathBuf::from(PROGRAM);
    if probe(&on_path) {
        return Some(on_path);
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let installed = home.join("bin").join(PROGRAM);
    probe(&installed).then_some(installed)
}
