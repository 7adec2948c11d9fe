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
        pattern: None,
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

fn matching(
    path: &str,
    format: ListFormat,
    pattern: &str,
    prefix: &str,
    max: usize,
) -> TransferKind {
    TransferKind::SendListing {
        path: vp(path),
        format,
        name: pattern.to_owned(),
        pattern: Some(thinftp::ListPattern::new(pattern, prefix, max).expect("a pattern")),
    }
}

#[test]
fn a_pattern_lists_its_matches_only_and_refuses_none_or_too_many_before_any_byte() {
    let tree = Tree::new();
    for name in ["b.bin", "a.bin", "c.txt", ".h.bin", "d.bin.txt"] {
        tree.write(&format!("d/{name}"), b"x");
    }
    tree.write(&format!("d/{TEMP_PREFIX}x.bin"), b"");
    let (result, nlst) = fetch(&tree, &matching("/d", ListFormat::Nlst, "*.bin", "d/", 10));
    assert_eq!(
        nlst, "d/a.bin\r\nd/b.bin\r\n",
        "NLST names carry the directory part"
    );
    assert_eq!(result, Ok(18));
    let (_, list) = fetch(&tree, &matching("/d", ListFormat::List, "*.bin", "d/", 10));
    let names: Vec<_> = list
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(names, ["a.bin", "b.bin"], "LIST shows bare names: {list}");
    // No match, too many matches, and a "directory" that is a file: refused at the open, so
    // before the 150 and any byte.
    for (kind, expected) in [
        (
            matching("/d", ListFormat::Nlst, "*.zip", "", 10),
            TransferError::Fs(FsError::NotFound),
        ),
        (
            matching("/d", ListFormat::Nlst, "*.bin", "", 1),
            TransferError::TooManyMatches,
        ),
        (
            matching("/d/c.txt", ListFormat::List, "*", "", 10),
            TransferError::Fs(FsError::NotFound),
        ),
    ] {
        let err = open_transfer(&tree.storage, &kind).map(|_| ()).unwrap_err();
        assert_eq!(err, expected, "{kind:?}");
    }
    // As many matches as the cap are listed.
    let (result, _) = fetch(&tree, &matching("/d", ListFormat::Nlst, "*.bin", "", 2));
    assert_eq!(result, Ok(14));
}
