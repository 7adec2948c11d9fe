//! Several nodes on one local directory: each names its temporary upload files after its node
//! id and sweeps only its own at start-up; with atomic uploads a new file appears only whole.

mod common;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{reset, socket_pair, vp, Tree};
use thinftp::{TransferKind, WriteMode};
use thinftp_host::storage::{LocalSettings, LocalStorage, TEMP_PREFIX};
use thinftp_host::{run_transfer, AbortHandle};

fn node(root: &Path, id: &str, atomic_uploads: bool) -> LocalStorage {
    let settings = LocalSettings {
        node_id: id.to_owned(),
        atomic_uploads,
        ..LocalSettings::default()
    };
    LocalStorage::open_with(root, &settings).unwrap()
}

/// An upload to `path` on `storage` that has begun (its first bytes are written and its
/// temporary file exists in `tree`'s root): the client side, and the transfer's thread.
fn begin_upload(
    tree: &Tree,
    storage: &LocalStorage,
    path: &str,
) -> (TcpStream, JoinHandle<Result<u64, thinftp::TransferError>>) {
    let (mut client, server) = socket_pair();
    let kind = TransferKind::ReceiveFile {
        path: vp(path),
        mode: WriteMode::Replace,
        ascii: false,
    };
    let storage = storage.clone();
    let upload =
        std::thread::spawn(move || run_transfer(&storage, &kind, server, &AbortHandle::new()));
    client.write_all(b"the new contents, ").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tree.names("").iter().any(|n| n.starts_with(TEMP_PREFIX)) {
        assert!(Instant::now() < deadline, "no temporary file");
        std::thread::sleep(Duration::from_millis(5));
    }
    (client, upload)
}

#[test]
fn a_node_starting_leaves_the_uploads_of_another_node_alone() {
    let tree = Tree::new();
    tree.write("f.bin", b"old contents");
    let a = node(&tree.root(), "a", false);
    let (mut client, upload) = begin_upload(&tree, &a, "/f.bin");
    let temp: Vec<String> = tree
        .names("")
        .into_iter()
        .filter(|n| n.starts_with(TEMP_PREFIX))
        .collect();
    assert_eq!(temp.len(), 1, "{temp:?}");
    assert!(temp[0].starts_with(&format!("{TEMP_PREFIX}a.")), "{temp:?}");
    // Node b starts on the same directory (and a file an old version left is swept).
    tree.write(
        &format!("{TEMP_PREFIX}0123456789abcdef"),
        b"left by a crash",
    );
    let b = node(&tree.root(), "b", false);
    let cleanup = b.remove_stale_temp_files(1000);
    assert_eq!(cleanup.removed, 1, "only the old version's file");
    client.write_all(b"whole").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    upload
        .join()
        .unwrap()
        .expect("node a's upload survives node b's start");
    assert_eq!(tree.read("f.bin"), b"the new contents, whole");
    assert_eq!(tree.names(""), ["f.bin"]);
    // Node a's own sweep (its next start) does take its files.
    tree.write(
        &format!("{TEMP_PREFIX}a.0000000000000001"),
        b"a's, from a crash",
    );
    tree.write(&format!("{TEMP_PREFIX}b.0000000000000001"), b"b's, running");
    assert_eq!(
        node(&tree.root(), "a", false)
            .remove_stale_temp_files(1000)
            .removed,
        1
    );
    assert_eq!(
        tree.names(""),
        [
            format!("{TEMP_PREFIX}b.0000000000000001"),
            "f.bin".to_owned()
        ]
    );
}

#[test]
fn atomic_uploads_show_a_new_file_only_whole() {
    let tree = Tree::new();
    let atomic = node(&tree.root(), "n", true);
    // Broken mid-way: nothing at the name, no temporary file left.
    let (client, upload) = begin_upload(&tree, &atomic, "/new.bin");
    assert!(
        !tree.root().join("new.bin").exists(),
        "visible before the end"
    );
    reset(client);
    assert!(upload.join().unwrap().is_err());
    assert_eq!(tree.names(""), Vec::<String>::new());
    // Whole: there at the end.
    let (mut client, upload) = begin_upload(&tree, &atomic, "/new.bin");
    assert!(
        !tree.root().join("new.bin").exists(),
        "visible before the end"
    );
    client.write_all(b"whole").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    upload.join().unwrap().unwrap();
    assert_eq!(tree.read("new.bin"), b"the new contents, whole");
    assert_eq!(tree.names(""), ["new.bin"]);
    // Without the option a new file is written in place: the partial file is visible (and
    // stays, to be resumed).
    let in_place = node(&tree.root(), "n", false);
    let (client, upload) = begin_upload_in_place(&tree, &in_place, "/partial.bin");
    reset(client);
    assert!(upload.join().unwrap().is_err());
    assert_eq!(tree.read("partial.bin"), b"the new contents, ");
}

/// Like [`begin_upload`] for an upload written in place (no temporary file): waits for its
/// first bytes at the name instead.
fn begin_upload_in_place(
    tree: &Tree,
    storage: &LocalStorage,
    path: &str,
) -> (TcpStream, JoinHandle<Result<u64, thinftp::TransferError>>) {
    let (mut client, server) = socket_pair();
    let kind = TransferKind::ReceiveFile {
        path: vp(path),
        mode: WriteMode::Replace,
        ascii: false,
    };
    let storage = storage.clone();
    let upload =
        std::thread::spawn(move || run_transfer(&storage, &kind, server, &AbortHandle::new()));
    client.write_all(b"the new contents, ").unwrap();
    let name = path.trim_start_matches('/');
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(tree.root().join(name)).map_or(true, |m| m.len() < 18) {
        assert!(Instant::now() < deadline, "no bytes at {name}");
        std::thread::sleep(Duration::from_millis(5));
    }
    (client, upload)
}
