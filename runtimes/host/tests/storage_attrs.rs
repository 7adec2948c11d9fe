//! Storage requests for attributes and digests: times, modes, hashes and free space beneath the
//! root, and never through a symlink that leads out of it.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::time::{Duration, UNIX_EPOCH};

use common::vp;
use sha2::Digest;
use thinftp::{FsError, FsOp, FsReply, HashAlgorithm};
use thinftp_host::{LocalStorage, Storage};

fn hash(s: &dyn Storage, path: &str, algorithm: HashAlgorithm) -> Result<FsReply, FsError> {
    s.execute(&FsOp::Hash {
        path: vp(path),
        algorithm,
    })
}

#[test]
fn times_and_modes_change_and_setuid_never_sticks() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("f"), b"x").unwrap();
    fs::create_dir(root.path().join("d")).unwrap();
    let s = LocalStorage::open(root.path()).unwrap();
    for path in ["/f", "/d"] {
        let op = FsOp::SetModified {
            path: vp(path),
            unix_secs: 1_577_934_245,
        };
        assert_eq!(s.execute(&op), Ok(FsReply::Done), "{path}");
        let modified = fs::metadata(root.path().join(&path[1..]))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(modified, UNIX_EPOCH + Duration::from_secs(1_577_934_245));
        // Even if a caller passes special bits, only 0o777 is applied.
        let op = FsOp::SetMode {
            path: vp(path),
            mode: 0o7751,
        };
        assert_eq!(s.execute(&op), Ok(FsReply::Done), "{path}");
        let mode = fs::metadata(root.path().join(&path[1..]))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o751, "{path}");
    }
    let missing = FsOp::SetModified {
        path: vp("/nope"),
        unix_secs: 0,
    };
    assert_eq!(s.execute(&missing), Err(FsError::NotFound));
}

#[test]
fn digests_stream_the_whole_file() {
    let root = tempfile::tempdir().unwrap();
    // Larger than one read buffer, not a multiple of it.
    let data: Vec<u8> = (0..(3u32 << 20) + 7)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    fs::write(root.path().join("f"), &data).unwrap();
    fs::write(root.path().join("empty"), b"").unwrap();
    let s = LocalStorage::open(root.path()).unwrap();
    let expect = |digest: Vec<u8>, size: usize| FsReply::Hash {
        digest,
        size: size as u64,
    };
    assert_eq!(
        hash(&s, "/f", HashAlgorithm::Sha256),
        Ok(expect(sha2::Sha256::digest(&data).to_vec(), data.len()))
    );
    assert_eq!(
        hash(&s, "/f", HashAlgorithm::Sha1),
        Ok(expect(sha1::Sha1::digest(&data).to_vec(), data.len()))
    );
    assert_eq!(
        hash(&s, "/f", HashAlgorithm::Md5),
        Ok(expect(md5::Md5::digest(&data).to_vec(), data.len()))
    );
    assert_eq!(
        hash(&s, "/f", HashAlgorithm::Crc32),
        Ok(expect(
            crc32fast::hash(&data).to_be_bytes().to_vec(),
            data.len()
        ))
    );
    assert_eq!(
        hash(&s, "/empty", HashAlgorithm::Sha256),
        Ok(expect(sha2::Sha256::digest(b"").to_vec(), 0))
    );
    fs::create_dir(root.path().join("d")).unwrap();
    assert_eq!(
        hash(&s, "/d", HashAlgorithm::Sha256),
        Err(FsError::IsADirectory)
    );
    assert_eq!(
        hash(&s, "/nope", HashAlgorithm::Sha256),
        Err(FsError::NotFound)
    );
    // A FIFO neither hangs the hash nor is read.
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        root.path().join("fifo"),
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    assert_eq!(
        hash(&s, "/fifo", HashAlgorithm::Md5),
        Err(FsError::PermissionDenied)
    );
}

#[test]
fn free_space_is_reported() {
    let root = tempfile::tempdir().unwrap();
    let s = LocalStorage::open(root.path()).unwrap();
    match s.execute(&FsOp::FreeSpace(vp("/"))) {
        Ok(FsReply::FreeSpace(bytes)) => assert!(bytes > 0),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.execute(&FsOp::FreeSpace(vp("/nope"))),
        Err(FsError::NotFound)
    );
}

#[test]
fn no_attribute_request_follows_a_symlink_out_of_the_root() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs::write(&victim, b"secret").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
    let before = fs::metadata(&victim).unwrap().modified().unwrap();
    let root = tempfile::tempdir().unwrap();
    symlink(&victim, root.path().join("abs")).unwrap();
    symlink("../../../../../../../../..", root.path().join("up")).unwrap();
    let s = LocalStorage::open(root.path()).unwrap();
    let ops = [
        FsOp::SetModified {
            path: vp("/abs"),
            unix_secs: 0,
        },
        FsOp::SetMode {
            path: vp("/abs"),
            mode: 0o777,
        },
        FsOp::Hash {
            path: vp("/abs"),
            algorithm: HashAlgorithm::Sha256,
        },
        FsOp::FreeSpace(vp("/up")),
        FsOp::SetMode {
            path: vp("/up"),
            mode: 0o777,
        },
    ];
    for op in ops {
        assert_eq!(s.execute(&op), Err(FsError::NotFound), "{op:?}");
    }
    let meta = fs::metadata(&victim).unwrap();
    assert_eq!(meta.modified().unwrap(), before);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}
