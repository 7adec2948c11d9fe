//! Digests of a file's bytes for `HASH` and the `X` commands ([`FsOp::Hash`](thinftp::FsOp::Hash)),
//! streamed from any reader: every back-end answers `Hash` with the same code, the file never
//! held whole.

use std::io::{self, Read};

use digest::Digest;
use thinftp::HashAlgorithm;

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
