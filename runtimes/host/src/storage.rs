//! Local-disk storage beneath a root directory, through `cap-std`.
//!
//! Every access goes through one [`cap_std::fs::Dir`] handle opened on the root. `cap-std` resolves
//! each path beneath that handle (with `openat2(RESOLVE_BENEATH)` where the kernel has it, else
//! component by component) and refuses any path that would leave it: an absolute symlink, a
//! symlink to `..` above the root, an intermediate directory that is a symlink pointing elsewhere,
//! also when it is swapped in between two operations. Nothing here checks a path first and opens
//! it afterwards; the refusal happens inside the one call that does the work, and it comes back as
//! [`FsError::NotFound`] (see [`fs_error`]).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cap_std::fs::{Dir, FileType, MetadataExt, OpenOptions, OpenOptionsExt, PermissionsExt};
use thinftp::{DirEntry, FileKind, FsError, FsOp, FsReply, Listing, Metadata, VirtualPath};

use crate::errors::fs_error;

/// Names starting with this are the host's temporary upload files (see
/// [`WriteMode::Replace`](thinftp::WriteMode::Replace)). They never show in listings, and no
/// request can name them.
pub const TEMP_PREFIX: &str = ".thinftp-part.";

/// Tries before [`FsOp::CreateUnique`] gives up finding a free name (only a directory with
/// billions of such names would get there).
const UNIQUE_TRIES: u32 = 64;

/// The files beneath one root directory. Cheap to clone: clones share the directory handle.
#[derive(Debug, Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: Dir,
    root: PathBuf,
}

impl Storage {
    /// Opens the directory `root`. This is the only place that uses ambient authority: every later
    /// access is relative to the handle opened here, even if `root` is renamed meanwhile.
    pub fn open(root: &Path) -> io::Result<Storage> {
        let dir = Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
        Ok(Storage {
            inner: Arc::new(Inner {
                dir,
                root: root.to_path_buf(),
            }),
        })
    }

    /// The root directory as it was given to [`open`](Self::open), for logs.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The directory handle of the root, for code in this crate that opens files beneath it.
    pub(crate) fn dir(&self) -> &Dir {
        &self.inner.dir
    }

    /// Carries out one filesystem request of the core beneath the root. Blocking: a runtime with an
    /// event loop runs it on a thread made for blocking work.
    pub fn execute(&self, op: &FsOp) -> Result<FsReply, FsError> {
        match op {
            FsOp::Stat(path) => self.stat(path).map(FsReply::Metadata),
            FsOp::ListDir(path) => self.list_dir(path).map(FsReply::Listing),
            FsOp::ListNames(path) => self.list_names(path).map(FsReply::Listing),
            FsOp::MakeDir(path) => {
                self.dir()
                    .create_dir(relative(path)?)
                    .map_err(|e| fs_error(&e))?;
                Ok(FsReply::Done)
            }
            FsOp::RemoveDir(path) => {
                self.dir()
                    .remove_dir(relative(path)?)
                    .map_err(|e| fs_error(&e))?;
                Ok(FsReply::Done)
            }
            FsOp::RemoveFile(path) => {
                self.dir()
                    .remove_file(relative(path)?)
                    .map_err(|e| fs_error(&e))?;
                Ok(FsReply::Done)
            }
            FsOp::Rename { from, to } => {
                let dir = self.dir();
                dir.rename(relative(from)?, dir, relative(to)?)
                    .map_err(|e| fs_error(&e))?;
                Ok(FsReply::Done)
            }
            FsOp::CreateUnique { dir } => self.create_unique(dir).map(FsReply::Created),
            // An operation newer than this storage.
            _ => Err(FsError::Other),
        }
    }

    /// Metadata of `path`, following symlinks beneath the root (a link to a directory reports
    /// [`FileKind::Dir`], so `CWD` into it works; a link leading outside is
    /// [`FsError::NotFound`]).
    pub fn stat(&self, path: &VirtualPath) -> Result<Metadata, FsError> {
        let meta = self
            .dir()
            .metadata(relative(path)?)
            .map_err(|e| fs_error(&e))?;
        Ok(convert_metadata(&meta, None))
    }

    /// The entries of the directory `path`, with symlinks listed as such (not followed), and the
    /// host's temporary upload files left out.
    pub fn list_dir(&self, path: &VirtualPath) -> Result<Listing, FsError> {
        let rel = relative(path)?;
        self.visible_entries(path, |entry, name| {
            // `DirEntry::metadata` does not follow a final symlink: the link itself is listed.
            let meta = entry.metadata().ok()?;
            let target = if meta.file_type().is_symlink() {
                // The raw text of the link, as `ls -l` would show it; not followed, so an
                // absolute target is only shown, never reached.
                self.dir()
                    .read_link_contents(join_rel(rel, name))
                    .ok()
                    .map(|t| t.to_string_lossy().into_owned())
            } else {
                None
            };
            Some(convert_metadata(&meta, target))
        })
    }

    /// The names in the directory `path` for `NLST`, with the host's temporary upload files left
    /// out as in [`list_dir`](Self::list_dir), but without a `stat` per entry: the names and
    /// kinds come from the directory stream itself (`d_type`), so a directory of 10,000 files
    /// costs a few `getdents` calls instead of 10,000 `statx`. Every other field of the metadata
    /// is a default ([`Metadata::file`]`(0, None)`): the core uses only the names.
    pub fn list_names(&self, path: &VirtualPath) -> Result<Listing, FsError> {
        self.visible_entries(path, |entry, _| {
            let mut metadata = Metadata::file(0, None);
            // On Linux cap-std takes the kind from `d_type`, with no system call; a file system
            // that leaves it unknown gives `FileKind::Other`, harmless as the core ignores it.
            if let Ok(file_type) = entry.file_type() {
                metadata.kind = kind_of(file_type);
            }
            Some(metadata)
        })
    }

    /// Reads the directory `path` and describes each entry a client may see (a UTF-8 name, not
    /// one of the host's temporary upload files) with `describe`. An entry that vanishes while
    /// we list, or that `describe` gives up on, is simply not listed.
    fn visible_entries(
        &self,
        path: &VirtualPath,
        mut describe: impl FnMut(&cap_std::fs::DirEntry, &str) -> Option<Metadata>,
    ) -> Result<Listing, FsError> {
        let entries = self
            .dir()
            .read_dir(relative(path)?)
            .map_err(|e| fs_error(&e))?;
        let mut out = Vec::new();
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let Ok(name) = entry.file_name().into_string() else {
                // A name that is not UTF-8 could not be named back by a client in a command.
                tracing::debug!(dir = %path, "skipping an entry whose name is not UTF-8");
                continue;
            };
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            if let Some(metadata) = describe(&entry, &name) {
                out.push(DirEntry::new(name, metadata));
            }
        }
        Ok(Listing::new(out, unix_secs(SystemTime::now())))
    }

    /// Makes a new empty file with a unique name in `dir` and returns its path.
    fn create_unique(&self, dir: &VirtualPath) -> Result<VirtualPath, FsError> {
        let rel = relative(dir)?;
        for _ in 0..UNIQUE_TRIES {
            let name = format!("stou.{:016x}", fastrand::u64(..));
            let file_rel = join_rel(rel, &name);
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            match self.dir().open_with(&file_rel, &options) {
                Ok(_) => return dir.resolve(&name).map_err(|_| FsError::Other),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(fs_error(&e)),
            }
        }
        Err(FsError::Other)
    }

    /// Opens the regular file `path` for reading.
    ///
    /// Opened with `O_NONBLOCK` so that a FIFO planted under the root cannot hang the caller in
    /// `open`; regular files ignore the flag. Anything but a regular file is refused.
    pub(crate) fn open_read(&self, path: &VirtualPath) -> Result<std::fs::File, FsError> {
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(libc::O_NONBLOCK);
        let file = self
            .dir()
            .open_with(relative(path)?, &options)
            .map_err(|e| fs_error(&e))?;
        let file = file.into_std();
        require_regular(&file)?;
        Ok(file)
    }

    /// Opens `rel` (already checked by [`relative`]) for writing with `options` (`O_NONBLOCK` is
    /// added, as in [`open_read`](Self::open_read)); anything but a regular file is refused.
    pub(crate) fn open_write(
        &self,
        rel: &str,
        options: &mut OpenOptions,
    ) -> io::Result<std::fs::File> {
        options.custom_flags(libc::O_NONBLOCK);
        let file = self.dir().open_with(rel, options)?.into_std();
        match require_regular(&file) {
            Ok(()) => Ok(file),
            Err(FsError::IsADirectory) => Err(io::Error::from_raw_os_error(libc::EISDIR)),
            Err(_) => Err(io::Error::from_raw_os_error(libc::EACCES)),
        }
    }
}

/// `name` inside the directory `rel` (a path relative to the root, `.` for the root itself).
pub(crate) fn join_rel(rel: &str, name: &str) -> String {
    if rel == "." {
        name.to_owned()
    } else {
        format!("{rel}/{name}")
    }
}

/// The path relative to the root, for the directory handle; refuses paths that name the host's
/// temporary upload files, so that a client can neither see nor touch them.
pub(crate) fn relative(path: &VirtualPath) -> Result<&str, FsError> {
    if path.components().any(|c| c.starts_with(TEMP_PREFIX)) {
        return Err(FsError::NotFound);
    }
    Ok(path.relative())
}

fn require_regular(file: &std::fs::File) -> Result<(), FsError> {
    let meta = file.metadata().map_err(|e| fs_error(&e))?;
    if meta.is_dir() {
        Err(FsError::IsADirectory)
    } else if !meta.is_file() {
        Err(FsError::PermissionDenied)
    } else {
        Ok(())
    }
}

fn kind_of(file_type: FileType) -> FileKind {
    if file_type.is_symlink() {
        FileKind::Symlink
    } else if file_type.is_dir() {
        FileKind::Dir
    } else if file_type.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    }
}

fn convert_metadata(meta: &cap_std::fs::Metadata, symlink_target: Option<String>) -> Metadata {
    let modified = meta.modified().ok().map(|t| unix_secs(t.into_std()));
    let mut metadata = Metadata::file(meta.len(), modified);
    metadata.kind = kind_of(meta.file_type());
    metadata.mode = meta.permissions().mode() & 0o7777;
    metadata.nlink = meta.nlink();
    metadata.symlink_target = symlink_target;
    metadata.unique = Some((meta.dev(), meta.ino()));
    metadata
}

/// Seconds since the Unix epoch, negative before it.
fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}
