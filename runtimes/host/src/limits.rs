//! Limits on concurrent sessions, in total and per client address.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

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
