//! Reply batching: replies in a row go out in one write.
//!
//! A pipelined batch of commands is answered by many replies at once; gathering them into one
//! buffer makes one `write` (and one TCP segment) of them instead of one each. Anything that is
//! not a reply happens after the replies before it have left, so a batch ends at the first
//! output that is not a reply, and at the end of the outputs of an input.

/// A batch this long is written before the next request, even one answered at once: what one
/// pipelined read can ask for stays a bounded buffer.
pub(super) const BATCH_LIMIT: usize = 64 * 1024;

/// Replies gathered and not yet handed to the runtime, and whether the control connection
/// still takes them.
#[derive(Debug, Default)]
pub(super) struct Replies {
    /// Empty and unallocated between batches: an idle session holds no buffer (thousands wait
    /// at once).
    batch: Vec<u8>,
    /// Writing failed once: the client is gone, and later replies are dropped.
    failed: bool,
}

impl Replies {
    /// Adds a reply to the batch (nothing once writing failed).
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.batch.extend_from_slice(bytes);
        }
    }

    /// Whether the batch has reached [`BATCH_LIMIT`]: write it now.
    pub(super) fn is_full(&self) -> bool {
        self.batch.len() >= BATCH_LIMIT
    }

    /// The batch to write now, if there is one.
    pub(super) fn take(&mut self) -> Option<Vec<u8>> {
        if self.batch.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.batch))
        }
    }

    /// Whether writing failed: nothing more is written.
    pub(super) fn has_failed(&self) -> bool {
        self.failed
    }

    /// Writing a batch failed: drop this one and every later one. True the first time.
    pub(super) fn fail(&mut self) -> bool {
        self.batch = Vec::new();
        !std::mem::replace(&mut self.failed, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_in_a_row_make_one_batch_until_writing_fails() {
        let mut replies = Replies::default();
        assert_eq!(replies.take(), None);
        replies.push(b"200 a\r\n");
        replies.push(b"200 b\r\n");
        assert_eq!(replies.take().as_deref(), Some(&b"200 a\r\n200 b\r\n"[..]));
        assert_eq!(replies.take(), None, "a batch is handed out once");
        replies.push(b"200 c\r\n");
        assert!(replies.fail());
        assert!(!replies.fail(), "reported once");
        replies.push(b"200 d\r\n");
        assert_eq!(replies.take(), None, "nothing after a failed write");
    }
}
