//! `REST` + `STOR` that does not finish leaves the file exactly as it was: byte for byte and at
//! its old length, whether its data connection broke, it was aborted, or the quota stopped it,
//! and whether it started inside the file (overwriting) or at its end (resuming).

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::ftp::{Client, DataMode};
use crate::limits::users_file;
use crate::server::Server;
use crate::util::{assert_same_bytes, random_bytes, reset, temp_files, wait_until};

/// `REST offset` + `STOR name`, `sent` bytes, then the data connection is reset: `426`, and
/// the file is `before` again.
fn broken_resume(c: &mut Client, server: &Server, name: &str, offset: usize, sent: &[u8]) {
    let before = fs::read(server.path(name)).unwrap();
    c.expect(&format!("REST {offset}"), 350);
    let mut data = c
        .open_transfer(DataMode::Pasv, &format!("STOR {name}"))
        .unwrap_or_else(|r| panic!("REST {offset} + STOR got {r}"));
    data.write_all(sent).unwrap();
    // Wait until the server has written some of them (the file changes or its temporary
    // file grows), so that the break comes in the middle of the upload.
    wait_until("the resumed upload's first bytes", || {
        fs::read(server.path(name)).unwrap() != before
            || temp_files(server.root())
                .iter()
                .any(|t| fs::metadata(server.path(t)).is_ok_and(|m| m.len() > 0))
    });
    reset(data);
    c.expect_reply(426, "a REST + STOR whose data connection was reset");
    let disk = fs::read(server.path(name)).unwrap();
    assert_same_bytes(
        &disk,
        &before,
        &format!("the file after a broken REST {offset} + STOR"),
    );
    assert!(temp_files(server.root()).is_empty(), "temporary files left");
}

/// A broken `REST` + `STOR` inside a file (it overwrote bytes) and at its end (it only added)
/// both leave the file as it was; one that completes writes the offset's bytes and cuts the
/// file where the upload ended, as before.
pub fn a_broken_rest_stor_leaves_the_file_as_it_was(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    let old = random_bytes(70, 1 << 20);
    let new = random_bytes(71, 1 << 20);
    fs::write(server.path("f"), &old).unwrap();
    let mut c = Client::login(server.addr(), "u", "p");
    broken_resume(&mut c, &server, "f", 300_000, &new[..600_000]);
    broken_resume(&mut c, &server, "f", old.len(), &new[..600_000]);
    broken_resume(&mut c, &server, "f", 0, &new[..600_000]);
    // A complete one.
    c.expect("REST 300000", 350);
    c.stor(DataMode::Pasv, "f", &new[..1000]);
    let disk = fs::read(server.path("f")).unwrap();
    assert_same_bytes(
        &disk,
        &[&old[..300_000], &new[..1000]].concat(),
        "a complete REST + STOR",
    );
    assert!(temp_files(server.root()).is_empty(), "temporary files left");
    c.expect("QUIT", 221);
}

/// A `REST` + `STOR` that the quota stops (`552`) leaves the file byte for byte as it was,
/// also the bytes it had overwritten before it reached the quota.
pub fn a_rest_stor_stopped_by_the_quota_leaves_the_file_as_it_was(bin: &Path) {
    let (_users_dir, users) =
        users_file(bin, &[("q", "pw", "home = \"/q\"\nquota_bytes = \"400K\"")]);
    let server = Server::start(bin, &["--users-file", users.to_str().unwrap()]);
    fs::create_dir(server.path("q")).unwrap();
    let old = random_bytes(72, 300_000);
    fs::write(server.path("q/f"), &old).unwrap();
    let mut c = Client::login(server.addr(), "q", "pw");
    // From 100,000: 200,000 bytes overwrite, 100,000 more fit, the rest does not.
    c.expect("REST 100000", 350);
    let mut data = c
        .open_transfer(DataMode::Pasv, "STOR f")
        .unwrap_or_else(|r| panic!("REST + STOR got {r}"));
    let _ = data.write_all(&random_bytes(73, 1 << 20));
    c.expect_reply(552, "a REST + STOR past the quota");
    drop(data);
    let disk = fs::read(server.path("q/f")).unwrap();
    assert_same_bytes(&disk, &old, "the file after a REST + STOR past the quota");
    assert!(
        temp_files(&server.path("q")).is_empty(),
        "temporary files left"
    );
    // The quota gave everything back: 100,000 bytes still fit.
    c.stor(DataMode::Pasv, "g", &[1u8; 100_000]);
}
