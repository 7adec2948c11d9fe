//! The server on an object store (`--storage s3://...`) against a real S3-compatible server,
//! `s3s-fs` ([`S3Server`]), started and stopped by each scenario: the end-to-end scenarios that
//! make sense on a store, the honest refusals of what it cannot do, and real clients.
//!
//! `s3s-fs` keeps each object as a file, so a scenario checks what the store holds on the disk.

use std::io::Write;
use std::net::Shutdown;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::s3_server::S3Server;
use crate::util::{
    assert_same_bytes, assert_same_tree, make_tree, random_bytes, read_tree, require, run_tool,
    wait_until,
};
use crate::{Client, DataMode, Server};

/// The key prefix the server is given: it must serve only what is beneath it.
const PREFIX: &str = "ftp";

/// The limit for one real client run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(180);

/// What the store holds beneath `dir` (under [`PREFIX`]), as a tree, without the directories'
/// marker objects.
fn stored_tree(s3: &S3Server, dir: &str) -> crate::util::Tree {
    let mut tree = read_tree(&s3.object_path(&format!("{PREFIX}/{dir}")));
    tree.retain(|path, _| !path.ends_with(".thinftp-dir"));
    tree
}

/// A thinftp server on `s3`'s bucket, under [`PREFIX`], with user `u`/`p`.
fn server_on(bin: &Path, s3: &S3Server) -> Server {
    let url = s3.storage_url(PREFIX);
    let endpoint = s3.endpoint();
    let server = Server::start_with_env(
        bin,
        &[
            "--storage",
            &url,
            "--s3-endpoint",
            &endpoint,
            "--user",
            "u:p",
        ],
        &s3.env(),
    );
    assert!(
        server.first_log_line().contains(&url),
        "{}",
        server.first_log_line()
    );
    server
}

/// Uploads and downloads are byte-exact (0 B, 1 B, a few MiB over several parts), `REST`
/// downloads from an offset, `SIZE` and `MDTM` answer from the store, listings show what is
/// there, and the objects are where the prefix says.
pub fn s3_transfers_are_byte_exact(bin: &Path) {
    let Some(s3) = S3Server::start() else { return };
    let server = server_on(bin, &s3);
    let mut c = Client::login(server.addr(), "u", "p");
    let big = random_bytes(120, 20 * 1024 * 1024 + 12_345);
    for (name, bytes) in [
        ("empty", &b""[..]),
        ("one", &b"1"[..]),
        ("big.bin", &big[..]),
    ] {
        c.stor(DataMode::Pasv, name, bytes);
        assert_same_bytes(&c.retr(DataMode::Epsv, name), bytes, name);
        let stored = s3
            .object(&format!("{PREFIX}/{name}"))
            .unwrap_or_else(|| panic!("no object for {name}"));
        assert_same_bytes(&stored, bytes, &format!("the object {name}"));
        let size = c.expect(&format!("SIZE {name}"), 213);
        assert_eq!(size.text.trim_end(), format!("213 {}", bytes.len()));
    }
    // A small object just read (so kept in memory) and then replaced by one of the same size is
    // read anew, whole or from an offset: the store's new ETag says it changed.
    for (i, bytes) in [&b"2"[..], &b"3"[..]].into_iter().enumerate() {
        c.stor(DataMode::Pasv, "one", bytes);
        assert_same_bytes(
            &c.retr(DataMode::Epsv, "one"),
            bytes,
            &format!("one, version {i}"),
        );
        c.expect("REST 1", 350);
        assert_same_bytes(
            &c.download(DataMode::Pasv, "RETR one"),
            b"",
            "REST 1 + RETR one",
        );
    }
    c.stor(DataMode::Pasv, "one", b"1");
    c.expect("REST 1000000", 350);
    assert_same_bytes(
        &c.download(DataMode::Pasv, "RETR big.bin"),
        &big[1_000_000..],
        "REST 1000000 + RETR",
    );
    let mdtm = c.expect("MDTM big.bin", 213);
    assert!(mdtm.text.starts_with("213 20"), "{mdtm}");
    let mut names = c.nlst("");
    names.sort();
    assert_eq!(names, ["big.bin", "empty", "one"]);
    let list = c.listing("LIST");
    assert!(
        list.contains(&big.len().to_string()) && list.contains("big.bin"),
        "{list}"
    );
    let mlsd = c.listing("MLSD");
    assert!(
        mlsd.lines()
            .any(|l| l.contains("type=file") && l.contains("size=0;") && l.ends_with(" empty")),
        "{mlsd}"
    );
    let missing = c.open_transfer(DataMode::Pasv, "RETR missing").err();
    assert_eq!(missing.map(|r| r.code), Some(550), "RETR missing");
}

/// MKD, RMD (refused while the directory has an entry), DELE, RNFR/RNTO of a file (copy +
/// delete), and the honest refusals: RNTO of a non-empty directory, APPE, REST + STOR and MFMT
/// get 502 and change nothing.
pub fn s3_commands_and_refusals(bin: &Path) {
    let Some(s3) = S3Server::start() else { return };
    let server = server_on(bin, &s3);
    let mut c = Client::login(server.addr(), "u", "p");
    c.expect("MKD d", 257);
    c.expect("MKD d", 550);
    // An empty directory is there: listed, entered, and empty.
    assert_eq!(c.nlst(""), ["d"]);
    c.expect("CWD d", 250);
    assert_eq!(c.nlst(""), Vec::<String>::new());
    c.expect("CWD /", 250);
    c.stor(DataMode::Pasv, "d/x", b"contents");
    assert_eq!(c.nlst("d"), ["x"]);
    c.expect("CWD d", 250);
    c.expect("CWD /", 250);
    c.expect("RMD d", 550);
    c.expect("RNFR d", 350);
    c.expect("RNTO e", 502);
    c.expect("RNFR d/x", 350);
    c.expect("RNTO moved", 250);
    assert_eq!(s3.object(&format!("{PREFIX}/d/x")), None, "the old key");
    assert_eq!(
        s3.object(&format!("{PREFIX}/moved")).as_deref(),
        Some(&b"contents"[..])
    );
    c.expect("DELE moved", 250);
    c.expect("DELE moved", 550);
    c.expect("RMD d", 250);
    c.expect("CWD d", 550);

    c.stor(DataMode::Pasv, "f", b"abc");
    let appe = c.open_transfer(DataMode::Pasv, "APPE f").err();
    assert_eq!(appe.map(|r| r.code), Some(502), "APPE");
    c.expect("REST 3", 350);
    let resumed = c.open_transfer(DataMode::Pasv, "STOR f").err();
    assert_eq!(resumed.map(|r| r.code), Some(502), "REST 3 + STOR");
    c.expect("MFMT 20200101000000 f", 502);
    c.expect("SITE CHMOD 600 f", 502);
    assert_eq!(
        s3.object(&format!("{PREFIX}/f")).as_deref(),
        Some(&b"abc"[..])
    );
}

/// An upload cut off by a reset connection leaves the old object as it was, and no new
/// object; a complete one replaces it.
pub fn s3_broken_upload_keeps_the_old_object(bin: &Path) {
    let Some(s3) = S3Server::start() else { return };
    let server = server_on(bin, &s3);
    let old = random_bytes(130, 1 << 20);
    let new = random_bytes(131, 12 << 20);
    let mut c = Client::login(server.addr(), "u", "p");
    c.stor(DataMode::Pasv, "keep.bin", &old);
    let mut data = c
        .open_transfer(DataMode::Pasv, "STOR keep.bin")
        .unwrap_or_else(|r| panic!("STOR got {r}"));
    // More than a part, so that a multipart upload is under way.
    data.write_all(&new[..10 << 20]).unwrap();
    crate::util::reset(data);
    let reply = c.reply();
    assert!(reply.code == 426 || reply.code == 451, "{reply}");
    assert_same_bytes(
        &s3.object(&format!("{PREFIX}/keep.bin")).unwrap(),
        &old,
        "the object after a broken upload",
    );
    assert_same_bytes(&c.retr(DataMode::Pasv, "keep.bin"), &old, "RETR after it");
    c.stor(DataMode::Pasv, "keep.bin", &new);
    assert_same_bytes(
        &c.retr(DataMode::Pasv, "keep.bin"),
        &new,
        "a complete upload",
    );
    let _ = c.stream().shutdown(Shutdown::Both);
}

/// rclone `copy` of a 300-file tree to the server on the store, `check --download` of it, and
/// lftp `mirror` both ways, curl's ranged download: real clients on the object store.
pub fn s3_real_clients(bin: &Path) {
    let Some(s3) = S3Server::start() else { return };
    let server = server_on(bin, &s3);
    let port = server.addr().port();
    let work = tempfile::tempdir().unwrap();
    if require("rclone", &["version"]) {
        let src = work.path().join("rclone-src");
        let tree = make_tree(&src, 300, 140);
        let (obscured, _) = run_tool(
            Command::new("rclone").args(["obscure", "p"]),
            None,
            TOOL_TIMEOUT,
        )
        .success();
        let remote = format!(
            ":ftp,host=127.0.0.1,port={port},user=u,pass={}:copied",
            obscured.trim()
        );
        let src_arg = src.to_str().unwrap();
        for args in [
            vec!["copy", src_arg, &remote],
            vec!["check", "--download", src_arg, &remote],
        ] {
            run_tool(Command::new("rclone").args(&args), None, TOOL_TIMEOUT).success();
        }
        assert_same_tree(
            &stored_tree(&s3, "copied"),
            &tree,
            "rclone copy onto the store",
        );
    }
    if require("lftp", &["--version"]) {
        let remote = make_tree(&s3.object_path(&format!("{PREFIX}/tree")), 60, 141);
        let down = work.path().join("down");
        let up = work.path().join("up");
        let local = make_tree(&up, 60, 142);
        let script = format!(
            "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 30; \
             set cmd:fail-exit yes; open -u u,p -p {port} 127.0.0.1; \
             mirror tree \"{down}\"; mirror -R \"{up}\" uploaded; quit",
            down = down.display(),
            up = up.display(),
        );
        run_tool(
            Command::new("lftp").arg("-c").arg(&script),
            None,
            TOOL_TIMEOUT,
        )
        .success();
        assert_same_tree(&read_tree(&down), &remote, "lftp mirror from the store");
        let uploaded = stored_tree(&s3, "uploaded");
        assert_same_tree(&uploaded, &local, "lftp mirror -R onto the store");
    }
    if require("curl", &["--version"]) {
        let bytes = random_bytes(143, 3 << 20);
        let path = work.path().join("c.bin");
        std::fs::write(&path, &bytes).unwrap();
        let url = format!("ftp://u:p@{}/c.bin", server.addr());
        run_tool(
            Command::new("curl")
                .args(["-sS", "-T"])
                .arg(&path)
                .arg(&url),
            None,
            TOOL_TIMEOUT,
        )
        .success();
        wait_until("the uploaded object", || {
            s3.object(&format!("{PREFIX}/c.bin")).is_some()
        });
        let out = work.path().join("c.part");
        run_tool(
            Command::new("curl")
                .args(["-sS", "-r", "1000000-", "-o"])
                .arg(&out)
                .arg(&url),
            None,
            TOOL_TIMEOUT,
        )
        .success();
        assert_same_bytes(
            &std::fs::read(&out).unwrap(),
            &bytes[1_000_000..],
            "curl -r",
        );
    }
}
