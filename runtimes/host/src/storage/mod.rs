//! Where the files are: the [`Storage`] trait every back-end implements, and the back-ends.
//!
//! - [`LocalStorage`] (`local/`): a directory on local disk through `cap-std`, contained beneath
//!   each user's home, lossless overwrite (temporary file + rename), `sendfile`/`splice`.
//! - [`MemoryStorage`] (`memory.rs`): a tree in memory with an injected clock, for tests and the
//!   deterministic simulator.
//! - An object store (OpenDAL) plugs in the same way.
//!
//! A session holds one `Arc<dyn Storage>`: the server's root until a login is accepted, then the
//! storage [`for_home`](Storage::for_home) gives for the user's home (see
//! [`SessionStorage`](crate::SessionStorage)). Every call is blocking and made off the event loop
//! (on a job thread), except the metadata requests a storage that says
//! [`Capabilities::local`] lets the loop run in place. A back-end on an async client library
//! blocks on its own runtime inside its methods.
//!
//! # What an implementation must do
//!
//! - **Containment.** Paths are in the server's view (absolute, normalised, the user's home
//!   already joined by the core). A storage for a home takes only paths at or below its
//!   [`home`](Storage::home) and answers [`FsError::NotFound`] for anything else, also for a
//!   path that would leave the home through a symlink: a client cannot tell a forbidden path
//!   from a missing one.
//! - **Every [`FsOp`]** through [`execute`](Storage::execute), answered with the
//!   [`FsReply`] its documentation names. What the storage cannot do is
//!   [`FsError::Unsupported`] (the client gets `502`), never an emulation that could lose data
//!   (no APPE done as download + rewrite). [`Capabilities`] says the same thing ahead of time,
//!   and the host refuses an operation the capabilities rule out without calling the storage
//!   ([`execute_checked`]).
//! - **Listings are streams** ([`list`](Storage::list)): entries are produced as they are read
//!   (pages of an object store's listing, `getdents` on disk), so that a directory of a million
//!   entries costs bounded memory. The storage's own temporary or marker objects never show.
//!   [`collect_listing`] builds the answers to [`FsOp::ListDir`] and [`FsOp::ListDirFirst`]
//!   from the stream.
//! - **Reads** ([`open_read`](Storage::open_read)) start at an offset (a ranged read for an
//!   object store). A local file hands out its descriptor ([`ReadStream::local_file`]) so that a
//!   binary download goes out with `sendfile`; anything else is copied through a large buffer.
//! - **Writes** ([`open_write`](Storage::open_write)) in a [`WriteMode`]. Nothing is lost:
//!   - [`WriteStream::commit`] is called once the client's data ended cleanly. For
//!     [`WriteMode::Replace`] the new content becomes visible at once and whole at that point
//!     (local: rename of the temporary file; object store: completing the multipart upload);
//!   - a stream dropped without `commit` (the connection broke, `ABOR`, shutdown, an error) must
//!     leave the file that was there before intact. Whether the bytes received so far stay is
//!     the back-end's choice, documented by it (local disk keeps a broken upload of a *new* file
//!     and the bytes written in place by `REST`+`STOR`/`APPE`, so that the client can resume;
//!     an object store keeps nothing);
//!   - `APPE` ([`WriteMode::Append`]) and `REST n`+`STOR` ([`WriteMode::Resume`] with `n > 0`)
//!     only if [`Capabilities::append`] / [`Capabilities::write_at_offset`]; otherwise
//!     [`FsError::Unsupported`].
//! - **Time.** [`now`](Storage::now) is the wall clock listings are dated against. A storage
//!   used by a simulation takes it from an injected clock, so that a run is reproducible.

mod digest;
mod listing;
pub mod local;
pub mod memory;
pub mod url;

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::Arc;

use thinftp::{DirEntry, FsError, FsOp, FsReply, Metadata, VirtualPath, WriteMode};

pub use digest::{digest_file, digest_stream};
pub use listing::{collect_listing, collect_matching, pattern_list};
pub(crate) use local::STALE_SCAN_ENTRIES;
pub use local::{
    default_node_id, parse_node_id, LocalSettings, LocalStorage, StaleCleanup, DEFAULT_UMASK,
    TEMP_PREFIX,
};
pub use memory::MemoryStorage;
pub use url::StorageUrl;

/// A back-end that holds the files: see the [module docs](self) for what an implementation must
/// do. Object-safe; sessions hold an `Arc<dyn Storage>`. Every method may block.
pub trait Storage: fmt::Debug + Send + Sync {
    /// What this storage can do. Constant for the life of a storage (the host may ask once).
    fn capabilities(&self) -> Capabilities;

    /// Where this storage's files are, in the server's view: `/` for the server's root, else
    /// the user's home it was made for by [`for_home`](Self::for_home).
    fn home(&self) -> &VirtualPath;

    /// What is served, for logs and the first log line: a directory on the host
    /// (`/srv/ftp/alice`), a bucket and prefix (`s3://bucket/prefix`).
    fn describe(&self) -> String;

    /// The wall-clock time, in seconds since the Unix epoch, that listings are dated against
    /// ([`Listing::now`](thinftp::Listing::now), the `now` of a streamed listing).
    fn now(&self) -> i64;

    /// The storage of a user whose home is `home` (in the server's view, at or below this
    /// storage's home): every later access of that user resolves beneath it, and nothing it
    /// hands out reaches outside it. Called at login: a home that is missing, not a directory,
    /// or outside this storage is an error and the login is refused.
    fn for_home(&self, home: &VirtualPath) -> Result<Arc<dyn Storage>, FsError>;

    /// Carries out one filesystem request of the core and returns its answer. An operation the
    /// storage cannot do answers [`FsError::Unsupported`]; one newer than the storage
    /// ([`FsOp`] is non-exhaustive) answers [`FsError::Unsupported`] too.
    fn execute(&self, op: &FsOp) -> Result<FsReply, FsError>;

    /// The visible entries of the directory `path`, produced as they are read (bounded memory
    /// whatever the directory's size; dropping the stream stops the reading). With `metadata`
    /// false only names and kinds need be right (`NLST`); the rest may be defaults
    /// ([`Metadata::file`]`(0, None)`). A path naming something that is not a directory
    /// answers [`FsError::NotADirectory`]. The order is the storage's; the host sorts small
    /// directories itself.
    fn list(&self, path: &VirtualPath, metadata: bool) -> Result<DirStream, FsError>;

    /// Opens the regular file `path` for reading from byte `offset` (past the end: nothing to
    /// read). A directory is [`FsError::IsADirectory`]; anything else that is not a regular file
    /// (a FIFO, a device) is refused with [`FsError::PermissionDenied`].
    fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<Box<dyn ReadStream>, FsError>;

    /// Opens the target of an upload to `path` in `mode` (see [`WriteStream`] for commit and
    /// abort). The parent directory must exist; a directory at `path` is
    /// [`FsError::IsADirectory`]. A mode the storage cannot do is [`FsError::Unsupported`].
    fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<Box<dyn WriteStream>, FsError>;

    /// The metadata of `path`: [`FsOp::Stat`] through [`execute`](Self::execute).
    fn stat(&self, path: &VirtualPath) -> Result<Metadata, FsError> {
        match self.execute(&FsOp::Stat(path.clone()))? {
            FsReply::Metadata(metadata) => Ok(metadata),
            _ => Err(FsError::Other),
        }
    }

    /// For shutdown, once the transfers still running are cut short (the process is about to
    /// exit): gives up every upload running now beneath this storage and every home made from
    /// it, leaving the files they would have replaced untouched, and returns how many. A
    /// back-end whose unfinished uploads vanish by themselves returns 0.
    fn remove_unfinished_uploads(&self) -> usize {
        0
    }

    /// At start-up, before any session runs: removes what uploads of a crashed or killed server
    /// left behind (temporary files, unfinished multipart uploads), looking at no more than
    /// `max_entries` entries.
    fn remove_stale_uploads(&self, max_entries: usize) -> StaleCleanup {
        let _ = max_entries;
        StaleCleanup {
            removed: 0,
            complete: true,
        }
    }
}

/// The entries of one directory as a [`Storage`] reads them ([`Storage::list`]): an error
/// mid-way (a listing page that cannot be fetched) ends the listing with that error.
pub type DirStream = Box<dyn Iterator<Item = Result<DirEntry, FsError>> + Send>;

/// A file being read for a download ([`Storage::open_read`]), positioned at its offset.
pub trait ReadStream: Read + Send {
    /// The open local file, at the stream's position, when the storage has one: the transfer
    /// then sends it with `sendfile`, inside the kernel. `None` (the default): the transfer
    /// reads the stream through a large buffer.
    fn local_file(&mut self) -> Option<&mut File> {
        None
    }
}

/// The target of an upload ([`Storage::open_write`]). Write the received bytes to it, then
/// [`commit`](Self::commit) if the client's data ended cleanly. Dropping it without `commit`
/// aborts the upload: the file that was there before stays intact.
pub trait WriteStream: Write + Send {
    /// The open local file being written, when the storage has one: the transfer then moves the
    /// socket's bytes into it with `splice`, inside the kernel. `None` (the default): the
    /// transfer writes through [`Write`] in large buffers.
    fn local_file(&mut self) -> Option<&mut File> {
        None
    }

    /// The upload is complete: make it the file at its path (for [`WriteMode::Replace`], at once
    /// and whole). An error means the upload did not become the file (and the old one, if any,
    /// is still there), e.g. the server's shutdown gave it up meanwhile.
    fn commit(self: Box<Self>) -> Result<(), FsError>;
}

/// What a [`Storage`] can do. Everything it cannot do answers [`FsError::Unsupported`]; the host
/// checks these before calling it ([`execute_checked`]), so that every back-end refuses alike.
///
/// Non-exhaustive: start from [`Capabilities::none`] (or [`Capabilities::all`]) and set fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// [`FsOp::Rename`] of files (`RNFR`/`RNTO`).
    pub rename: bool,
    /// [`FsOp::Rename`] of directories too (an object store would have to copy every object
    /// beneath it).
    pub rename_dir: bool,
    /// [`WriteMode::Append`] (`APPE`).
    pub append: bool,
    /// [`WriteMode::Resume`] from an offset above 0 (`REST n` + `STOR`).
    pub write_at_offset: bool,
    /// [`FsOp::CreateUnique`] and [`WriteMode::New`] (`STOU`).
    pub create_unique: bool,
    /// [`FsOp::SetModified`] (`MFMT`, `SITE UTIME`).
    pub set_modified: bool,
    /// [`FsOp::SetMode`] (`SITE CHMOD`).
    pub set_mode: bool,
    /// [`FsOp::FreeSpace`] (`AVBL`).
    pub free_space: bool,
    /// [`FsOp::Hash`] (`HASH`, `XSHA256`, ...).
    pub hash: bool,
    /// Its streams hand out local files ([`ReadStream::local_file`],
    /// [`WriteStream::local_file`]): binary transfers use `sendfile`/`splice`.
    pub local_fd: bool,
    /// Metadata requests (a `stat`, opening a file) are quick and wait on no network, so that an
    /// event loop may run them in place instead of on a thread.
    pub local: bool,
}

impl Capabilities {
    /// Nothing beyond reading, listing, storing whole files, directories and deleting.
    pub const fn none() -> Capabilities {
        Capabilities {
            rename: false,
            rename_dir: false,
            append: false,
            write_at_offset: false,
            create_unique: false,
            set_modified: false,
            set_mode: false,
            free_space: false,
            hash: false,
            local_fd: false,
            local: false,
        }
    }

    /// Everything (local disk).
    pub const fn all() -> Capabilities {
        Capabilities {
            rename: true,
            rename_dir: true,
            append: true,
            write_at_offset: true,
            create_unique: true,
            set_modified: true,
            set_mode: true,
            free_space: true,
            hash: true,
            local_fd: true,
            local: true,
        }
    }

    /// Whether `op` is within these capabilities. A rename is allowed if files can be renamed
    /// (whether `from` is a directory is known only to the storage, which answers
    /// [`FsError::Unsupported`] itself when directories cannot be).
    pub fn allows(&self, op: &FsOp) -> bool {
        match op {
            FsOp::Rename { .. } => self.rename,
            FsOp::CreateUnique { .. } => self.create_unique,
            FsOp::SetModified { .. } => self.set_modified,
            FsOp::SetMode { .. } => self.set_mode,
            FsOp::FreeSpace(_) => self.free_space,
            FsOp::Hash { .. } => self.hash,
            _ => true,
        }
    }

    /// Whether an upload in `mode` is within these capabilities (`REST 0` + `STOR` rewrites the
    /// whole file, which any storage can).
    pub fn allows_write(&self, mode: WriteMode) -> bool {
        match mode {
            WriteMode::Append => self.append,
            WriteMode::Resume(offset) => offset == 0 || self.write_at_offset,
            WriteMode::New => self.create_unique,
            _ => true,
        }
    }
}

/// [`FsError::Unsupported`] if `op` is beyond what `storage` can do (so that the storage is not
/// called), else its answer: how the host runs every filesystem request.
pub fn execute_checked(storage: &dyn Storage, op: &FsOp) -> Result<FsReply, FsError> {
    if !storage.capabilities().allows(op) {
        return Err(FsError::Unsupported);
    }
    storage.execute(op)
}
