//! Listings streamed from the directory (`TransferKind::SendListing`) over real sockets on
//! 127.0.0.1: sorted small directories, one file listed as itself, MLSD of a file refused
//! before any byte, a directory bigger than the sort buffer listed whole, temporary upload
//! files hidden.

mod common;

use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::thread;

use common::{socket_pair, vp, Tree};
use thinftp::{Facts, ListFormat};
use thinftp::{FsError, TransferError, TransferKind};
use thinftp_host::storage::TEMP_PREFIX;
use thinftp_host::transfer::SORTED_ENTRIES;
use thinftp_host::{open_transfer, run_transfer, AbortHandle};

fn listing(path: &str, format: ListFormat, name: &str) -> TransferKind {
    TransferKind::SendListing {
        path: vp(path),
        format,
        name: name.to_owned(),
    }
}

/// The body of `kind` as a client reads it, with the transfer's result.
fn fetch(tree: &Tree, kind: &TransferKind) -> (Result<u64, TransferError>, String) {
    let (client, server) = socket_pair();
    let reader = thread::spawn(move || {
        let mut client: TcpStream = client;
        let mut out = String::new();
        client.read_to_string(&mut out).unwrap();
        out
    });
    let result = run_transfer(&tree.storage, kind, server, &AbortHandle::new());
    (result, reader.join().unwrap())
}

#[test]
fn a_small_directory_is_listed_sorted_in_every_format() {
    let tree = Tree::new();
    for name in ["b", "c", "a"] {
        tree.write(&format!("d/{name}"), name.as_bytes());
    }
    tree.write(&format!("d/{TEMP_PREFIX}x"), b"");
    let (result, nlst) = fetch(&tree, &listing("/d", ListFormat::Nlst, "d"));
    assert_eq!(nlst, "a\r\nb\r\nc\r\n");
    assert_eq!(result, Ok(9));
    let (_, list) = fetch(&tree, &listing("/d", ListFormat::List, "d"));
    let names: Vec<_> = list
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"], "{list}");
    let mlsd = ListFormat::Mlsd {
        facts: Facts::all(),
        writable: true,
    };
    let (_, body) = fetch(&tree, &listing("/d", mlsd, "d"));
    assert_eq!(body.lines().count(), 3);
    assert!(body.starts_with("type=file;size=1;"), "{body}");
}

#[test]
fn a_file_is_listed_as_itself_but_mlsd_refuses_it_before_any_byte() {
    let tree = Tree::new();
    tree.write("f.txt", b"hello");
    let (_, list) = fetch(&tree, &listing("/f.txt", ListFormat::List, "sub/../f.txt"));
    assert!(list.starts_with("-rw"), "{list}");
    assert!(
        list.ends_with(" sub/../f.txt\r\n"),
        "under the name given: {list}"
    );
    assert_eq!(list.lines().count(), 1);
    let mlsd = ListFormat::Mlsd {
        facts: Facts::all(),
        writable: false,
    };
    let refused = open_transfer(&tree.storage, &listing("/f.txt", mlsd, "f.txt"));
    assert_eq!(
        refused.err(),
        Some(TransferError::Fs(FsError::NotADirectory))
    );
    let missing = open_transfer(&tree.storage, &listing("/nope", ListFormat::List, "nope"));
    assert_eq!(missing.err(), Some(TransferError::Fs(FsError::NotFound)));
}

#[test]
fn a_directory_bigger_than_the_sort_buffer_is_listed_whole() {
    let tree = Tree::new();
    fs::create_dir(tree.root().join("big")).unwrap();
    let n = SORTED_ENTRIES + 7;
    for i in 0..n {
        fs::File::create(tree.root().join(format!("big/e{i:06}"))).unwrap();
    }
    let (result, body) = fetch(&tree, &listing("/big", ListFormat::Nlst, "big"));
    let mut names: Vec<&str> = body.lines().collect();
    assert_eq!(names.len(), n);
    assert_eq!(result, Ok(body.len() as u64));
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), n, "each entry once");
}
