//! Limits: concurrent sessions (in total, per client address group, and those not logged in
//! yet), and the process's open-files limit.
//!
//! Addresses are counted by group ([`ip_group`]): an IPv4 address alone, an IPv6 client by its
//! /64 prefix, since one host or site usually holds a whole /64 and could otherwise take a
//! place per address.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

pub use crate::observe::metrics::Refusal;

/// What an over-limit client is sent before its connection is closed.
pub const TOO_MANY: &[u8] = b"421 Too many connections\r\n";

/// The group an address counts in for per-address limits: an IPv4 address (also written as an
/// IPv4-mapped IPv6 address) is its own group, an IPv6 address counts by its /64 prefix.
pub fn ip_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !u128::from(u64::MAX);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Counts live sessions. Cheap to clone: clones share the counts.
#[derive(Debug, Clone)]
pub struct Limits {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    counts: Mutex<Counts>,
}

/// The bounds, beside the counts under the one lock, so that a reload can change them
/// ([`Limits::set_bounds`]).
#[derive(Debug, Default)]
struct Counts {
    max_total: usize,
    max_per_ip: usize,
    max_unauthenticated: usize,
    total: usize,
    /// Sessions not logged in yet.
    unauthenticated: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted session's place. Cheap to clone: the place is freed when the last clone is
/// dropped, so work started for the session (a password check that outlives the connection)
/// holds a clone and keeps the place until it ends.
#[derive(Debug, Clone)]
#[must_use = "the session's place is freed when the guard is dropped"]
pub struct SessionGuard {
    place: Arc<Place>,
}

#[derive(Debug)]
struct Place {
    limits: Limits,
    /// The client's address group ([`ip_group`]); not set yet for a connection from a trusted
    /// proxy whose PROXY header has not been read ([`Limits::try_acquire_proxied`]).
    group: OnceLock<IpAddr>,
    logged_in: AtomicBool,
}

impl Limits {
    /// At most `max_total` sessions, and `max_per_ip` from any one address group; no bound on
    /// sessions that have not logged in beyond those (see
    /// [`with_max_unauthenticated`](Self::with_max_unauthenticated)).
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        Self::with_max_unauthenticated(max_total, max_per_ip, usize::MAX)
    }

    /// Like [`new`](Self::new), and at most `max_unauthenticated` sessions at once that have
    /// not logged in ([`SessionGuard::logged_in`] was not called).
    pub fn with_max_unauthenticated(
        max_total: usize,
        max_per_ip: usize,
        max_unauthenticated: usize,
    ) -> Self {
        let counts = Counts {
            max_total,
            max_per_ip,
            max_unauthenticated,
            ..Counts::default()
        };
        let inner = Inner {
            counts: Mutex::new(counts),
        };
        Limits {
            inner: Arc::new(inner),
        }
    }

    /// Replaces the bounds (as [`with_max_unauthenticated`](Self::with_max_unauthenticated)
    /// sets them) for the sessions admitted from now on. Sessions already admitted keep their
    /// places, even past a lowered bound: new ones are refused until enough have ended.
    pub fn set_bounds(&self, max_total: usize, max_per_ip: usize, max_unauthenticated: usize) {
        let mut counts = self.lock();
        counts.max_total = max_total;
        counts.max_per_ip = max_per_ip;
        counts.max_unauthenticated = max_unauthenticated;
    }

    /// Admits a session from `ip`, or `None` if that would pass a limit: then write
    /// [`TOO_MANY`] (see [`reject`]) and close the connection.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<SessionGuard> {
        self.try_acquire_or_why(ip).ok()
    }

    /// [`try_acquire`](Self::try_acquire), saying which limit refused.
    pub fn try_acquire_or_why(&self, ip: IpAddr) -> Result<SessionGuard, Refusal> {
        let group = ip_group(ip);
        let mut counts = self.lock();
        let from_ip = counts.per_ip.get(&group).copied().unwrap_or(0);
        if counts.total >= counts.max_total {
            return Err(Refusal::MaxSessions);
        }
        if from_ip >= counts.max_per_ip {
            return Err(Refusal::MaxSessionsPerIp);
        }
        if counts.unauthenticated >= counts.max_unauthenticated {
            return Err(Refusal::MaxUnauthenticated);
        }
        counts.total += 1;
        counts.unauthenticated += 1;
        counts.per_ip.insert(group, from_ip + 1);
        Ok(self.place(OnceLock::from(group)))
    }

    /// Admits a connection from a trusted proxy whose PROXY header is still to be read: it
    /// counts in total and as not logged in, but against no address until
    /// [`SessionGuard::place_client`] names the client (the proxy's own address would count
    /// every client of the proxy as one). The limit that refused, as for
    /// [`try_acquire_or_why`](Self::try_acquire_or_why).
    pub fn try_acquire_proxied(&self) -> Result<SessionGuard, Refusal> {
        let mut counts = self.lock();
        if counts.total >= counts.max_total {
            return Err(Refusal::MaxSessions);
        }
        if counts.unauthenticated >= counts.max_unauthenticated {
            return Err(Refusal::MaxUnauthenticated);
        }
        counts.total += 1;
        counts.unauthenticated += 1;
        Ok(self.place(OnceLock::new()))
    }

    fn place(&self, group: OnceLock<IpAddr>) -> SessionGuard {
        let place = Place {
            limits: self.clone(),
            group,
            logged_in: AtomicBool::new(false),
        };
        SessionGuard {
            place: Arc::new(place),
        }
    }

    /// Live sessions in total.
    pub fn active(&self) -> usize {
        self.lock().total
    }

    /// Live sessions that have not logged in.
    pub fn unauthenticated(&self) -> usize {
        self.lock().unauthenticated
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.inner.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SessionGuard {
    /// The client's address group ([`ip_group`]); the unspecified address while a proxied
    /// connection's client is not known yet (nothing is asked of a session before then).
    pub fn ip_group(&self) -> IpAddr {
        self.place
            .group
            .get()
            .copied()
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
    }

    /// Names the client of a place taken with [`Limits::try_acquire_proxied`], from its PROXY
    /// header: from now on it counts against `ip`'s group. False (the place counts against no
    /// address) when that group already holds as many sessions as it may: refuse the session
    /// ([`reject`]), or when the place already had its address.
    pub fn place_client(&self, ip: IpAddr) -> bool {
        let group = ip_group(ip);
        let mut counts = self.place.limits.lock();
        let from_ip = counts.per_ip.get(&group).copied().unwrap_or(0);
        if from_ip >= counts.max_per_ip || self.place.group.set(group).is_err() {
            return false;
        }
        counts.per_ip.insert(group, from_ip + 1);
        true
    }

    /// Records that the session logged in: it no longer counts against the limit on sessions
    /// that have not. (A later `REIN` does not count it again: the limit is on holding a place
    /// without ever having logged in.)
    pub fn logged_in(&self) {
        if !self.place.logged_in.swap(true, Ordering::Relaxed) {
            let mut counts = self.place.limits.lock();
            counts.unauthenticated = counts.unauthenticated.saturating_sub(1);
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut counts = self.limits.lock();
        counts.total = counts.total.saturating_sub(1);
        if !self.logged_in.load(Ordering::Relaxed) {
            counts.unauthenticated = counts.unauthenticated.saturating_sub(1);
        }
        let Some(group) = self.group.get() else {
            return;
        };
        if let Some(n) = counts.per_ip.get_mut(group) {
            *n -= 1;
            if *n == 0 {
                // Forget the address, so the map does not grow with every client ever seen.
                counts.per_ip.remove(group);
            }
        }
    }
}

/// Tells an over-limit client so ([`TOO_MANY`]). The caller then drops the connection. Blocking
/// writers should have a write timeout: the reply is small, so it fits the socket's buffer.
pub fn reject(conn: &mut impl Write) {
    let _ = conn.write_all(TOO_MANY);
    let _ = conn.flush();
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

    #[test]
    fn new_bounds_apply_to_new_sessions_and_keep_the_admitted() {
        let limits = Limits::new(10, 10);
        let a = ip("192.0.2.1");
        let held: Vec<_> = (0..3).map(|_| limits.try_acquire(a).unwrap()).collect();
        limits.set_bounds(10, 2, usize::MAX);
        assert!(
            limits.try_acquire(a).is_none(),
            "past the lowered per-address bound"
        );
        assert_eq!(
            limits.active(),
            3,
            "the admitted sessions keep their places"
        );
        drop(held);
        let _again: Vec<_> = (0..2).map(|_| limits.try_acquire(a).unwrap()).collect();
        assert!(limits.try_acquire(a).is_none());
        limits.set_bounds(10, 3, usize::MAX);
        assert!(
            limits.try_acquire(a).is_some(),
            "a raised bound lets one more in"
        );
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64_prefix() {
        assert_eq!(ip_group(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(ip_group(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(ip_group(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            ip_group(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            ip("2001:db8:1:2::")
        );
        assert_ne!(ip_group(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(ip_group(ip("::1")), ip("::"));
    }

    #[test]
    fn one_64_shares_one_per_address_limit() {
        let limits = Limits::new(10, 2);
        let _a = limits.try_acquire(ip("2001:db8::1")).unwrap();
        let _b = limits.try_acquire(ip("2001:db8::2:3")).unwrap();
        assert!(limits.try_acquire(ip("2001:db8::ffff")).is_none());
        assert!(
            limits.try_acquire(ip("2001:db8:0:1::1")).is_some(),
            "another /64"
        );
    }

    #[test]
    fn a_place_is_freed_by_its_last_clone() {
        let limits = Limits::new(1, 1);
        let guard = limits.try_acquire(ip("192.0.2.1")).unwrap();
        let work = guard.clone();
        drop(guard);
        assert_eq!(limits.active(), 1, "work still holds the place");
        assert!(limits.try_acquire(ip("192.0.2.2")).is_none());
        drop(work);
        assert_eq!(limits.active(), 0);
        assert!(limits.try_acquire(ip("192.0.2.2")).is_some());
    }

    #[test]
    fn sessions_not_logged_in_have_their_own_cap() {
        let limits = Limits::with_max_unauthenticated(10, 10, 2);
        let a = limits.try_acquire(ip("192.0.2.1")).unwrap();
        let _b = limits.try_acquire(ip("192.0.2.2")).unwrap();
        assert!(limits.try_acquire(ip("192.0.2.3")).is_none());
        a.logged_in();
        a.clone().logged_in();
        assert_eq!(limits.unauthenticated(), 1, "counted once");
        let c = limits.try_acquire(ip("192.0.2.3")).unwrap();
        assert!(limits.try_acquire(ip("192.0.2.4")).is_none());
        drop(a);
        assert!(limits.try_acquire(ip("192.0.2.4")).is_none(), "a logged in");
        drop(c);
        assert_eq!(limits.unauthenticated(), 1);
        assert_eq!(limits.active(), 1);
    }

    #[test]
    fn a_proxied_place_counts_against_the_client_named_in_its_header() {
        let limits = Limits::new(4, 2);
        let client = ip("192.0.2.1");
        let _direct = limits.try_acquire(client).unwrap();
        // Three connections from the proxy at once: none counts against the proxy's address.
        let a = limits.try_acquire_proxied().unwrap();
        let b = limits.try_acquire_proxied().unwrap();
        let c = limits.try_acquire_proxied().unwrap();
        assert!(
            limits.try_acquire_proxied().is_err(),
            "the total still holds"
        );
        assert!(a.place_client(client));
        assert_eq!(a.ip_group(), client);
        assert!(!a.place_client(ip("192.0.2.9")), "named once");
        assert!(!b.place_client(client), "the client's cap is 2");
        assert!(c.place_client(ip("192.0.2.2")));
        assert!(limits.try_acquire(client).is_none());
        drop((a, b));
        assert_eq!(limits.active(), 2);
        assert!(limits.try_acquire(client).is_some(), "a's place was freed");
        drop(c);
        let _d = limits.try_acquire(ip("192.0.2.2")).unwrap();
        let _e = limits.try_acquire(ip("192.0.2.2")).unwrap();
    }

    #[test]
    fn open_files_soft_limit_reaches_the_hard_limit() {
        let soft = raise_open_files_limit();
        let limit = getrlimit(Resource::Nofile);
        assert_eq!(soft, limit.current);
        assert_eq!(limit.current, limit.maximum);
    }
}
