//! The object store's semantics on OpenDAL's in-memory service (the same code paths as S3
//! but for server-side copy, which the memory service lacks: there the copy is streamed). The
//! same behaviour against a real S3 server is in the testsuite (`object_store.rs`).

use std::io::{Read, Write};

use thinftp::{FileKind, FsError, FsOp, FsReply, HashAlgorithm, VirtualPath, WriteMode};

use super::ObjectStore;
use crate::storage::Storage;

fn store() -> ObjectStore {
    let op = opendal::Operator::new(opendal::services::Memory::default()).expect("memory service");
    ObjectStore::with_operator(op, "memory://".into()).expect("store")
}

fn vp(s: &str) -> VirtualPath {
    VirtualPath::root().resolve(s).unwrap()
}

fn put(store: &dyn Storage, path: &str, bytes: &[u8]) {
    let mut upload = store.open_write(&vp(path), WriteMode::Replace).unwrap();
    upload.write_all(bytes).unwrap();
    upload.commit().unwrap();
}

fn get(store: &dyn Storage, path: &str, offset: u64) -> Result<Vec<u8>, FsError> {
    let mut out = Vec::new();
    store
        .open_read(&vp(path), offset)?
        .read_to_end(&mut out)
        .unwrap();
    Ok(out)
}

fn names(store: &dyn Storage, path: &str) -> Result<Vec<(String, FileKind)>, FsError> {
    let mut names: Vec<_> = store
        .list(&vp(path), true)?
        .map(|e| e.map(|e| (e.name, e.metadata.kind)))
        .collect::<Result<_, _>>()?;
    names.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(names)
}

fn run(store: &dyn Storage, op: FsOp) -> Result<FsReply, FsError> {
    store.execute(&op)
}

#[test]
fn an_empty_directory_made_by_mkd_is_listed_and_removed_by_rmd() {
    let s = store();
    assert_eq!(names(&s, "/"), Ok(vec![]));
    run(&s, FsOp::MakeDir(vp("/empty"))).unwrap();
    assert_eq!(names(&s, "/"), Ok(vec![("empty".into(), FileKind::Dir)]));
    assert_eq!(names(&s, "/empty"), Ok(vec![]));
    assert!(s.stat(&vp("/empty")).unwrap().is_dir());
    assert_eq!(
        run(&s, FsOp::MakeDir(vp("/empty"))),
        Err(FsError::AlreadyExists)
    );
    run(&s, FsOp::RemoveDir(vp("/empty"))).unwrap();
    assert_eq!(s.stat(&vp("/empty")), Err(FsError::NotFound));
    assert_eq!(names(&s, "/"), Ok(vec![]));
}

#[test]
fn rmd_refuses_a_directory_with_entries_and_mkd_needs_the_parent() {
    let s = store();
    assert_eq!(
        run(&s, FsOp::MakeDir(vp("/missing/sub"))),
        Err(FsError::NotFound)
    );
    run(&s, FsOp::MakeDir(vp("/d"))).unwrap();
    put(&s, "/d/f", b"x");
    assert_eq!(
        run(&s, FsOp::RemoveDir(vp("/d"))),
        Err(FsError::DirectoryNotEmpty)
    );
    assert_eq!(
        run(&s, FsOp::RemoveDir(vp("/d/f"))),
        Err(FsError::NotADirectory)
    );
    assert_eq!(
        run(&s, FsOp::RemoveFile(vp("/d"))),
        Err(FsError::IsADirectory)
    );
    run(&s, FsOp::RemoveFile(vp("/d/f"))).unwrap();
    assert_eq!(
        run(&s, FsOp::RemoveFile(vp("/d/f"))),
        Err(FsError::NotFound)
    );
    run(&s, FsOp::RemoveDir(vp("/d"))).unwrap();
}

#[test]
fn an_upload_is_visible_only_once_committed_and_an_aborted_one_keeps_the_old_object() {
    let s = store();
    put(&s, "/f", b"old contents");
    let mut upload = s.open_write(&vp("/f"), WriteMode::Replace).unwrap();
    upload.write_all(b"new, but never finished").unwrap();
    assert_eq!(get(&s, "/f", 0).unwrap(), b"old contents");
    drop(upload);
    assert_eq!(get(&s, "/f", 0).unwrap(), b"old contents");

    // Over a part, so that a multipart upload was started where the service has them.
    let mut big = s.open_write(&vp("/f"), WriteMode::Replace).unwrap();
    big.write_all(&vec![7u8; super::PART_SIZE + 1]).unwrap();
    drop(big);
    assert_eq!(get(&s, "/f", 0).unwrap(), b"old contents");

    let mut upload = s.open_write(&vp("/f"), WriteMode::Replace).unwrap();
    upload.write_all(b"new contents").unwrap();
    upload.commit().unwrap();
    assert_eq!(get(&s, "/f", 0).unwrap(), b"new contents");
}

#[test]
fn a_never_written_upload_creates_nothing() {
    let s = store();
    let upload = s.open_write(&vp("/ghost"), WriteMode::Replace).unwrap();
    drop(upload);
    assert_eq!(s.stat(&vp("/ghost")), Err(FsError::NotFound));
}

#[test]
fn big_uploads_and_ranged_reads_are_byte_exact() {
    let s = store();
    // Over two parts, so the multipart path is taken where the service has one.
    let bytes: Vec<u8> = (0..(2 * super::PART_SIZE + 12_345))
        .map(|i| (i % 251) as u8)
        .collect();
    put(&s, "/big", &bytes);
    assert_eq!(s.stat(&vp("/big")).unwrap().size, bytes.len() as u64);
    assert_eq!(get(&s, "/big", 0).unwrap(), bytes);
    assert_eq!(get(&s, "/big", 1_000_000).unwrap(), &bytes[1_000_000..]);
    assert_eq!(get(&s, "/big", bytes.len() as u64).unwrap(), b"");
    assert_eq!(get(&s, "/big", u64::MAX).unwrap(), b"");
    put(&s, "/zero", b"");
    assert_eq!(get(&s, "/zero", 0).unwrap(), b"");
    assert_eq!(s.stat(&vp("/zero")).unwrap().size, 0);
}

#[test]
fn big_downloads_read_ahead_in_ranged_chunks_byte_exact_from_any_offset() {
    use super::read::{READ_AHEAD, READ_AHEAD_FROM, READ_CHUNK};
    let s = store();
    // Past the read-ahead threshold by more chunks than are in flight, and not chunk-aligned.
    let len = READ_AHEAD_FROM as usize + (READ_AHEAD + 2) * READ_CHUNK + 777;
    let bytes: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
    put(&s, "/big", &bytes);
    for offset in [0, 1, READ_CHUNK - 1, READ_CHUNK + 12_345] {
        let got = get(&s, "/big", offset as u64).unwrap();
        assert!(got == bytes[offset..], "read from {offset} differs");
    }
    // Read in small pieces, as a data connection takes them: the chunks join seamlessly.
    let mut reader = s.open_read(&vp("/big"), 3).unwrap();
    let mut piece = [0u8; 65_537];
    let mut got = Vec::with_capacity(len);
    loop {
        let n = reader.read(&mut piece).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&piece[..n]);
    }
    assert!(got == bytes[3..], "piecewise read differs");
}

#[test]
fn reads_of_directories_and_missing_files_are_refused() {
    let s = store();
    run(&s, FsOp::MakeDir(vp("/d"))).unwrap();
    assert_eq!(get(&s, "/d", 0), Err(FsError::IsADirectory));
    assert_eq!(get(&s, "/nope", 0), Err(FsError::NotFound));
    assert_eq!(s.list(&vp("/nope"), true).err(), Some(FsError::NotFound));
    put(&s, "/file", b"1");
    assert_eq!(
        s.list(&vp("/file"), true).err(),
        Some(FsError::NotADirectory)
    );
}

#[test]
fn uploads_need_an_existing_directory_and_never_replace_one() {
    let s = store();
    assert_eq!(
        s.open_write(&vp("/no/such/f"), WriteMode::Replace).err(),
        Some(FsError::NotFound)
    );
    run(&s, FsOp::MakeDir(vp("/d"))).unwrap();
    assert_eq!(
        s.open_write(&vp("/d"), WriteMode::Replace).err(),
        Some(FsError::IsADirectory)
    );
    put(&s, "/file", b"1");
    assert_eq!(
        s.open_write(&vp("/file/inner"), WriteMode::Replace).err(),
        Some(FsError::NotADirectory)
    );
}

#[test]
fn appends_and_resumed_uploads_are_refused_where_the_store_cannot_append() {
    let s = store();
    put(&s, "/f", b"abc");
    for mode in [WriteMode::Append, WriteMode::Resume(3)] {
        assert_eq!(
            s.open_write(&vp("/f"), mode).err(),
            Some(FsError::Unsupported)
        );
        assert!(!s.capabilities().allows_write(mode));
    }
    assert_eq!(get(&s, "/f", 0).unwrap(), b"abc");
    // REST 0 + STOR rewrites the whole file: any store can.
    let mut upload = s.open_write(&vp("/f"), WriteMode::Resume(0)).unwrap();
    upload.write_all(b"xyz").unwrap();
    upload.commit().unwrap();
    assert_eq!(get(&s, "/f", 0).unwrap(), b"xyz");
}

#[test]
fn times_modes_and_free_space_cannot_be_set_or_told() {
    let s = store();
    put(&s, "/f", b"abc");
    let path = vp("/f");
    for op in [
        FsOp::SetModified {
            path: path.clone(),
            unix_secs: 0,
        },
        FsOp::SetMode {
            path: path.clone(),
            mode: 0o600,
        },
        FsOp::FreeSpace(path),
    ] {
        assert_eq!(run(&s, op), Err(FsError::Unsupported));
    }
}

#[test]
fn a_file_is_renamed_by_copy_and_delete_and_a_full_directory_is_refused() {
    let s = store();
    put(&s, "/a", b"contents");
    run(&s, FsOp::MakeDir(vp("/d"))).unwrap();
    let rename = |from: &str, to: &str| {
        run(
            &s,
            FsOp::Rename {
                from: vp(from),
                to: vp(to),
            },
        )
    };
    rename("/a", "/d/b").unwrap();
    assert_eq!(s.stat(&vp("/a")), Err(FsError::NotFound));
    assert_eq!(get(&s, "/d/b", 0).unwrap(), b"contents");
    // Onto itself: nothing is lost.
    rename("/d/b", "/d/b").unwrap();
    assert_eq!(get(&s, "/d/b", 0).unwrap(), b"contents");
    assert_eq!(rename("/d", "/e"), Err(FsError::Unsupported));
    assert_eq!(rename("/nope", "/x"), Err(FsError::NotFound));
    assert_eq!(rename("/d/b", "/missing/b"), Err(FsError::NotFound));
    assert_eq!(rename("/d/b", "/d"), Err(FsError::IsADirectory));

    run(&s, FsOp::MakeDir(vp("/empty"))).unwrap();
    rename("/empty", "/moved").unwrap();
    assert_eq!(
        names(&s, "/"),
        Ok(vec![
            ("d".into(), FileKind::Dir),
            ("moved".into(), FileKind::Dir)
        ])
    );
}

#[test]
fn a_home_is_a_key_prefix_that_nothing_leaves() {
    let s = store();
    run(&s, FsOp::MakeDir(vp("/alice"))).unwrap();
    run(&s, FsOp::MakeDir(vp("/bob"))).unwrap();
    put(&s, "/bob/secret", b"bob's");
    let alice = s.for_home(&vp("/alice")).unwrap();
    let alice = alice.as_ref();
    assert_eq!(alice.describe(), "memory://alice/");
    put(alice, "/alice/mine", b"alice's");
    assert_eq!(
        names(alice, "/alice"),
        Ok(vec![("mine".into(), FileKind::File)])
    );
    assert_eq!(get(alice, "/bob/secret", 0), Err(FsError::NotFound));
    assert_eq!(get(&s, "/alice/mine", 0).unwrap(), b"alice's");
    assert_eq!(
        run(alice, FsOp::RemoveDir(vp("/alice"))),
        Err(FsError::PermissionDenied)
    );
    assert_eq!(s.for_home(&vp("/nobody")).err(), Some(FsError::NotFound));
    // A nested home of a home.
    run(alice, FsOp::MakeDir(vp("/alice/sub"))).unwrap();
    let sub = alice.for_home(&vp("/alice/sub")).unwrap();
    put(sub.as_ref(), "/alice/sub/x", b"x");
    assert_eq!(get(&s, "/alice/sub/x", 0).unwrap(), b"x");
}

#[test]
fn keys_written_by_other_tools_make_implicit_directories() {
    let s = store();
    let op = &s.shared.op;
    s.run(op.write("deep/er/file.txt", b"x".to_vec())).unwrap();
    assert!(s.stat(&vp("/deep")).unwrap().is_dir());
    assert_eq!(names(&s, "/deep"), Ok(vec![("er".into(), FileKind::Dir)]));
    assert_eq!(
        names(&s, "/deep/er"),
        Ok(vec![("file.txt".into(), FileKind::File)])
    );
}

#[test]
fn listings_page_through_many_objects_and_stat_dir_can_stop_early() {
    let s = store();
    run(&s, FsOp::MakeDir(vp("/many"))).unwrap();
    let op = &s.shared.op;
    for i in 0..2_500 {
        s.run(op.write(&format!("many/f{i:05}"), vec![1u8; i % 7]))
            .unwrap();
    }
    let listed: Vec<_> = s
        .list(&vp("/many"), true)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(listed.len(), 2_500);
    assert!(listed.iter().all(|e| e.metadata.kind == FileKind::File));
    let Ok(FsReply::Listing(first)) = run(
        &s,
        FsOp::ListDirFirst {
            path: vp("/many"),
            max: 11,
            pattern: None,
        },
    ) else {
        panic!("no listing");
    };
    assert_eq!(first.entries.len(), 11);
}

#[test]
fn digests_stream_the_object() {
    let s = store();
    put(&s, "/f", b"abc");
    let Ok(FsReply::Hash { digest, size }) = run(
        &s,
        FsOp::Hash {
            path: vp("/f"),
            algorithm: HashAlgorithm::Md5,
            range: None,
        },
    ) else {
        panic!("no digest");
    };
    assert_eq!(size, 3);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "900150983cd24fb0d6963f7d28e17f72");
}

#[test]
fn stou_makes_a_new_empty_object() {
    let s = store();
    let Ok(FsReply::Created(path)) = run(&s, FsOp::CreateUnique { dir: vp("/") }) else {
        panic!("not created");
    };
    assert!(path.as_str().starts_with("/stou."));
    assert_eq!(s.stat(&path).unwrap().size, 0);
}
