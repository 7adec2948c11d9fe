//! Opening the file an upload writes to, and finishing it, so that uploads lose nothing.
//!
//! - `STOR` over an existing file writes a hidden temporary file in the same directory and renames
//!   it over the target only when the upload ended cleanly; on failure or abort the temporary is
//!   removed and the old file was never touched.
//! - `STOR` of a new file writes straight to it: a broken upload keeps what arrived, so the client
//!   can resume it with `REST` + `STOR` or with `APPE`.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;

use cap_std::fs::OpenOptions;
use thinftp::{FsError, VirtualPath, WriteMode};

use crate::errors::fs_error;
use crate::storage::{join_rel, relative, Storage, TEMP_PREFIX};

/// An open upload target. Write to [`file`](Self::file), then call [`finish`](Self::finish)
/// with whether the upload ended cleanly.
#[derive(Debug)]
pub(crate) struct Upload {
    file: File,
    storage: Storage,
    how: How,
}

#[derive(Debug)]
enum How {
    /// Writing the target itself; nothing to do at the end.
    Direct,
    /// Writing the target itself from an offset: cut off whatever the old file had beyond what
    /// was written, at the end.
    Resumed,
    /// Writing a temporary file beside the target: rename it over the target on success, remove it
    /// otherwise.
    Temp { temp: String, target: String },
}

impl Upload {
    /// Opens the target `path` for an upload in `mode`.
    pub(crate) fn open(
        storage: &Storage,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<Upload, FsError> {
        let rel = relative(path)?;
        let mut options = OpenOptions::new();
        let (file, how) = match mode {
            WriteMode::Replace => return open_replace(storage, path),
            WriteMode::Resume(offset) => {
                // Keep the first `offset` bytes: no truncation now, a cut at the end.
                options.write(true).create(offset == 0);
                let mut file = storage
                    .open_write(rel, &mut options)
                    .map_err(|e| fs_error(&e))?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| fs_error(&e))?;
                (file, How::Resumed)
            }
            WriteMode::Append => {
                options.append(true).create(true);
                (
                    storage
                        .open_write(rel, &mut options)
                        .map_err(|e| fs_error(&e))?,
                    How::Direct,
                )
            }
            WriteMode::New => {
                // The file was made empty by `CreateUnique`; it must still be there.
                options.write(true).truncate(true);
                (
                    storage
                        .open_write(rel, &mut options)
                        .map_err(|e| fs_error(&e))?,
                    How::Direct,
                )
            }
            // A mode newer than this storage.
            _ => return Err(FsError::Other),
        };
        Ok(Upload {
            file,
            storage: storage.clone(),
            how,
        })
    }

    /// The file to write the received bytes to.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Ends the upload: `complete` says whether the client's data ended cleanly. A temporary file
    /// is renamed over the target only then, and removed otherwise.
    pub(crate) fn finish(mut self, complete: bool) -> Result<(), FsError> {
        match std::mem::replace(&mut self.how, How::Direct) {
            How::Direct => Ok(()),
            How::Resumed => {
                // Also on failure: the file then ends where the received bytes ended, so its size
                // tells the client where to resume.
                let end = self.file.stream_position().map_err(|e| fs_error(&e))?;
                self.file.set_len(end).map_err(|e| fs_error(&e))
            }
            How::Temp { temp, target } => {
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

impl Drop for Upload {
    /// An upload dropped without [`finish`](Upload::finish) (a panic in a caller) still removes
    /// its temporary file.
    fn drop(&mut self) {
        if let How::Temp { temp, .. } = &self.how {
            let _ = self.storage.dir().remove_file(temp);
        }
    }
}

/// `STOR`: create the target if it is new, else write a temporary file beside it.
fn open_replace(storage: &Storage, path: &VirtualPath) -> Result<Upload, FsError> {
    let rel = relative(path)?;
    // `create_new` decides atomically whether the target is new: no window in which another
    // upload could create it between a check and the open.
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    match storage.open_write(rel, &mut options) {
        Ok(file) => {
            return Ok(Upload {
                file,
                storage: storage.clone(),
                how: How::Direct,
            })
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fs_error(&e)),
    }
    // Something is there. A directory cannot be replaced by a file; anything else (a file, a
    // symlink, even one leading outside the root) is replaced by the rename at the end, which
    // acts on the name beneath the root and never follows the link.
    let old = storage.dir().metadata(rel);
    if matches!(&old, Ok(m) if m.is_dir()) {
        return Err(FsError::IsADirectory);
    }
    let parent = path.parent().unwrap_or_else(VirtualPath::root);
    let parent_rel = relative(&parent)?;
    let (file, temp) = create_temp(storage, parent_rel)?;
    // The replacement keeps the old file's permission bits.
    if let Ok(meta) = &old {
        if meta.is_file() {
            let mode = cap_std::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
            let _ = file.set_permissions(std::fs::Permissions::from_mode(mode));
        }
    }
    Ok(Upload {
        file,
        storage: storage.clone(),
        how: How::Temp {
            temp,
            target: rel.to_owned(),
        },
    })
}

/// Creates a new hidden temporary file in the directory `dir_rel`.
fn create_temp(storage: &Storage, dir_rel: &str) -> Result<(File, String), FsError> {
    for _ in 0..64 {
        let name = format!("{TEMP_PREFIX}{:016x}", fastrand::u64(..));
        let rel = join_rel(dir_rel, &name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        match storage.open_write(&rel, &mut options) {
            Ok(file) => return Ok((file, rel)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(fs_error(&e)),
        }
    }
    Err(FsError::Other)
}
