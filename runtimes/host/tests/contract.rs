//! What every [`Storage`] must do (the module docs of `thinftp_host::storage`), checked through
//! the trait alone against each back-end: local disk and memory. A new back-end adds one line
//! to `each_storage`.

use std::io::{Read, Write};
use std::sync::Arc;

use thinftp::{FsError, FsOp, FsReply, HashAlgorithm, VirtualPath, WriteMode};
use thinftp_host::storage::{Capabilities, LocalStorage, MemoryStorage, Storage};

fn vp(path: &str) -> VirtualPath {
    VirtualPath::root().resolve(path).unwrap()
}

/// Runs `check` on a fresh, empty storage of each kind.
fn each_storage(check: impl Fn(&dyn Storage)) {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStorage::open(dir.path()).unwrap();
    check(&local);
    check(&MemoryStorage::new());
}

fn write(s: &dyn Storage, path: &str, mode: WriteMode, data: &[u8]) -> Result<(), FsError> {
    let mut upload = s.open_write(&vp(path), mode)?;
    upload.write_all(data).unwrap();
    upload.commit()
}

fn read(s: &dyn Storage, path: &str, offset: u64) -> Result<Vec<u8>, FsError> {
    let mut out = Vec::new();
    s.open_read(&vp(path), offset)?
        .read_to_end(&mut out)
        .unwrap();
    Ok(out)
}

fn names(s: &dyn Storage, path: &str) -> Result<Vec<String>, FsError> {
    let mut names = s
        .list(&vp(path), false)?
        .map(|e| e.map(|e| e.name))
        .collect::<Result<Vec<_>, _>>()?;
    names.sort();
    Ok(names)
}

fn run(s: &dyn Storage, op: FsOp) -> Result<FsReply, FsError> {
    s.execute(&op)
}

#[test]
fn files_and_directories_are_made_listed_and_removed() {
    each_storage(|s| {
        assert_eq!(run(s, FsOp::MakeDir(vp("/d"))), Ok(FsReply::Done));
        assert_eq!(run(s, FsOp::MakeDir(vp("/d"))), Err(FsError::AlreadyExists));
        write(s, "/d/a.txt", WriteMode::Replace, b"alpha").unwrap();
        write(s, "/d/b.txt", WriteMode::Replace, b"beta").unwrap();
        assert_eq!(names(s, "/").unwrap(), ["d"]);
        assert_eq!(names(s, "/d").unwrap(), ["a.txt", "b.txt"]);
        assert_eq!(names(s, "/d/a.txt"), Err(FsError::NotADirectory));
        assert_eq!(names(s, "/nope").err(), Some(FsError::NotFound));
        let meta = s.stat(&vp("/d/a.txt")).unwrap();
        assert_eq!((meta.size, meta.is_dir()), (5, false));
        assert!(s.stat(&vp("/d")).unwrap().is_dir());

        let Ok(FsReply::Listing(first)) = run(
            s,
            FsOp::ListDirFirst {
                path: vp("/d"),
                max: 1,
            },
        ) else {
            panic!("a listing");
        };
        assert_eq!(first.entries.len(), 1, "no more than asked for");

        assert_eq!(
            run(s, FsOp::RemoveDir(vp("/d"))),
            Err(FsError::DirectoryNotEmpty)
        );
        assert_eq!(
            run(s, FsOp::RemoveFile(vp("/d"))),
            Err(FsError::IsADirectory)
        );
        for name in ["/d/a.txt", "/d/b.txt"] {
            assert_eq!(run(s, FsOp::RemoveFile(vp(name))), Ok(FsReply::Done));
        }
        assert_eq!(run(s, FsOp::RemoveDir(vp("/d"))), Ok(FsReply::Done));
        assert_eq!(names(s, "/").unwrap(), Vec::<String>::new());
    });
}

#[test]
fn a_replacement_becomes_visible_whole_at_commit_and_an_abort_keeps_the_old_file() {
    each_storage(|s| {
        write(s, "/f", WriteMode::Replace, b"old content").unwrap();
        let mut upload = s.open_write(&vp("/f"), WriteMode::Replace).unwrap();
        upload.write_all(b"new").unwrap();
        assert_eq!(
            read(s, "/f", 0).unwrap(),
            b"old content",
            "not before commit"
        );
        assert_eq!(names(s, "/").unwrap(), ["f"], "no temporary shows");
        upload.commit().unwrap();
        assert_eq!(read(s, "/f", 0).unwrap(), b"new");

        let mut upload = s.open_write(&vp("/f"), WriteMode::Replace).unwrap();
        upload.write_all(b"broken").unwrap();
        drop(upload);
        assert_eq!(
            read(s, "/f", 0).unwrap(),
            b"new",
            "an abort changes nothing"
        );
        assert_eq!(names(s, "/").unwrap(), ["f"], "and leaves nothing behind");
    });
}

#[test]
fn reads_start_at_their_offset() {
    each_storage(|s| {
        write(s, "/f", WriteMode::Replace, b"0123456789").unwrap();
        assert_eq!(read(s, "/f", 4).unwrap(), b"456789");
        assert_eq!(read(s, "/f", 10).unwrap(), b"");
        assert_eq!(read(s, "/f", 99).unwrap(), b"", "past the end: nothing");
        assert_eq!(read(s, "/missing", 0).err(), Some(FsError::NotFound));
        run(s, FsOp::MakeDir(vp("/d"))).unwrap();
        assert_eq!(read(s, "/d", 0).err(), Some(FsError::IsADirectory));
        assert_eq!(
            s.open_write(&vp("/d"), WriteMode::Replace).err(),
            Some(FsError::IsADirectory)
        );
        assert_eq!(
            s.open_write(&vp("/no/f"), WriteMode::Replace).err(),
            Some(FsError::NotFound)
        );
    });
}

#[test]
fn append_and_resume_work_where_the_capabilities_say_so() {
    each_storage(|s| {
        let caps = s.capabilities();
        write(s, "/f", WriteMode::Replace, b"abcdef").unwrap();
        let appended = write(s, "/f", WriteMode::Append, b"gh");
        let resumed = write(s, "/f", WriteMode::Resume(3), b"XY");
        match (caps.append, caps.write_at_offset) {
            (true, true) => {
                assert_eq!((appended, resumed), (Ok(()), Ok(())));
                assert_eq!(read(s, "/f", 0).unwrap(), b"abcXY");
            }
            _ => panic!("both back-ends here can append and resume"),
        }
    });
    let limited = MemoryStorage::with_capabilities(Capabilities::none());
    write(&limited, "/f", WriteMode::Replace, b"abc").unwrap();
    for mode in [WriteMode::Append, WriteMode::Resume(1)] {
        assert_eq!(
            write(&limited, "/f", mode, b"x"),
            Err(FsError::Unsupported),
            "{mode:?}"
        );
    }
    assert_eq!(read(&limited, "/f", 0).unwrap(), b"abc");
}

#[test]
fn renames_move_files_and_whole_directories() {
    each_storage(|s| {
        run(s, FsOp::MakeDir(vp("/d"))).unwrap();
        run(s, FsOp::MakeDir(vp("/d/sub"))).unwrap();
        write(s, "/d/sub/f", WriteMode::Replace, b"deep").unwrap();
        let rename = |from: &str, to: &str| {
            run(
                s,
                FsOp::Rename {
                    from: vp(from),
                    to: vp(to),
                },
            )
        };
        assert_eq!(rename("/d", "/e"), Ok(FsReply::Done));
        assert_eq!(read(s, "/e/sub/f", 0).unwrap(), b"deep");
        assert_eq!(names(s, "/").unwrap(), ["e"]);
        assert_eq!(rename("/e/sub/f", "/g"), Ok(FsReply::Done));
        assert_eq!(names(s, "/e/sub").unwrap(), Vec::<String>::new());
        assert_eq!(read(s, "/g", 0).unwrap(), b"deep");
        assert_eq!(rename("/missing", "/h").err(), Some(FsError::NotFound));
    });
}

#[test]
fn a_home_is_a_boundary() {
    each_storage(|s| {
        run(s, FsOp::MakeDir(vp("/alice"))).unwrap();
        run(s, FsOp::MakeDir(vp("/bob"))).unwrap();
        write(s, "/bob/secret", WriteMode::Replace, b"bob's").unwrap();
        write(s, "/file", WriteMode::Replace, b"x").unwrap();
        assert!(s.for_home(&vp("/nobody")).is_err());
        assert!(s.for_home(&vp("/file")).is_err());
        let alice: Arc<dyn Storage> = s.for_home(&vp("/alice")).unwrap();
        assert_eq!(alice.home(), &vp("/alice"));
        write(&*alice, "/alice/own", WriteMode::Replace, b"mine").unwrap();
        assert_eq!(read(s, "/alice/own", 0).unwrap(), b"mine");
        for path in ["/bob/secret", "/file", "/"] {
            assert_eq!(
                alice.stat(&vp(path)).err(),
                Some(FsError::NotFound),
                "{path}"
            );
            assert_eq!(read(&*alice, path, 0).err(), Some(FsError::NotFound));
        }
        assert_eq!(names(&*alice, "/bob").err(), Some(FsError::NotFound));
        assert_eq!(
            write(&*alice, "/bob/secret", WriteMode::Replace, b"x"),
            Err(FsError::NotFound)
        );
        assert_eq!(
            run(&*alice, FsOp::RemoveFile(vp("/bob/secret"))),
            Err(FsError::NotFound)
        );
        assert_eq!(read(s, "/bob/secret", 0).unwrap(), b"bob's");
    });
}

#[test]
fn digests_cover_the_whole_file() {
    each_storage(|s| {
        write(s, "/f", WriteMode::Replace, b"abc").unwrap();
        let hash = run(
            s,
            FsOp::Hash {
                path: vp("/f"),
                algorithm: HashAlgorithm::Sha256,
            },
        );
        let Ok(FsReply::Hash { digest, size }) = hash else {
            panic!("{hash:?}");
        };
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            (hex.as_str(), size),
            (
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                3
            )
        );
    });
}

#[test]
fn memory_storage_is_deterministic() {
    let run_once = || {
        let s = MemoryStorage::new();
        s.set_now(1_000);
        run(&s, FsOp::MakeDir(vp("/d"))).unwrap();
        let Ok(FsReply::Created(unique)) = run(&s, FsOp::CreateUnique { dir: vp("/d") }) else {
            panic!("STOU's file");
        };
        s.set_now(2_000);
        write(&s, unique.as_str(), WriteMode::New, b"u").unwrap();
        let meta = s.stat(&unique).unwrap();
        let Ok(FsReply::Listing(listing)) = run(&s, FsOp::ListDir(vp("/d"))) else {
            panic!("a listing");
        };
        (unique, meta, listing)
    };
    let (unique, meta, listing) = run_once();
    assert_eq!(run_once(), (unique.clone(), meta.clone(), listing.clone()));
    assert_eq!(meta.modified, Some(2_000), "the injected clock");
    assert_eq!(listing.now, 2_000);
    assert!(unique.as_str().starts_with("/d/stou."));
}

#[test]
fn a_full_memory_storage_refuses_the_upload_and_keeps_the_old_file() {
    let s = MemoryStorage::new();
    s.set_capacity(10);
    write(&s, "/a", WriteMode::Replace, b"12345").unwrap();
    write(&s, "/b", WriteMode::Replace, b"123").unwrap();
    assert_eq!(run(&s, FsOp::FreeSpace(vp("/"))), Ok(FsReply::FreeSpace(2)));
    assert_eq!(
        write(&s, "/b", WriteMode::Replace, b"123456"),
        Err(FsError::NoSpace)
    );
    assert_eq!(read(&s, "/b", 0).unwrap(), b"123");
    assert_eq!(
        write(&s, "/a", WriteMode::Append, b"xyz"),
        Err(FsError::NoSpace)
    );
    // A replacement counts without the bytes it replaces.
    write(&s, "/b", WriteMode::Replace, b"12345").unwrap();
    assert_eq!(read(&s, "/b", 0).unwrap(), b"12345");
}
