//! Reading one object as a blocking [`Read`] stream: `RETR` (from offset 0) and `REST n` +
//! `RETR` (a ranged read from `n`), and the digests of `HASH`.
//!
//! A small object (up to [`READ_AHEAD_FROM`] bytes to read) comes as one streamed GET of the
//! range wanted: the body is read as the data connection takes it, a few buffers at a time. A
//! bigger one comes as ranged GETs of [`READ_CHUNK`] bytes, [`READ_AHEAD`] of them in flight
//! while the data connection takes the oldest: one GET stream is as fast as the store sends one
//! object, and several in flight hide each request's latency and the store's per-stream limit.
//! Either way a download holds a bounded amount (at most `READ_CHUNK * (READ_AHEAD + 1)`),
//! whatever the object's size.

use std::io::{self, Read};
use std::sync::Arc;

use futures::StreamExt;
use opendal::{Buffer, BufferStream};

use super::cache::{SmallObjects, Version};
use super::errors::io_error;
use super::runtime::Blocking;

/// Bytes to read from which a download becomes ranged GETs in parallel: below it, one stream
/// (a small file would be read whole by the first chunk anyway, and many sessions at once would
/// each hold it).
pub const READ_AHEAD_FROM: u64 = 16 * 1024 * 1024;

/// Bytes of one ranged GET of a big download.
pub const READ_CHUNK: usize = 4 * 1024 * 1024;

/// Ranged GETs of one big download in flight at once.
pub const READ_AHEAD: usize = 4;

/// The bytes of one object from an offset to its end, read on demand.
pub struct ObjectReader {
    runtime: Blocking,
    /// `None` once the body has ended (or when there was nothing to read).
    stream: Option<BufferStream>,
    /// What was received and not yet read.
    current: Buffer,
    /// A whole small object being read from the store, to keep once it is all here.
    keeping: Option<Keeping>,
}

/// The received parts of an object on its way into the [`SmallObjects`].
struct Keeping {
    cache: Arc<SmallObjects>,
    key: String,
    version: Version,
    parts: Vec<Buffer>,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader").finish_non_exhaustive()
    }
}

impl ObjectReader {
    /// Opens `key` (of `size` bytes, as a stat just said) for reading from `offset`: an offset
    /// at or past the end reads nothing (as a seek past the end of a local file), without a
    /// request the store would refuse as an unsatisfiable range.
    pub(crate) fn open(
        runtime: &Blocking,
        op: &opendal::Operator,
        key: &str,
        offset: u64,
        size: u64,
    ) -> Result<ObjectReader, opendal::Error> {
        let stream = if offset >= size {
            None
        } else {
            Some(runtime.run(async {
                let reader = if size - offset > READ_AHEAD_FROM {
                    op.reader_with(key)
                        .chunk(READ_CHUNK)
                        .concurrent(READ_AHEAD)
                        .await?
                } else {
                    op.reader_with(key).await?
                };
                reader.into_stream(offset..size).await
            })?)
        };
        Ok(ObjectReader {
            runtime: runtime.clone(),
            stream,
            current: Buffer::new(),
            keeping: None,
        })
    }

    /// [`open`](Self::open) of a small object through `cache`: from memory if `cache` has
    /// `version` of `key`, else from the store, keeping the object once it has been read from
    /// its start to its end.
    pub(crate) fn open_cached(
        runtime: &Blocking,
        op: &opendal::Operator,
        key: &str,
        offset: u64,
        cache: &Arc<SmallObjects>,
        version: Version,
    ) -> Result<ObjectReader, opendal::Error> {
        let size = version.size();
        if let Some(data) = cache.get(key, &version) {
            let start = usize::try_from(offset).map_or(data.len(), |o| o.min(data.len()));
            return Ok(ObjectReader {
                runtime: runtime.clone(),
                stream: None,
                current: data.slice(start..),
                keeping: None,
            });
        }
        let mut reader = Self::open(runtime, op, key, offset, size)?;
        if offset == 0 {
            reader.keeping = Some(Keeping {
                cache: Arc::clone(cache),
                key: key.to_owned(),
                version,
                parts: Vec::new(),
            });
        }
        Ok(reader)
    }

    /// The body ended: a whole object read from its start is kept.
    fn ended(&mut self) {
        self.stream = None;
        if let Some(k) = self.keeping.take() {
            let data: Buffer = k.parts.into_iter().flatten().collect();
            k.cache.put(&k.key, k.version, data);
        }
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.current.is_empty() {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(0);
            };
            match self.runtime.run(stream.next()) {
                Some(Ok(next)) => {
                    if let Some(k) = self.keeping.as_mut() {
                        k.parts.push(next.clone());
                    }
                    self.current = next;
                }
                Some(Err(e)) => {
                    self.stream = None;
                    self.keeping = None;
                    return Err(io_error(e));
                }
                None => self.ended(),
            }
        }
        self.current.read(buf)
    }
}

impl crate::storage::ReadStream for ObjectReader {}
