//! What one transfer may move: its rate ([`Pacer`]) and, for an upload, its user's quota
//! ([`QuotaCharge`]). The copy loops ask it before each chunk ([`grant`](Allowance::grant)) and
//! tell it what they moved ([`moved`](Allowance::moved)) and what they are about to write to the
//! file ([`wrote`](Allowance::wrote)); with no limit these calls cost nothing.

use thinftp::FsError;

use crate::progress::TransferProgress;
use crate::quota::QuotaCharge;
use crate::rate::Pacer;
use crate::transfer::AbortHandle;

/// The limits one transfer runs under. The default limits nothing.
#[derive(Debug, Default)]
pub struct Allowance {
    pacer: Pacer,
    /// Boxed: most transfers have none, and jobs carry an `Allowance` around.
    quota: Option<Box<QuotaCharge>>,
    /// Counts what [`moved`](Self::moved) reports, for the session to read when the transfer
    /// ends without a count of its own (aborted or failed).
    progress: TransferProgress,
}

impl Allowance {
    /// Paced by `pacer`.
    pub(crate) fn set_pacer(&mut self, pacer: Pacer) {
        self.pacer = pacer;
    }

    /// Charged to a quota (an upload).
    pub(crate) fn set_quota(&mut self, quota: QuotaCharge) {
        self.quota = Some(Box::new(quota));
    }

    /// Counts the bytes moved into `progress` (shared with the session).
    pub(crate) fn count_into(&mut self, progress: TransferProgress) {
        self.progress = progress;
    }

    /// Ends waits early once the transfer is aborted.
    pub(crate) fn watch(&mut self, abort: &AbortHandle) {
        self.pacer.watch(abort);
    }

    /// How many bytes (at most `want`, at least one if `want` is) to move next: a slice of the
    /// rate, stopping one byte past the quota. Report them with [`moved`](Self::moved).
    pub(crate) fn grant(&mut self, want: usize) -> usize {
        let want = match &self.quota {
            Some(quota) => quota.cap(want),
            None => want,
        };
        self.pacer.grant(want)
    }

    /// `moved` of the `granted` bytes went over the connection: counts them and waits until
    /// the rate has paid for them.
    pub(crate) fn moved(&mut self, granted: usize, moved: usize) {
        self.progress.add(moved as u64);
        self.pacer.moved(granted, moved);
    }

    /// `n` bytes are about to be written to the upload's file: `Err(QuotaExceeded)` if they
    /// pass the quota (do not write them).
    pub(crate) fn wrote(&mut self, n: usize) -> Result<(), FsError> {
        match &mut self.quota {
            Some(quota) => quota.wrote(n as u64),
            None => Ok(()),
        }
    }

    /// The quota stopped the upload: `upload` is given up leaving no trace (see
    /// [`UploadBefore::give_up`](crate::quota::UploadBefore::give_up)) and its charge given
    /// back.
    pub(crate) fn give_up(&mut self, upload: Box<dyn crate::storage::WriteStream>) {
        match self.quota.take() {
            Some(quota) => quota.give_up(upload),
            None => drop(upload),
        }
    }

    /// The upload ended; `kept` says whether what it wrote stays (see [`QuotaCharge::settle`]).
    pub(crate) fn settle(&mut self, kept: bool) {
        if let Some(quota) = self.quota.take() {
            quota.settle(kept);
        }
    }
}

impl Drop for Allowance {
    /// An upload dropped without [`settle`](Self::settle) (the session closed between the open
    /// and the first byte): a new file stays, empty, and counts; nothing was written.
    fn drop(&mut self) {
        if let Some(quota) = self.quota.take() {
            quota.abandon();
        }
    }
}
