//! Answers to the listing requests of the core ([`FsOp::ListDir`](thinftp::FsOp::ListDir),
//! [`FsOp::ListDirFirst`](thinftp::FsOp::ListDirFirst), [`FsOp::ListNames`](thinftp::FsOp::ListNames))
//! built from a storage's [`DirStream`], so that every back-end answers them alike.

use thinftp::{FsError, ListPattern, Listing, VirtualPath};

use super::{DirStream, Storage};

/// At most `max` entries of `stream` (all of them with `usize::MAX`), dated against `now`: the
/// [`Listing`] for a `ListDir` (`max` = `usize::MAX`) or a `ListDirFirst`. An error from the
/// stream is the answer.
pub fn collect_listing(stream: DirStream, max: usize, now: i64) -> Result<Listing, FsError> {
    let entries = stream.take(max).collect::<Result<Vec<_>, FsError>>()?;
    Ok(Listing::new(entries, now))
}

/// At most `max` entries of `stream` whose names `pattern` matches, dated against `now`: the
/// [`Listing`] for a `ListDirFirst` with a pattern (`STAT *.bin`).
pub fn collect_matching(
    stream: DirStream,
    pattern: &ListPattern,
    max: usize,
    now: i64,
) -> Result<Listing, FsError> {
    let entries = stream
        .filter(|entry| entry.as_ref().map_or(true, |e| pattern.matches(&e.name)))
        .take(max)
        .collect::<Result<Vec<_>, FsError>>()?;
    Ok(Listing::new(entries, now))
}

/// [`Storage::list`] of the directory a pattern is in: a path that is not a directory has no
/// matches ([`FsError::NotFound`]).
pub fn pattern_list(
    storage: &dyn Storage,
    path: &VirtualPath,
    metadata: bool,
) -> Result<DirStream, FsError> {
    storage.list(path, metadata).map_err(|e| match e {
        FsError::NotADirectory => FsError::NotFound,
        other => other,
    })
}
