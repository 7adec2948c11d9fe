//! Filesystem requests the core makes, and the answers a runtime gives.
//!
//! Every path in a request is a [`VirtualPath`]: absolute, normalised, beneath the server's root
//! (the user's home is already prefixed). The storage layer maps it to the disk and must keep every
//! access beneath the root, also through symlinks.

use crate::path::VirtualPath;

/// One filesystem operation for the runtime to carry out ([`Output::Fs`](crate::Output::Fs)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum FsOp {
    /// Metadata of the path, not following a final symlink's target for the kind
    /// ([`FsReply::Metadata`]). A symlink to a directory should report [`FileKind::Dir`] so
    /// that `CWD` into it works; storage that refuses links leading outside the root reports
    /// [`FsError::NotFound`] for them.
    Stat(VirtualPath),
    /// The entries of a directory, without `.` and `..` ([`FsReply::Listing`]). Sent for
    /// `STAT path`, which shows at most
    /// [`STAT_MAX_ENTRIES`](crate::listing::STAT_MAX_ENTRIES) of them: storage may stop reading
    /// after one more than that. (`LIST`, `NLST` and `MLSD` stream their entries instead:
    /// [`TransferKind::SendListing`](crate::TransferKind::SendListing).)
    ///
    /// A path naming something other than a directory answers [`FsReply::Entry`] (its metadata
    /// and the storage's wall-clock time), so that `LIST file` dates it as a listing would. A
    /// storage may answer [`FsError::NotADirectory`] instead: the core then sends
    /// [`Stat`](Self::Stat) to list that one name, and, having no wall-clock time, shows its
    /// date with the year.
    ///
    /// For a pattern (`LIST *.bin`) the core first asks for the path as given (a name may
    /// really contain `*`) and, when that is [`FsError::NotFound`], for the directory the
    /// pattern is in; it matches the names itself. Storage never sees a pattern to expand.
    ListDir(VirtualPath),
    /// [`ListDir`](Self::ListDir), but storage may stop reading after `max` entries and answer
    /// those: for `STAT dir` over the control connection, which shows at most
    /// [`STAT_MAX_ENTRIES`](crate::STAT_MAX_ENTRIES) (it asks for one more, to know the
    /// directory was cut), so that a huge directory costs no memory. Same answers and rules as
    /// [`ListDir`](Self::ListDir), a non-directory included.
    ListDirFirst {
        /// The directory.
        path: VirtualPath,
        /// Entries enough; more may be answered.
        max: usize,
    },
    /// The names of a directory's entries, without `.` and `..` ([`FsReply::Listing`]), for
    /// `NLST`, which prints names only: storage need not read each entry's metadata. (The core
    /// now streams `NLST` as a [`TransferKind::SendListing`](crate::TransferKind::SendListing)
    /// and no longer sends this.)
    ///
    /// Of each [`DirEntry`] the core uses only [`name`](DirEntry::name). Fill
    /// [`metadata`](DirEntry::metadata) with whatever the storage knows for free (say the
    /// [`kind`](Metadata::kind) from the directory entry itself) and defaults for the rest, e.g.
    /// [`Metadata::file`]`(0, None)`; [`Listing::now`] is unused too. The rules of
    /// [`ListDir`](Self::ListDir) still hold: every access stays beneath the root, the same
    /// entries are listed (storage that hides its own temporary upload files hides them here
    /// too), and a path naming something other than a directory answers [`FsReply::Entry`] or
    /// [`FsError::NotADirectory`] (upon which the core sends [`Stat`](Self::Stat) to list that
    /// one name). Patterns (`NLST *.bin`) are handled as for [`ListDir`](Self::ListDir).
    ListNames(VirtualPath),
    /// Create a directory ([`FsReply::Done`]).
    MakeDir(VirtualPath),
    /// Remove an empty directory ([`FsReply::Done`]).
    RemoveDir(VirtualPath),
    /// Remove a file ([`FsReply::Done`]).
    RemoveFile(VirtualPath),
    /// Rename `from` to `to`, replacing a file at `to` ([`FsReply::Done`]).
    Rename {
        /// Existing path.
        from: VirtualPath,
        /// New path.
        to: VirtualPath,
    },
    /// Create a new empty file with a unique name in `dir` ([`FsReply::Created`]), for `STOU`.
    CreateUnique {
        /// Directory to create the file in.
        dir: VirtualPath,
    },
    /// Set the modification time of `path` (a file or directory, following symlinks beneath
    /// the root) to `unix_secs` seconds since the Unix epoch, UTC ([`FsReply::Done`]), for
    /// `MFMT` and `SITE UTIME`. Storage that cannot answers [`FsError::Unsupported`].
    SetModified {
        /// The file or directory.
        path: VirtualPath,
        /// The new modification time.
        unix_secs: i64,
    },
    /// Set the permission bits of `path` to `mode` ([`FsReply::Done`]), for `SITE CHMOD`. The
    /// core masks `mode` to `0o777` (never setuid, setgid or sticky). Storage that has no
    /// modes answers [`FsError::Unsupported`].
    SetMode {
        /// The file or directory.
        path: VirtualPath,
        /// Permission bits, at most `0o777`.
        mode: u32,
    },
    /// The digest of the regular file `path`, the whole file as stored
    /// ([`FsReply::Hash`]), for `HASH`, `XSHA256`, `XSHA1`, `XMD5` and `XCRC`. Potentially
    /// slow (it reads the whole file): run it where blocking work runs, streaming the file.
    Hash {
        /// The file.
        path: VirtualPath,
        /// Which digest.
        algorithm: HashAlgorithm,
    },
    /// The bytes a client could still store in the directory `path` (or the directory of the
    /// file it names), for `AVBL` ([`FsReply::FreeSpace`]). Storage that cannot say answers
    /// [`FsError::Unsupported`].
    FreeSpace(VirtualPath),
}

/// A digest the `HASH` family of commands can ask for ([`FsOp::Hash`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-256 (FIPS 180-4): 32 bytes.
    Sha256,
    /// SHA-1: 20 bytes.
    Sha1,
    /// MD5 (RFC 1321): 16 bytes.
    Md5,
    /// CRC-32 (IEEE 802.3, as zlib and `XCRC` compute it): 4 bytes, big-endian.
    Crc32,
}

impl HashAlgorithm {
    /// Every algorithm, in the order `FEAT` lists them.
    pub const ALL: [HashAlgorithm; 4] = [Self::Sha256, Self::Sha1, Self::Md5, Self::Crc32];

    /// The name on the wire (draft-bryan-ftpext-hash-02 uses the IANA hash names).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha1 => "SHA-1",
            Self::Md5 => "MD5",
            Self::Crc32 => "CRC32",
        }
    }

    /// The algorithm called `name` (any case).
    pub fn from_name(name: &str) -> Option<HashAlgorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

/// A successful answer to an [`FsOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum FsReply {
    /// Answer to [`FsOp::Stat`].
    Metadata(Metadata),
    /// Answer to [`FsOp::ListDir`] and [`FsOp::ListNames`] of a directory.
    Listing(Listing),
    /// Answer to [`FsOp::ListDir`] and [`FsOp::ListNames`] of a path that names something other
    /// than a directory: that one thing. The core lists it under the name the client gave.
    Entry {
        /// Its metadata, as [`FsOp::Stat`] would report it.
        metadata: Metadata,
        /// Wall-clock time, in seconds since the Unix epoch, as in [`Listing::now`].
        now: i64,
    },
    /// Answer to operations that return nothing.
    Done,
    /// Answer to [`FsOp::CreateUnique`]: the path of the new file.
    Created(VirtualPath),
    /// Answer to [`FsOp::Hash`].
    Hash {
        /// The digest's bytes (CRC-32 big-endian); the core writes them in hex.
        digest: Vec<u8>,
        /// How many bytes were hashed (the file's size), for the byte range in the reply.
        size: u64,
    },
    /// Answer to [`FsOp::FreeSpace`]: free bytes.
    FreeSpace(u64),
}

/// Why a filesystem operation failed. The core turns each kind into a reply code.
///
/// Storage must answer [`FsError::NotFound`] for a path that leads outside the root, so a client
/// cannot tell a missing file from a forbidden one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum FsError {
    /// No such file or directory (or outside the root).
    NotFound,
    /// The operating system refused access.
    PermissionDenied,
    /// The target already exists.
    AlreadyExists,
    /// A directory was expected.
    NotADirectory,
    /// A file was expected.
    IsADirectory,
    /// `RMD` of a directory that still has entries.
    DirectoryNotEmpty,
    /// The disk or a quota is full.
    NoSpace,
    /// The name is not valid on this storage.
    InvalidName,
    /// Anything else (an I/O error): reported as a local error, `451`.
    Other,
    /// This storage cannot do that (set a time or a mode, tell the free space): `502`.
    Unsupported,
    /// The user's quota (bytes or files) would be passed: `552` (RFC 959: "exceeded storage
    /// allocation"). Storage that enforces quotas removes the partial data of an upload it
    /// refuses this way.
    QuotaExceeded,
}

/// The directory entries of an [`FsOp::ListDir`] or [`FsOp::ListNames`], and the wall-clock time
/// of the listing ([`Listing::new`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct Listing {
    /// The entries, in any order (the core sorts them by name).
    pub entries: Vec<DirEntry>,
    /// Wall-clock time of the listing, in seconds since the Unix epoch. `LIST` shows entries
    /// modified in the six months before it with a time of day, older ones with a year.
    pub now: i64,
}

/// One directory entry ([`DirEntry::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct DirEntry {
    /// The entry's name (one path component).
    pub name: String,
    /// Its metadata.
    pub metadata: Metadata,
}

impl Listing {
    /// A listing of `entries` taken at wall-clock time `now` (see [`Listing::now`]).
    pub fn new(entries: Vec<DirEntry>, now: i64) -> Self {
        Self { entries, now }
    }
}

impl DirEntry {
    /// An entry called `name` (one path component).
    pub fn new(name: String, metadata: Metadata) -> Self {
        Self { name, metadata }
    }
}

/// What kind of thing a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (in listings; see [`Metadata::symlink_target`]).
    Symlink,
    /// Anything else (device, socket, fifo).
    Other,
}

/// Metadata of a file, as the core needs it for replies and listings. Start from
/// [`Metadata::file`] or [`Metadata::dir`] and set the fields you know: new ones may come.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct Metadata {
    /// The kind.
    pub kind: FileKind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, in seconds since the Unix epoch (UTC), if known.
    pub modified: Option<i64>,
    /// Unix permission bits (`0o644`, ...), without the file-type bits.
    pub mode: u32,
    /// Number of hard links.
    pub nlink: u64,
    /// For a symlink, the text of its target, shown as `name -> target` in `LIST`.
    pub symlink_target: Option<String>,
    /// A stable identity (device, inode) for the MLSx `unique` fact, if the storage has one.
    pub unique: Option<(u64, u64)>,
}

impl Metadata {
    /// Metadata of a regular file of `size` bytes with mode `0o644`; change the fields you need.
    pub fn file(size: u64, modified: Option<i64>) -> Self {
        Self {
            kind: FileKind::File,
            size,
            modified,
            mode: 0o644,
            nlink: 1,
            symlink_target: None,
            unique: None,
        }
    }

    /// Metadata of a directory with mode `0o755`; change the fields you need.
    pub fn dir(modified: Option<i64>) -> Self {
        Self {
            kind: FileKind::Dir,
            size: 4096,
            modified,
            mode: 0o755,
            nlink: 2,
            symlink_target: None,
            unique: None,
        }
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }
}
