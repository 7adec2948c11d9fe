//! Writing one object as a blocking [`Write`] stream with an explicit end: `STOR`.
//!
//! An object store makes an object visible only when its upload completes: a small one is one
//! PUT at [`finish`](ObjectUpload::finish); a big one is a multipart upload, its parts sent as
//! they fill ([`PART_SIZE`], a few in flight) and joined into the object by the final
//! `CompleteMultipartUpload`. Until then readers see the old object, if there was one. An upload
//! that fails or is dropped without [`finish`](ObjectUpload::finish) (the connection broke,
//! `ABOR`, shutdown) throws its parts away, so the old object stays as it was:
//! the same "nothing lost" rule as the temporary file and rename on local disk.

use std::io::{self, Write};

use super::errors::io_error;
use super::runtime::Blocking;

/// Bytes gathered before a part is sent (S3 wants at least 5 MiB for every part but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts of one upload in flight at once: the memory one upload holds is about
/// `PART_SIZE * (PARTS_IN_FLIGHT + 1)`.
pub const PARTS_IN_FLIGHT: usize = 2;

/// One object being written; visible only after [`finish`](Self::finish).
pub struct ObjectUpload {
    runtime: Blocking,
    /// `None` once committed or aborted.
    writer: Option<opendal::Writer>,
    key: String,
}

impl std::fmt::Debug for ObjectUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectUpload")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ObjectUpload {
    /// Starts writing `key`; nothing is visible until [`finish`](Self::finish).
    pub(crate) fn start(
        runtime: &Blocking,
        op: &opendal::Operator,
        key: &str,
    ) -> Result<ObjectUpload, opendal::Error> {
        let writer = runtime.run(async {
            op.writer_with(key)
                .chunk(PART_SIZE)
                .concurrent(PARTS_IN_FLIGHT)
                .await
        })?;
        Ok(ObjectUpload {
            runtime: runtime.clone(),
            writer: Some(writer),
            key: key.to_owned(),
        })
    }

    /// Completes the upload: the object becomes visible, whole, replacing any old one.
    pub fn finish(mut self) -> io::Result<()> {
        let Some(mut writer) = self.writer.take() else {
            return Err(io::Error::other("upload already ended"));
        };
        match self.runtime.run(writer.close()) {
            Ok(_) => Ok(()),
            Err(e) => {
                // A failed completion may leave parts behind: throw them away too.
                let _ = self.runtime.run(writer.abort());
                Err(io_error(e))
            }
        }
    }

    fn abort_writer(&mut self) {
        if let Some(mut writer) = self.writer.take() {
            if let Err(e) = self.runtime.run(writer.abort()) {
                tracing::warn!(key = %self.key, error = %e, "object store: cannot abort an upload (its parts stay until the bucket's lifecycle rule removes them)");
            }
        }
    }
}

impl Write for ObjectUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(io::Error::other("upload already ended"));
        };
        // OpenDAL takes owned buffers; it keeps them until their part is sent.
        self.runtime
            .run(writer.write(buf.to_vec()))
            .map_err(io_error)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Parts go out as they fill; nothing is visible before `finish` anyway.
        Ok(())
    }
}

impl Drop for ObjectUpload {
    /// An upload dropped without [`finish`](Self::finish) is aborted.
    fn drop(&mut self) {
        self.abort_writer();
    }
}

impl crate::storage::WriteStream for ObjectUpload {
    fn commit(self: Box<Self>) -> Result<(), thinftp::FsError> {
        self.finish().map_err(|e| {
            tracing::warn!(error = %e, "object store: completing an upload failed");
            thinftp::FsError::Other
        })
    }
}
