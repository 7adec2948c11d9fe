//! Answers to the listing requests of the core ([`FsOp::ListDir`](thinftp::FsOp::ListDir),
//! [`FsOp::ListDirFirst`](thinftp::FsOp::ListDirFirst), [`FsOp::ListNames`](thinftp::FsOp::ListNames))
//! built from a storage's [`DirStream`], so that every back-end answers them alike.

use thinftp::{FsError, Listing};

use super::DirStream;

/// At most `max` entries of `stream` (all of them with `usize::MAX`), dated against `now`: the
/// [`Listing`] for a `ListDir` (`max` = `usize::MAX`) or a `ListDirFirst`. An error from the
/// stream is the answer.
pub fn collect_listing(stream: DirStream, max: usize, now: i64) -> Result<Listing, FsError> {
    let entries = stream.take(max).collect::<Result<Vec<_>, FsError>>()?;
    Ok(Listing::new(entries, now))
}
