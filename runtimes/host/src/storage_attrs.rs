//! The requests of local-disk [`Storage`] that read or change attributes beyond a file's bytes:
//! modification time (`MFMT`, `SITE UTIME`), mode (`SITE CHMOD`), digests (`HASH`, `XSHA256`,
//! ...) and free space (`AVBL`).
//!
//! Each opens its target beneath the storage's directory handle through cap-std, as every other
//! request does (symlinks are followed only while they stay beneath the home), and then works
//! on the open descriptor (`futimens`, `fchmod`, `fstatvfs`, reads): nothing is looked up by
//! name a second time, so a rename or symlink swapped in meanwhile cannot redirect it.

use std::fs::File;
use std::io::{self, Read};

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

    /// The digest of the regular file `path` and its size, the file streamed in
    /// [`HASH_BUFFER`]-sized reads (never held whole). Blocking and as long as the file: run it
    /// as a job, off the event loop.
    pub fn hash(
        &self,
        path: &VirtualPath,
        algorithm: HashAlgorithm,
    ) -> Result<(Vec<u8>, u64), FsError> {
        let mut file = self.open_read(path)?;
        let read_error = |e: io::Error| fs_error(&e);
        match algorithm {
            HashAlgorithm::Sha256 => digest_file::<sha2::Sha256>(&mut file).map_err(read_error),
            HashAlgorithm::Sha1 => digest_file::<sha1::Sha1>(&mut file).map_err(read_error),
            HashAlgorithm::Md5 => digest_file::<md5::Md5>(&mut file).map_err(read_error),
            HashAlgorithm::Crc32 => {
                let mut crc = crc32fast::Hasher::new();
                let size = stream(&mut file, |chunk| crc.update(chunk)).map_err(read_error)?;
                Ok((crc.finalize().to_be_bytes().to_vec(), size))
            }
            _ => Err(FsError::Unsupported),
        }
    }
}

fn digest_file<D: Digest>(file: &mut File) -> io::Result<(Vec<u8>, u64)> {
    let mut hasher = D::new();
    let size = stream(file, |chunk| hasher.update(chunk))?;
    Ok((hasher.finalize().to_vec(), size))
}

/// Feeds the whole of `file` to `feed`, one buffer at a time; returns the bytes read.
fn stream(file: &mut File, mut feed: impl FnMut(&[u8])) -> io::Result<u64> {
    let mut buffer = vec![0u8; HASH_BUFFER];
    let mut total = 0u64;
    loop {
        match file.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                feed(&buffer[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
