//! Uploads never leave setuid, setgid or sticky bits; what the server creates gets the umask.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{upload, vp, Tree};
use thinftp::{FsOp, FsReply, WriteMode};
use thinftp_host::{LocalStorage, Storage};

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    assert_eq!(mode_of(path), mode, "the test's own setup");
}

#[test]
fn an_overwrite_of_a_setuid_file_keeps_only_the_permission_bits() {
    let tree = Tree::new();
    tree.write("tool", b"#!/bin/sh\n");
    set_mode(&tree.root().join("tool"), 0o4755);
    assert_eq!(
        upload(&tree.storage, "/tool", WriteMode::Replace, b"client"),
        Ok(6)
    );
    assert_eq!(tree.read("tool"), b"client");
    assert_eq!(mode_of(&tree.root().join("tool")), 0o755);

    tree.write("sticky", b"x");
    set_mode(&tree.root().join("sticky"), 0o3640);
    assert_eq!(
        upload(&tree.storage, "/sticky", WriteMode::Replace, b"y"),
        Ok(1)
    );
    assert_eq!(mode_of(&tree.root().join("sticky")), 0o640);
}

#[test]
fn writing_in_place_takes_the_special_bits_away() {
    let tree = Tree::new();
    tree.write("appended", b"a");
    set_mode(&tree.root().join("appended"), 0o2775);
    assert_eq!(
        upload(&tree.storage, "/appended", WriteMode::Append, b"b"),
        Ok(1)
    );
    assert_eq!(tree.read("appended"), b"ab");
    assert_eq!(mode_of(&tree.root().join("appended")), 0o775);

    tree.write("resumed", b"abc");
    set_mode(&tree.root().join("resumed"), 0o6755);
    assert_eq!(
        upload(&tree.storage, "/resumed", WriteMode::Resume(1), b"X"),
        Ok(1)
    );
    assert_eq!(tree.read("resumed"), b"aX");
    assert_eq!(mode_of(&tree.root().join("resumed")), 0o755);
}

#[test]
fn new_files_and_directories_get_the_umask() {
    let tree = Tree::new();
    // 077 takes away more than any usual process umask, so the result shows it whatever this
    // test process's own umask is.
    let storage = LocalStorage::open_with_umask(&tree.root(), 0o077).unwrap();
    assert_eq!(storage.umask(), 0o077);
    assert_eq!(
        upload(&storage, "/new.txt", WriteMode::Replace, b"n"),
        Ok(1)
    );
    assert_eq!(mode_of(&tree.root().join("new.txt")), 0o600);
    assert_eq!(
        upload(&storage, "/appe.txt", WriteMode::Append, b"n"),
        Ok(1)
    );
    assert_eq!(mode_of(&tree.root().join("appe.txt")), 0o600);
    assert_eq!(storage.execute(&FsOp::MakeDir(vp("/d"))), Ok(FsReply::Done));
    assert_eq!(mode_of(&tree.root().join("d")), 0o700);
    let Ok(FsReply::Created(unique)) = storage.execute(&FsOp::CreateUnique { dir: vp("/") }) else {
        panic!("STOU's file not made");
    };
    assert_eq!(mode_of(&tree.root().join(unique.relative())), 0o600);
    // A user's storage keeps the umask.
    fs::create_dir(tree.root().join("home")).unwrap();
    let home = storage.for_local_home(&vp("/home")).unwrap();
    assert_eq!(home.umask(), 0o077);
}
