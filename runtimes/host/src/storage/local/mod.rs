//! [`LocalStorage`]: the files in a directory on local disk, beneath a root directory or one
//! user's home, through `cap-std`.
//!
//! Every access goes through one [`cap_std::fs::Dir`] handle: the root's for the server, and,
//! once a user has logged in, one opened on that user's home ([`Storage::for_home`]), so that a
//! symlink in one home cannot reach another user's files. `cap-std` resolves
//! each path beneath that handle (with `openat2(RESOLVE_BENEATH)` where the kernel has it, else
//! component by component) and refuses any path that would leave it: an absolute symlink, a
//! symlink to `..` above the root, an intermediate directory that is a symlink pointing elsewhere,
//! also when it is swapped in between two operations. Nothing here checks a path first and opens
//! it afterwards; the refusal happens inside the one call that does the work, and it comes back as
//! [`FsError::NotFound`] (see [`fs_error`]).

use std::ffi::OsStr;
use std::io::{self, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cap_std::fs::{
    Dir, DirBuilder, DirBuilderExt, FileType, MetadataExt, OpenOptions, OpenOptionsExt,
    PermissionsExt,
};
use thinftp::{FileKind, FsError, FsOp, FsReply, ListPattern, Metadata, VirtualPath, WriteMode};

use super::{
    collect_listing, digest_file, Capabilities, DirStream, ReadStream, Storage, WriteStream,
};
use crate::errors::fs_error;
use crate::names;
pub use dir_stream::LocalDirStream;
pub use settings::{default_node_id, parse_node_id, LocalSettings};
pub use upload::StaleCleanup;
pub(crate) use upload::STALE_SCAN_ENTRIES;
use upload::{Unfinished, Upload};

mod attrs;
mod dir_stream;
mod settings;
mod upload;

/// Names starting with this are the host's temporary upload files (see
/// [`WriteMode::Replace`]). They never show in listings, and no
/// request can name them.
pub const TEMP_PREFIX: &str = ".thinftp-part.";

/// Tries before [`FsOp::CreateUnique`] gives up finding a free name (only a directory with
/// billions of such names would get there).
const UNIQUE_TRIES: u32 = 64;

/// The default `--umask`: new files `rw-r--r--`, new directories `rwxr-xr-x`.
pub const DEFAULT_UMASK: u32 = 0o022;

/// The files beneath one directory: the server's root, or a user's home within it. Cheap to
/// clone: clones share the directory handle.
///
/// Paths given to it are in the server's view (the core joins the user's home and the client's
/// path): a storage for a home takes only paths at or below that home, strips the home and
/// resolves the rest beneath the home's own handle.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: Dir,
    root: PathBuf,
    /// Where `dir` is, in the server's view (`/` for the root).
    home: VirtualPath,
    /// Permission bits taken away from the files and directories the server creates.
    umask: u32,
    /// The umask again, the node id and whether uploads of new files are atomic.
    settings: LocalSettings,
    /// `settings`' start of temporary file names (`.thinftp-part.NODE.`).
    temp_prefix: String,
    /// The temporary files of running uploads, shared with every home's storage.
    unfinished: Arc<Unfinished>,
}

impl LocalStorage {
    /// Opens the directory `root`, with the [`DEFAULT_UMASK`]. This is the only place that uses
    /// ambient authority: every later access is relative to the handle opened here, even if
    /// `root` is renamed meanwhile.
    pub fn open(root: &Path) -> io::Result<LocalStorage> {
        Self::open_with_umask(root, DEFAULT_UMASK)
    }

    /// Opens the directory `root`; new files get mode `0o666 & !umask`, new directories
    /// `0o777 & !umask` (the process's own umask applies on top).
    pub fn open_with_umask(root: &Path, umask: u32) -> io::Result<LocalStorage> {
        let settings = LocalSettings {
            umask,
            ..LocalSettings::default()
        };
        Self::open_with(root, &settings)
    }

    /// Opens the directory `root` with `settings` (umask, node id, atomic uploads).
    pub fn open_with(root: &Path, settings: &LocalSettings) -> io::Result<LocalStorage> {
        let dir = Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
        let mut settings = settings.clone();
        settings.umask &= 0o777;
        Ok(LocalStorage {
            inner: Arc::new(Inner {
                dir,
                root: root.to_path_buf(),
                home: VirtualPath::root(),
                umask: settings.umask,
                temp_prefix: settings.temp_prefix(),
                settings,
                unfinished: Arc::default(),
            }),
        })
    }

    /// The storage of a user whose home is `home` (in the server's view): a handle opened on the
    /// home now (at login, following symlinks beneath this storage), beneath which every later
    /// access of the user resolves. A home that is missing, not a directory, or outside this
    /// storage is an error: the login cannot go on. ([`Storage::for_home`] in its concrete type.)
    pub fn for_local_home(&self, home: &VirtualPath) -> Result<LocalStorage, FsError> {
        let rel = self.relative(home)?;
        let dir = if rel == Path::new(".") {
            // The same directory: share its handle rather than hold a copy per session (a
            // descriptor each: 10,000 sessions would need 20,000).
            if *home == self.inner.home {
                return Ok(self.clone());
            }
            self.dir().try_clone()
        } else {
            self.dir().open_dir(&rel)
        }
        .map_err(|e| fs_error(&e))?;
        Ok(LocalStorage {
            inner: Arc::new(Inner {
                dir,
                root: self.inner.root.join(&rel),
                home: home.clone(),
                umask: self.inner.umask,
                settings: self.inner.settings.clone(),
                temp_prefix: self.inner.temp_prefix.clone(),
                unfinished: Arc::clone(&self.inner.unfinished),
            }),
        })
    }

    /// The permission bits new files and directories do not get.
    pub fn umask(&self) -> u32 {
        self.inner.umask
    }

    /// The umask, node id and upload rule this storage was opened with.
    pub fn settings(&self) -> &LocalSettings {
        &self.inner.settings
    }

    /// The start of this node's temporary file names (`.thinftp-part.NODE.`).
    pub(crate) fn temp_prefix(&self) -> &str {
        &self.inner.temp_prefix
    }

    /// The directory on the host (the root as it was given to [`open`](Self::open), joined
    /// with the home), for logs.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The temporary files of the uploads running beneath this root.
    pub(crate) fn unfinished(&self) -> &Unfinished {
        &self.inner.unfinished
    }

    /// Removes the temporary upload files a crashed or killed server left beneath this storage,
    /// looking at no more than `max_entries` directory entries, never following a symlink.
    /// Only this node's files (and those of versions without node ids) are removed, so that
    /// nodes with different `--node-id`s can share a directory. Call it at start-up, before any
    /// session of this node runs: its own running uploads' files would be removed too.
    pub fn remove_stale_temp_files(&self, max_entries: usize) -> StaleCleanup {
        upload::remove_stale_temp_files(self, max_entries)
    }

    /// The directory handle of the root, for code in this module that opens files beneath it.
    pub(crate) fn dir(&self) -> &Dir {
        &self.inner.dir
    }

    /// Metadata of `path`, following symlinks beneath the root (a link to a directory reports
    /// [`FileKind::Dir`], so `CWD` into it works; a link leading outside is
    /// [`FsError::NotFound`]).
    fn stat_path(&self, path: &VirtualPath) -> Result<Metadata, FsError> {
        let meta = self
            .dir()
            .metadata(self.relative(path)?)
            .map_err(|e| fs_error(&e))?;
        Ok(convert_metadata(&meta, None))
    }

    /// The visible entries of the directory `path`, read one at a time as the returned stream
    /// is iterated (see [`LocalDirStream`]): symlinks listed as such (not followed), the host's
    /// temporary upload files left out.
    ///
    /// A symlink's target is shown only if it stays beneath this storage's directory (the
    /// user's home), read lexically from the link's directory: an absolute target, or one whose
    /// `..` climb above the home, would tell the client about host paths, so such a link is
    /// listed without its target.
    ///
    /// With `metadata` false (`NLST`) there is no `stat` per entry: the names and kinds come
    /// from the directory stream itself (`d_type`), so a directory of 10,000 files costs a few
    /// `getdents` calls instead of 10,000 `statx`. Every other field of the metadata is a
    /// default ([`Metadata::file`]`(0, None)`).
    pub fn dir_stream(
        &self,
        path: &VirtualPath,
        metadata: bool,
    ) -> Result<LocalDirStream, FsError> {
        let rel = self.relative(path)?;
        let entries = self.dir().read_dir(&rel).map_err(|e| fs_error(&e))?;
        Ok(LocalDirStream::new(self, entries, rel, metadata))
    }

    /// At most `max` entries of the directory `path`, dated now.
    fn listing(&self, path: &VirtualPath, metadata: bool, max: usize) -> Result<FsReply, FsError> {
        let stream: DirStream = Box::new(self.dir_stream(path, metadata)?.map(Ok));
        collect_listing(stream, max, wall_clock()).map(FsReply::Listing)
    }

    /// At most `max` entries of the directory `path` that `pattern` matches, dated now: the
    /// names are matched as the directory is read, before any `stat`. A path that is not a
    /// directory has no matches.
    fn matching_listing(
        &self,
        path: &VirtualPath,
        pattern: &ListPattern,
        max: usize,
    ) -> Result<FsReply, FsError> {
        let stream = self.dir_stream(path, true).map_err(|e| match e {
            FsError::NotADirectory => FsError::NotFound,
            other => other,
        })?;
        let stream: DirStream = Box::new(stream.matching(pattern.clone()).map(Ok));
        collect_listing(stream, max, wall_clock()).map(FsReply::Listing)
    }

    /// Makes a new empty file with a unique name in `dir` and returns its path.
    fn create_unique(&self, dir: &VirtualPath) -> Result<VirtualPath, FsError> {
        let rel = self.relative(dir)?;
        for _ in 0..UNIQUE_TRIES {
            let name = format!("stou.{:016x}", fastrand::u64(..));
            let file_rel = join_rel(&rel, OsStr::new(&name));
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            match self.open_file_write(&file_rel, &mut options) {
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
    pub(crate) fn open_file_read(&self, path: &VirtualPath) -> Result<std::fs::File, FsError> {
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(libc::O_NONBLOCK);
        let file = self
            .dir()
            .open_with(self.relative(path)?, &options)
            .map_err(|e| fs_error(&e))?;
        let file = file.into_std();
        require_regular(&file)?;
        Ok(file)
    }

    /// Opens `rel` (from [`relative`](Self::relative)) for writing with `options`
    /// (`O_NONBLOCK` is added, as in [`open_file_read`](Self::open_file_read), and a file it
    /// creates gets `0o666 & !umask`); anything but a regular file is refused.
    pub(crate) fn open_file_write(
        &self,
        rel: &Path,
        options: &mut OpenOptions,
    ) -> io::Result<std::fs::File> {
        options
            .custom_flags(libc::O_NONBLOCK)
            .mode(0o666 & !self.umask());
        let file = self.dir().open_with(rel, options)?.into_std();
        match require_regular(&file) {
            Ok(()) => Ok(file),
            Err(FsError::IsADirectory) => Err(io::Error::from_raw_os_error(libc::EISDIR)),
            Err(_) => Err(io::Error::from_raw_os_error(libc::EACCES)),
        }
    }

    /// `path` (in the server's view) relative to this storage's directory, for its handle, with
    /// escaped bytes decoded ([`names::decode`]). Refuses a path that is not at or below the
    /// home, and paths that name the host's temporary upload files, so that a client can
    /// neither see nor touch them.
    pub(crate) fn relative(&self, path: &VirtualPath) -> Result<PathBuf, FsError> {
        let inside = path.strip_prefix(self.home()).ok_or(FsError::NotFound)?;
        if inside.components().any(|c| c.starts_with(TEMP_PREFIX)) {
            return Err(FsError::NotFound);
        }
        Ok(PathBuf::from(names::decode(inside.relative())))
    }
}

impl Storage for LocalStorage {
    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
    }

    fn home(&self) -> &VirtualPath {
        &self.inner.home
    }

    fn describe(&self) -> String {
        self.root().display().to_string()
    }

    fn now(&self) -> i64 {
        wall_clock()
    }

    fn for_home(&self, home: &VirtualPath) -> Result<Arc<dyn Storage>, FsError> {
        Ok(Arc::new(self.for_local_home(home)?))
    }

    /// Carries out one filesystem request of the core beneath the root. Blocking: a runtime with an
    /// event loop runs it on a thread made for blocking work.
    fn execute(&self, op: &FsOp) -> Result<FsReply, FsError> {
        match op {
            FsOp::Stat(path) => self.stat_path(path).map(FsReply::Metadata),
            // Whole, for a pattern's directory (`LIST *.bin`: the core filters the names).
            FsOp::ListDir(path) => self.listing(path, true, usize::MAX),
            // `STAT dir`: no more than it shows (plus one, to tell it was cut).
            FsOp::ListDirFirst {
                path,
                max,
                pattern: None,
            } => self.listing(path, true, *max),
            // `STAT *.bin`: the matches only.
            FsOp::ListDirFirst {
                path,
                max,
                pattern: Some(pattern),
            } => self.matching_listing(path, pattern, *max),
            FsOp::ListNames(path) => self.listing(path, false, usize::MAX),
            FsOp::MakeDir(path) => {
                let mut builder = DirBuilder::new();
                builder.mode(0o777 & !self.umask());
                self.dir()
                    .create_dir_with(self.relative(path)?, &builder)
                    .map_err(|e| fs_error(&e))?;
                Ok(FsReply::Done)
            }
            FsOp::RemoveDir(path) => {
                self.dir()
                    .remove_dir(self.relative(path)?)
                    .map_err(|e| fs_error(&e))?;
                Ok(FsReply::Done)
            }
            FsOp::RemoveFile(path) => {
                self.dir()
                    .remove_file(self.relative(path)?)
                    .map_err(|e| fs_error(&e))?;
                Ok(FsReply::Done)
            }
            FsOp::Rename { from, to } => {
                let dir = self.dir();
                dir.rename(self.relative(from)?, dir, self.relative(to)?)
                    .map_err(|e| fs_error(&e))?;
                Ok(FsReply::Done)
            }
            FsOp::CreateUnique { dir } => self.create_unique(dir).map(FsReply::Created),
            // Attributes and digests: in attrs.rs.
            FsOp::SetModified { path, unix_secs } => {
                self.set_modified(path, *unix_secs).map(|()| FsReply::Done)
            }
            FsOp::SetMode { path, mode } => self.set_mode(path, *mode).map(|()| FsReply::Done),
            // A range (`RANG`, `XCRC path start end`) reads only its bytes; the driver passes a
            // flag that ABOR sets, this path none.
            FsOp::Hash {
                path,
                algorithm,
                range: Some(range),
            } => digest_file(
                self,
                path,
                *algorithm,
                Some(*range),
                &AtomicBool::new(false),
            ),
            FsOp::Hash {
                path, algorithm, ..
            } => self
                .hash(path, *algorithm)
                .map(|(digest, size)| FsReply::Hash { digest, size }),
            FsOp::FreeSpace(path) => self.free_space(path).map(FsReply::FreeSpace),
            // An operation newer than this storage.
            _ => Err(FsError::Unsupported),
        }
    }

    fn stat(&self, path: &VirtualPath) -> Result<Metadata, FsError> {
        self.stat_path(path)
    }

    fn list(&self, path: &VirtualPath, metadata: bool) -> Result<DirStream, FsError> {
        Ok(Box::new(self.dir_stream(path, metadata)?.map(Ok)))
    }

    /// The file, seeked to `offset`: its descriptor goes out with `sendfile`.
    fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<Box<dyn ReadStream>, FsError> {
        let mut file = self.open_file_read(path)?;
        if offset > 0 {
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| fs_error(&e))?;
        }
        Ok(Box::new(file))
    }

    /// `STOR` over an existing file writes a temporary file renamed over it by
    /// `commit`; a new file, `APPE` and `REST`+`STOR` write the file itself, and what arrived
    /// stays when the upload breaks (so that the client can resume).
    fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<Box<dyn WriteStream>, FsError> {
        Ok(Box::new(Upload::open(self, path, mode)?))
    }

    /// Removes the temporary file of every upload that runs now, beneath this storage's root
    /// and every home in it, and returns how many: those uploads fail; the files they would
    /// have replaced are untouched.
    fn remove_unfinished_uploads(&self) -> usize {
        self.inner.unfinished.remove_all()
    }

    fn remove_stale_uploads(&self, max_entries: usize) -> StaleCleanup {
        self.remove_stale_temp_files(max_entries)
    }
}

/// A local file is its own read stream, and hands out its descriptor for `sendfile`.
impl ReadStream for std::fs::File {
    fn local_file(&mut self) -> Option<&mut std::fs::File> {
        Some(self)
    }
}

/// The wall-clock time, in seconds since the Unix epoch, for listings.
pub(crate) fn wall_clock() -> i64 {
    unix_secs(SystemTime::now())
}

/// `name` inside the directory `rel` (relative to the storage's directory, `.` for itself).
pub(crate) fn join_rel(rel: &Path, name: &OsStr) -> PathBuf {
    if rel == Path::new(".") {
        PathBuf::from(name)
    } else {
        rel.join(name)
    }
}

/// How many directories `rel` (from [`LocalStorage::relative`]) is below the storage's directory.
pub(crate) fn depth_below_home(rel: &Path) -> usize {
    rel.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

/// Whether the symlink text `target`, read from a directory `depth` levels below the home,
/// names something beneath the home, judged lexically: not absolute, and its `..` never climb
/// above the home.
pub(crate) fn stays_below_home(depth: usize, target: &Path) -> bool {
    let mut depth = depth;
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
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

pub(crate) fn kind_of(file_type: FileType) -> FileKind {
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

pub(crate) fn convert_metadata(
    meta: &cap_std::fs::Metadata,
    symlink_target: Option<String>,
) -> Metadata {
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
