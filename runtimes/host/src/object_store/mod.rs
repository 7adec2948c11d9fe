//! Files in an object store (S3 and S3-compatible servers; OpenDAL's in-memory service in the
//! unit tests), through [OpenDAL](https://opendal.apache.org).
//!
//! What each FTP command becomes on a store that has keys, not files and directories:
//! - a file is an object; a directory is a key prefix plus an empty marker object in it
//!   (`dir/.thinftp-dir`, never listed), so that `MKD` of an empty directory is visible; a
//!   prefix without a marker (keys uploaded by other tools) is a directory too ([`keys`]);
//! - `LIST`/`NLST`/`MLSD` page through the store's listing as they send ([`ObjectDirStream`]);
//! - `RETR` is one streamed GET, `REST n` + `RETR` a ranged one, a big object ranged GETs in
//!   parallel ([`ObjectReader`]); small objects read lately are served from memory while the
//!   store still has the same version (the same ETag) of them ([`cache`]);
//! - `STOR` is a streamed (multipart) upload, visible only once complete; a failed or aborted
//!   one leaves the old object as it was ([`ObjectUpload`]);
//! - `RNFR`/`RNTO` of a file is a server-side copy, then a delete of the old key; an empty
//!   directory moves its marker; a non-empty directory is refused (`502`): moving it object by
//!   object could stop half-way and leave it split in two;
//! - `APPE` and `REST n` + `STOR` need a store that appends: S3 cannot (OpenDAL offers appends
//!   on S3, but only S3 Express One Zone does them, so this back-end counts on none): `502`;
//! - `MFMT`/`SITE UTIME`, `SITE CHMOD` and `AVBL` are refused (`502`): a store sets the
//!   last-modified time itself, has no modes and no free space to tell;
//! - `MDTM`, `MLSD`'s `modify` and `LIST`'s dates come from the store's last-modified;
//! - a user's home is a key prefix (`alice/`), and no path leaves it.
//!
//! OpenDAL is async; the store owns a small tokio runtime ([`runtime::Blocking`]) and every
//! method here blocks on it: call them from a thread made for blocking work, as the runtimes do
//! for filesystem jobs and transfers.

mod cache;
mod errors;
mod keys;
mod list;
mod location;
mod ops;
mod read;
mod runtime;
mod upload;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use opendal::Operator;
use thinftp::{FsError, FsOp, FsReply, VirtualPath, WriteMode};

pub use list::ObjectDirStream;
pub use location::S3Location;
pub use read::ObjectReader;
pub use upload::{ObjectUpload, PARTS_IN_FLIGHT, PART_SIZE};

use keys::home_prefix;
use runtime::Blocking;

use std::sync::atomic::AtomicBool;

use crate::storage::{
    collect_listing, collect_matching, digest_file, pattern_list, Capabilities, DirStream,
    ReadStream, Storage, WriteStream,
};

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
    /// Small objects read lately, for every home of the store.
    small_objects: Arc<cache::SmallObjects>,
    /// For logs: `s3://bucket/prefix`, `memory://`.
    name: String,
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
            return Err(format!(
                "{location}: serving an S3 bucket needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
            ));
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
        let store = Self::with_operator(op, location.to_string())?;
        store.check().map_err(|e| format!("{location}: {e}"))?;
        Ok(store)
    }

    /// A store on any OpenDAL operator (the in-memory service in tests), named `name` in logs.
    pub(crate) fn with_operator(op: Operator, name: String) -> Result<ObjectStore, String> {
        let runtime = Blocking::start().map_err(|e| format!("cannot start the runtime: {e}"))?;
        Ok(ObjectStore {
            shared: Arc::new(Shared {
                op,
                runtime,
                small_objects: Arc::default(),
                name,
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
}

impl Storage for ObjectStore {
    /// Renames of files (copy + delete) and `STOU`, digests (streamed); no appends, no writes
    /// at an offset, no times, modes or free space; nothing local.
    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::none();
        capabilities.rename = true;
        capabilities.create_unique = true;
        capabilities.hash = true;
        capabilities
    }

    fn home(&self) -> &VirtualPath {
        &self.home
    }

    fn describe(&self) -> String {
        format!("{}{}", self.shared.name, self.prefix)
    }

    fn now(&self) -> i64 {
        crate::storage::local::wall_clock()
    }

    /// The user's home is a key prefix (`alice/`); it must be a directory already (a marker or
    /// keys beneath it), as on local disk.
    fn for_home(&self, home: &VirtualPath) -> Result<Arc<dyn Storage>, FsError> {
        if !self.stat_path(home)?.is_dir() {
            return Err(FsError::NotADirectory);
        }
        let inside = home.strip_prefix(&self.home).ok_or(FsError::NotFound)?;
        Ok(Arc::new(ObjectStore {
            shared: Arc::clone(&self.shared),
            prefix: format!("{}{}", self.prefix, home_prefix(&inside)),
            home: home.clone(),
        }))
    }

    fn execute(&self, op: &FsOp) -> Result<FsReply, FsError> {
        let listing = |path: &VirtualPath, max: usize| {
            collect_listing(self.list(path, true)?, max, self.now()).map(FsReply::Listing)
        };
        match op {
            FsOp::Stat(path) => self.stat_path(path).map(FsReply::Metadata),
            FsOp::ListDir(path) | FsOp::ListNames(path) => listing(path, usize::MAX),
            FsOp::ListDirFirst {
                path,
                max,
                pattern: None,
            } => listing(path, *max),
            FsOp::ListDirFirst {
                path,
                max,
                pattern: Some(pattern),
            } => collect_matching(pattern_list(self, path, true)?, pattern, *max, self.now())
                .map(FsReply::Listing),
            FsOp::MakeDir(path) => self.make_dir(path).map(|()| FsReply::Done),
            FsOp::RemoveDir(path) => self.remove_dir(path).map(|()| FsReply::Done),
            FsOp::RemoveFile(path) => self.remove_file(path).map(|()| FsReply::Done),
            FsOp::Rename { from, to } => self.rename(from, to).map(|()| FsReply::Done),
            FsOp::CreateUnique { dir } => self.create_unique(dir).map(FsReply::Created),
            // The driver runs digests itself with the session's cancel flag; this is for callers
            // of `execute` alone.
            FsOp::Hash {
                path,
                algorithm,
                range,
            } => digest_file(self, path, *algorithm, *range, &AtomicBool::new(false)),
            // The store sets last-modified itself, has no modes, and no free space to tell; and
            // anything newer than this back-end is not done either.
            _ => Err(FsError::Unsupported),
        }
    }

    /// The listing comes with sizes and times whatever `metadata` says: the store gives them
    /// in the same page.
    fn list(&self, path: &VirtualPath, _metadata: bool) -> Result<DirStream, FsError> {
        Ok(Box::new(self.dir_stream(path)?))
    }

    fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<Box<dyn ReadStream>, FsError> {
        Ok(Box::new(self.reader(path, offset)?))
    }

    fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<Box<dyn WriteStream>, FsError> {
        Ok(Box::new(self.upload(path, mode)?))
    }

    fn stat(&self, path: &VirtualPath) -> Result<thinftp::Metadata, FsError> {
        self.stat_path(path)
    }

    // Unfinished uploads: each running one is aborted when its stream is dropped (shutdown
    // cuts the transfers first). Those a killed server left stay as incomplete multipart
    // uploads, invisible to clients, until the bucket's lifecycle rule
    // (AbortIncompleteMultipartUpload) removes them: OpenDAL cannot list them.
}

/// The HTTP client OpenDAL sends through (reqwest, installed as OpenDAL's process default:
/// without the auto-registry feature nothing is), and the crypto provider rustls needs for the
/// HTTPS connections to the store: *ring*, the process default unless something installed one
/// first.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    opendal_http_transport_reqwest::install_default();
}
