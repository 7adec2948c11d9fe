//! Names that are not UTF-8 are listed under a name a client can send back
//! (see `thinftp_host::names`), and that name reaches the file.

mod common;

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;

use common::{socket_pair, vp, Tree};
use thinftp::{FsOp, FsReply, Listing, TransferKind};
use thinftp_host::Storage;
use thinftp_host::{run_transfer, AbortHandle};

fn listed(reply: FsReply) -> Vec<String> {
    let FsReply::Listing(Listing { entries, .. }) = reply else {
        panic!("not a listing: {reply:?}");
    };
    let mut names: Vec<String> = entries.into_iter().map(|e| e.name).collect();
    names.sort();
    names
}

#[test]
fn a_latin1_name_is_listed_fetched_renamed_and_removed() {
    let tree = Tree::new();
    std::fs::create_dir(tree.root().join("dir")).unwrap();
    let raw = OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(tree.root().join("dir").join(raw), b"latin-1").unwrap();
    std::fs::write(tree.root().join("dir/plain.txt"), b"plain").unwrap();
    let shown = "caf\u{f7e9}.txt";
    let s = &tree.storage;

    let list = listed(s.execute(&FsOp::ListDir(vp("/dir"))).unwrap());
    assert_eq!(list, [shown, "plain.txt"]);
    let names = listed(s.execute(&FsOp::ListNames(vp("/dir"))).unwrap());
    assert_eq!(names, [shown, "plain.txt"]);

    let path = vp("/dir").resolve(shown).unwrap();
    assert!(
        matches!(s.execute(&FsOp::Stat(path.clone())), Ok(FsReply::Metadata(m)) if m.size == 7)
    );
    let (mut client, server) = socket_pair();
    let kind = TransferKind::SendFile {
        path: path.clone(),
        offset: 0,
        ascii: false,
    };
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        client.read_to_end(&mut out).unwrap();
        out
    });
    assert_eq!(run_transfer(s, &kind, server, &AbortHandle::new()), Ok(7));
    assert_eq!(reader.join().unwrap(), b"latin-1");

    // Renamed to another name with an escaped byte: on disk it is the raw byte.
    let renamed = vp("/dir").resolve("r\u{f7ff}").unwrap();
    let rename = FsOp::Rename {
        from: path,
        to: renamed.clone(),
    };
    assert_eq!(s.execute(&rename), Ok(FsReply::Done));
    assert!(tree
        .root()
        .join("dir")
        .join(OsStr::from_bytes(b"r\xff"))
        .is_file());
    assert_eq!(s.execute(&FsOp::RemoveFile(renamed)), Ok(FsReply::Done));
    assert_eq!(tree.names("dir"), ["plain.txt"]);
}

#[test]
fn a_directory_with_a_non_utf8_name_can_be_entered() {
    let tree = Tree::new();
    let raw = OsStr::from_bytes(b"d\x80");
    std::fs::create_dir(tree.root().join(raw)).unwrap();
    std::fs::write(tree.root().join(raw).join("in.txt"), b"x").unwrap();
    let dir = vp("/d\u{f780}");
    let names = listed(tree.storage.execute(&FsOp::ListNames(dir)).unwrap());
    assert_eq!(names, ["in.txt"]);
}
