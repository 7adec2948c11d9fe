//! A directory read one entry at a time, for listings that must not become one buffer.
//!
//! [`LocalDirStream`] walks the directory stream (`getdents`) beneath the session's storage and
//! describes each entry a client may see as it goes: the host's temporary upload files are left
//! out, names that are not UTF-8 are shown as [`names::encode`] does, and a symlink's target only
//! if it stays beneath the home. Holding it costs one open directory and nothing per entry, so
//! a `LIST` of a million entries stays flat in memory; dropping it stops the reading.

use std::ffi::OsStr;
use std::path::PathBuf;

use cap_std::fs::ReadDir;
use thinftp::{DirEntry, Metadata};

use super::{
    convert_metadata, depth_below_home, join_rel, kind_of, stays_below_home, LocalStorage,
    TEMP_PREFIX,
};
use crate::names;

/// The visible entries of one directory, read lazily as it is iterated: the host's temporary
/// upload files left out, names that are not UTF-8 encoded, symlink targets only if they stay
/// beneath the home. It holds one open directory and nothing per entry; dropping it stops the
/// reading. Made by [`LocalStorage::dir_stream`].
pub struct LocalDirStream {
    storage: LocalStorage,
    entries: ReadDir,
    /// The directory, relative to the storage's own.
    rel: PathBuf,
    /// How deep `rel` is below the home, to judge symlink targets.
    depth: usize,
    /// Whether each entry's metadata is read (a `stat` each); without it only names and kinds
    /// (from `d_type`, free) are known, which is all `NLST` needs.
    metadata: bool,
}

impl std::fmt::Debug for LocalDirStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDirStream")
            .field("rel", &self.rel)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl LocalDirStream {
    pub(crate) fn new(
        storage: &LocalStorage,
        entries: ReadDir,
        rel: PathBuf,
        metadata: bool,
    ) -> Self {
        LocalDirStream {
            storage: storage.clone(),
            entries,
            depth: depth_below_home(&rel),
            rel,
            metadata,
        }
    }

    /// The metadata of one entry, symlinks not followed; `None` if it vanished meanwhile.
    fn describe(&self, entry: &cap_std::fs::DirEntry, raw_name: &OsStr) -> Option<Metadata> {
        if !self.metadata {
            let mut metadata = Metadata::file(0, None);
            // On Linux cap-std takes the kind from `d_type`, with no system call; a file system
            // that leaves it unknown gives `FileKind::Other`, harmless for names.
            if let Ok(file_type) = entry.file_type() {
                metadata.kind = kind_of(file_type);
            }
            return Some(metadata);
        }
        // `DirEntry::metadata` does not follow a final symlink: the link itself is listed.
        let meta = entry.metadata().ok()?;
        let target = if meta.file_type().is_symlink() {
            // The text of the link, as `ls -l` would show it; never followed here.
            self.storage
                .dir()
                .read_link_contents(join_rel(&self.rel, raw_name))
                .ok()
                .filter(|target| stays_below_home(self.depth, target))
                .map(|target| names::encode(target.as_os_str()))
        } else {
            None
        };
        Some(convert_metadata(&meta, target))
    }
}

impl Iterator for LocalDirStream {
    type Item = DirEntry;

    fn next(&mut self) -> Option<DirEntry> {
        loop {
            // An entry that cannot be read, or vanishes while we list, is simply not listed.
            let Ok(entry) = self.entries.next()? else {
                continue;
            };
            let raw_name = entry.file_name();
            let name = names::encode(&raw_name);
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            if let Some(metadata) = self.describe(&entry, &raw_name) {
                return Some(DirEntry::new(name, metadata));
            }
        }
    }
}
