//! Files in an object store (S3 and S3-compatible servers; OpenDAL's in-memory service in the
//! unit tests), through [OpenDAL](https://opendal.apache.org).
//!
//! What each FTP command becomes on a store that has keys, not files and directories:
//! - a file is an object; a directory is a key prefix plus an empty marker object (`dir/`), so
//!   that `MKD` of an empty directory is visible; a prefix without a marker (keys uploaded by
//!   other tools) is a directory too ([`keys`]);
//! - `LIST`/`NLST`/`MLSD` page through the store's listing as they send ([`ObjectDirStream`]);
//! - `RETR` is one streamed GET, `REST n` + `RETR` a ranged one ([`ObjectReader`]);
//! - `STOR` is a streamed (multipart) upload, visible only once complete; a failed or aborted
//!   one leaves the old object as it was ([`ObjectUpload`]);
//! - `RNFR`/`RNTO` of a file is a server-side copy, then a delete of the old key; an empty
//!   directory moves its marker; a non-empty directory is refused (`502`): moving it object by
//!   object could stop half-way and leave it split in two;
//! - `APPE` and `REST n` + `STOR` need a store that appends: S3 cannot (OpenDAL offers it for
//!   S3 Express One Zone only, which this back-end does not count on), so they get `502`;
//! - `MFMT`/`SITE UTIME`, `SITE CHMOD` and `AVBL` are refused (`502`): a store sets the
//!   last-modified time itself, has no modes and no free space to tell;
//! - `MDTM`, `MLSD`'s `modify` and `LIST`'s dates come from the store's last-modified;
//! - a user's home is a key prefix (`alice/`), and no path leaves it.
//!
//! OpenDAL is async; the store owns a small tokio runtime ([`runtime::Blocking`]) and every
//! method here blocks on it: call them from a thread made for blocking work, as the runtimes do
//! for filesystem jobs and transfers.

mod errors;
mod keys;
mod list;
mod location;
mod read;
mod runtime;
mod upload;

#[cfg(test)]
mod tests;

use std::io::Read;
use std::sync::Arc;

use opendal::Operator;
use thinftp::{FsError, FsOp, FsReply, HashAlgorithm, Listing, Metadata, VirtualPath, WriteMode};

pub use list::ObjectDirStream;
pub use location::S3Location;
pub use read::ObjectReader;
pub use upload::{ObjectUpload, PARTS_IN_FLIGHT, PART_SIZE};

use errors::fs_error;
use keys::{home_prefix, keys, Keys};
use list::metadata_of;
use runtime::Blocking;

/// Tries before [`FsOp::CreateUnique`] gives up finding a free name.
const UNIQUE_TRIES: u32 = 16;

/// Read buffer for digests (`HASH`, `XSHA256`, ...).
const HASH_BUFFER: usize = 1024 * 1024;

/// The objects beneath one key prefix: the served root, or a user's home within it. Cheap to
/// clone: clones share the connection pool and the runtime.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    shared: Arc<Shared>,
    /// Where this store's top is, in the server's view (`/` for the root).
    home: VirtualPath,
    /// The key prefix of `home` (`alice/`; empty for the root).
    prefix: String,
}

#[derive(Debug)]
struct Shared {
    op: Operator,
    runtime: Blocking,
    /// For logs: `s3://bucket/prefix`, `memory://`.
    name: String,
    /// Whether the service appends to an object (`APPE`, `REST` + `STOR`).
    can_append: bool,
}

impl ObjectStore {
    /// Opens the S3 bucket `location` names, with the credentials of the environment variables
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`, if set): never
    /// from anywhere else (no profile files, no instance metadata service). Checks that the
    /// bucket can be listed, so a wrong endpoint, bucket or key stops the start-up.
    pub fn open_s3(location: &S3Location) -> Result<ObjectStore, String> {
        let key_id = std::env::var("AWS_ACCESS_KEY_ID").ok();
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY").ok();
        let (Some(key_id), Some(secret)) = (key_id, secret) else {
            return Err(
                "serving an S3 bucket needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
                    .to_owned(),
            );
        };
        let region = location
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .unwrap_or_else(|| "us-east-1".to_owned());
        let mut builder = opendal::services::S3::default()
            .bucket(&location.bucket)
            .root(&format!("/{}", location.prefix))
            .region(&region)
            .access_key_id(&key_id)
            .secret_access_key(&secret)
            .disable_config_load()
            .disable_ec2_metadata();
        if let Ok(token) = std::env::var("AWS_SESSION_TOKEN") {
            builder = builder.session_token(&token);
        }
        if let Some(endpoint) = &location.endpoint {
            builder = builder.endpoint(endpoint);
        }
        if !location.uses_path_style() {
            builder = builder.enable_virtual_host_style();
        }
        install_crypto_provider();
        let op = Operator::new(builder).map_err(|e| format!("{location}: {e}"))?;
        // OpenDAL offers appends on S3, but only S3 Express One Zone does them: a general
        // purpose bucket refuses at the first append, so count on none.
        let store = Self::with_operator(op, location.to_string(), false)?;
        store.check().map_err(|e| format!("{location}: {e}"))?;
        Ok(store)
    }

    /// A store on any OpenDAL operator (the in-memory service in tests), named `name` in logs.
    pub(crate) fn with_operator(
        op: Operator,
        name: String,
        can_append: bool,
    ) -> Result<ObjectStore, String> {
        let runtime = Blocking::start().map_err(|e| format!("cannot start the runtime: {e}"))?;
        Ok(ObjectStore {
            shared: Arc::new(Shared {
                op,
                runtime,
                name,
                can_append,
            }),
            home: VirtualPath::root(),
            prefix: String::new(),
        })
    }

    /// Lists the top once: the store answers, the bucket is there, the credentials work.
    fn check(&self) -> Result<(), opendal::Error> {
        let op = &self.shared.op;
        self.run(async { op.list_with("/").limit(1).await.map(drop) })
    }

    /// The store of a user whose home is `home` (in the server's view): its key prefix. The
    /// home must be a directory (a marker or keys beneath it), as on local disk.
    pub fn for_home(&self, home: &VirtualPath) -> Result<ObjectStore, FsError> {
        let meta = self.stat(home)?;
        if !meta.is_dir() {
            return Err(FsError::NotADirectory);
        }
        let inside = home.strip_prefix(&self.home).ok_or(FsError::NotFound)?;
        Ok(ObjectStore {
            shared: Arc::clone(&self.shared),
            prefix: format!("{}{}", self.prefix, home_prefix(&inside)),
            home: home.clone(),
        })
    }

    /// Where this store's top is, in the server's view: `/`, or the user's home.
    pub fn home(&self) -> &VirtualPath {
        &self.home
    }

    /// What it serves, for logs (`s3://bucket/prefix`).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Whether `APPE` and `REST n` + `STOR` can be carried out.
    pub fn can_append(&self) -> bool {
        self.shared.can_append
    }

    /// Carries out one filesystem request of the core. Blocking.
    pub fn execute(&self, op: &FsOp) -> Result<FsReply, FsError> {
        match op {
            FsOp::Stat(path) => self.stat(path).map(FsReply::Metadata),
            FsOp::ListDir(path) | FsOp::ListNames(path) => {
                self.collect(path, usize::MAX).map(FsReply::Listing)
            }
            FsOp::ListDirFirst { path, max } => self.collect(path, *max).map(FsReply::Listing),
            FsOp::MakeDir(path) => self.make_dir(path).map(|()| FsReply::Done),
            FsOp::RemoveDir(path) => self.remove_dir(path).map(|()| FsReply::Done),
            FsOp::RemoveFile(path) => self.remove_file(path).map(|()| FsReply::Done),
            FsOp::Rename { from, to } => self.rename(from, to).map(|()| FsReply::Done),
            FsOp::CreateUnique { dir } => self.create_unique(dir).map(FsReply::Created),
            FsOp::Hash { path, algorithm } => self
                .hash(path, *algorithm)
                .map(|(digest, size)| FsReply::Hash { digest, size }),
            // The store sets last-modified itself, has no modes, and no free space to tell.
            FsOp::SetModified { .. } | FsOp::SetMode { .. } | FsOp::FreeSpace(_) => {
                Err(FsError::Unsupported)
            }
            _ => Err(FsError::Other),
        }
    }

    /// What `path` is: a file (an object), a directory (the home, a marker, or keys beneath
    /// the prefix), or [`FsError::NotFound`]. A file wins over a directory of the same name
    /// (a store may have both `a` and `a/...`).
    pub fn stat(&self, path: &VirtualPath) -> Result<Metadata, FsError> {
        let keys = self.keys(path)?;
        if keys.home {
            return Ok(Metadata::dir(None));
        }
        if let Some(meta) = self.file_meta(&keys)? {
            return Ok(meta);
        }
        match self.open_dir(&keys.dir)? {
            Some(_) => Ok(Metadata::dir(None)),
            None => Err(FsError::NotFound),
        }
    }

    /// The entries of the directory `path`, read page by page as the stream is iterated. A file
    /// answers [`FsError::NotADirectory`].
    pub fn dir_stream(&self, path: &VirtualPath) -> Result<ObjectDirStream, FsError> {
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
    pub fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<ObjectReader, FsError> {
        let keys = self.keys(path)?;
        let meta = self.stat(path)?;
        if meta.is_dir() {
            return Err(FsError::IsADirectory);
        }
        let op = &self.shared.op;
        ObjectReader::open(&self.shared.runtime, op, &keys.file, offset, meta.size)
            .map_err(|e| fs_error(&e))
    }

    /// Starts the upload of `path` the way `mode` says, before any byte is received: its
    /// directory must exist and it must not be one. `STOR` and `STOU`'s write replace the
    /// object when the upload is committed; `APPE` and `REST n` + `STOR` are
    /// [`FsError::Unsupported`] where the store does not append.
    pub fn open_write(&self, path: &VirtualPath, mode: WriteMode) -> Result<ObjectUpload, FsError> {
        if !matches!(mode, WriteMode::Replace | WriteMode::New) && !self.can_append() {
            return Err(FsError::Unsupported);
        }
        let keys = self.keys(path)?;
        if keys.home {
            return Err(FsError::IsADirectory);
        }
        self.require_parent(path)?;
        if self.file_meta(&keys)?.is_none() && self.open_dir(&keys.dir)?.is_some() {
            return Err(FsError::IsADirectory);
        }
        ObjectUpload::start(&self.shared.runtime, &self.shared.op, &keys.file)
            .map_err(|e| fs_error(&e))
    }

    fn make_dir(&self, path: &VirtualPath) -> Result<(), FsError> {
        let keys = self.keys(path)?;
        if keys.home || self.file_meta(&keys)?.is_some() || self.open_dir(&keys.dir)?.is_some() {
            return Err(FsError::AlreadyExists);
        }
        self.require_parent(path)?;
        let op = &self.shared.op;
        self.run(op.create_dir(&keys.dir)).map_err(|e| fs_error(&e))
    }

    fn remove_dir(&self, path: &VirtualPath) -> Result<(), FsError> {
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
        let op = &self.shared.op;
        self.run(op.delete(&keys.dir)).map_err(|e| fs_error(&e))
    }

    fn remove_file(&self, path: &VirtualPath) -> Result<(), FsError> {
        let keys = self.keys(path)?;
        if keys.home {
            return Err(FsError::IsADirectory);
        }
        if self.file_meta(&keys)?.is_none() {
            return Err(match self.open_dir(&keys.dir)? {
                Some(_) => FsError::IsADirectory,
                None => FsError::NotFound,
            });
        }
        let op = &self.shared.op;
        self.run(op.delete(&keys.file)).map_err(|e| fs_error(&e))
    }

    /// A file: copy on the server, then delete the old key (the new name is complete before
    /// the old one goes; if the delete fails, both names are there and the client gets `451`).
    /// An empty directory: its marker moves. A non-empty one: [`FsError::Unsupported`].
    fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), FsError> {
        let (src, dst) = (self.keys(from)?, self.keys(to)?);
        if src.home || dst.home {
            return Err(FsError::PermissionDenied);
        }
        let is_file = self.file_meta(&src)?.is_some();
        if from == to {
            return self.stat(from).map(drop);
        }
        self.require_parent(to)?;
        let op = &self.shared.op;
        if is_file {
            if self.file_meta(&dst)?.is_none() && self.open_dir(&dst.dir)?.is_some() {
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
        if self.file_meta(&dst)?.is_some() || self.open_dir(&dst.dir)?.is_some() {
            return Err(FsError::AlreadyExists);
        }
        self.run(op.create_dir(&dst.dir))
            .map_err(|e| fs_error(&e))?;
        self.run(op.delete(&src.dir)).map_err(|e| fs_error(&e))
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
        upload.commit().map_err(|_| FsError::Other)
    }

    /// `STOU`: a new empty object with a free name in `dir`.
    fn create_unique(&self, dir: &VirtualPath) -> Result<VirtualPath, FsError> {
        if !self.stat(dir)?.is_dir() {
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

    /// The digest of the file `path`, streamed (never held whole), and its size.
    fn hash(
        &self,
        path: &VirtualPath,
        algorithm: HashAlgorithm,
    ) -> Result<(Vec<u8>, u64), FsError> {
        use digest::Digest;
        fn digest<D: Digest>(reader: &mut impl Read) -> std::io::Result<(Vec<u8>, u64)> {
            let mut hasher = D::new();
            let size = feed(reader, |chunk| hasher.update(chunk))?;
            Ok((hasher.finalize().to_vec(), size))
        }
        let mut reader = self.open_read(path, 0)?;
        let result = match algorithm {
            HashAlgorithm::Sha256 => digest::<sha2::Sha256>(&mut reader),
            HashAlgorithm::Sha1 => digest::<sha1::Sha1>(&mut reader),
            HashAlgorithm::Md5 => digest::<md5::Md5>(&mut reader),
            HashAlgorithm::Crc32 => {
                let mut crc = crc32fast::Hasher::new();
                feed(&mut reader, |chunk| crc.update(chunk))
                    .map(|size| (crc.finalize().to_be_bytes().to_vec(), size))
            }
            _ => return Err(FsError::Unsupported),
        };
        result.map_err(|e| {
            tracing::warn!(error = %e, "object store: reading for a digest failed");
            FsError::Other
        })
    }

    /// At most `max` entries of the directory `path`, with the wall-clock time.
    fn collect(&self, path: &VirtualPath, max: usize) -> Result<Listing, FsError> {
        let stream = self.dir_stream(path)?;
        Ok(Listing::new(
            stream.take(max).collect(),
            crate::storage::wall_clock(),
        ))
    }

    /// The metadata of the object `keys.file`, `None` if there is none.
    fn file_meta(&self, keys: &Keys) -> Result<Option<Metadata>, FsError> {
        if keys.home {
            return Ok(None);
        }
        let op = &self.shared.op;
        match self.run(op.stat(&keys.file)) {
            Ok(meta) if meta.is_file() => Ok(Some(metadata_of(&meta))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(fs_error(&e)),
        }
    }

    /// The listing of the prefix `dir_key` if it has any key (its marker counts), else `None`.
    fn open_dir(&self, dir_key: &str) -> Result<Option<ObjectDirStream>, FsError> {
        ObjectDirStream::open(&self.shared.runtime, &self.shared.op, dir_key)
            .map_err(|e| fs_error(&e))
    }

    /// [`FsError::NotFound`] unless the directory `path` is in exists (the home always does).
    fn require_parent(&self, path: &VirtualPath) -> Result<(), FsError> {
        let parent = path.parent().ok_or(FsError::NotFound)?;
        match self.stat(&parent) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(FsError::NotADirectory),
            Err(e) => Err(e),
        }
    }

    fn keys(&self, path: &VirtualPath) -> Result<Keys, FsError> {
        keys(&self.home, &self.prefix, path)
    }

    fn run<F: std::future::Future>(&self, future: F) -> F::Output {
        self.shared.runtime.run(future)
    }
}

/// Feeds all of `reader` to `feed`, one buffer at a time; returns the bytes read.
fn feed(reader: &mut impl Read, mut feed: impl FnMut(&[u8])) -> std::io::Result<u64> {
    let mut buffer = vec![0u8; HASH_BUFFER];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                feed(&buffer[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// rustls needs one crypto provider for the HTTPS connections to the store: *ring*, installed
/// as the process default unless something installed one first.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
