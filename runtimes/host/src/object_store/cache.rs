//! Small objects read lately, kept whole in memory and served again only while the store still
//! has the very same version of them.
//!
//! A download asks the store for the object's metadata first anyway (its size, whether it is a
//! file); when that metadata names the version kept here (same ETag, size and last-modified) the
//! bytes come from memory and the GET is saved. The ETag changes with the content, so a
//! replaced object is never served stale, whichever node or tool replaced it; an object the
//! store gives no ETag for is not kept. Many sessions downloading the same small files (a
//! release's installers, a shared configuration) then cost the store one HEAD each instead of a
//! HEAD and a GET, as a local disk serves them from the page cache.
//!
//! Bounded: objects up to [`KEEP_OBJECTS_UP_TO`] bytes, [`KEPT_BYTES`] in all, the oldest kept
//! going first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use opendal::Buffer;

/// The biggest object kept.
pub const KEEP_OBJECTS_UP_TO: u64 = 8 * 1024 * 1024;

/// Bytes kept in all, for the whole store (every session, every home).
pub const KEPT_BYTES: usize = 64 * 1024 * 1024;

/// Objects kept at most (many tiny ones would otherwise make a long list).
const KEPT_OBJECTS: usize = 4096;

/// One version of one object, as the store's metadata names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    etag: String,
    size: u64,
    modified: Option<i64>,
}

impl Version {
    /// The version `meta` names, if the object is one to keep: it has an ETag, and a size
    /// between 1 byte and [`KEEP_OBJECTS_UP_TO`].
    pub(crate) fn of(meta: &opendal::Metadata) -> Option<Version> {
        let size = meta.content_length();
        if size == 0 || size > KEEP_OBJECTS_UP_TO {
            return None;
        }
        Some(Version {
            etag: meta.etag()?.to_owned(),
            size,
            modified: meta.last_modified().map(|t| t.into_inner().as_second()),
        })
    }

    /// The object's size.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

/// The kept objects, by key.
#[derive(Debug, Default)]
pub(crate) struct SmallObjects {
    inner: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    objects: HashMap<String, (Version, Buffer)>,
    /// Keys, oldest first.
    order: VecDeque<String>,
    bytes: usize,
}

impl SmallObjects {
    /// The bytes of `key` if the version kept is `version`.
    pub(crate) fn get(&self, key: &str, version: &Version) -> Option<Buffer> {
        let kept = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match kept.objects.get(key) {
            Some((v, data)) if v == version => Some(data.clone()),
            _ => None,
        }
    }

    /// Keeps `data` as the version `version` of `key` (replacing any other version), if it is
    /// the whole object; the oldest objects go to make room.
    pub(crate) fn put(&self, key: &str, version: Version, data: Buffer) {
        if data.len() as u64 != version.size {
            return;
        }
        let mut kept = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        kept.remove(key);
        while !kept.order.is_empty()
            && (kept.bytes + data.len() > KEPT_BYTES || kept.order.len() >= KEPT_OBJECTS)
        {
            if let Some(oldest) = kept.order.pop_front() {
                if let Some((_, old)) = kept.objects.remove(&oldest) {
                    kept.bytes -= old.len();
                }
            }
        }
        kept.bytes += data.len();
        kept.order.push_back(key.to_owned());
        kept.objects.insert(key.to_owned(), (version, data));
    }
}

impl Kept {
    fn remove(&mut self, key: &str) {
        if let Some((_, old)) = self.objects.remove(key) {
            self.bytes -= old.len();
            self.order.retain(|k| k != key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(etag: &str, size: u64) -> Version {
        Version {
            etag: etag.into(),
            size,
            modified: Some(1),
        }
    }

    #[test]
    fn only_the_version_kept_is_served() {
        let cache = SmallObjects::default();
        cache.put("a", version("e1", 3), Buffer::from(b"abc".to_vec()));
        assert_eq!(
            cache.get("a", &version("e1", 3)).map(|b| b.to_vec()),
            Some(b"abc".to_vec())
        );
        // Replaced by a new version of the same size: the old bytes are never served.
        assert!(cache.get("a", &version("e2", 3)).is_none());
        assert!(cache.get("b", &version("e1", 3)).is_none());
        cache.put("a", version("e2", 3), Buffer::from(b"xyz".to_vec()));
        assert!(cache.get("a", &version("e1", 3)).is_none());
        assert_eq!(
            cache.get("a", &version("e2", 3)).map(|b| b.to_vec()),
            Some(b"xyz".to_vec())
        );
    }

    #[test]
    fn a_partial_read_is_not_kept_and_the_oldest_go_first() {
        let cache = SmallObjects::default();
        cache.put("short", version("e", 4), Buffer::from(b"abc".to_vec()));
        assert!(cache.get("short", &version("e", 4)).is_none());
        let size = KEEP_OBJECTS_UP_TO as usize;
        let n = KEPT_BYTES / size;
        for i in 0..=n {
            cache.put(
                &format!("k{i}"),
                version("e", size as u64),
                vec![0u8; size].into(),
            );
        }
        assert!(cache.get("k0", &version("e", size as u64)).is_none());
        assert!(cache
            .get(&format!("k{n}"), &version("e", size as u64))
            .is_some());
        let kept = cache.inner.lock().unwrap();
        assert!(kept.bytes <= KEPT_BYTES);
        assert_eq!(kept.bytes, kept.objects.len() * size);
    }

    #[test]
    fn objects_without_an_etag_or_too_big_are_not_kept() {
        let meta = |size: u64, etag: Option<&str>| {
            let mut meta = opendal::MetadataBuilder::file(size);
            if let Some(etag) = etag {
                meta.etag(etag);
            }
            meta.build()
        };
        assert!(Version::of(&meta(10, None)).is_none());
        assert_eq!(
            Version::of(&meta(10, Some("e"))).map(|v| v.size()),
            Some(10)
        );
        assert!(Version::of(&meta(KEEP_OBJECTS_UP_TO + 1, Some("e"))).is_none());
        assert!(Version::of(&meta(0, Some("e"))).is_none());
    }
}
