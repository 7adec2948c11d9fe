//! Graceful shutdown: SIGINT/SIGTERM stop accepting; running transfers get a grace period.
//! [`Lifecycle`] holds the three parts (the flag, the running transfers, the grace period) for
//! the [`Host`](crate::Host).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::storage::Storage;

/// The server's shutdown: reached through [`Host::lifecycle`](crate::Host::lifecycle).
#[derive(Debug)]
pub struct Lifecycle {
    shutdown: Shutdown,
    transfers: ActiveTransfers,
    grace: Duration,
    /// The root storage: what uploads cut short by the end of the grace period leave behind
    /// is removed through it (it knows the running uploads of every home beneath it).
    storage: Storage,
}

impl Lifecycle {
    /// Not shut down; `grace` is how long [`drain`](Self::drain) waits for transfers of
    /// `storage`.
    pub fn new(grace: Duration, storage: Storage) -> Lifecycle {
        Lifecycle {
            shutdown: Shutdown::new(),
            transfers: ActiveTransfers::default(),
            grace,
            storage,
        }
    }

    /// The shutdown flag: raised by SIGINT/SIGTERM once [`signals::install`](crate::signals::install)
    /// was called.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The transfers running in the process.
    pub fn transfers(&self) -> &ActiveTransfers {
        &self.transfers
    }

    /// Counts a transfer for [`drain`](Self::drain) until the guard (and every clone of it) is
    /// dropped. Take it when the transfer starts and hold it until its final reply (`226`,
    /// `426`, ...) is written.
    pub fn enter_transfer(&self) -> TransferGuard {
        self.transfers.enter()
    }

    /// After shutdown was asked for and accepting stopped (it logs so): blocks until every
    /// transfer has finished and its final reply is written, or the grace period
    /// (`--shutdown-grace`) has passed. Sessions must keep running meanwhile, so that they can
    /// write those replies. Returns whether everything finished in time.
    ///
    /// A transfer counts from [`enter_transfer`](Self::enter_transfer) (which the
    /// [`Driver`](crate::driver::Driver) calls when it starts one) until every clone of its
    /// guard is dropped: the one in the [`Job`](crate::driver::Job) once the bytes are moved,
    /// the one the driver keeps once the final reply is written.
    pub fn drain(&self) -> bool {
        tracing::info!("no longer accepting connections");
        let running = self.transfers.count();
        if running > 0 {
            tracing::info!(running, grace = ?self.grace, "waiting for transfers");
        }
        let finished = self.transfers.wait_idle(self.grace);
        if !finished {
            // The process exits with these uploads still running: their temporary files would
            // stay behind (no upload's own cleanup runs after `main` returns).
            let removed = self.storage.remove_unfinished_uploads();
            tracing::warn!(
                running = self.transfers.count(),
                removed_temp_files = removed,
                "grace period over: exiting anyway"
            );
        }
        finished
    }
}

/// A flag raised once, by a signal or by [`trigger`](Self::trigger), that threads can wait for.
/// Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl Shutdown {
    /// A flag not raised yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the flag and wakes every waiter.
    pub fn trigger(&self) {
        *self.lock() = true;
        self.inner.1.notify_all();
    }

    /// Whether the flag is raised.
    pub fn is_triggered(&self) -> bool {
        *self.lock()
    }

    /// Blocks until the flag is raised. (An async runtime waits for it on a blocking thread.)
    pub fn wait(&self) {
        let mut raised = self.lock();
        while !*raised {
            raised = self.inner.1.wait(raised).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn lock(&self) -> MutexGuard<'_, bool> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Counts running transfers, so shutdown can wait for them.
#[derive(Debug, Clone, Default)]
pub struct ActiveTransfers {
    inner: Arc<(Mutex<usize>, Condvar)>,
}

/// One running transfer, counted until the guard is dropped. Clones share the count: the
/// transfer counts once, until every clone is dropped (one goes with the work that moves the
/// bytes, one stays with the session until the final reply is written).
#[derive(Debug, Clone)]
#[must_use = "the transfer is counted only while the guard lives"]
pub struct TransferGuard {
    _counted: Arc<Counted>,
}

#[derive(Debug)]
struct Counted {
    transfers: ActiveTransfers,
}

impl ActiveTransfers {
    /// Counts one transfer until the guard is dropped.
    pub fn enter(&self) -> TransferGuard {
        *self.lock() += 1;
        let counted = Counted {
            transfers: self.clone(),
        };
        TransferGuard {
            _counted: Arc::new(counted),
        }
    }

    /// Transfers running now.
    pub fn count(&self) -> usize {
        *self.lock()
    }

    /// Blocks until no transfer runs or `grace` has passed; true if none runs.
    pub fn wait_idle(&self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        let mut count = self.lock();
        while *count > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            count = self
                .inner
                .1
                .wait_timeout(count, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    fn lock(&self) -> MutexGuard<'_, usize> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut count = self.transfers.lock();
        *count = count.saturating_sub(1);
        self.transfers.inner.1.notify_all();
    }
}
