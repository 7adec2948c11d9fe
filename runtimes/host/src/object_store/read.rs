//! Reading one object as a blocking [`Read`] stream: `RETR` (from offset 0) and `REST n` +
//! `RETR` (a ranged read from `n`), and the digests of `HASH`.
//!
//! The object comes as one streamed GET of the range wanted: the body is read as the data
//! connection takes it, a few buffers at a time, so a download holds no more than what is in
//! flight whatever the object's size.

use std::io::{self, Read};

use futures::StreamExt;
use opendal::{Buffer, BufferStream};

use super::errors::io_error;
use super::runtime::Blocking;

/// The bytes of one object from an offset to its end, read on demand.
pub struct ObjectReader {
    runtime: Blocking,
    /// `None` once the body has ended (or when there was nothing to read).
    stream: Option<BufferStream>,
    /// What was received and not yet read.
    current: Buffer,
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
            Some(
                runtime
                    .run(async { op.reader_with(key).await?.into_stream(offset..size).await })?,
            )
        };
        Ok(ObjectReader {
            runtime: runtime.clone(),
            stream,
            current: Buffer::new(),
        })
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
                Some(Ok(next)) => self.current = next,
                Some(Err(e)) => {
                    self.stream = None;
                    return Err(io_error(e));
                }
                None => self.stream = None,
            }
        }
        self.current.read(buf)
    }
}

impl crate::storage::ReadStream for ObjectReader {}
