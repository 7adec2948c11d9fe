//! Limits: concurrent sessions (in total and per client address), concurrent password checks,
//! and the process's open-files limit.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// What an over-limit client is sent before its connection is closed.
pub const TOO_MANY: &[u8] = b"421 Too many connections\r\n";

/// Counts live sessions. Cheap to clone: clones share the counts.
#[derive(Debug, Clone)]
pub struct Limits {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted session. Dropping it frees its place.
#[derive(Debug)]
#[must_use = "the session's place is freed when the guard is dropped"]
pub struct SessionGuard {
    limits: Limits,
    ip: IpAddr,
}

impl Limits {
    /// At most `max_total` sessions, and `max_per_ip` from any one address.
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        let inner = Inner {
            max_total,
            max_per_ip,
            counts: Mutex::new(Counts::default()),
        };
        Limits {
            inner: Arc::new(inner),
        }
    }

    /// Admits a session from `ip`, or `None` if that would pass a limit: then write
    /// [`TOO_MANY`] (see [`reject`]) and close the connection.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<SessionGuard> {
        let mut counts = self.lock();
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if counts.total >= self.inner.max_total || from_ip >= self.inner.max_per_ip {
            return None;
        }
        counts.total += 1;
        counts.per_ip.insert(ip, from_ip + 1);
        Some(SessionGuard {
            limits: self.clone(),
            ip,
        })
    }

    /// Live sessions in total.
    pub fn active(&self) -> usize {
        self.lock().total
    }

    fn release(&self, ip: IpAddr) {
        let mut counts = self.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                // Forget the address, so the map does not grow with every client ever seen.
                counts.per_ip.remove(&ip);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.inner.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.limits.release(self.ip);
    }
}

/// Tells an over-limit client so ([`TOO_MANY`]). The caller then drops the connection. Blocking
/// writers should have a write timeout: the reply is small, so it fits the socket's buffer.
pub fn reject(conn: &mut impl Write) {
    let _ = conn.write_all(TOO_MANY);
    let _ = conn.flush();
}

/// Lets at most a fixed number of holders in at once; the others wait their turn. (std has no
/// semaphore; this one is a counter under a mutex.)
#[derive(Debug)]
pub(crate) struct Semaphore {
    free: Mutex<usize>,
    freed: Condvar,
}

/// One place in a [`Semaphore`], given back when dropped.
#[derive(Debug)]
#[must_use = "the place is given back when the permit is dropped"]
pub(crate) struct Permit<'a> {
    semaphore: &'a Semaphore,
}

impl Semaphore {
    /// `places` holders at once (at least one, so that `acquire` cannot wait forever).
    pub(crate) fn new(places: usize) -> Self {
        Semaphore {
            free: Mutex::new(places.max(1)),
            freed: Condvar::new(),
        }
    }

    /// One place per CPU: for work that keeps a CPU busy.
    pub(crate) fn per_cpu() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// Blocks until a place is free and takes it.
    pub(crate) fn acquire(&self) -> Permit<'_> {
        let mut free = self.lock();
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Permit { semaphore: self }
    }

    fn lock(&self) -> MutexGuard<'_, usize> {
        // Only a counter is behind the lock: usable even after a panic elsewhere.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for Semaphore {
    fn default() -> Self {
        Self::per_cpu()
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.semaphore.lock() += 1;
        self.semaphore.freed.notify_one();
    }
}

/// Raises the soft limit on open files (`RLIMIT_NOFILE`) to the hard limit, and logs the result
/// at debug level. Every session holds a few descriptors (control connection, data connection
/// or listener, a file), and the usual soft limit of 1024 would cap a server well below
/// `--max-sessions`. Returns the soft limit now in force (`None`: unlimited). Call it once at
/// startup; a failure is logged and otherwise ignored (the server runs with the old limit).
pub fn raise_open_files_limit() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(soft = ?limit.current, hard = ?limit.maximum,
                "cannot raise the open files limit: {e}");
        }
    }
    let now = getrlimit(Resource::Nofile);
    tracing::debug!(soft = ?now.current, hard = ?now.maximum, "open files limit");
    now.current
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn semaphore_lets_only_its_places_in_at_once() {
        let semaphore = Semaphore::new(2);
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let _permit = semaphore.acquire();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    inside.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 2);
        // Every place was given back.
        assert_eq!(*semaphore.lock(), 2);
    }

    #[test]
    fn semaphore_has_at_least_one_place() {
        let semaphore = Semaphore::new(0);
        drop(semaphore.acquire());
        assert!(*Semaphore::per_cpu().lock() >= 1);
    }

    #[test]
    fn open_files_soft_limit_reaches_the_hard_limit() {
        let soft = raise_open_files_limit();
        let limit = getrlimit(Resource::Nofile);
        assert_eq!(soft, limit.current);
        assert_eq!(limit.current, limit.maximum);
    }
}
