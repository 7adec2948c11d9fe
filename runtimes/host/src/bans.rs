//! Login bans: failed logins counted per client address group and per user name across
//! sessions, as vsftpd's `max_login_fails` or fail2ban do, so that reconnecting does not reset
//! them. Past the limit within the window, the address (or the name) is banned for a while:
//! every login from it (or for it) is refused before any password is checked, a correct one
//! too, and the ban is logged once when it starts, not once per attempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Most addresses and names tracked at once: a flood of distinct ones cannot grow the table
/// beyond this (past it, entries whose window is over are dropped; if none is, new keys are not
/// tracked until some are).
const MAX_TRACKED: usize = 16_384;

/// How failed logins turn into bans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanPolicy {
    /// Failures from one address group within `window` that ban it (0: never).
    pub per_address: u32,
    /// Failures for one user name, from anywhere, within `window` that ban the name (0: never).
    /// Higher than `per_address` by default: anyone can ban a name, and with it its owner.
    pub per_user: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a ban lasts.
    pub ban_for: Duration,
}

impl BanPolicy {
    /// No bans at all.
    pub const OFF: BanPolicy = BanPolicy {
        per_address: 0,
        per_user: 0,
        window: Duration::ZERO,
        ban_for: Duration::ZERO,
    };
}

/// What is banned, if anything, for one login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Banned {
    /// The client's address group.
    Address(IpAddr),
    /// The user name.
    User(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    User(String),
}

#[derive(Debug)]
struct Entry {
    window_start: Instant,
    failures: u32,
    banned_until: Option<Instant>,
}

/// The failure counts and bans of a server.
#[derive(Debug)]
pub struct Bans {
    /// Replaced by a reload ([`set_policy`](Bans::set_policy)).
    policy: Mutex<BanPolicy>,
    table: Mutex<HashMap<Key, Entry>>,
}

impl Bans {
    /// Counts failures under `policy`.
    pub fn new(policy: BanPolicy) -> Self {
        Bans {
            policy: Mutex::new(policy),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Puts `policy` in force from now on (a reload): the failures counted so far count
    /// against the new thresholds and window; a ban under way keeps the end it was given.
    pub fn set_policy(&self, policy: BanPolicy) {
        *self.policy.lock().unwrap_or_else(|e| e.into_inner()) = policy;
    }

    /// The policy in force.
    pub fn policy(&self) -> BanPolicy {
        *self.policy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the address group `ip` or the name `user` is banned at `now`. Call it before
    /// checking a password; a ban that has ended is forgotten.
    pub fn banned(&self, now: Instant, ip: Option<IpAddr>, user: &str) -> Option<Banned> {
        if self.is_off() {
            return None;
        }
        let mut table = self.lock();
        if let Some(ip) = ip {
            if Self::check(&mut table, Key::Address(ip), now) {
                return Some(Banned::Address(ip));
            }
        }
        let key = Key::User(user.to_owned());
        Self::check(&mut table, key, now).then(|| Banned::User(user.to_owned()))
    }

    /// Counts a failed login at `now`; returns what this failure banned (each ban once, when it
    /// starts: log it then).
    pub fn failed(&self, now: Instant, ip: Option<IpAddr>, user: &str) -> Vec<Banned> {
        let mut started = Vec::new();
        if self.is_off() {
            return started;
        }
        let mut table = self.lock();
        if let Some(ip) = ip {
            if self.count(&mut table, Key::Address(ip), self.policy().per_address, now) {
                started.push(Banned::Address(ip));
            }
        }
        let key = Key::User(user.to_owned());
        if self.count(&mut table, key, self.policy().per_user, now) {
            started.push(Banned::User(user.to_owned()));
        }
        started
    }

    /// How long a ban lasts.
    pub fn ban_time(&self) -> Duration {
        self.policy().ban_for
    }

    /// How many addresses and names are tracked (for tests).
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn is_off(&self) -> bool {
        let policy = self.policy();
        policy.per_address == 0 && policy.per_user == 0
    }

    /// Whether `key` is banned at `now`; forgets a ban that is over.
    fn check(table: &mut HashMap<Key, Entry>, key: Key, now: Instant) -> bool {
        let Some(entry) = table.get_mut(&key) else {
            return false;
        };
        match entry.banned_until {
            Some(until) if now < until => true,
            Some(_) => {
                table.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Counts one failure of `key`; true if it starts a ban.
    fn count(&self, table: &mut HashMap<Key, Entry>, key: Key, limit: u32, now: Instant) -> bool {
        if limit == 0 {
            return false;
        }
        if !table.contains_key(&key) && table.len() >= MAX_TRACKED {
            self.prune(table, now);
            if table.len() >= MAX_TRACKED {
                return false;
            }
        }
        let entry = table.entry(key).or_insert(Entry {
            window_start: now,
            failures: 0,
            banned_until: None,
        });
        if entry.banned_until.is_some() {
            // Already banned (a check that started before the ban): no second start.
            return false;
        }
        let policy = self.policy();
        if now.saturating_duration_since(entry.window_start) > policy.window {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures < limit {
            return false;
        }
        // A ban time too large for the clock is a ban for as long as the server runs.
        entry.banned_until = Some(
            now.checked_add(policy.ban_for)
                .unwrap_or(now + Duration::from_secs(100 * 365 * 86_400)),
        );
        true
    }

    /// Drops entries whose window and ban are over.
    fn prune(&self, table: &mut HashMap<Key, Entry>, now: Instant) {
        let window = self.policy().window;
        table.retain(|_, e| match e.banned_until {
            Some(until) => now < until,
            None => now.saturating_duration_since(e.window_start) <= window,
        });
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BanPolicy = BanPolicy {
        per_address: 3,
        per_user: 5,
        window: Duration::from_secs(60),
        ban_for: Duration::from_secs(300),
    };

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_address_is_banned_once_past_the_limit_until_the_ban_ends() {
        let bans = Bans::new(POLICY);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        assert!(bans.failed(t0, a, "u1").is_empty());
        assert!(bans.failed(t0, a, "u2").is_empty());
        assert_eq!(bans.banned(t0, a, "u3"), None);
        let started = bans.failed(t0, a, "u3");
        assert_eq!(started, vec![Banned::Address(a.unwrap())], "logged once");
        // Every attempt is refused now, whatever the name, and nothing new starts.
        assert_eq!(
            bans.banned(t0, a, "alice"),
            Some(Banned::Address(a.unwrap()))
        );
        assert!(bans.failed(t0, a, "u4").is_empty());
        assert_eq!(bans.banned(t0, ip("192.0.2.2"), "alice"), None);
        let later = t0 + Duration::from_secs(299);
        assert!(bans.banned(later, a, "alice").is_some());
        let over = t0 + Duration::from_secs(300);
        assert_eq!(bans.banned(over, a, "alice"), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let bans = Bans::new(POLICY);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        bans.failed(t0, a, "x");
        bans.failed(t0, a, "x");
        let t1 = t0 + Duration::from_secs(61);
        assert!(bans.failed(t1, a, "x").is_empty(), "a new window");
        assert_eq!(bans.banned(t1, a, "y"), None);
    }

    #[test]
    fn a_name_is_banned_after_failures_from_many_addresses() {
        let bans = Bans::new(POLICY);
        let t0 = Instant::now();
        for i in 1..=4 {
            assert!(bans
                .failed(t0, ip(&format!("192.0.2.{i}")), "alice")
                .is_empty());
        }
        let started = bans.failed(t0, ip("192.0.2.5"), "alice");
        assert_eq!(started, vec![Banned::User("alice".into())]);
        assert_eq!(
            bans.banned(t0, ip("198.51.100.1"), "alice"),
            Some(Banned::User("alice".into()))
        );
        assert_eq!(bans.banned(t0, ip("198.51.100.1"), "bob"), None);
    }

    #[test]
    fn off_tracks_nothing() {
        let bans = Bans::new(BanPolicy::OFF);
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(bans.failed(t0, ip("192.0.2.1"), "alice").is_empty());
        }
        assert_eq!(bans.banned(t0, ip("192.0.2.1"), "alice"), None);
        assert_eq!(bans.tracked(), 0);
    }

    #[test]
    fn the_table_is_bounded() {
        let bans = Bans::new(POLICY);
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED + 100) {
            bans.failed(t0, None, &format!("name{i}"));
        }
        assert_eq!(bans.tracked(), MAX_TRACKED);
        // Once their window is over, old entries make room.
        let t1 = t0 + Duration::from_secs(61);
        bans.failed(t1, None, "fresh");
        assert_eq!(bans.tracked(), 1);
    }
}
