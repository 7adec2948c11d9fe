//! The filesystem requests of the core, carried out on keys: what a directory, a rename or an
//! upload's target is on a store that has only objects (see the [module docs](super)).

use thinftp::{FsError, Metadata, VirtualPath, WriteMode};

use super::cache::Version;
use super::errors::fs_error;
use super::keys::{keys, Keys};
use super::list::metadata_of;
use super::{ObjectDirStream, ObjectReader, ObjectStore, ObjectUpload};

/// Tries before [`FsOp::CreateUnique`](thinftp::FsOp::CreateUnique) gives up finding a free
/// name.
const UNIQUE_TRIES: u32 = 16;

impl ObjectStore {
    /// What `path` is: a file (an object), a directory (the home, a marker, or keys beneath
    /// the prefix), or [`FsError::NotFound`]. A file wins over a directory of the same name
    /// (a store may have both `a` and `a/...`).
    pub(super) fn stat_path(&self, path: &VirtualPath) -> Result<Metadata, FsError> {
        let keys = self.keys(path)?;
        if keys.home {
            return Ok(Metadata::dir(None));
        }
        if let Some(meta) = self.file_meta(&keys)? {
            return Ok(meta);
        }
        if self.is_dir_key(&keys.dir)? {
            Ok(Metadata::dir(None))
        } else {
            Err(FsError::NotFound)
        }
    }

    /// The entries of the directory `path`, read page by page as the stream is iterated. A file
    /// answers [`FsError::NotADirectory`].
    pub(super) fn dir_stream(&self, path: &VirtualPath) -> Result<ObjectDirStream, FsError> {
        let keys = self.keys(path)?;
        if let Some(stream) = self.open_dir(&keys.dir)? {
            return Ok(stream);
        }
        if keys.home {
            // An empty bucket or a home with nothing in it yet: an empty listing.
            return Ok(ObjectDirStream::empty(&self.shared.runtime, &keys.dir));
        }
        match self.file_meta(&keys)? {
            Some(_) => Err(FsError::NotADirectory),
            None => Err(FsError::NotFound),
        }
    }

    /// Opens the file `path` for reading from `offset` (`REST`); a directory is
    /// [`FsError::IsADirectory`]. The object's size is checked first, so a read past the end
    /// reads nothing rather than failing.
    /// A small object the store gives an ETag for may come from the store's
    /// [`SmallObjects`](super::cache::SmallObjects), when the version kept is the one the store
    /// has now.
    pub(super) fn reader(&self, path: &VirtualPath, offset: u64) -> Result<ObjectReader, FsError> {
        let keys = self.keys(path)?;
        let Some(meta) = self.file_stat(&keys)? else {
            // No object: the home, another directory, or nothing at all.
            return Err(if keys.home || self.is_dir_key(&keys.dir)? {
                FsError::IsADirectory
            } else {
                FsError::NotFound
            });
        };
        let (runtime, op) = (&self.shared.runtime, &self.shared.op);
        match Version::of(&meta) {
            Some(version) => {
                let cache = &self.shared.small_objects;
                ObjectReader::open_cached(runtime, op, &keys.file, offset, cache, version)
            }
            None => ObjectReader::open(runtime, op, &keys.file, offset, meta.content_length()),
        }
        .map_err(|e| fs_error(&e))
    }

    /// Starts the upload of `path` the way `mode` says, before any byte is received: its
    /// directory must exist and it must not be one. `STOR`, `REST 0` + `STOR` and `STOU`'s
    /// write replace the object when the upload is committed; `APPE` and `REST n` + `STOR` are
    /// [`FsError::Unsupported`].
    pub(super) fn upload(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<ObjectUpload, FsError> {
        if !matches!(
            mode,
            WriteMode::Replace | WriteMode::New | WriteMode::Resume(0)
        ) {
            return Err(FsError::Unsupported);
        }
        let keys = self.keys(path)?;
        if keys.home {
            return Err(FsError::IsADirectory);
        }
        self.require_parent(path)?;
        if self.file_meta(&keys)?.is_none() && self.is_dir_key(&keys.dir)? {
            return Err(FsError::IsADirectory);
        }
        ObjectUpload::start(&self.shared.runtime, &self.shared.op, &keys.file)
            .map_err(|e| fs_error(&e))
    }

    pub(super) fn make_dir(&self, path: &VirtualPath) -> Result<(), FsError> {
        let keys = self.keys(path)?;
        if keys.home || self.file_meta(&keys)?.is_some() || self.is_dir_key(&keys.dir)? {
            return Err(FsError::AlreadyExists);
        }
        self.require_parent(path)?;
        self.write_marker(&keys.marker)
    }

    /// Writes the empty marker object `key` of a directory.
    fn write_marker(&self, key: &str) -> Result<(), FsError> {
        let op = &self.shared.op;
        self.run(op.write(key, Vec::<u8>::new()))
            .map(drop)
            .map_err(|e| fs_error(&e))
    }

    /// Deletes what makes the empty directory `keys` exist: its marker, and its own `dir/` key
    /// if the listing `entries` (read to its end) had one.
    fn delete_markers(&self, keys: &Keys, entries: &ObjectDirStream) -> Result<(), FsError> {
        let op = &self.shared.op;
        self.run(op.delete(&keys.marker))
            .map_err(|e| fs_error(&e))?;
        if entries.saw_own_key() {
            self.run(op.delete(&keys.dir)).map_err(|e| fs_error(&e))?;
        }
        Ok(())
    }

    /// Only an empty directory: its markers go (a prefix with no key left is no directory at
    /// all).
    pub(super) fn remove_dir(&self, path: &VirtualPath) -> Result<(), FsError> {
        let keys = self.keys(path)?;
        if keys.home {
            return Err(FsError::PermissionDenied);
        }
        let Some(mut entries) = self.open_dir(&keys.dir)? else {
            return Err(match self.file_meta(&keys)? {
                Some(_) => FsError::NotADirectory,
                None => FsError::NotFound,
            });
        };
        if entries.next().is_some() {
            return Err(FsError::DirectoryNotEmpty);
        }
        self.delete_markers(&keys, &entries)
    }

    pub(super) fn remove_file(&self, path: &VirtualPath) -> Result<(), FsError> {
        let keys = self.keys(path)?;
        if keys.home {
            return Err(FsError::IsADirectory);
        }
        if self.file_meta(&keys)?.is_none() {
            return Err(if self.is_dir_key(&keys.dir)? {
                FsError::IsADirectory
            } else {
                FsError::NotFound
            });
        }
        let op = &self.shared.op;
        self.run(op.delete(&keys.file)).map_err(|e| fs_error(&e))
    }

    /// A file: copy on the server, then delete the old key (the new name is complete before
    /// the old one goes; if the delete fails, both names are there and the client gets `451`).
    /// An empty directory: its marker moves. A non-empty one: [`FsError::Unsupported`].
    pub(super) fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), FsError> {
        let (src, dst) = (self.keys(from)?, self.keys(to)?);
        if src.home || dst.home {
            return Err(FsError::PermissionDenied);
        }
        let is_file = self.file_meta(&src)?.is_some();
        if from == to {
            return self.stat_path(from).map(drop);
        }
        self.require_parent(to)?;
        let op = &self.shared.op;
        if is_file {
            if self.file_meta(&dst)?.is_none() && self.is_dir_key(&dst.dir)? {
                return Err(FsError::IsADirectory);
            }
            self.copy_object(&src.file, &dst.file)?;
            return self.run(op.delete(&src.file)).map_err(|e| fs_error(&e));
        }
        let Some(mut entries) = self.open_dir(&src.dir)? else {
            return Err(FsError::NotFound);
        };
        if entries.next().is_some() {
            return Err(FsError::Unsupported);
        }
        if dst.dir.starts_with(&src.dir) {
            return Err(FsError::InvalidName);
        }
        if self.file_meta(&dst)?.is_some() || self.is_dir_key(&dst.dir)? {
            return Err(FsError::AlreadyExists);
        }
        self.write_marker(&dst.marker)?;
        self.delete_markers(&src, &entries)
    }

    /// Copies the object `from` to `to`: on the server where the service can (S3 `CopyObject`),
    /// else streamed through this process, the new object visible only once complete.
    fn copy_object(&self, from: &str, to: &str) -> Result<(), FsError> {
        let op = &self.shared.op;
        if op.info().capability().copy {
            return self
                .run(op.copy(from, to))
                .map(drop)
                .map_err(|e| fs_error(&e));
        }
        let size = self
            .run(op.stat(from))
            .map_err(|e| fs_error(&e))?
            .content_length();
        let runtime = &self.shared.runtime;
        let mut reader =
            ObjectReader::open(runtime, op, from, 0, size).map_err(|e| fs_error(&e))?;
        let mut upload = ObjectUpload::start(runtime, op, to).map_err(|e| fs_error(&e))?;
        std::io::copy(&mut reader, &mut upload).map_err(|_| FsError::Other)?;
        upload.finish().map_err(|_| FsError::Other)
    }

    /// `STOU`: a new empty object with a free name in `dir`.
    pub(super) fn create_unique(&self, dir: &VirtualPath) -> Result<VirtualPath, FsError> {
        if !self.stat_path(dir)?.is_dir() {
            return Err(FsError::NotADirectory);
        }
        for _ in 0..UNIQUE_TRIES {
            let path = dir
                .resolve(&format!("stou.{:016x}", fastrand::u64(..)))
                .map_err(|_| FsError::Other)?;
            let keys = self.keys(&path)?;
            if self.file_meta(&keys)?.is_some() {
                continue;
            }
            let op = &self.shared.op;
            self.run(op.write(&keys.file, Vec::<u8>::new()))
                .map_err(|e| fs_error(&e))?;
            return Ok(path);
        }
        Err(FsError::Other)
    }

    /// The metadata of the object `keys.file`, `None` if there is none.
    fn file_meta(&self, keys: &Keys) -> Result<Option<Metadata>, FsError> {
        Ok(self.file_stat(keys)?.map(|meta| metadata_of(&meta)))
    }

    /// What the store says of the object `keys.file`, `None` if there is none.
    fn file_stat(&self, keys: &Keys) -> Result<Option<opendal::Metadata>, FsError> {
        if keys.home {
            return Ok(None);
        }
        let op = &self.shared.op;
        match self.run(op.stat(&keys.file)) {
            Ok(meta) if meta.is_file() => Ok(Some(meta)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
            // Some S3-compatible servers that keep objects as files (s3s-fs) fail a HEAD of a
            // name that is a directory on their disk (one with keys, or an empty one left by
            // RMD). If the store then lists the prefix fine, the name is no file: a directory
            // if the prefix has keys, else nothing. If the listing fails too, that error counts.
            Err(e) if e.kind() == opendal::ErrorKind::Unexpected => {
                self.is_dir_key(&keys.dir)?;
                tracing::debug!(key = %keys.file, error = %e, "object store: HEAD failed, the listing did not");
                Ok(None)
            }
            Err(e) => Err(fs_error(&e)),
        }
    }

    /// The listing of the prefix `dir_key` if it has any key (its marker counts), else `None`.
    fn open_dir(&self, dir_key: &str) -> Result<Option<ObjectDirStream>, FsError> {
        ObjectDirStream::open(&self.shared.runtime, &self.shared.op, dir_key)
            .map_err(|e| fs_error(&e))
    }

    /// Whether the prefix `dir_key` has any key (its marker counts): a directory.
    fn is_dir_key(&self, dir_key: &str) -> Result<bool, FsError> {
        ObjectDirStream::any_key(&self.shared.runtime, &self.shared.op, dir_key)
            .map_err(|e| fs_error(&e))
    }

    /// [`FsError::NotFound`] unless the directory `path` is in exists (the home always does).
    fn require_parent(&self, path: &VirtualPath) -> Result<(), FsError> {
        let parent = path.parent().ok_or(FsError::NotFound)?;
        match self.stat_path(&parent) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(FsError::NotADirectory),
            Err(e) => Err(e),
        }
    }

    fn keys(&self, path: &VirtualPath) -> Result<Keys, FsError> {
        keys(&self.home, &self.prefix, path)
    }

    pub(super) fn run<F: std::future::Future>(&self, future: F) -> F::Output {
        self.shared.runtime.run(future)
    }
}
