//! Digests of a file's bytes for `HASH` and the `X` commands ([`FsOp::Hash`](thinftp::FsOp::Hash)),
//! streamed from any reader: every back-end answers `Hash` with the same code, the file never
//! held whole.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};

use digest::Digest;
use thinftp::{FsError, FsReply, HashAlgorithm, VirtualPath};

use super::Storage;

/// Bytes read per call: large enough that the digest, not the reads, sets the pace, small
/// enough to stay in the cache.
const HASH_BUFFER: usize = 1 << 20;

/// The digest `algorithm` of everything `reader` yields, and how many bytes that was. `None`
/// for an algorithm newer than this host ([`HashAlgorithm`] is non-exhaustive).
pub fn digest_stream(
    reader: &mut dyn Read,
    algorithm: HashAlgorithm,
) -> Option<io::Result<(Vec<u8>, u64)>> {
    Some(match algorithm {
        HashAlgorithm::Sha256 => digest_with::<sha2::Sha256>(reader),
        HashAlgorithm::Sha1 => digest_with::<sha1::Sha1>(reader),
        HashAlgorithm::Md5 => digest_with::<md5::Md5>(reader),
        HashAlgorithm::Crc32 => {
            let mut crc = crc32fast::Hasher::new();
            stream(reader, |chunk| crc.update(chunk))
                .map(|size| (crc.finalize().to_be_bytes().to_vec(), size))
        }
        _ => return None,
    })
}

fn digest_with<D: Digest>(reader: &mut dyn Read) -> io::Result<(Vec<u8>, u64)> {
    let mut hasher = D::new();
    let size = stream(reader, |chunk| hasher.update(chunk))?;
    Ok((hasher.finalize().to_vec(), size))
}

/// Feeds the whole of `reader` to `feed`, one buffer at a time; returns the bytes read.
fn stream(reader: &mut dyn Read, mut feed: impl FnMut(&[u8])) -> io::Result<u64> {
    let mut buffer = vec![0u8; HASH_BUFFER];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                feed(buffer.get(..n).unwrap_or_default());
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The answer to [`FsOp::Hash`](thinftp::FsOp::Hash) from any storage: the digest of the file
/// `path` (of its bytes `first..=last` with a `range`, as far as the file has them) and how
/// many bytes it covers, read through [`Storage::open_read`]. Once `cancel` is set (`ABOR`, or
/// the session ended) it stops at the next read with [`FsError::Other`]: nobody waits for the
/// digest any more.
pub fn digest_file(
    storage: &dyn Storage,
    path: &VirtualPath,
    algorithm: HashAlgorithm,
    range: Option<(u64, u64)>,
    cancel: &AtomicBool,
) -> Result<FsReply, FsError> {
    let (first, limit) = match range {
        Some((first, last)) => (first, (last - first.min(last)).saturating_add(1)),
        None => (0, u64::MAX),
    };
    // Past its end a file has nothing to give: no offset error, an empty digest.
    let size = storage.stat(path)?.size;
    let first = first.min(size);
    let file = storage.open_read(path, first)?;
    let mut reader = Cancellable {
        inner: file.take(limit),
        cancel,
    };
    let (digest, size) = digest_stream(&mut reader, algorithm)
        .ok_or(FsError::Unsupported)?
        .map_err(|e| {
            if cancel.load(Ordering::Relaxed) {
                FsError::Other
            } else {
                crate::errors::fs_error(&e)
            }
        })?;
    Ok(FsReply::Hash { digest, size })
}

/// A reader that fails once its flag is set, checked before each read (each up to
/// [`HASH_BUFFER`] bytes).
struct Cancellable<'a, R> {
    inner: R,
    cancel: &'a AtomicBool,
}

impl<R: Read> Read for Cancellable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(io::Error::other("digest cancelled"));
        }
        self.inner.read(buf)
    }
}
