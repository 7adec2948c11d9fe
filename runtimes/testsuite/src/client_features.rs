//! The features real clients ask for (issue 8), each with the client that uses it: rclone keeps
//! modification times (`MFMT`), lftp's `mirror -R` keeps times and modes (`SITE UTIME`/`MFMT`,
//! `SITE CHMOD`), and `HASH`, the legacy `X...` digests and `AVBL` over a real socket, checked
//! against `sha256sum` and `md5sum`. Each scenario is skipped (it prints why and passes) when its
//! program is not installed.

use std::fs::{self, File};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::client_defects::run_with_input;
use crate::ftp::Client;
use crate::server::Server;
use crate::util::{assert_same_tree, installed, random_bytes, read_tree, require};

/// `secs` after the epoch.
fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Writes `bytes` to `path` (making its directory) with modification time `mtime` and `mode`.
fn put(path: &Path, bytes: &[u8], mtime: SystemTime, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
    let file = File::options().write(true).open(path).unwrap();
    file.set_modified(mtime).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// rclone's on-the-fly remote for user `u`, password `p`.
fn rclone_remote(server: &Server) -> String {
    let (obscured, _) = run_with_input(Command::new("rclone").args(["obscure", "p"]), "");
    format!(
        ":ftp,host=127.0.0.1,port={},user=u,pass={}:",
        server.addr().port(),
        obscured.trim()
    )
}

/// Runs rclone with `args` (exit 0 required) and returns its log, which must hold no `ERROR`.
#[track_caller]
fn rclone(args: &[&str]) -> String {
    let (out, err) = run_with_input(Command::new("rclone").args(args), "");
    let log = format!("{out}{err}");
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "rclone {args:?} logged errors:\n{log}");
    log
}

/// rclone `copy` keeps modification times (it sets them with `MFMT`, logging no error),
/// `lsjson` shows them, `check` finds the copies equal and `sync` mirrors a change.
pub fn rclone_keeps_modification_times(bin: &Path) {
    if !require("rclone", &["version"]) {
        return;
    }
    let server = Server::start(bin, &["--user", "u:p"]);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    put(&src.join("a.txt"), b"hello\n", at(1_620_284_889), 0o644);
    put(
        &src.join("sub/b.bin"),
        &random_bytes(7, 300_000),
        at(1_546_398_245),
        0o644,
    );
    let remote = format!("{}rc", rclone_remote(&server));
    let src_arg = src.to_str().unwrap();

    rclone(&["copy", "-vv", src_arg, &remote]);
    assert_eq!(mtime(&server.path("rc/a.txt")), at(1_620_284_889));
    assert_eq!(mtime(&server.path("rc/sub/b.bin")), at(1_546_398_245));
    let listing = rclone(&["lsjson", "-R", &remote]);
    for (name, time) in [
        ("\"a.txt\"", "\"ModTime\":\"2021-05-06T07:08:09Z\""),
        ("\"b.bin\"", "\"ModTime\":\"2019-01-02T03:04:05Z\""),
    ] {
        let line = listing
            .lines()
            .find(|l| l.contains(&format!("\"Name\":{name}")))
            .unwrap_or_else(|| panic!("{name} not in lsjson:\n{listing}"));
        assert!(line.contains(time), "{name}: {line}");
    }
    // rclone 1.60's FTP backend has no hashes: `--download` compares the bytes.
    rclone(&["check", "--download", src_arg, &remote]);

    fs::remove_file(src.join("sub/b.bin")).unwrap();
    put(&src.join("new.txt"), b"new\n", at(1_600_000_000), 0o644);
    rclone(&["sync", "-v", src_arg, &remote]);
    assert_same_tree(
        &read_tree(&server.path("rc")),
        &read_tree(&src),
        "rclone sync",
    );
    assert_eq!(mtime(&server.path("rc/new.txt")), at(1_600_000_000));
}

/// `lftp mirror -R -v` exits 0 and the uploaded files keep their times and modes (lftp sends
/// `MFMT` once it is in `FEAT`, and `SITE CHMOD`); a setuid bit is never set.
pub fn lftp_mirror_reverse_keeps_times_and_modes(bin: &Path) {
    if !require("lftp", &["--version"]) {
        return;
    }
    let server = Server::start(bin, &["--user", "u:p"]);
    let work = tempfile::tempdir().unwrap();
    let up = work.path().join("up");
    let files = [
        ("a.txt", 1_620_284_889, 0o600),
        ("run.sh", 1_500_000_000, 0o4755),
        ("sub/b.bin", 1_546_398_245, 0o751),
    ];
    for (i, (name, secs, file_mode)) in files.into_iter().enumerate() {
        put(
            &up.join(name),
            &random_bytes(i as u64, 5000),
            at(secs),
            file_mode,
        );
    }
    let script = format!(
        "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 30; \
         set cmd:fail-exit yes; \
         open -u u,p -p {port} 127.0.0.1; \
         mirror -R -v \"{up}\" uploaded; \
         quit",
        port = server.addr().port(),
        up = up.display(),
    );
    run_with_input(Command::new("lftp").arg("-c").arg(&script), "");
    assert_same_tree(
        &read_tree(&server.path("uploaded")),
        &read_tree(&up),
        "mirror -R",
    );
    for (name, secs, file_mode) in files {
        let there = server.path(&format!("uploaded/{name}"));
        assert_eq!(mtime(&there), at(secs), "{name}: time");
        assert_eq!(mode(&there), file_mode & 0o777, "{name}: mode");
    }
}

/// The hex digest `tool` prints for `path`.
fn digest_of(tool: &str, path: &Path) -> String {
    let (out, _) = run_with_input(Command::new(tool).arg(path), "");
    out.split_whitespace().next().unwrap_or_default().to_owned()
}

/// `HASH` and the legacy digests give what `sha256sum`, `sha1sum` and `md5sum` give; `AVBL`
/// answers a number; `MFMT` and `SITE CHMOD` change the disk, never through a symlink out of
/// the root, and read-only users get `550`.
pub fn hash_and_attributes_over_a_socket(bin: &Path) {
    if !require("sha256sum", &["--version"]) || !require("md5sum", &["--version"]) {
        return;
    }
    let server = Server::start(bin, &["--user", "u:p", "--anonymous"]);
    let data = random_bytes(42, (3 << 20) + 17);
    let file = server.path("data.bin");
    fs::write(&file, &data).unwrap();
    let mut c = Client::login(server.addr(), "u", "p");
    c.expect("TYPE I", 200);

    let sha256 = digest_of("sha256sum", &file);
    let reply = c.expect("HASH data.bin", 213);
    let size = data.len();
    assert_eq!(
        reply.text.trim_end(),
        format!("213 SHA-256 0-{size} {sha256} data.bin")
    );
    assert_eq!(
        c.expect("XSHA256 data.bin", 250).text.trim_end(),
        format!("250 {sha256}")
    );
    let md5 = digest_of("md5sum", &file);
    assert_eq!(
        c.expect("XMD5 data.bin", 250).text.trim_end(),
        format!("250 {md5}")
    );
    c.expect("OPTS HASH MD5", 200);
    let reply = c.expect("HASH data.bin", 213);
    assert_eq!(
        reply.text.trim_end(),
        format!("213 MD5 0-{size} {md5} data.bin")
    );
    if installed("sha1sum", &["--version"]) {
        let sha1 = digest_of("sha1sum", &file);
        assert_eq!(
            c.expect("XSHA1 data.bin", 250).text.trim_end(),
            format!("250 {sha1}")
        );
    }
    c.expect("HASH missing.bin", 550);
    fs::create_dir(server.path("dir")).unwrap();
    c.expect("HASH dir", 550);

    let free = c.expect("AVBL", 213);
    let bytes: u64 = free.text[4..]
        .trim()
        .parse()
        .expect("AVBL answers a number");
    assert!(bytes > 0, "{free}");
    c.expect("AVBL missing", 550);

    c.expect("MFMT 20200102030405 data.bin", 213);
    assert_eq!(mtime(&file), at(1_577_934_245));
    c.expect("SITE UTIME data.bin 20210203040506", 200);
    assert_eq!(mtime(&file), at(1_612_325_106));
    c.expect("SITE CHMOD 4700 data.bin", 200);
    assert_eq!(mode(&file), 0o700);
    c.expect("MFMT 20200102030405 missing.bin", 550);
    c.expect("MFMT 2020 data.bin", 501);

    // A symlink leading out of the root: nothing outside changes.
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    put(&victim, b"keep", at(1_000_000_000), 0o600);
    symlink(&victim, server.path("escape")).unwrap();
    c.expect("MFMT 20200102030405 escape", 550);
    c.expect("SITE CHMOD 777 escape", 550);
    c.expect("HASH escape", 550);
    assert_eq!(mtime(&victim), at(1_000_000_000));
    assert_eq!(mode(&victim), 0o600);

    let mut anon = Client::login(server.addr(), "anonymous", "x");
    anon.expect("MFMT 20200102030405 data.bin", 550);
    anon.expect("SITE UTIME data.bin 20200102030405", 550);
    anon.expect("SITE CHMOD 777 data.bin", 550);
    anon.expect("AVBL", 550);
    anon.expect("HASH data.bin", 213);
    assert_eq!(mtime(&file), at(1_612_325_106));
    assert_eq!(mode(&file), 0o700);
}
