//! Users with a storage of their own (`storage = "..."` in the users file): one on a local
//! directory, one on a bucket of a real S3-compatible server (`s3s-fs`), one on the server's
//! own root; each sees only its own files, a reload moves a user, and a bad URL names its user
//! and line.

use std::fs;
use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

use crate::containment::hash_password;
use crate::s3_server::S3Server;
use crate::util::{run_tool, TIMEOUT};
use crate::{Client, DataMode, Server};

/// A users file in a temporary directory of its own.
struct UsersFile {
    dir: TempDir,
}

impl UsersFile {
    fn new() -> UsersFile {
        let dir = tempfile::Builder::new()
            .prefix("thinftp-users.")
            .tempdir()
            .unwrap();
        UsersFile { dir }
    }

    fn path(&self) -> String {
        self.dir
            .path()
            .join("users.toml")
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Writes `users`: (name, hash of its password `pw`, extra lines).
    fn write(&self, hash: &str, users: &[(&str, String)]) {
        let mut text = String::new();
        for (name, extra) in users {
            text.push_str(&format!(
                "[[user]]\nname = \"{name}\"\npassword_hash = \"{hash}\"\nwrite = true\n{extra}\n"
            ));
        }
        fs::write(self.path(), text).unwrap();
    }
}

/// The names in a local directory, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// `disk` on a local directory, `bucket` on a key prefix of a bucket, `plain` on the server's
/// root: each uploads a file and sees only its own; the files are where the users file says;
/// FEAT offers no MFMT (one storage cannot set times); SIGHUP moves `bucket` to another prefix
/// for its next login (a session logged in keeps its storage), and a reload with a bad URL is
/// refused, naming the user and the line.
pub fn users_on_storages_of_their_own(bin: &Path) {
    let Some(s3) = S3Server::start() else { return };
    let disk = tempfile::Builder::new()
        .prefix("thinftp-disk.")
        .tempdir()
        .unwrap();
    let hash = hash_password(bin, "pw");
    let users = UsersFile::new();
    let disk_line = format!("storage = \"{}\"", disk.path().display());
    let bucket_line = |prefix: &str| format!("storage = \"{}\"", s3.storage_url(prefix));
    users.write(
        &hash,
        &[
            ("disk", disk_line.clone()),
            ("bucket", bucket_line("users/bucket")),
            ("plain", String::new()),
        ],
    );
    let endpoint = s3.endpoint();
    let path = users.path();
    let server = Server::start_with_env(
        bin,
        &["--users-file", &path, "--s3-endpoint", &endpoint],
        &s3.env(),
    );
    assert!(
        server
            .first_log_line()
            .contains("2 on a storage of their own"),
        "{}",
        server.first_log_line()
    );
    let mut sessions = Vec::new();
    for name in ["disk", "bucket", "plain"] {
        let mut c = Client::login(server.addr(), name, "pw");
        c.stor(DataMode::Pasv, &format!("{name}.txt"), name.as_bytes());
        sessions.push(c);
    }
    for (c, name) in sessions.iter_mut().zip(["disk", "bucket", "plain"]) {
        assert_eq!(
            c.nlst(""),
            [format!("{name}.txt")],
            "{name} sees only its own"
        );
        assert_eq!(
            c.retr(DataMode::Epsv, &format!("{name}.txt")),
            name.as_bytes()
        );
        let feat = c.expect("FEAT", 211);
        assert!(!feat.text.contains("MFMT"), "{feat}");
    }
    assert_eq!(names_in(disk.path()), ["disk.txt"]);
    assert_eq!(
        s3.object("users/bucket/bucket.txt").as_deref(),
        Some(&b"bucket"[..])
    );
    assert_eq!(names_in(server.root()), ["plain.txt"]);
    // The bucket holds nothing of the others.
    assert!(s3.object("users/bucket/disk.txt").is_none());
    assert!(s3.object("plain.txt").is_none());

    // SIGHUP: `bucket` moves to another prefix; its session from before keeps the old one.
    users.write(
        &hash,
        &[
            ("disk", disk_line.clone()),
            ("bucket", bucket_line("users/moved")),
            ("plain", String::new()),
        ],
    );
    hangup(&server);
    server.wait_for_line(&["reloaded"]);
    let mut moved = Client::login(server.addr(), "bucket", "pw");
    assert_eq!(
        moved.nlst(""),
        Vec::<String>::new(),
        "the new prefix is empty"
    );
    moved.stor(DataMode::Pasv, "there.txt", b"moved");
    assert_eq!(
        s3.object("users/moved/there.txt").as_deref(),
        Some(&b"moved"[..])
    );
    assert_eq!(sessions[1].nlst(""), ["bucket.txt"], "the old session");

    // A bad URL: the reload is refused, naming the user and its line; the users stay.
    users.write(
        &hash,
        &[
            ("disk", "storage = \"relative/dir\"".to_owned()),
            ("bucket", bucket_line("users/moved")),
        ],
    );
    hangup(&server);
    let failed = server.wait_for_line(&["reload failed"]);
    assert!(
        failed.contains("line 5") && failed.contains("\"disk\"") && failed.contains("relative/dir"),
        "{failed}"
    );
    let mut c = Client::login(server.addr(), "disk", "pw");
    assert_eq!(c.nlst(""), ["disk.txt"]);
}

/// A users file whose `storage` is not a URL stops the server at start, naming the file, the
/// user and the line; so does a directory that cannot be opened, naming the user.
pub fn a_bad_storage_url_stops_the_start(bin: &Path) {
    let hash = hash_password(bin, "pw");
    let users = UsersFile::new();
    let missing = users.dir.path().join("no-such-dir");
    for (extra, expected) in [
        ("storage = \"s4://bucket\"".to_owned(), "line 10"),
        (
            format!("storage = \"{}\"", missing.display()),
            "no-such-dir",
        ),
    ] {
        users.write(&hash, &[("ok", String::new()), ("bad", extra)]);
        let run = run_tool(
            Command::new(bin).args(["--listen", "127.0.0.1:0", "--users-file", &users.path()]),
            None,
            TIMEOUT,
        );
        let status = run.status.expect("the server exits by itself");
        assert!(!status.success(), "started: {}", run.stderr);
        let out = format!("{}{}", run.stdout, run.stderr);
        assert!(
            out.contains("\"bad\"") && out.contains(expected),
            "{expected}: {out}"
        );
    }
}

/// SIGHUP to `server`: reload.
fn hangup(server: &Server) {
    let pid = rustix::process::Pid::from_raw(server.pid() as i32).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).expect("send SIGHUP");
}
