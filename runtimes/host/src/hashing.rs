//! argon2 password checks with bounded memory and a bounded queue.
//!
//! Each argon2 check needs a block of memory as large as the hash's `m` parameter (19 MiB with
//! the defaults). Allocated per check, glibc keeps those blocks (its mmap threshold grows past
//! them after the first free), and a flood of logins took the server to gigabytes. So the
//! [`Hasher`] owns one block set per place (one place per CPU, since a check keeps a CPU busy
//! for its whole run), and every check borrows one: memory stays at places x block size.
//!
//! Checks waiting for a place are bounded too, in total and per client address: past either
//! bound a check is not queued ([`Hasher::enter`] gives no [`Ticket`]), so a flood costs neither
//! memory nor CPU, and a real login waits behind a short queue only.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Condvar, Mutex, MutexGuard};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Most places, whatever the number of CPUs: each holds its memory for good (19 MiB with the
/// default parameters), and eight checks at once already serve hundreds of logins a second.
pub(crate) const MAX_PLACES: usize = 8;

/// A parsed argon2 PHC string: everything a check needs, decoded once.
#[derive(Clone)]
pub(crate) struct PhcHash {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

impl PhcHash {
    /// Parses an argon2 PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`). `None` if it
    /// is not one, or lacks a salt or a hash.
    pub(crate) fn parse(phc: &str) -> Option<PhcHash> {
        let hash = PasswordHash::new(phc).ok()?;
        let algorithm = Algorithm::new(hash.algorithm.as_str()).ok()?;
        let version = match hash.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&hash).ok()?;
        let salt = hash.salt.as_ref()?.as_ref().to_vec();
        let expected = hash.hash.as_ref()?.as_ref().to_vec();
        Some(PhcHash {
            algorithm,
            version,
            params,
            salt,
            expected,
        })
    }

    /// The memory blocks (1 KiB each) a check of this hash needs.
    pub(crate) fn blocks(&self) -> usize {
        self.params.block_count()
    }

    /// Computes the hash of `password` in `memory` (at least [`blocks`](Self::blocks) long) and
    /// compares it with the stored one in constant time.
    fn matches(&self, password: &str, memory: &mut [Block]) -> bool {
        let argon2 = Argon2::new(self.algorithm, self.version, self.params.clone());
        let mut out = vec![0u8; self.expected.len()];
        if argon2
            .hash_password_into_with_memory(password.as_bytes(), &self.salt, &mut out, memory)
            .is_err()
        {
            return false;
        }
        crate::auth::constant_time_eq(&out, &self.expected)
    }
}

/// Places for argon2 checks, each with its own memory, and the queue in front of them.
pub(crate) struct Hasher {
    max_queued: usize,
    max_queued_per_ip: usize,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Default)]
struct State {
    /// The memory of each free place (empty until first used or reserved).
    free: Vec<Vec<Block>>,
    /// Blocks the largest known hash needs.
    blocks: usize,
    /// Checks holding a ticket (waiting or running), in total and per address group.
    queued: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// A check's place in the queue, from [`Hasher::enter`]; dropping it leaves the queue.
#[must_use]
pub(crate) struct Ticket<'a> {
    hasher: &'a Hasher,
    ip: Option<IpAddr>,
}

impl Hasher {
    /// `places` checks at once (at least one); at most `max_queued` checks waiting or running,
    /// `max_queued_per_ip` of them for one address group.
    pub(crate) fn new(places: usize, max_queued: usize, max_queued_per_ip: usize) -> Self {
        let places = places.max(1);
        let state = State {
            free: (0..places).map(|_| Vec::new()).collect(),
            ..State::default()
        };
        Hasher {
            max_queued,
            max_queued_per_ip,
            state: Mutex::new(state),
            freed: Condvar::new(),
        }
    }

    /// One place per CPU, at most [`MAX_PLACES`], and an unbounded queue.
    pub(crate) fn per_cpu() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cpus.min(MAX_PLACES), usize::MAX, usize::MAX)
    }

    /// Sets the queue bounds.
    pub(crate) fn set_queue_bounds(&mut self, max_queued: usize, max_queued_per_ip: usize) {
        self.max_queued = max_queued;
        self.max_queued_per_ip = max_queued_per_ip;
    }

    /// Makes every place big enough for a hash of `blocks` blocks (from now on, when a place is
    /// next used).
    pub(crate) fn need(&self, blocks: usize) {
        let mut state = self.lock();
        state.blocks = state.blocks.max(blocks);
    }

    /// Allocates every place's memory now, so that the first logins do not raise the process's
    /// memory (it is then part of the idle figure). Places in use are left alone.
    pub(crate) fn reserve(&self) {
        let mut state = self.lock();
        let blocks = state.blocks;
        for memory in &mut state.free {
            if memory.len() < blocks {
                *memory = vec![Block::new(); blocks];
            }
        }
    }

    /// Joins the queue for a check for a client of address group `ip` (`None`: not counted per
    /// address), or `None` when the queue is full in total or for that address.
    pub(crate) fn enter(&self, ip: Option<IpAddr>) -> Option<Ticket<'_>> {
        let mut state = self.lock();
        if state.queued >= self.max_queued {
            return None;
        }
        if let Some(ip) = ip {
            let n = state.per_ip.entry(ip).or_insert(0);
            if *n >= self.max_queued_per_ip {
                return None;
            }
            *n += 1;
        }
        state.queued += 1;
        Some(Ticket { hasher: self, ip })
    }

    /// Waits for a place and checks `password` against `hash` in that place's memory.
    pub(crate) fn check(&self, _ticket: &Ticket<'_>, hash: &PhcHash, password: &str) -> bool {
        let mut memory = {
            let mut state = self.lock();
            loop {
                if let Some(memory) = state.free.pop() {
                    break memory;
                }
                state = self.freed.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        };
        if memory.len() < hash.blocks() {
            // Only before `reserve`, or for a hash larger than any known: once per place.
            memory = vec![Block::new(); hash.blocks().max(self.lock().blocks)];
        }
        let ok = hash.matches(password, &mut memory);
        self.lock().free.push(memory);
        self.freed.notify_one();
        ok
    }

    fn leave(&self, ip: Option<IpAddr>) {
        let mut state = self.lock();
        state.queued = state.queued.saturating_sub(1);
        if let Some(ip) = ip {
            if let Some(n) = state.per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    state.per_ip.remove(&ip);
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Counters and free memory only: usable even after a panic elsewhere.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for Hasher {
    // Not the memory: megabytes of blocks.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("max_queued", &self.max_queued)
            .field("max_queued_per_ip", &self.max_queued_per_ip)
            .finish_non_exhaustive()
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::per_cpu()
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.hasher.leave(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn hash(password: &str) -> PhcHash {
        PhcHash::parse(&crate::auth::hash_password(password).unwrap()).unwrap()
    }

    #[test]
    fn checks_compare_with_the_stored_hash() {
        let hasher = Hasher::new(1, 4, 4);
        let alice = hash("pw");
        hasher.need(alice.blocks());
        let ticket = hasher.enter(None).unwrap();
        assert!(hasher.check(&ticket, &alice, "pw"));
        assert!(!hasher.check(&ticket, &alice, "pw "));
        assert!(!hasher.check(&ticket, &alice, ""));
        assert!(PhcHash::parse("$argon2id$v=19$m=19456,t=2,p=1").is_none());
        assert!(PhcHash::parse("plain").is_none());
    }

    #[test]
    fn a_place_keeps_its_memory_for_the_next_check() {
        let hasher = Hasher::new(1, 4, 4);
        let alice = hash("pw");
        hasher.need(alice.blocks());
        hasher.reserve();
        let before = hasher.lock().free[0].as_ptr();
        let ticket = hasher.enter(None).unwrap();
        assert!(hasher.check(&ticket, &alice, "pw"));
        assert!(!hasher.check(&ticket, &alice, "nope"));
        let state = hasher.lock();
        assert_eq!(state.free.len(), 1);
        assert_eq!(
            state.free[0].as_ptr(),
            before,
            "the same block, not a new one"
        );
        assert_eq!(state.free[0].len(), alice.blocks());
    }

    #[test]
    fn the_queue_is_bounded_per_address_and_in_total() {
        let hasher = Hasher::new(1, 3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = hasher.enter(Some(a)).unwrap();
        let _a2 = hasher.enter(Some(a)).unwrap();
        assert!(hasher.enter(Some(a)).is_none(), "two per address");
        let _b1 = hasher.enter(Some(b)).unwrap();
        assert!(hasher.enter(Some(b)).is_none(), "three in total");
        drop(a1);
        assert!(hasher.enter(Some(a)).is_some(), "a place was given back");
    }

    #[test]
    fn checks_wait_for_a_free_place() {
        let hasher = Hasher::new(1, 8, 8);
        let alice = hash("pw");
        let taken = hasher.lock().free.pop().unwrap();
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel();
            let (hasher, alice) = (&hasher, &alice);
            s.spawn(move || {
                let ticket = hasher.enter(None).unwrap();
                tx.send(hasher.check(&ticket, alice, "pw")).unwrap();
            });
            // The only place is taken: the check waits...
            assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
            hasher.lock().free.push(taken);
            hasher.freed.notify_one();
            // ... and runs once it is free.
            assert!(rx.recv_timeout(Duration::from_secs(20)).unwrap());
        });
    }
}
