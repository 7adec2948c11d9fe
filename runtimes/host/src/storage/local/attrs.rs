//! The requests of [`LocalStorage`] that read or change attributes beyond a file's bytes:
//! modification time (`MFMT`, `SITE UTIME`), mode (`SITE CHMOD`), digests (`HASH`, `XSHA256`,
//! ...) and free space (`AVBL`).
//!
//! Each opens its target beneath the storage's directory handle through cap-std, as every other
//! request does (symlinks are followed only while they stay beneath the home), and then works
//! on the open descriptor (`futimens`, `fchmod`, `fstatvfs`, reads): nothing is looked up by
//! name a second time, so a rename or symlink swapped in meanwhile cannot redirect it.

use std::fs::File;
use std::io;

use cap_std::fs::{OpenOptions, OpenOptionsExt};
use rustix::fs::{Mode, Timespec, Timestamps, UTIME_OMIT};
use thinftp::{FsError, HashAlgorithm, VirtualPath};

use super::LocalStorage;
use crate::errors::fs_error;
use crate::storage::digest_stream;

impl LocalStorage {
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

    /// The digest of the regular file `path` and its size, the file streamed (never held
    /// whole). Blocking and as long as the file: run it as a job, off the event loop.
    pub fn hash(
        &self,
        path: &VirtualPath,
        algorithm: HashAlgorithm,
    ) -> Result<(Vec<u8>, u64), FsError> {
        let mut file = self.open_file_read(path)?;
        digest_stream(&mut file, algorithm)
            .ok_or(FsError::Unsupported)?
            .map_err(|e| fs_error(&e))
    }
}
