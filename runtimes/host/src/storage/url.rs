//! What a user's `storage` in the users file names: a local directory or an S3 bucket (and key
//! prefix), and how it is opened with the server's options.
//!
//! A bucket is reached with the process's `--s3-endpoint`, `--s3-region` and `--s3-path-style`
//! and the `AWS_*` credentials of its environment, the same as `--storage`: one S3 service and
//! one set of keys per process, so that no secret or endpoint ever sits in the users file.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::object_store::{ObjectStore, S3Location};
use crate::storage::{LocalStorage, Storage};
use crate::Options;

/// A storage of its own for a user (`storage = "..."` in the users file).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageUrl {
    /// A directory on local disk (`/srv/ftp/alice`, or `file:///srv/ftp/alice`), written with
    /// the server's `--umask`, `--node-id` and `--atomic-uploads`.
    Local(PathBuf),
    /// An S3 bucket and key prefix (`s3://BUCKET/PREFIX`), reached like `--storage`.
    S3(S3Location),
}

impl StorageUrl {
    /// Parses `s3://BUCKET/PREFIX`, an absolute directory, or `file://` and an absolute
    /// directory.
    pub fn parse(text: &str) -> Result<StorageUrl, String> {
        if text.starts_with("s3://") {
            return S3Location::parse(text).map(StorageUrl::S3);
        }
        let path = text.strip_prefix("file://").unwrap_or(text);
        if path.starts_with('/') {
            return Ok(StorageUrl::Local(PathBuf::from(path)));
        }
        Err(format!(
            "{text:?}: expected s3://BUCKET/PREFIX or an absolute directory (/srv/ftp/alice)"
        ))
    }

    /// Opens it: the directory, or the bucket with `options`' S3 settings and the environment's
    /// credentials (checked: the bucket must answer). Blocking.
    pub fn open(&self, options: &Options) -> Result<Arc<dyn Storage>, String> {
        match self {
            StorageUrl::Local(path) => LocalStorage::open_with(path, &options.local_settings())
                .map(|s| Arc::new(s) as Arc<dyn Storage>)
                .map_err(|e| format!("cannot open {}: {e}", path.display())),
            StorageUrl::S3(location) => {
                let mut location = location.clone();
                location.endpoint.clone_from(&options.s3_endpoint);
                location.region.clone_from(&options.s3_region);
                location.path_style = options.s3_path_style;
                ObjectStore::open_s3(&location).map(|s| Arc::new(s) as Arc<dyn Storage>)
            }
        }
    }
}

impl fmt::Display for StorageUrl {
    /// The directory, or `s3://BUCKET/PREFIX`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageUrl::Local(path) => write!(f, "{}", path.display()),
            StorageUrl::S3(location) => location.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_absolute_directories() {
        assert_eq!(
            StorageUrl::parse("/srv/ftp/alice").unwrap(),
            StorageUrl::Local("/srv/ftp/alice".into())
        );
        assert_eq!(
            StorageUrl::parse("file:///srv/ftp").unwrap(),
            StorageUrl::Local("/srv/ftp".into())
        );
        let StorageUrl::S3(location) = StorageUrl::parse("s3://my-bucket/users/bob").unwrap()
        else {
            panic!("not a bucket");
        };
        assert_eq!(
            (&*location.bucket, &*location.prefix),
            ("my-bucket", "users/bob")
        );
        for bad in [
            "srv/ftp",
            "",
            "file://srv",
            "s3://B",
            "gs://bucket/x",
            "s3:/bucket",
        ] {
            assert!(StorageUrl::parse(bad).is_err(), "{bad:?}");
        }
    }
}
