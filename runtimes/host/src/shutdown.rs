//! Graceful shutdown: SIGINT/SIGTERM stop accepting; running transfers get a grace period;
//! then every session still open is told to stop (its transfer aborted, `426` and `421`) and
//! gets a moment to write that. [`Lifecycle`] holds the parts (the flag, the running
//! transfers, the grace period, the open sessions) for the [`Host`](crate::Host).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::storage::Storage;

/// The server's shutdown: reached through [`Host::lifecycle`](crate::Host::lifecycle).
#[derive(Debug)]
pub struct Lifecycle {
    shutdown: Shutdown,
    transfers: ActiveTransfers,
    grace: Duration,
    sessions: OpenSessions,
    /// [`drain`](Self::drain) ended with transfers still running.
    cut_short: AtomicBool,
    /// The root storage: what uploads cut short by the end of the grace period leave behind
    /// is removed through it (it knows the running uploads of every home beneath it).
    storage: Arc<dyn Storage>,
    /// The users' storages of their own, cleaned up the same way.
    also: Mutex<Vec<Arc<dyn Storage>>>,
}

impl Lifecycle {
    /// Not shut down; `grace` is how long [`drain`](Self::drain) waits for transfers of
    /// `storage`.
    pub fn new(grace: Duration, storage: Arc<dyn Storage>) -> Lifecycle {
        Lifecycle {
            shutdown: Shutdown::new(),
            transfers: ActiveTransfers::default(),
            grace,
            sessions: OpenSessions::default(),
            cut_short: AtomicBool::new(false),
            storage,
            also: Mutex::default(),
        }
    }

    /// [`drain`](Self::drain) removes what cut uploads leave in `storage` too (a user's storage
    /// of its own).
    pub fn clean_up_also(&self, storage: Arc<dyn Storage>) {
        self.also
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(storage);
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

    /// Has `stop` called once the server shuts down this session (at the end of
    /// [`drain`](Self::drain), or at once if that has come already), until the returned watch
    /// is dropped: drop it once the session has closed its control connection. `stop` is
    /// called from another thread, under a lock: it must only wake the session (which then
    /// feeds [`Input::Shutdown`](thinftp::Input::Shutdown)), never block. The
    /// [`Driver`](crate::driver::Driver) takes one for its session.
    pub fn watch_session(&self, stop: impl Fn() + Send + 'static) -> SessionWatch {
        self.sessions.watch(Box::new(stop))
    }

    /// After shutdown was asked for and accepting stopped (it logs so): blocks until every
    /// transfer has finished and its final reply is written, or the grace period
    /// (`--shutdown-grace`) has passed. Sessions must keep running meanwhile, so that they can
    /// write those replies. Then every session still open is told to stop (see
    /// [`watch_session`](Self::watch_session)): a transfer still running is aborted and its
    /// client gets `426` and `421`, an idle one `421`; this waits (at most [`CLOSE_WAIT`]) for
    /// the sessions to write that and close. Returns whether every transfer finished in time
    /// (also kept for [`cut_short`](Self::cut_short)).
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
            tracing::warn!(
                running = self.transfers.count(),
                "grace period over: aborting the transfers still running"
            );
        }
        let open = self.sessions.stop_all();
        if open > 0 {
            tracing::info!(open, "closing the sessions still open");
        }
        if !self.sessions.wait_closed(CLOSE_WAIT) {
            tracing::warn!(
                open = self.sessions.count(),
                "sessions still open after {CLOSE_WAIT:?}: exiting anyway"
            );
        }
        if !finished {
            // Uploads the abort has not ended yet would leave their temporary files behind
            // (no upload's own cleanup runs after `main` returns).
            let also = self.also.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let removed: usize = std::iter::once(&self.storage)
                .chain(&also)
                .map(|s| s.remove_unfinished_uploads())
                .sum();
            if removed > 0 {
                tracing::warn!(removed_temp_files = removed, "uploads cut short");
            }
            self.cut_short.store(true, Ordering::SeqCst);
        }
        finished
    }

    /// Whether [`drain`](Self::drain) cut transfers short (the grace period ended first): the
    /// process then exits with a failure status.
    pub fn cut_short(&self) -> bool {
        self.cut_short.load(Ordering::SeqCst)
    }
}

/// How long [`Lifecycle::drain`] waits for the sessions it told to stop to write their last
/// replies and close.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The sessions open in the process, each with the way to tell it to stop.
#[derive(Debug, Clone, Default)]
struct OpenSessions {
    inner: Arc<(Mutex<Registry>, Condvar)>,
}

#[derive(Default)]
struct Registry {
    /// [`OpenSessions::stop_all`] was called: sessions watched from now on stop at once.
    stopping: bool,
    next: u64,
    stop: HashMap<u64, Box<dyn Fn() + Send>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("stopping", &self.stopping)
            .field("open", &self.stop.len())
            .finish()
    }
}

/// One open session, watched for shutdown until this is dropped (see
/// [`Lifecycle::watch_session`]).
#[derive(Debug)]
#[must_use = "the session is watched only while this lives"]
pub struct SessionWatch {
    sessions: OpenSessions,
    id: u64,
}

impl OpenSessions {
    fn watch(&self, stop: Box<dyn Fn() + Send>) -> SessionWatch {
        let mut registry = self.lock();
        let id = registry.next;
        registry.next += 1;
        if registry.stopping {
            stop();
        }
        registry.stop.insert(id, stop);
        SessionWatch {
            sessions: self.clone(),
            id,
        }
    }

    /// Tells every open session (and every one watched later) to stop; returns how many
    /// were open.
    fn stop_all(&self) -> usize {
        let mut registry = self.lock();
        registry.stopping = true;
        for stop in registry.stop.values() {
            stop();
        }
        registry.stop.len()
    }

    fn count(&self) -> usize {
        self.lock().stop.len()
    }

    /// Blocks until no session is open or `timeout` has passed; true if none is.
    fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut registry = self.lock();
        while !registry.stop.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            registry = self
                .inner
                .1
                .wait_timeout(registry, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for SessionWatch {
    fn drop(&mut self) {
        let stop = self.sessions.lock().stop.remove(&self.id);
        self.sessions.inner.1.notify_all();
        // Dropped outside the lock: what it holds (a channel's sender) may do work on drop.
        drop(stop);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counter() -> (Arc<AtomicUsize>, impl Fn() + Send + 'static) {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        (count, move || {
            seen.fetch_add(1, Ordering::SeqCst);
        })
    }

    #[test]
    fn open_sessions_are_told_to_stop_and_waited_for() {
        let sessions = OpenSessions::default();
        let (first, stop) = counter();
        let watch = sessions.watch(Box::new(stop));
        assert_eq!(first.load(Ordering::SeqCst), 0, "not before the shutdown");
        assert_eq!(sessions.stop_all(), 1);
        assert_eq!(first.load(Ordering::SeqCst), 1);
        // A session that starts after the shutdown is told at once.
        let (late, stop) = counter();
        let late_watch = sessions.watch(Box::new(stop));
        assert_eq!(late.load(Ordering::SeqCst), 1);
        assert!(!sessions.wait_closed(Duration::from_millis(10)));
        drop(late_watch);
        let closer = std::thread::spawn(move || drop(watch));
        assert!(sessions.wait_closed(Duration::from_secs(30)));
        closer.join().unwrap();
        assert_eq!(sessions.count(), 0);
    }
}
