//! Server-side globbing (issue 8) as a real client uses it: tnftp's `mget` and `mdelete` send
//! `NLST <pattern>` and act on every name that comes back, so the server must list exactly the
//! matching names. Skipped (it prints why and passes) when tnftp is not installed.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::client_defects::{names, run_with_input};
use crate::server::Server;
use crate::util::installed;

/// The tnftp program, if installed (Debian names it `tnftp`, and `ftp` may be it).
fn tnftp() -> Option<&'static str> {
    ["tnftp", "ftp"]
        .into_iter()
        .find(|p| installed("sh", &["-c", &format!("command -v {p} >/dev/null")]))
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// `mget *.bin` fetches exactly the `.bin` files, each byte for byte: not `.txt`, not a name
/// that only contains `.bin`, not a hidden file (as in a shell, `*` skips those).
pub fn tnftp_mget_pattern(bin: &Path) {
    let Some(program) = tnftp() else {
        println!("skipped: tnftp not installed");
        return;
    };
    let server = Server::start(bin, &["--user", "u:p"]);
    let tree = [
        "a.bin",
        "b.bin",
        "c.txt",
        "d.bin.txt",
        ".hidden.bin",
        "e.BIN",
    ];
    for name in tree {
        fs::write(server.path(name), format!("content of {name}\n")).unwrap();
    }
    let local = tempfile::tempdir().unwrap();
    let port = server.addr().port().to_string();
    let (out, err) = run_with_input(
        Command::new(program)
            .args(["-n", "-i", "-v", "127.0.0.1", &port])
            .current_dir(local.path()),
        "user u p\nbinary\nmget *.bin\nbye\n",
    );
    let fetched: BTreeSet<String> = fs::read_dir(local.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        fetched,
        set(&["a.bin", "b.bin"]),
        "{program}'s mget *.bin fetched other files\nstdout:\n{out}\nstderr:\n{err}"
    );
    for name in &fetched {
        let got = fs::read(local.path().join(name)).unwrap();
        assert_eq!(got, format!("content of {name}\n").into_bytes(), "{name}");
    }
    assert_eq!(
        names(&server).len(),
        tree.len(),
        "mget changed the server's tree"
    );
}

/// `mdelete a*` deletes exactly the names that start with `a`, and nothing else.
pub fn tnftp_mdelete_pattern(bin: &Path) {
    let Some(program) = tnftp() else {
        println!("skipped: tnftp not installed");
        return;
    };
    let server = Server::start(bin, &["--user", "u:p"]);
    let tree = ["a1", "a2.txt", "ab.bin", "b-a", "notes-a", "A3", ".a4"];
    for name in tree {
        fs::write(server.path(name), name).unwrap();
    }
    let port = server.addr().port().to_string();
    let (out, err) = run_with_input(
        Command::new(program).args(["-n", "-i", "-v", "127.0.0.1", &port]),
        "user u p\nmdelete a*\nbye\n",
    );
    assert_eq!(
        names(&server),
        set(&["b-a", "notes-a", "A3", ".a4"]),
        "{program}'s mdelete a* deleted other files than the matches\nstdout:\n{out}\nstderr:\n{err}"
    );
}

/// `LIST`, `NLST` and `STAT` of a pattern in a directory of 3,000 files find every match, not
/// only those among the first entries storage read (a cap meant for `STAT dir` once cut the
/// pattern's directory listing at 1,001 entries, so `LIST *.bin` missed most of 20 matches).
pub fn patterns_match_in_a_big_directory(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    for i in 0..3000 {
        fs::write(server.path(&format!("f{i:04}.txt")), b"").unwrap();
    }
    let expected: BTreeSet<String> = (0..20).map(|i| format!("m{i:02}.bin")).collect();
    for name in &expected {
        fs::write(server.path(name), b"x").unwrap();
    }
    let mut c = crate::ftp::Client::login(server.addr(), "u", "p");
    let listed: BTreeSet<String> = c
        .listing("LIST *.bin")
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect();
    assert_eq!(listed, expected, "LIST *.bin");
    let names: BTreeSet<String> = c.nlst("*.bin").into_iter().collect();
    assert_eq!(names, expected, "NLST *.bin");
    let stat = c.expect("STAT *.bin", 213);
    let shown = stat.text.lines().filter(|l| l.ends_with(".bin")).count();
    assert_eq!(shown, expected.len(), "STAT *.bin: {}", stat.text);
}

/// The tree the `mget *.bin` scenarios serve, and the names `*.bin` must fetch.
const MGET_TREE: [&str; 6] = [
    "a.bin",
    "b.bin",
    "c.txt",
    "d.bin.txt",
    ".hidden.bin",
    "e.BIN",
];

/// Serves [`MGET_TREE`], runs `fetch` (a client fetching `*.bin` into the directory it is
/// given, on the server's port) and checks exactly `a.bin` and `b.bin` came, byte for byte.
fn fetches_exactly_the_bin_files(
    bin: &Path,
    what: &str,
    fetch: impl FnOnce(&Path, &str) -> (String, String),
) {
    let server = Server::start(bin, &["--user", "u:p"]);
    for name in MGET_TREE {
        fs::write(server.path(name), format!("content of {name}\n")).unwrap();
    }
    let local = tempfile::tempdir().unwrap();
    let port = server.addr().port().to_string();
    let (out, err) = fetch(local.path(), &port);
    let fetched: BTreeSet<String> = fs::read_dir(local.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        fetched,
        set(&["a.bin", "b.bin"]),
        "{what} fetched other files\nstdout:\n{out}\nstderr:\n{err}"
    );
    for name in &fetched {
        let got = fs::read(local.path().join(name)).unwrap();
        assert_eq!(
            got,
            format!("content of {name}\n").into_bytes(),
            "{what}: {name}"
        );
    }
    assert_eq!(
        names(&server).len(),
        MGET_TREE.len(),
        "{what} changed the server's tree"
    );
}

/// GNU inetutils `ftp` (Debian installs it as `inetutils-ftp`; `ftp` may be tnftp): `mget *.bin`
/// sends `NLST *.bin` and fetches what comes back.
pub fn inetutils_ftp_mget_pattern(bin: &Path) {
    if !crate::util::require("inetutils-ftp", &["--version"]) {
        return;
    }
    fetches_exactly_the_bin_files(bin, "inetutils-ftp mget *.bin", |dir, port| {
        run_with_input(
            Command::new("inetutils-ftp")
                .args(["-n", "-i", "-v", "127.0.0.1", port])
                .current_dir(dir),
            "user u p\nbinary\nmget *.bin\nbye\n",
        )
    });
}

/// `ncftpget` with a pattern fetches exactly the matching files.
pub fn ncftpget_pattern(bin: &Path) {
    if !installed("sh", &["-c", "command -v ncftpget >/dev/null"]) {
        println!("skipped: ncftpget not installed");
        return;
    }
    fetches_exactly_the_bin_files(bin, "ncftpget '*.bin'", |dir, port| {
        let dir = dir.to_str().expect("utf-8 path");
        crate::util::run_tool(
            Command::new("ncftpget").args([
                "-u",
                "u",
                "-p",
                "p",
                "-P",
                port,
                "-V",
                "127.0.0.1",
                dir,
                "*.bin",
            ]),
            None,
            std::time::Duration::from_secs(60),
        )
        .success()
    });
}
