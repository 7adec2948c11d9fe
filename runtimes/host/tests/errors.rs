//! io::Error → FsError mapping.

use std::io;

use thinftp::FsError;
use thinftp_host::errors::fs_error;

#[test]
fn os_error_codes_map_to_their_kinds() {
    let cases = [
        (libc::ENOENT, FsError::NotFound),
        (libc::EACCES, FsError::PermissionDenied),
        (libc::EPERM, FsError::PermissionDenied),
        (libc::EROFS, FsError::PermissionDenied),
        (libc::EEXIST, FsError::AlreadyExists),
        (libc::ENOTDIR, FsError::NotADirectory),
        (libc::EISDIR, FsError::IsADirectory),
        (libc::ENOTEMPTY, FsError::DirectoryNotEmpty),
        (libc::ENOSPC, FsError::NoSpace),
        (libc::EDQUOT, FsError::NoSpace),
        (libc::EFBIG, FsError::NoSpace),
        (libc::ENAMETOOLONG, FsError::InvalidName),
        (libc::ELOOP, FsError::NotFound),
        (libc::EXDEV, FsError::Other),
        (libc::EIO, FsError::Other),
    ];
    for (code, kind) in cases {
        assert_eq!(
            fs_error(&io::Error::from_raw_os_error(code)),
            kind,
            "errno {code}"
        );
    }
}

#[test]
fn escapes_reported_by_cap_std_look_like_missing_files() {
    // cap-std's escape error: PermissionDenied without an OS code.
    let escape = io::Error::new(
        io::ErrorKind::PermissionDenied,
        "a path led outside of the filesystem",
    );
    assert_eq!(fs_error(&escape), FsError::NotFound);
    // A real EACCES keeps its meaning.
    assert_eq!(
        fs_error(&io::Error::from_raw_os_error(libc::EACCES)),
        FsError::PermissionDenied
    );
}

#[test]
fn kinds_without_os_codes() {
    assert_eq!(fs_error(&io::ErrorKind::NotFound.into()), FsError::NotFound);
    assert_eq!(
        fs_error(&io::ErrorKind::AlreadyExists.into()),
        FsError::AlreadyExists
    );
    assert_eq!(
        fs_error(&io::ErrorKind::StorageFull.into()),
        FsError::NoSpace
    );
    assert_eq!(
        fs_error(&io::ErrorKind::DirectoryNotEmpty.into()),
        FsError::DirectoryNotEmpty
    );
    assert_eq!(
        fs_error(&io::ErrorKind::InvalidInput.into()),
        FsError::InvalidName
    );
    assert_eq!(fs_error(&io::Error::other("disk on fire")), FsError::Other);
}
