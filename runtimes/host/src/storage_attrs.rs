//! The requests of local-disk [`Storage`] that read or change attributes beyond a file's bytes:
//! modification time (`MFMT`, `SITE UTIME`), mode (`SITE CHMOD`), digests (`HASH`, `XSHA256`,
//! ...) and free space (`AVBL`).
//!
//! Each opens its target beneath the storage's directory handle through cap-std, as every other
//! request does (symlinks are followed only while they stay beneath the home), and then works
//! on the open descriptor (`futimens`, `fchmod`, `fstatvfs`, reads): nothing is looked up by
//! name a second time, so a rename or symlink swapped in meanwhile cannot redirect it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, Ordering};

use cap_std::fs::{OpenOptions, OpenOptionsExt};
use digest::Digest;
use rustix::fs::{Mode, Timespec, Timestamps, UTIME_OMIT};
use thinftp::{FsError, HashAlgorithm, VirtualPath};

use crate::errors::fs_error;
use crate::storage::Storage;

/// Bytes read per call while hashing: large enough that the digest, not the system calls,
/// sets the pace, small enough to stay in the cache.
const HASH_BUFFER: usize = 1 << 20;

impl Storage {
    /// Opens `path` (a file or directory) read-only, without blocking on a FIFO, for the
    /// descriptor-based calls below.
    fn open_any(&self, path: &VirtualPath) -> Result<File, FsError> {
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(libc::O_NONBLOCK);
        self.dir()
            .open_with(self.relative(path)?, &options)
            .map(cap_std::fs::File::into_std)
            .map_err(|e| fs_error(&e))
    }

    /// Sets the modification time of `path` to `unix_secs` (the access time is left alone).
    pub fn set_modified(&self, path: &VirtualPath, unix_secs: i64) -> Result<(), FsError> {
        let file = self.open_any(path)?;
        let times = Timestamps {
            last_access: Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_OMIT,
            },
            last_modification: Timespec {
                tv_sec: unix_secs,
                tv_nsec: 0,
            },
        };
        rustix::fs::futimens(&file, &times).map_err(|e| fs_error(&io::Error::from(e)))
    }

    /// Sets the permission bits of `path` to `mode`, of which only `0o777` is kept: never
    /// setuid, setgid or sticky, whatever the caller passes.
    pub fn set_mode(&self, path: &VirtualPath, mode: u32) -> Result<(), FsError> {
        let file = self.open_any(path)?;
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode & 0o777))
            .map_err(|e| fs_error(&io::Error::from(e)))
    }

    /// The free bytes an unprivileged user can still store on the file system of `path`.
    pub fn free_space(&self, path: &VirtualPath) -> Result<u64, FsError> {
        let file = self.open_any(path)?;
        let stats = rustix::fs::fstatvfs(&file).map_err(|e| fs_error(&io::Error::from(e)))?;
        Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
    }

    /// The digest of the regular file `path` (or of its bytes `first..=last` with a `range`, as
    /// far as the file has them) and how many bytes it covers, the file streamed in
    /// [`HASH_BUFFER`]-sized reads (never held whole). Blocking and as long as the file: run it
    /// as a job, off the event loop. Once `cancel` is set (the session ended) it stops at the
    /// next read with [`FsError::Other`]: nobody waits for the digest any more.
    pub fn hash(
        &self,
        path: &VirtualPath,
        algorithm: HashAlgorithm,
        range: Option<(u64, u64)>,
        cancel: &AtomicBool,
    ) -> Result<(Vec<u8>, u64), FsError> {
        let mut file = self.open_read(path)?;
        let read_error = |e: io::Error| fs_error(&e);
        let limit = match range {
            Some((first, last)) => {
                file.seek(SeekFrom::Start(first)).map_err(read_error)?;
                (last - first.min(last)).saturating_add(1)
            }
            None => u64::MAX,
        };
        let mut source = Source {
            file: file.take(limit),
            cancel,
        };
        match algorithm {
            HashAlgorithm::Sha256 => digest_file::<sha2::Sha256>(&mut source),
            HashAlgorithm::Sha1 => digest_file::<sha1::Sha1>(&mut source),
            HashAlgorithm::Md5 => digest_file::<md5::Md5>(&mut source),
            HashAlgorithm::Crc32 => {
                let mut crc = crc32fast::Hasher::new();
                let size = source.stream(|chunk| crc.update(chunk))?;
                Ok((crc.finalize().to_be_bytes().to_vec(), size))
            }
            _ => Err(FsError::Unsupported),
        }
    }
}

fn digest_file<D: Digest>(source: &mut Source<'_>) -> Result<(Vec<u8>, u64), FsError> {
    let mut hasher = D::new();
    let size = source.stream(|chunk| hasher.update(chunk))?;
    Ok((hasher.finalize().to_vec(), size))
}

/// The bytes to digest, and the flag that stops the reading.
struct Source<'a> {
    file: io::Take<File>,
    cancel: &'a AtomicBool,
}

impl Source<'_> {
    /// Feeds all the bytes to `feed`, one buffer at a time; returns how many were read.
    fn stream(&mut self, mut feed: impl FnMut(&[u8])) -> Result<u64, FsError> {
        let mut buffer = vec![0u8; HASH_BUFFER];
        let mut total = 0u64;
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(FsError::Other);
            }
            match self.file.read(&mut buffer) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    feed(&buffer[..n]);
                    total += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(fs_error(&e)),
            }
        }
    }
}
