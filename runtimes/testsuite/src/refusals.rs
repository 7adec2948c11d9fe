//! Refused transfers, as real clients see them (issue 8, defect 2): an upload the server cannot
//! open gets its `550` *instead of* the `150`, so the client never sends its data and reports a
//! refused upload rather than a broken connection. Each scenario is skipped (it prints why and
//! passes) when its program is not installed.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::server::Server;
use crate::util::{random_bytes, require, run_tool};

/// How long one run of a client program may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// curl's exit code for "upload failed" (the server refused STOR): `CURLE_UPLOAD_FAILED`.
/// A `150` followed by a `550` made it 55 instead (`CURLE_SEND_ERROR`: the data connection
/// broke under the data it was sending).
const CURLE_UPLOAD_FAILED: i32 = 25;

/// Runs `cmd` to its end (killing it after [`TOOL_TIMEOUT`]); its exit code (`None` if it was
/// killed by a signal), standard output and error. Fails the test if it took too long.
#[track_caller]
fn run_status(cmd: &mut Command) -> (Option<i32>, String, String) {
    let run = run_tool(cmd, None, TOOL_TIMEOUT);
    let Some(status) = run.status else {
        let (what, out, err) = (run.what, run.stdout, run.stderr);
        panic!("{what} took over {TOOL_TIMEOUT:?}\nstdout:\n{out}\nstderr:\n{err}");
    };
    (status.code(), run.stdout, run.stderr)
}

/// curl uploading into a directory that does not exist (`--ftp-method nocwd`: it sends
/// `STOR missing/file` as one path) exits 25, "upload failed", not 55 (a broken connection
/// after a `150`); nothing is created.
pub fn curl_upload_to_missing_dir(bin: &Path) {
    if !require("curl", &["--version"]) {
        return;
    }
    let server = Server::start(bin, &["--user", "u:p"]);
    let work = tempfile::tempdir().unwrap();
    // Big enough that a client told to send (a 150) is still sending when the 550 comes.
    let local = work.path().join("local.bin");
    fs::write(&local, random_bytes(25, 4 << 20)).unwrap();
    let started = Instant::now();
    let (code, stdout, stderr) = run_status(
        Command::new("curl")
            .args(["--silent", "--show-error", "--user", "u:p"])
            .args(["--max-time", "30", "--ftp-method", "nocwd", "-T"])
            .arg(&local)
            .arg(format!("ftp://{}/missing/up.bin", server.addr())),
    );
    assert_eq!(
        code,
        Some(CURLE_UPLOAD_FAILED),
        "curl's exit code after {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        started.elapsed()
    );
    assert!(
        !server.path("missing").exists(),
        "nothing is created for a refused upload"
    );
}

/// Python's ftplib `storbinary` into a missing directory raises `error_perm` 550 from the
/// `STOR` itself, before it reads (and sends) a byte of its file; the session goes on.
pub fn python_ftplib_stor_to_missing_dir(bin: &Path) {
    if !require("python3", &["-c", "import ftplib"]) {
        return;
    }
    let server = Server::start(bin, &["--user", "u:p"]);
    let (code, stdout, stderr) = run_status(
        Command::new("python3")
            .arg("-c")
            .arg(PYTHON_STOR_MISSING)
            .arg(server.addr().port().to_string()),
    );
    assert_eq!(
        (code, stdout.trim_end().lines().last()),
        (Some(0), Some("refused before any data")),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let names: Vec<_> = fs::read_dir(server.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["after.bin"], "only the upload after the refusal");
}

/// Counts what `storbinary` reads of its file: a refusal before the `150` means nothing.
const PYTHON_STOR_MISSING: &str = r#"
import ftplib, io, sys

class Counting(io.BytesIO):
    reads = 0
    def read(self, *args):
        Counting.reads += 1
        return super().read(*args)

ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=30)
ftp.login("u", "p")
try:
    ftp.storbinary("STOR missing/up.bin", Counting(b"x" * (1 << 20)))
    raise AssertionError("the upload was accepted")
except ftplib.error_perm as e:
    assert str(e).startswith("550"), e
    print("refused:", e)
assert Counting.reads == 0, f"storbinary read its file {Counting.reads} times: it was told to send"
# The session goes on.
ftp.storbinary("STOR after.bin", io.BytesIO(b"after"))
ftp.quit()
print("refused before any data")
"#;
