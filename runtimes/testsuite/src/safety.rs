//! What the server must never do: lose a file to a broken upload, reach outside its root, take a
//! data connection from a stranger, or let anonymous users write by default.

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::ftp::{Client, DataMode, Reply};
use crate::server::Server;
use crate::util::{
    assert_closed, assert_same_bytes, connect, connect_from, random_bytes, reset, temp_files,
    wait_until, TEMP_PREFIX,
};

/// The client's data connection breaks (a reset) in the middle of a STOR over an existing file:
/// the old file is intact and the temporary file the upload went to is gone, and was never
/// visible to anyone while it existed.
pub fn broken_upload_keeps_the_old_file(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    let old = random_bytes(50, 1 << 20);
    let new = random_bytes(51, 1 << 20);
    fs::create_dir(server.path("sub")).unwrap();
    fs::write(server.path("sub/keep.bin"), &old).unwrap();
    let mut c = Client::login(server.addr(), "u", "p");
    let mut watcher = Client::login(server.addr(), "u", "p");
    watcher.expect("CWD sub", 250);

    let mut data = c
        .open_transfer(DataMode::Pasv, "STOR sub/keep.bin")
        .unwrap_or_else(|r| panic!("STOR got {r}"));
    data.write_all(&new[..512 * 1024]).unwrap();
    // The upload goes to a temporary file beside the target...
    let dir = server.path("sub");
    wait_until("the upload's temporary file", || {
        !temp_files(&dir).is_empty()
    });
    let temp = temp_files(&dir).remove(0);
    // ... that no listing shows and no command can name.
    assert_eq!(watcher.nlst(""), ["keep.bin"]);
    for line in ["LIST -a", "MLSD", "NLST -a"] {
        let listing = watcher.listing(line);
        assert!(!listing.contains(TEMP_PREFIX), "{line} shows {listing:?}");
    }
    let stat = watcher.expect("STAT .", 213);
    assert!(!stat.text.contains(TEMP_PREFIX), "{stat}");
    let refused = watcher
        .open_transfer(DataMode::Pasv, &format!("RETR {temp}"))
        .err();
    assert_eq!(
        refused.map(|r| r.code),
        Some(550),
        "RETR of the temporary file"
    );
    for line in ["SIZE", "MLST", "DELE", "RNFR"] {
        watcher.expect(&format!("{line} {temp}"), 550);
    }
    let size = watcher.expect("SIZE keep.bin", 213);
    assert_eq!(size.text.trim_end(), format!("213 {}", old.len()));

    // The client's connection breaks.
    reset(data);
    c.expect_reply(426, "a STOR whose data connection was reset");
    let disk = fs::read(server.path("sub/keep.bin")).unwrap();
    assert_same_bytes(&disk, &old, "the file a broken upload would have replaced");
    assert_eq!(
        temp_files(&dir),
        Vec::<String>::new(),
        "temporary files left"
    );

    // A complete upload replaces it, and leaves nothing behind either.
    c.stor(DataMode::Pasv, "sub/keep.bin", &new);
    let disk = fs::read(server.path("sub/keep.bin")).unwrap();
    assert_same_bytes(&disk, &new, "the file after a complete upload");
    assert_eq!(
        temp_files(&dir),
        Vec::<String>::new(),
        "temporary files left"
    );
    c.expect("QUIT", 221);
}

/// A download that should be refused: its final reply, and whatever bytes came (there should be
/// none).
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

/// An upload that should be refused (perhaps only once the server tries to open the file, after
/// its `150`): the final reply.
fn try_upload(c: &mut Client, line: &str) -> Reply {
    match c.open_transfer(DataMode::Pasv, line) {
        Err(reply) => reply,
        Ok(mut data) => {
            // The server may have closed the connection already: write errors are expected.
            let _ = data.write_all(b"must not arrive");
            drop(data);
            c.reply()
        }
    }
}

/// Symlinks inside the root that lead out of it (to `/etc`, to a directory elsewhere, to `..`)
/// are refused for reading, listing, entering and writing; the root's own files and a link that
/// stays inside work.
pub fn symlinks_out_of_the_root_are_refused(bin: &Path) {
    let outside = tempfile::Builder::new()
        .prefix("thinftp-outside.")
        .tempdir()
        .unwrap();
    fs::create_dir(outside.path().join("dir")).unwrap();
    fs::write(outside.path().join("dir/secret.txt"), b"secret").unwrap();
    let server = Server::start(bin, &["--user", "u:p"]);
    fs::write(server.path("normal.txt"), b"normal").unwrap();
    fs::create_dir(server.path("sub")).unwrap();
    fs::write(server.path("sub/inner.txt"), b"inner").unwrap();
    symlink("/etc", server.path("etc")).unwrap();
    symlink(outside.path().join("dir"), server.path("outlink")).unwrap();
    symlink("..", server.path("up")).unwrap();
    symlink("normal.txt", server.path("alias.txt")).unwrap();
    let outside_name = outside.path().file_name().unwrap().to_string_lossy();
    // The root and `outside` are both in the temporary directory: `up` leads from one to the other.
    let via_up = format!("up/{outside_name}/dir/secret.txt");
    assert_eq!(
        fs::read(server.path(&via_up)).unwrap(),
        b"secret",
        "the test's own setup"
    );
    let mut c = Client::login(server.addr(), "u", "p");

    for file in ["etc/passwd", "etc/hostname", "outlink/secret.txt", &via_up] {
        let (reply, bytes) = try_download(&mut c, &format!("RETR {file}"));
        assert_eq!(reply.code, 550, "RETR {file} got {reply}");
        assert!(bytes.is_empty(), "RETR {file} sent {} bytes", bytes.len());
        for verb in ["SIZE", "MDTM", "MLST", "STAT"] {
            c.expect(&format!("{verb} {file}"), 550);
        }
    }
    for dir in [
        "etc",
        "etc/",
        "outlink",
        "up",
        "etc/ssl",
        &format!("up/{outside_name}"),
    ] {
        c.expect(&format!("CWD {dir}"), 550);
        for verb in ["LIST", "NLST", "MLSD"] {
            let (reply, bytes) = try_download(&mut c, &format!("{verb} {dir}"));
            assert_eq!(reply.code, 550, "{verb} {dir} got {reply}");
            assert!(
                bytes.is_empty(),
                "{verb} {dir} sent {:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
        c.expect(&format!("STAT {dir}"), 550);
    }
    // From a subdirectory, through `..`, it is the same.
    c.expect("CWD sub", 250);
    c.expect("CWD ../outlink", 550);
    let (reply, _) = try_download(&mut c, "RETR ../etc/passwd");
    assert_eq!(reply.code, 550, "RETR ../etc/passwd got {reply}");
    c.expect("CWD /", 250);

    // Writing through the links changes nothing outside.
    for line in [
        "STOR outlink/new.txt",
        "APPE outlink/secret.txt",
        "STOR outlink/secret.txt",
    ] {
        let reply = try_upload(&mut c, line);
        assert_eq!(reply.code, 550, "{line} got {reply}");
    }
    c.expect("MKD outlink/newdir", 550);
    c.expect("DELE outlink/secret.txt", 550);
    c.expect("RMD up", 550);
    c.expect("RNFR outlink/secret.txt", 550);
    c.expect("RNFR normal.txt", 350);
    c.expect("RNTO outlink/moved.txt", 550);
    let outside_now: Vec<_> = fs::read_dir(outside.path().join("dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside_now, ["secret.txt"], "the directory outside changed");
    assert_eq!(
        fs::read(outside.path().join("dir/secret.txt")).unwrap(),
        b"secret"
    );

    // The client's own files are fine, and so is a link that stays inside.
    assert_eq!(c.retr(DataMode::Pasv, "normal.txt"), b"normal");
    assert_eq!(c.retr(DataMode::Pasv, "alias.txt"), b"normal");
    let names = c.nlst("");
    for name in ["alias.txt", "normal.txt", "sub"] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    let list = c.listing("LIST");
    assert!(list.contains("normal.txt"), "{list:?}");
    c.expect("CWD sub", 250);
    assert_eq!(c.retr(DataMode::Epsv, "inner.txt"), b"inner");
    c.expect("QUIT", 221);
}

/// A connection to a passive port from another address (127.0.0.2) is closed without a byte,
/// and the client's own connection from 127.0.0.1 still works; before and after the transfer
/// command.
pub fn foreign_data_connection_is_refused(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    let content = random_bytes(70, 100_000);
    fs::write(server.path("f.bin"), &content).unwrap();
    let mut c = Client::login(server.addr(), "u", "p");
    let stranger = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    for (mode, command_first) in [(DataMode::Pasv, false), (DataMode::Epsv, true)] {
        let addr = match mode {
            DataMode::Pasv => c.pasv(),
            _ => c.epsv(),
        };
        if command_first {
            c.send("RETR f.bin");
        }
        let mut intruder = connect_from(stranger, addr).expect("connect from 127.0.0.2");
        assert_closed(&mut intruder, "a data connection from 127.0.0.2");
        let mut data = connect(addr);
        if !command_first {
            c.send("RETR f.bin");
        }
        c.expect_reply(150, "RETR f.bin");
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes).unwrap();
        assert_same_bytes(
            &bytes,
            &content,
            &format!("RETR over {mode:?} after a stranger"),
        );
        c.expect_reply(226, "RETR f.bin");
    }
    c.expect("QUIT", 221);
}

/// With no user options, anonymous users (`anonymous`, `ftp`) may read but not change anything.
pub fn anonymous_is_read_only_by_default(bin: &Path) {
    let server = Server::start(bin, &[]);
    let first = server.first_log_line();
    assert!(
        first.contains("read-only") && first.contains("anonymous"),
        "the first log line says what is served: {first}"
    );
    fs::write(server.path("pub.txt"), b"public").unwrap();
    fs::create_dir(server.path("dir")).unwrap();
    for user in ["anonymous", "ftp"] {
        let mut c = Client::login(server.addr(), user, "guest@example.com");
        assert_eq!(c.retr(DataMode::Pasv, "pub.txt"), b"public");
        assert_eq!(c.nlst(""), ["dir", "pub.txt"]);
        for line in ["STOR new.txt", "APPE pub.txt", "STOU", "STOR pub.txt"] {
            let reply = try_upload(&mut c, line);
            assert_eq!(reply.code, 550, "{user}: {line} got {reply}");
        }
        for line in ["MKD d", "RMD dir", "DELE pub.txt", "RNFR pub.txt", "RNTO x"] {
            c.expect(line, 550);
        }
        c.expect("QUIT", 221);
    }
    let mut names: Vec<_> = fs::read_dir(server.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["dir", "pub.txt"], "the root changed");
    assert_eq!(fs::read(server.path("pub.txt")).unwrap(), b"public");

    // Nobody else may log in.
    let mut c = Client::open(server.addr());
    c.expect("USER u", 331);
    c.expect("PASS p", 530);
}
