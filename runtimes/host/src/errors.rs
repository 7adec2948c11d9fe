//! Mapping host I/O errors to the core's [`FsError`] kinds.

use std::io;

use thinftp::FsError;

/// The core's error kind for an I/O error from the local disk.
///
/// `cap-std` reports a path that would lead outside the root (an absolute symlink, a `..` that
/// climbs above the root, a symlinked directory pointing elsewhere) as `PermissionDenied` with no
/// OS error code. That becomes [`FsError::NotFound`], so a client cannot tell a forbidden path from
/// a missing one. A real `EACCES`/`EPERM` from the OS carries its code and stays
/// [`FsError::PermissionDenied`].
pub fn fs_error(e: &io::Error) -> FsError {
    if let Some(code) = e.raw_os_error() {
        if let Some(kind) = from_os_code(code) {
            return kind;
        }
    }
    match e.kind() {
        io::ErrorKind::NotFound => FsError::NotFound,
        io::ErrorKind::PermissionDenied if e.raw_os_error().is_none() => FsError::NotFound,
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            FsError::PermissionDenied
        }
        io::ErrorKind::AlreadyExists => FsError::AlreadyExists,
        io::ErrorKind::NotADirectory => FsError::NotADirectory,
        io::ErrorKind::IsADirectory => FsError::IsADirectory,
        io::ErrorKind::DirectoryNotEmpty => FsError::DirectoryNotEmpty,
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
            FsError::NoSpace
        }
        io::ErrorKind::InvalidFilename | io::ErrorKind::InvalidInput => FsError::InvalidName,
        _ => FsError::Other,
    }
}

/// Errors whose `ErrorKind` is too coarse (or was unstable when a std was built) are matched by
/// their OS code first.
fn from_os_code(code: i32) -> Option<FsError> {
    let kind = match code {
        libc::ENOENT => FsError::NotFound,
        libc::EACCES | libc::EPERM | libc::EROFS => FsError::PermissionDenied,
        libc::EEXIST => FsError::AlreadyExists,
        libc::ENOTDIR => FsError::NotADirectory,
        libc::EISDIR => FsError::IsADirectory,
        libc::ENOTEMPTY => FsError::DirectoryNotEmpty,
        libc::ENOSPC | libc::EDQUOT | libc::EFBIG => FsError::NoSpace,
        libc::ENAMETOOLONG | libc::EINVAL | libc::EILSEQ => FsError::InvalidName,
        // ELOOP: a symlink loop, or (with O_NOFOLLOW) a final symlink that may not be followed.
        libc::ELOOP => FsError::NotFound,
        // EXDEV: cap-std already turns openat2's RESOLVE_BENEATH escapes into its own escape
        // error, so what reaches us is a rename across mount points: a local failure.
        libc::EXDEV => FsError::Other,
        _ => return None,
    };
    Some(kind)
}
