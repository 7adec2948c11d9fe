//! A directory of an object store read one entry at a time: the store's listing (S3
//! `ListObjectsV2` with delimiter `/`, a page of up to [`LIST_PAGE`] keys per request) fetched
//! page by page as the entries are taken, so a listing of any size holds one page at most.

use futures::StreamExt;
use opendal::{Entry, EntryMode, Lister};
use thinftp::{DirEntry, FsError, Metadata};

use super::keys::entry_name;
use super::runtime::Blocking;

/// Keys asked for in one listing request. AWS S3 and most compatible servers answer at most
/// 1,000 whatever is asked (and the listing pages on); a server that gives more spares a round
/// trip per thousand keys, and s3s-fs, which scans the whole bucket for every request, a scan.
/// At about 250 bytes a key, a page is a few MiB at most.
pub(crate) const LIST_PAGE: usize = 10_000;

/// The entries of one directory (a key prefix), as the store lists them: files with their size
/// and last-modified time, subdirectories (deeper prefixes) with no time, the directory's own
/// marker left out. Made by [`ObjectStore::dir_stream`](super::ObjectStore::dir_stream).
pub struct ObjectDirStream {
    runtime: Blocking,
    /// `None` once the listing ended.
    lister: Option<Lister>,
    /// The prefix listed (`docs/`, `/` for the store's root).
    dir_key: String,
    /// An entry read ahead when the stream was opened (to tell an empty directory from none).
    first: Option<Entry>,
    /// Whether the listing had the key of the directory itself (`docs/`, a marker other tools
    /// write), which a removal must delete too.
    saw_own_key: bool,
}

impl std::fmt::Debug for ObjectDirStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectDirStream")
            .field("dir_key", &self.dir_key)
            .finish_non_exhaustive()
    }
}

impl ObjectDirStream {
    /// Starts listing `dir_key` and reads its first entry (the directory's marker, when it
    /// has one, counts): `Ok(None)` when the prefix has no key at all, that is, no directory.
    pub(crate) fn open(
        runtime: &Blocking,
        op: &opendal::Operator,
        dir_key: &str,
    ) -> Result<Option<ObjectDirStream>, opendal::Error> {
        let (lister, first) = runtime.run(async {
            let mut lister = op.lister_with(dir_key).limit(LIST_PAGE).await?;
            let first = lister.next().await.transpose()?;
            Ok::<_, opendal::Error>((lister, first))
        })?;
        let Some(first) = first else {
            return Ok(None);
        };
        Ok(Some(ObjectDirStream {
            runtime: runtime.clone(),
            lister: Some(lister),
            dir_key: dir_key.to_owned(),
            first: Some(first),
            saw_own_key: false,
        }))
    }

    /// Whether the prefix `dir_key` has any key at all (a marker counts), that is, whether it is
    /// a directory: a listing of one key, so that the check costs one short page however big
    /// the directory is.
    pub(crate) fn any_key(
        runtime: &Blocking,
        op: &opendal::Operator,
        dir_key: &str,
    ) -> Result<bool, opendal::Error> {
        runtime.run(async {
            let mut lister = op.lister_with(dir_key).limit(1).await?;
            Ok(lister.next().await.transpose()?.is_some())
        })
    }

    /// A directory with no entry (an empty bucket's top).
    pub(crate) fn empty(runtime: &Blocking, dir_key: &str) -> ObjectDirStream {
        ObjectDirStream {
            runtime: runtime.clone(),
            lister: None,
            dir_key: dir_key.to_owned(),
            first: None,
            saw_own_key: false,
        }
    }

    /// Whether the key of the directory itself (`docs/`) was listed so far.
    pub(crate) fn saw_own_key(&self) -> bool {
        self.saw_own_key
    }

    /// The next key of the listing, whatever it is; `None` at the end. A failed page ends the
    /// listing there with an error (logged).
    fn next_raw(&mut self) -> Option<Result<Entry, FsError>> {
        if let Some(first) = self.first.take() {
            return Some(Ok(first));
        }
        let lister = self.lister.as_mut()?;
        match self.runtime.run(lister.next()) {
            Some(Ok(entry)) => Some(Ok(entry)),
            Some(Err(e)) => {
                tracing::warn!(dir = %self.dir_key, error = %e, "object store: listing cut short");
                self.lister = None;
                Some(Err(FsError::Other))
            }
            None => {
                self.lister = None;
                None
            }
        }
    }
}

impl Iterator for ObjectDirStream {
    type Item = Result<DirEntry, FsError>;

    fn next(&mut self) -> Option<Result<DirEntry, FsError>> {
        loop {
            let entry = match self.next_raw()? {
                Ok(entry) => entry,
                Err(e) => return Some(Err(e)),
            };
            let Some(name) = entry_name(&self.dir_key, entry.path()) else {
                self.saw_own_key |= entry.path() == self.dir_key;
                continue;
            };
            let metadata = metadata_of(entry.metadata());
            return Some(Ok(DirEntry::new(name.to_owned(), metadata)));
        }
    }
}

/// The core's metadata for what the store says of a key: a directory for a prefix or a marker,
/// else a file of its content length; the time from the store's last-modified, when it gives
/// one (a listing's prefixes have none).
pub(crate) fn metadata_of(meta: &opendal::Metadata) -> Metadata {
    let modified = meta.last_modified().map(|t| t.into_inner().as_second());
    match meta.mode() {
        EntryMode::DIR => Metadata::dir(modified),
        _ => Metadata::file(meta.content_length(), modified),
    }
}
