//! Busy polling: a session that has just answered keeps checking its control connection (and
//! its completed work) for a short window before its thread sleeps.
//!
//! FTP is strictly request and reply: a client sends a command and waits for the answer before
//! it sends the next. On loopback or a LAN the next command typically arrives a few tens of
//! microseconds after the reply left, and a thread that has gone to sleep by then must be woken:
//! on a virtual machine a sleeping CPU costs a wake-up of the whole virtual CPU, which measured
//! 70 µs a round trip here, against 25 µs when the server was still polling (a ping-pong of
//! 20,000 round trips, median of 3). Every command of every client pays that, and a login is four
//! round trips.
//!
//! The window is bounded in time ([`Options::busy_poll`](crate::Options::busy_poll) µs, 0 turns
//! it off) and in place: at most one session per CPU beyond the first polls at once, so polling
//! never takes the last CPU from the clients or the other sessions, and a single CPU never polls
//! at all. No session polls while a transfer runs in the process
//! ([`Host::busy_poll`](crate::Host::busy_poll)): then the CPUs have data to move. Kernels offer the same for NIC queues (`SO_BUSY_POLL`), not for
//! loopback or for a readiness wait in general.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::shutdown::ActiveTransfers;

/// Sessions polling right now, in the whole process.
static POLLING: AtomicUsize = AtomicUsize::new(0);

/// Sessions that may poll at once: one per CPU beyond the first.
fn most_at_once() -> usize {
    static MOST: OnceLock<usize> = OnceLock::new();
    *MOST.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()) - 1)
}

/// How long a session polls after it answered; see the module docs.
#[derive(Clone, Debug)]
pub struct BusyPoll {
    /// Microseconds; replaced by a reload ([`set_window`](BusyPoll::set_window)), shared by
    /// clones.
    window: Arc<AtomicU64>,
    /// No window while any of these runs.
    transfers: ActiveTransfers,
}

impl BusyPoll {
    /// Polls for `window` after each answer while none of `transfers` runs; `Duration::ZERO`
    /// never polls.
    pub fn new(window: Duration, transfers: ActiveTransfers) -> BusyPoll {
        let micros = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
        BusyPoll {
            window: Arc::new(AtomicU64::new(micros)),
            transfers,
        }
    }

    /// Polls for `window` from the next answer on (a reload); `Duration::ZERO` stops polling.
    pub fn set_window(&self, window: Duration) {
        let micros = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
        self.window.store(micros, Ordering::Relaxed);
    }

    /// The window in force.
    pub fn window(&self) -> Duration {
        Duration::from_micros(self.window.load(Ordering::Relaxed))
    }

    /// Starts a window if one is free: `None` if polling is off, a transfer runs or as many
    /// sessions as allowed are polling already (then wait as usual).
    pub fn start(&self) -> Option<Polling> {
        // While data moves, the CPUs are busy moving it: a polling thread would take a CPU from
        // the transfers (measured: bursts of 200 sessions downloading at once).
        let window = self.window();
        if window.is_zero() || self.transfers.count() > 0 {
            return None;
        }
        let most = most_at_once();
        POLLING
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < most).then_some(n + 1)
            })
            .ok()?;
        Some(Polling {
            until: Instant::now() + window,
        })
    }
}

/// One session's polling window; its place is given back when dropped.
#[derive(Debug)]
#[must_use = "the window ends when this is dropped"]
pub struct Polling {
    until: Instant,
}

impl Polling {
    /// True once the window has passed: stop polling and wait.
    pub fn is_over(&self) -> bool {
        Instant::now() >= self.until
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        POLLING.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Mutex, MutexGuard};

    /// The places are global: tests that take them run one at a time.
    fn serial() -> MutexGuard<'static, ()> {
        static SERIAL: Mutex<()> = Mutex::new(());
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[test]
    fn zero_window_never_polls() {
        assert!(BusyPoll::new(Duration::ZERO, ActiveTransfers::default())
            .start()
            .is_none());
    }

    #[test]
    fn no_window_while_a_transfer_runs() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        let args = ["thinftp-test", "--root", root, "--busy-poll", "1000"];
        let host =
            crate::Host::from_options(&crate::Options::try_parse_args(args).unwrap()).unwrap();
        if most_at_once() == 0 {
            return; // One CPU: never polls (see the other test).
        }
        assert!(host.busy_poll().is_some(), "a free place, no transfer");
        let transfer = host.lifecycle().enter_transfer();
        assert!(host.busy_poll().is_none(), "a transfer runs");
        drop(transfer);
        assert!(host.busy_poll().is_some(), "the transfer ended");
    }

    #[test]
    fn windows_are_bounded_in_time_and_in_number() {
        let _serial = serial();
        let poll = BusyPoll::new(Duration::from_millis(20), ActiveTransfers::default());
        let mut held = Vec::new();
        while let Some(window) = poll.start() {
            held.push(window);
        }
        assert_eq!(held.len(), most_at_once());
        assert!(poll.start().is_none(), "no window past the limit");
        if let Some(window) = held.pop() {
            assert!(!window.is_over());
            std::thread::sleep(Duration::from_millis(25));
            assert!(window.is_over());
            drop(window);
            let again = poll.start();
            assert!(again.is_some(), "a dropped window frees its place");
        }
    }
}
