//! Opening the file an upload writes to, and finishing it, so that uploads lose nothing.
//!
//! - `STOR` over an existing file writes a hidden temporary file in the same directory and renames
//!   it over the target only when the upload ended cleanly; on failure or abort the temporary is
//!   removed and the old file was never touched.
//! - `STOR` of a new file writes straight to it: a broken upload keeps what arrived, so the client
//!   can resume it with `REST` + `STOR` or with `APPE`. With
//!   [`atomic_uploads`](super::LocalSettings::atomic_uploads) it goes through a temporary file
//!   too, so that a broken upload (or a node killed mid-upload) leaves nothing at the name.
//! - `REST` + `STOR` that does not complete (broken, aborted, stopped by the quota) leaves the
//!   file exactly as it was. At the file's end (the usual resume) it writes in place and a
//!   failure cuts the file back to its old length; inside the file, where it would overwrite
//!   bytes, it writes a temporary file (the first `offset` bytes copied inside the kernel,
//!   then the upload's) renamed over the file only when it completes. `REST 0` is a `STOR`.
//!
//! A temporary file outlives its upload only if the process dies: [`Unfinished`] knows every
//! temporary file in use, so that shutdown can remove those of uploads it cuts short, and
//! [`LocalStorage::remove_stale_temp_files`] removes what a crash left, at start-up.
//!
//! No upload leaves a setuid, setgid or sticky bit (`0o7000`) on the file it wrote: a
//! replacement keeps only the `0o777` bits of the old file's mode, and a file written in place
//! (`APPE`, `REST` + `STOR`) loses those bits if it had them. New files get `0o666 & !umask`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use cap_std::fs::OpenOptions;
use thinftp::{FsError, VirtualPath, WriteMode};

use super::settings::swept_by;
use super::{join_rel, LocalStorage};
use crate::errors::fs_error;
use crate::storage::WriteStream;

/// The permission bits an upload keeps: never setuid, setgid or sticky.
const KEPT_MODE_BITS: u32 = 0o777;

/// An open upload target: the [`WriteStream`] of [`LocalStorage`]. Write to it (or to its
/// file, with `splice`), then [`commit`](WriteStream::commit) if the upload ended cleanly;
/// dropped without that, it ends as a failed upload.
#[derive(Debug)]
pub(crate) struct Upload {
    file: File,
    storage: LocalStorage,
    how: How,
    /// Whether a byte may have been written ([`Write`] or the file handed out): an upload that
    /// never started leaves a file written in place as it was.
    started: bool,
}

#[derive(Debug)]
enum How {
    /// Writing the target itself; nothing to do at the end.
    Direct,
    /// Writing the target this upload created (`STOR` of a new name): nothing to do at the end,
    /// unless the upload never started (its data connection was refused before any byte, e.g.
    /// a TLS handshake that did not resume): the file is removed again, as if never made.
    Created { target: PathBuf },
    /// Writing the file `CreateUnique` made for a `STOU`: removed unless the upload ends
    /// cleanly, so that a failed `STOU` leaves nothing behind even when its session is gone and
    /// the core can no longer ask for that.
    Unique { target: PathBuf },
    /// Writing the target itself from its end (`len`, its size before): at the end, on success
    /// cut it where the upload ended; otherwise cut it back to `len`, as it was.
    Resumed { len: u64 },
    /// Writing a temporary file beside the target: rename it over the target on success, remove it
    /// otherwise. `ticket` is its entry in [`Unfinished`].
    Temp {
        temp: PathBuf,
        target: PathBuf,
        ticket: u64,
    },
}

impl Upload {
    /// Opens the target `path` for an upload in `mode`.
    pub(crate) fn open(
        storage: &LocalStorage,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<Upload, FsError> {
        let rel = storage.relative(path)?;
        let rel = rel.as_path();
        let mut options = OpenOptions::new();
        let (file, how) = match mode {
            WriteMode::Replace => return open_replace(storage, path),
            WriteMode::Resume(0) => return open_replace(storage, path),
            WriteMode::Resume(offset) => return open_resume(storage, path, offset),
            WriteMode::Append => {
                options.append(true).create(true);
                let file = storage
                    .open_file_write(rel, &mut options)
                    .map_err(|e| fs_error(&e))?;
                drop_special_bits(&file)?;
                (file, How::Direct)
            }
            WriteMode::New => {
                // The file was made empty by `CreateUnique`; it must still be there.
                options.write(true).truncate(true);
                (
                    storage
                        .open_file_write(rel, &mut options)
                        .map_err(|e| fs_error(&e))?,
                    How::Unique {
                        target: rel.to_owned(),
                    },
                )
            }
            // A mode newer than this storage.
            _ => return Err(FsError::Other),
        };
        Ok(Upload {
            file,
            storage: storage.clone(),
            how,
            started: false,
        })
    }

    /// Ends the upload: `complete` says whether the client's data ended cleanly. A temporary file
    /// is renamed over the target only then, and removed otherwise.
    fn finish(&mut self, complete: bool) -> Result<(), FsError> {
        match std::mem::replace(&mut self.how, How::Direct) {
            How::Direct => Ok(()),
            How::Created { target } if !complete && !self.started => {
                let _ = self.storage.dir().remove_file(&target);
                Ok(())
            }
            How::Created { .. } => Ok(()),
            How::Unique { .. } if complete => Ok(()),
            How::Unique { target } => {
                let _ = self.storage.dir().remove_file(&target);
                Ok(())
            }
            // Never started: the file is as it was.
            How::Resumed { .. } if !self.started => Ok(()),
            How::Resumed { .. } if complete => {
                let end = self.file.stream_position().map_err(|e| fs_error(&e))?;
                self.file.set_len(end).map_err(|e| fs_error(&e))
            }
            // It only added past the old end: cutting there restores the file exactly.
            How::Resumed { len } => self.file.set_len(len).map_err(|e| fs_error(&e)),
            How::Temp {
                temp,
                target,
                ticket,
            } => {
                // Under the lock, so that shutdown removing the temporary files cannot run in
                // between. Gone from the list: shutdown removed the file, the upload is lost.
                let mut unfinished = self.storage.unfinished().lock();
                if unfinished.remove(&ticket).is_none() {
                    return Err(FsError::Other);
                }
                let dir = self.storage.dir();
                if complete {
                    if let Err(e) = dir.rename(&temp, dir, &target) {
                        let _ = dir.remove_file(&temp);
                        return Err(fs_error(&e));
                    }
                } else {
                    let _ = dir.remove_file(&temp);
                }
                Ok(())
            }
        }
    }
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.started = true;
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl WriteStream for Upload {
    fn local_file(&mut self) -> Option<&mut File> {
        self.started = true;
        Some(&mut self.file)
    }

    fn commit(mut self: Box<Self>) -> Result<(), FsError> {
        self.finish(true)
    }
}

impl Drop for Upload {
    /// Not committed (the upload failed, was aborted, or never started): a temporary file is
    /// removed, a file written in place from an offset is cut where the received bytes ended.
    fn drop(&mut self) {
        let _ = self.finish(false);
    }
}

/// `STOR`: create the target if it is new (unless uploads are atomic), else write a temporary
/// file beside it.
fn open_replace(storage: &LocalStorage, path: &VirtualPath) -> Result<Upload, FsError> {
    let rel = storage.relative(path)?;
    let rel = rel.as_path();
    if storage.settings().atomic_uploads {
        return open_temp(storage, path, rel);
    }
    // `create_new` decides atomically whether the target is new: no window in which another
    // upload could create it between a check and the open.
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    match storage.open_file_write(rel, &mut options) {
        Ok(file) => {
            return Ok(Upload {
                file,
                storage: storage.clone(),
                how: How::Created {
                    target: rel.to_path_buf(),
                },
                started: false,
            })
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fs_error(&e)),
    }
    open_temp(storage, path, rel)
}

/// `STOR` to a temporary file beside the target `rel` (of `path`), renamed over it at the end.
fn open_temp(
    storage: &LocalStorage,
    path: &VirtualPath,
    rel: &std::path::Path,
) -> Result<Upload, FsError> {
    // Something is there (or uploads are atomic and there may be nothing). A directory cannot be replaced by a file; anything else (a file, a
    // symlink, even one leading outside the root) is replaced by the rename at the end, which
    // acts on the name beneath the root and never follows the link.
    let old = storage.dir().metadata(rel);
    if matches!(&old, Ok(m) if m.is_dir()) {
        return Err(FsError::IsADirectory);
    }
    let parent = path.parent().unwrap_or_else(VirtualPath::root);
    let parent_rel = storage.relative(&parent)?;
    let (file, temp, ticket) = create_temp(storage, &parent_rel)?;
    // The replacement keeps the old file's permission bits, but never setuid, setgid or sticky:
    // the content is the client's now.
    if let Ok(meta) = &old {
        if meta.is_file() {
            let mode = cap_std::fs::PermissionsExt::mode(&meta.permissions()) & KEPT_MODE_BITS;
            let _ = file.set_permissions(std::fs::Permissions::from_mode(mode));
        }
    }
    Ok(Upload {
        file,
        storage: storage.clone(),
        how: How::Temp {
            temp,
            target: rel.to_path_buf(),
            ticket,
        },
        started: false,
    })
}

/// `REST offset` + `STOR` (`offset` above 0) of the existing file `path` (see the module docs):
/// in place from the file's end, or a temporary file holding a copy of the first `offset`
/// bytes when the upload starts inside the file. The copy costs `offset` bytes of the disk's
/// time (`copy_file_range`, free on file systems that share extents) before the `150`.
fn open_resume(storage: &LocalStorage, path: &VirtualPath, offset: u64) -> Result<Upload, FsError> {
    let rel = storage.relative(path)?;
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    let mut file = storage
        .open_file_write(&rel, &mut options)
        .map_err(|e| fs_error(&e))?;
    let len = file.metadata().map_err(|e| fs_error(&e))?.len();
    if offset >= len {
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| fs_error(&e))?;
        drop_special_bits(&file)?;
        return Ok(Upload {
            file,
            storage: storage.clone(),
            how: How::Resumed { len },
            started: false,
        });
    }
    let mut upload = open_replace(storage, path)?;
    // The first `offset` bytes, from the file opened above (the name may have been replaced
    // since: what is copied is what was checked). A shorter copy means the file shrank
    // meanwhile: the upload is refused, and dropping it removes the temporary file.
    let copied =
        io::copy(&mut io::Read::take(&file, offset), &mut upload.file).map_err(|e| fs_error(&e))?;
    if copied != offset {
        return Err(FsError::Other);
    }
    Ok(upload)
}

/// Creates a new hidden temporary file in the directory `dir_rel`, registered in [`Unfinished`]
/// (the ticket is returned with it).
fn create_temp(
    storage: &LocalStorage,
    dir_rel: &std::path::Path,
) -> Result<(File, PathBuf, u64), FsError> {
    // The file is created and registered under one lock: a shutdown's `remove_all` either runs
    // before the file exists or finds it registered, never a temporary file it does not know.
    let unfinished = storage.unfinished();
    let mut temps = unfinished.lock();
    for _ in 0..64 {
        let name = format!("{}{:016x}", storage.temp_prefix(), fastrand::u64(..));
        let rel = join_rel(dir_rel, name.as_ref());
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        match storage.open_file_write(&rel, &mut options) {
            Ok(file) => {
                let ticket = unfinished.next.fetch_add(1, Ordering::Relaxed);
                temps.insert(ticket, (storage.clone(), rel.clone()));
                return Ok((file, rel, ticket));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(fs_error(&e)),
        }
    }
    Err(FsError::Other)
}

/// Takes the setuid, setgid and sticky bits off a file an upload writes in place.
fn drop_special_bits(file: &File) -> Result<(), FsError> {
    let mode = file
        .metadata()
        .map_err(|e| fs_error(&e))?
        .permissions()
        .mode();
    if mode & 0o7000 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode & KEPT_MODE_BITS))
            .map_err(|e| fs_error(&e))?;
    }
    Ok(())
}

/// The temporary files of the uploads that run now, shared by a root's storage and every home's.
#[derive(Debug, Default)]
pub(crate) struct Unfinished {
    next: AtomicU64,
    temps: Mutex<HashMap<u64, (LocalStorage, PathBuf)>>,
}

impl Unfinished {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, (LocalStorage, PathBuf)>> {
        // A panic while holding the lock leaves a plain map behind: still usable.
        self.temps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes the temporary file of every upload still running (for shutdown, once the
    /// grace period is over: those uploads are cut short, their old files stay). Returns how
    /// many were removed. The uploads then fail when they end.
    pub(crate) fn remove_all(&self) -> usize {
        let mut temps = self.lock();
        let removed = temps
            .drain()
            .filter(|(_, (storage, temp))| storage.dir().remove_file(temp).is_ok())
            .count();
        removed
    }
}

/// Most directory entries [`remove_stale_temp_files`] looks at: start-up stays quick on a huge
/// tree (what is left is logged, and a later start-up goes on).
pub(crate) const STALE_SCAN_ENTRIES: usize = 1_000_000;

/// Directories deeper than this below the root are not searched for stale temporary files.
const STALE_SCAN_DEPTH: usize = 64;

/// What [`LocalStorage::remove_stale_temp_files`] (or another storage's
/// [`Storage::remove_stale_uploads`](crate::storage::Storage::remove_stale_uploads)) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleCleanup {
    /// Temporary files removed.
    pub removed: usize,
    /// Whether the whole tree was searched (false when the entry budget ran out).
    pub complete: bool,
}

/// [`LocalStorage::remove_stale_temp_files`]: a walk of the tree with a stack of open directories,
/// removing each of this node's `.thinftp-part.NODE.*` files (and the node-less ones of older
/// versions), never another node's.
pub(crate) fn remove_stale_temp_files(storage: &LocalStorage, max_entries: usize) -> StaleCleanup {
    let mut cleanup = StaleCleanup {
        removed: 0,
        complete: true,
    };
    let Ok(root) = storage.dir().try_clone() else {
        cleanup.complete = false;
        return cleanup;
    };
    let mut budget = max_entries;
    let mut stack = vec![(root, 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = dir.entries() else { continue };
        for entry in entries {
            let Some(left) = budget.checked_sub(1) else {
                cleanup.complete = false;
                return cleanup;
            };
            budget = left;
            let Ok(entry) = entry else { continue };
            // The kind of the entry itself (`d_type`): a symlink is never followed.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            if kind.is_file() && swept_by(storage.temp_prefix(), name.as_encoded_bytes()) {
                if entry.remove_file().is_ok() {
                    cleanup.removed += 1;
                }
            } else if kind.is_dir() && depth < STALE_SCAN_DEPTH {
                if let Ok(sub) = entry.open_dir() {
                    stack.push((sub, depth + 1));
                }
            }
        }
    }
    cleanup
}
