//! How many bytes a running transfer has moved so far, shared between its copy loop (which
//! counts, through its [`Allowance`](crate::allowance::Allowance)) and the session (which reads
//! it when the transfer ends without a count of its own: aborted, failed, or cut by the end of
//! the session), so that the transfer log and the metrics report the bytes really moved.
//!
//! The core's answer for such a transfer (`TransferError`) carries no count and its wire
//! behaviour does not need one: only the host's observers do, so the count stays in the host.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The bytes one transfer has moved over its data connection so far. Cheap to clone: clones
/// share the count.
#[derive(Debug, Clone, Default)]
pub struct TransferProgress {
    moved: Arc<AtomicU64>,
}

impl TransferProgress {
    /// A count at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// `n` more bytes went over the connection (a download's bytes handed to it, an upload's
    /// read from it).
    pub(crate) fn add(&self, n: u64) {
        self.moved.fetch_add(n, Ordering::Relaxed);
    }

    /// The bytes moved so far.
    pub fn moved(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_count() {
        let progress = TransferProgress::new();
        let copy = progress.clone();
        copy.add(5);
        progress.add(7);
        assert_eq!(progress.moved(), 12);
        assert_eq!(copy.moved(), 12);
    }
}
