//! What a logged-in user cannot reach or learn: another user's home (also through a symlink in
//! their own), host paths in symlink targets; and what uploads must not leave behind: setuid
//! bits, modes beyond `--umask`. Also names that are not UTF-8, which must be reachable.

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::ftp::{Client, DataMode, Reply};
use crate::server::Server;
use crate::util::{temp_files, wait_until};

/// A users file for `bin` in a temporary directory of its own (outside the served root).
struct UsersFile {
    dir: tempfile::TempDir,
}

impl UsersFile {
    /// `users`: (name, password, home); every user may write.
    fn new(bin: &Path, users: &[(&str, &str, &str)]) -> UsersFile {
        let dir = tempfile::Builder::new()
            .prefix("thinftp-users.")
            .tempdir()
            .unwrap();
        let mut text = String::new();
        for (name, password, home) in users {
            let hash = hash_password(bin, password);
            text.push_str(&format!(
                "[[user]]\nname = \"{name}\"\npassword_hash = \"{hash}\"\nhome = \"{home}\"\nwrite = true\n\n"
            ));
        }
        fs::write(dir.path().join("users.toml"), text).unwrap();
        UsersFile { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("users.toml")
    }
}

/// The argon2 hash `bin --hash-password` prints for `password`.
pub(crate) fn hash_password(bin: &Path, password: &str) -> String {
    let mut child = Command::new(bin)
        .arg("--hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{password}").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "--hash-password failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A download that should be refused: its final reply and whatever bytes came.
fn try_download(c: &mut Client, line: &str) -> (Reply, Vec<u8>) {
    match c.open_transfer(DataMode::Pasv, line) {
        Err(reply) => (reply, Vec::new()),
        Ok(mut data) => {
            let mut bytes = Vec::new();
            let _ = data.read_to_end(&mut bytes);
            (c.reply(), bytes)
        }
    }
}

/// An upload that should be refused (before or after a `150`): the final reply.
fn try_upload(c: &mut Client, line: &str) -> Reply {
    match c.open_transfer(DataMode::Pasv, line) {
        Err(reply) => reply,
        Ok(mut data) => {
            let _ = data.write_all(b"must not arrive");
            drop(data);
            c.reply()
        }
    }
}

#[track_caller]
fn assert_refused(reply: &Reply, what: &str) {
    assert!(reply.code >= 400, "{what} was allowed: {reply}");
}

/// alice (home `/alice`) plants `alice/peek -> ../bob`: she can neither read, write, list,
/// enter nor rename through it, nor move her own file into bob's home; bob's files are
/// untouched. The link shows in her listing without its target. Her own files, and bob's for
/// bob, still work.
pub fn homes_are_a_boundary(bin: &Path) {
    let users = UsersFile::new(bin, &[("alice", "apw", "/alice"), ("bob", "bpw", "/bob")]);
    let users_path = users.path();
    let server = Server::start(bin, &["--users-file", users_path.to_str().unwrap()]);
    fs::create_dir(server.path("alice")).unwrap();
    fs::create_dir(server.path("bob")).unwrap();
    fs::create_dir(server.path("bob/docs")).unwrap();
    fs::write(server.path("alice/own.txt"), b"alice's").unwrap();
    fs::write(server.path("bob/secret.txt"), b"bob's secret").unwrap();
    fs::write(server.path("bob/docs/plan.txt"), b"bob's plan").unwrap();
    symlink("../bob", server.path("alice/peek")).unwrap();
    symlink("../bob/secret.txt", server.path("alice/peek-file")).unwrap();
    assert_eq!(
        fs::read(server.path("alice/peek/secret.txt")).unwrap(),
        b"bob's secret",
        "the test's own setup"
    );

    let mut alice = Client::login(server.addr(), "alice", "apw");
    for path in ["peek/secret.txt", "peek-file", "peek/docs/plan.txt"] {
        let (reply, bytes) = try_download(&mut alice, &format!("RETR {path}"));
        assert_refused(&reply, &format!("RETR {path}"));
        assert!(bytes.is_empty(), "RETR {path} sent {bytes:?}");
        assert_refused(&alice.cmd(&format!("SIZE {path}")), &format!("SIZE {path}"));
        assert_refused(&alice.cmd(&format!("MLST {path}")), &format!("MLST {path}"));
    }
    for line in ["LIST peek", "NLST peek", "MLSD peek", "LIST peek/docs"] {
        let (reply, bytes) = try_download(&mut alice, line);
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("secret"), "{line} showed {text:?}");
        assert_refused(&reply, line);
    }
    let stat = alice.cmd("STAT peek");
    assert!(!stat.text.contains("secret"), "STAT peek: {stat}");
    assert_refused(&alice.cmd("CWD peek"), "CWD peek");
    for line in [
        "STOR peek/planted.txt",
        "STOR peek/secret.txt",
        "APPE peek/secret.txt",
        "APPE peek-file",
    ] {
        assert_refused(&try_upload(&mut alice, line), line);
    }
    assert_refused(&alice.cmd("MKD peek/newdir"), "MKD peek/newdir");
    assert_refused(&alice.cmd("DELE peek/secret.txt"), "DELE peek/secret.txt");
    assert_refused(&alice.cmd("RMD peek/docs"), "RMD peek/docs");
    assert_refused(&alice.cmd("RNFR peek/secret.txt"), "RNFR peek/secret.txt");
    // Her own file cannot be moved into bob's home either.
    alice.expect("RNFR own.txt", 350);
    assert_refused(&alice.cmd("RNTO peek/stolen.txt"), "RNTO peek/stolen.txt");

    // The link is listed, but not where it leads.
    let listing = alice.listing("LIST");
    assert!(listing.contains("peek"), "LIST: {listing:?}");
    assert!(
        !listing.contains("../bob"),
        "LIST shows the target: {listing:?}"
    );
    // Her own things still work.
    assert_eq!(alice.retr(DataMode::Pasv, "own.txt"), b"alice's");
    alice.stor(DataMode::Pasv, "new.txt", b"new");
    // A STOR onto the link replaces the link itself (the rename acts on the name in her home,
    // never following it): bob's file is not written.
    alice.stor(DataMode::Pasv, "peek-file", b"mine");
    let replaced = fs::symlink_metadata(server.path("alice/peek-file")).unwrap();
    assert!(replaced.is_file(), "STOR onto a symlink left {replaced:?}");
    alice.expect("QUIT", 221);

    assert_eq!(
        fs::read(server.path("bob/secret.txt")).unwrap(),
        b"bob's secret"
    );
    assert_eq!(
        fs::read(server.path("bob/docs/plan.txt")).unwrap(),
        b"bob's plan"
    );
    let mut bob_names: Vec<String> = fs::read_dir(server.path("bob"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    bob_names.sort();
    assert_eq!(bob_names, ["docs", "secret.txt"], "bob's home changed");
    assert_eq!(fs::read(server.path("alice/own.txt")).unwrap(), b"alice's");
    assert_eq!(fs::read(server.path("alice/new.txt")).unwrap(), b"new");

    let mut bob = Client::login(server.addr(), "bob", "bpw");
    assert_eq!(bob.retr(DataMode::Pasv, "secret.txt"), b"bob's secret");
    bob.expect("QUIT", 221);
}

/// LIST and STAT show a symlink's target only when it stays beneath the user's home.
pub fn symlink_targets_outside_the_home_are_hidden(bin: &Path) {
    let users = UsersFile::new(bin, &[("alice", "apw", "/alice")]);
    let users_path = users.path();
    let server = Server::start(bin, &["--users-file", users_path.to_str().unwrap()]);
    fs::create_dir_all(server.path("alice/sub")).unwrap();
    fs::write(server.path("alice/own.txt"), b"x").unwrap();
    symlink("/etc/passwd", server.path("alice/abs")).unwrap();
    symlink("../other", server.path("alice/up")).unwrap();
    symlink("own.txt", server.path("alice/inside")).unwrap();
    symlink("../own.txt", server.path("alice/sub/back")).unwrap();
    symlink("../../x", server.path("alice/sub/upup")).unwrap();

    let mut alice = Client::login(server.addr(), "alice", "apw");
    let listing = alice.listing("LIST");
    for hidden in ["/etc/passwd", "../other"] {
        assert!(
            !listing.contains(hidden),
            "LIST shows {hidden}: {listing:?}"
        );
    }
    for name in ["abs", "up"] {
        assert!(
            listing.contains(name),
            "LIST leaves out {name}: {listing:?}"
        );
    }
    assert!(listing.contains("inside -> own.txt"), "LIST: {listing:?}");
    let stat = alice.expect("STAT .", 213);
    assert!(!stat.text.contains("/etc/passwd"), "STAT: {stat}");
    assert!(stat.text.contains("inside -> own.txt"), "STAT: {stat}");
    let sub = alice.listing("LIST sub");
    assert!(sub.contains("back -> ../own.txt"), "LIST sub: {sub:?}");
    assert!(!sub.contains("../../x"), "LIST sub: {sub:?}");
    assert!(sub.contains("upup"), "LIST sub: {sub:?}");
    alice.expect("QUIT", 221);
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A STOR over a setuid file leaves no setuid, setgid or sticky bit; APPE takes them away too;
/// what the server creates gets `--umask`.
pub fn uploads_set_no_special_bits_and_follow_umask(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p", "--umask", "002"]);
    fs::write(server.path("tool"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(server.path("tool"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(server.path("shared"), b"a").unwrap();
    fs::set_permissions(server.path("shared"), fs::Permissions::from_mode(0o2775)).unwrap();
    assert_eq!(
        mode_of(&server.path("tool")),
        0o4755,
        "the test's own setup"
    );

    let mut c = Client::login(server.addr(), "u", "p");
    c.stor(DataMode::Pasv, "tool", b"client content");
    assert_eq!(fs::read(server.path("tool")).unwrap(), b"client content");
    assert_eq!(
        mode_of(&server.path("tool")),
        0o755,
        "STOR over a 4755 file"
    );
    c.upload(DataMode::Pasv, "APPE shared", b"b");
    assert_eq!(
        mode_of(&server.path("shared")),
        0o775,
        "APPE to a 2775 file"
    );

    c.stor(DataMode::Pasv, "new.txt", b"new");
    assert_eq!(
        mode_of(&server.path("new.txt")),
        0o664,
        "a new file, umask 002"
    );
    c.expect("MKD newdir", 257);
    assert_eq!(
        mode_of(&server.path("newdir")),
        0o775,
        "a new directory, umask 002"
    );
    c.expect("QUIT", 221);

    // The default umask is 022.
    let server = Server::start(bin, &["--user", "u:p"]);
    let mut c = Client::login(server.addr(), "u", "p");
    c.stor(DataMode::Pasv, "new.txt", b"new");
    assert_eq!(
        mode_of(&server.path("new.txt")),
        0o644,
        "a new file, default umask"
    );
    c.expect("MKD newdir", 257);
    assert_eq!(
        mode_of(&server.path("newdir")),
        0o755,
        "a new directory, default umask"
    );
    c.expect("QUIT", 221);
}

/// A file whose name is not UTF-8 is listed (bytes that are not UTF-8 shown as U+F780..U+F7FF),
/// and that name, sent back, fetches, renames and deletes it.
pub fn names_that_are_not_utf8_are_reachable(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    let raw = OsStr::from_bytes(b"caf\xe9.txt");
    fs::write(server.root().join(raw), b"latin-1 name").unwrap();
    let shown = "caf\u{f7e9}.txt";

    let mut c = Client::login(server.addr(), "u", "p");
    assert_eq!(c.nlst(""), [shown]);
    let list = c.listing("LIST");
    assert!(list.contains(shown), "LIST: {list:?}");
    let mlsd = c.listing("MLSD");
    assert!(mlsd.contains(shown), "MLSD: {mlsd:?}");
    assert_eq!(c.retr(DataMode::Pasv, shown), b"latin-1 name");
    c.expect(&format!("SIZE {shown}"), 213);
    let renamed = "r\u{f7ff}.txt";
    c.expect(&format!("RNFR {shown}"), 350);
    c.expect(&format!("RNTO {renamed}"), 250);
    assert!(server.root().join(OsStr::from_bytes(b"r\xff.txt")).exists());
    c.expect(&format!("DELE {renamed}"), 250);
    assert_eq!(c.nlst(""), Vec::<String>::new());
    c.expect("QUIT", 221);
}

/// SIGTERM with a short grace while a STOR over an existing file runs: the server exits
/// (status 1) with the upload cut short, the client reads `426` and `421` for it, and neither
/// its temporary file (which no client could see or remove) nor a change to the old file is
/// left behind.
pub fn shutdown_cut_upload_leaves_no_temp_file(bin: &Path) {
    let mut server = Server::start(bin, &["--user", "u:p", "--shutdown-grace", "1"]);
    fs::write(server.path("keep.bin"), b"old contents").unwrap();
    let mut c = Client::login(server.addr(), "u", "p");
    let mut data = c
        .open_transfer(DataMode::Pasv, "STOR keep.bin")
        .unwrap_or_else(|r| panic!("STOR got {r}"));
    data.write_all(b"new contents, never finished").unwrap();
    wait_until("the upload's temporary file", || {
        !temp_files(server.root()).is_empty()
    });
    server.terminate();
    c.expect_reply(426, "an upload cut short by shutdown");
    c.expect_reply(421, "a session closed by shutdown");
    c.expect_closed();
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(1), "exit status after a cut: {status}");
    assert_eq!(
        temp_files(server.root()),
        Vec::<String>::new(),
        "temporary files left"
    );
    assert_eq!(fs::read(server.path("keep.bin")).unwrap(), b"old contents");
    drop(data);
}

/// A passive port range `count` ports long at a random place between 20000 and 60000, as
/// `--passive-ports` takes it, and its first port.
fn random_port_range(count: u16) -> (String, u16) {
    let first = fastrand::u16(20000..60000 - count);
    (format!("{first}-{}", first + count - 1), first)
}

/// PASV ports are picked at random within the range: six PASV in a row in one session do not
/// get consecutive ports (as a shared counter gave them, which let another session from the
/// same address predict and take the next one).
pub fn passive_ports_are_random(bin: &Path) {
    let (range, first) = random_port_range(1000);
    let server = Server::start(bin, &["--user", "u:p", "--passive-ports", &range]);
    let mut c = Client::login(server.addr(), "u", "p");
    let ports: Vec<u16> = (0..6).map(|_| c.pasv().port()).collect();
    for port in &ports {
        assert!(
            (first..first + 1000).contains(port),
            "{port} outside {range}"
        );
    }
    let consecutive = ports
        .windows(2)
        .all(|w| (u32::from(w[1]) + 1000 - u32::from(w[0])) % 1000 == 1);
    assert!(!consecutive, "sequential passive ports: {ports:?}");
    c.expect("QUIT", 221);
}

/// One client address holds at most `--max-passive-per-ip` listeners at once: beyond it PASV
/// fails, and a listener that closes (its session ended, or a transfer took it) frees its place.
pub fn passive_listeners_per_address_are_capped(bin: &Path) {
    let (range, _) = random_port_range(100);
    let args = [
        "--user",
        "u:p",
        "--passive-ports",
        &range,
        "--max-passive-per-ip",
        "3",
    ];
    let server = Server::start(bin, &args);
    fs::write(server.path("f.txt"), b"data").unwrap();
    let mut clients: Vec<Client> = (0..4)
        .map(|_| Client::login(server.addr(), "u", "p"))
        .collect();
    for c in &mut clients[..3] {
        c.pasv();
    }
    assert_refused(
        &clients[3].cmd("PASV"),
        "a fourth listener from one address",
    );
    // A session's new PASV replaces its own listener: still allowed.
    clients[0].pasv();
    // A transfer takes its listener's place with it.
    assert_eq!(clients[1].retr(DataMode::Pasv, "f.txt"), b"data");
    clients[3].pasv();
    let mut fifth = Client::login(server.addr(), "u", "p");
    assert_refused(&fifth.cmd("EPSV"), "over the cap again");
    // A session that ends frees its place.
    let mut first = clients.remove(0);
    first.expect("QUIT", 221);
    first.expect_closed();
    wait_until("the ended session's listener to close", || {
        fifth.cmd("PASV").code == 227
    });
    for c in clients.iter_mut().chain([&mut fifth]) {
        c.expect("QUIT", 221);
    }
}
