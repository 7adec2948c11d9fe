//! Mapping OpenDAL's errors to the core's [`FsError`] kinds.

use opendal::ErrorKind;
use thinftp::FsError;

/// The core's error kind for an error of the object store. What has no FTP meaning (the store
/// unreachable, a bad signature, a throttled request) is logged here, once, and becomes
/// [`FsError::Other`] (`451`): the client learns the server had a local problem, the log says
/// which.
pub(crate) fn fs_error(e: &opendal::Error) -> FsError {
    match e.kind() {
        ErrorKind::NotFound => FsError::NotFound,
        ErrorKind::PermissionDenied => {
            tracing::warn!(error = %e, "object store: permission denied");
            FsError::PermissionDenied
        }
        ErrorKind::AlreadyExists | ErrorKind::ConditionNotMatch => FsError::AlreadyExists,
        ErrorKind::IsADirectory => FsError::IsADirectory,
        ErrorKind::NotADirectory => FsError::NotADirectory,
        ErrorKind::Unsupported => FsError::Unsupported,
        _ => {
            tracing::warn!(error = %e, "object store request failed");
            FsError::Other
        }
    }
}

/// An OpenDAL error as an I/O error, for the `Read`/`Write` streams of transfers.
pub(crate) fn io_error(e: opendal::Error) -> std::io::Error {
    std::io::Error::from(e)
}
