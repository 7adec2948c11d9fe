//! Passive-mode data listeners within the configured port range.
//!
//! Ports are picked at random within the range, so that nobody can guess which port a session
//! will get next (with a shared sequential counter, a second session from the victim's address
//! took the victim's next port and read its listing; the core still refuses a data connection
//! from any address but the client's). One client address may hold only part of the range at
//! once (half of it by default), so that it cannot take every port of it. Clients count by
//! address group ([`ip_group`]): an IPv6 client by its /64, like the other per-address limits.
//! A reload may change the range and the cap ([`PassivePorts::set_range`]): listeners open
//! keep their ports, new ones follow the new settings.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::ops::RangeInclusive;
use std::sync::{Mutex, MutexGuard};

use crate::limits::ip_group;

/// Random tries before the search for a free port walks the range from a random start.
const RANDOM_TRIES: u32 = 16;

/// Client addresses remembered before the list of listeners is swept of closed ones.
const SWEEP_AT: usize = 1024;

/// Where passive listeners may bind, and how many each client address holds. Shared by all
/// sessions.
#[derive(Debug)]
pub struct PassivePorts {
    open: Mutex<OpenListeners>,
}

/// The addresses of the listeners handed out, per client address. A listener is not owned
/// here (the session drops it when it is done); whether it is still open is asked of the kernel
/// when it matters ([`still_listening`]).
#[derive(Debug)]
struct OpenListeners {
    range: Option<RangeInclusive<u16>>,
    max_per_client: usize,
    /// By client address group.
    by_client: HashMap<IpAddr, Vec<SocketAddr>>,
    next_sweep: usize,
}

impl PassivePorts {
    /// Listeners on ports in `range` (any free port the system picks when `None`), at most
    /// `max_per_client` open at once for one client address (no limit when `None`); with a
    /// range, never more than half of it, and at least one.
    pub fn new(range: Option<RangeInclusive<u16>>, max_per_client: Option<usize>) -> Self {
        let passive = PassivePorts {
            open: Mutex::new(OpenListeners {
                range: None,
                max_per_client: usize::MAX,
                by_client: HashMap::new(),
                next_sweep: SWEEP_AT,
            }),
        };
        passive.set_range(range, max_per_client);
        passive
    }

    /// Replaces the range and the cap (as [`new`](Self::new) takes them) for the listeners
    /// bound from now on (a reload). Listeners open keep their ports and count against the
    /// new cap.
    pub fn set_range(&self, range: Option<RangeInclusive<u16>>, max_per_client: Option<usize>) {
        let half_range = range.as_ref().map_or(usize::MAX, |r| {
            let ports = usize::from(*r.end()) - usize::from(*r.start()) + 1;
            ports / 2
        });
        let mut open = self.lock();
        open.max_per_client = max_per_client.unwrap_or(usize::MAX).min(half_range).max(1);
        open.range = range;
    }

    /// How many listeners one client address may hold at once.
    pub fn max_per_client(&self) -> usize {
        self.lock().max_per_client
    }

    /// The port range (`None`: any port).
    pub fn range(&self) -> Option<RangeInclusive<u16>> {
        self.lock().range.clone()
    }

    /// Binds a listener on `ip` for a session of the client at `client`, at a random free port of
    /// the range (blocking, but quick). Fails with `AddrInUse` when every port is taken, and with
    /// `QuotaExceeded` when `client` already holds as many listeners as it may.
    pub fn bind(&self, client: IpAddr, ip: IpAddr) -> io::Result<TcpListener> {
        let mut open = self.lock();
        open.sweep_if_large();
        let max = open.max_per_client;
        let range = open.range.clone();
        let held = open.by_client.entry(ip_group(client)).or_default();
        held.retain(|addr| still_listening(*addr));
        if held.len() >= max {
            return Err(io::Error::new(
                io::ErrorKind::QuotaExceeded,
                format!("{client} already holds {max} passive listeners"),
            ));
        }
        let listener = bind_free_port(range.as_ref(), ip)?;
        held.push(listener.local_addr()?);
        Ok(listener)
    }

    fn lock(&self) -> MutexGuard<'_, OpenListeners> {
        // A panic while holding the lock leaves a plain map behind: still usable.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Binds a listener on `ip` at a random free port of `range` (any port without one).
fn bind_free_port(range: Option<&RangeInclusive<u16>>, ip: IpAddr) -> io::Result<TcpListener> {
    let Some(range) = range else {
        return TcpListener::bind(SocketAddr::new(ip, 0));
    };
    let first = u32::from(*range.start());
    let count = u32::from(*range.end()) - first + 1;
    let port_at = |i: u32| u16::try_from(first + i % count).unwrap_or(0);
    // Mostly the first random try is free; a nearly full range falls back to a walk from a
    // random start, which finds the last free port too.
    let random = (0..RANDOM_TRIES.min(count)).map(|_| port_at(fastrand::u32(..count)));
    let start = fastrand::u32(..count);
    let walk = (0..count).map(|i| port_at(start + i));
    for port in random.chain(walk) {
        match TcpListener::bind(SocketAddr::new(ip, port)) {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free port in the passive range",
    ))
}

impl OpenListeners {
    /// Forgets closed listeners, and clients without any, once many clients are remembered: the
    /// map stays as small as the listeners really open.
    fn sweep_if_large(&mut self) {
        if self.by_client.len() < self.next_sweep {
            return;
        }
        self.by_client.retain(|_, held| {
            held.retain(|addr| still_listening(*addr));
            !held.is_empty()
        });
        self.next_sweep = SWEEP_AT.max(self.by_client.len() * 2);
    }
}

/// Whether a socket still listens on `addr`: binding it (with `SO_REUSEADDR`, as every listener
/// here has, so connections still open on the port do not count) fails only then. The probe is
/// closed at once, without listening.
fn still_listening(addr: SocketAddr) -> bool {
    let Ok(probe) = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    ) else {
        return false;
    };
    if probe.set_reuse_address(true).is_err() {
        return false;
    }
    matches!(probe.bind(&addr.into()), Err(e) if e.kind() == io::ErrorKind::AddrInUse)
}

/// Makes an `accept` blocked on `listener` in another thread return at once with an error (on
/// Linux, `shutdown` of a listening socket does that), and every later `accept` fail. Use it to
/// close a listener that a thread is waiting on.
pub fn wake_listener(listener: &TcpListener) {
    let _ = socket2::SockRef::from(listener).shutdown(std::net::Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn a_closed_listener_no_longer_counts() {
        let listener = TcpListener::bind((LOCAL, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(still_listening(addr));
        // A connection still open on the port does not count: only the listener does.
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        drop(listener);
        assert!(!still_listening(addr));
        drop((client, accepted));
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let passive = PassivePorts::new(None, Some(1));
        let client = |s: &str| s.parse::<IpAddr>().unwrap();
        let _first = passive.bind(client("2001:db8::1"), LOCAL).unwrap();
        let same_64 = passive.bind(client("2001:db8::ffff:2"), LOCAL);
        assert_eq!(
            same_64.map(drop).map_err(|e| e.kind()),
            Err(io::ErrorKind::QuotaExceeded),
            "another address of the same /64 got a listener past the cap"
        );
        let _other_64 = passive.bind(client("2001:db8:0:1::1"), LOCAL).unwrap();
    }

    #[test]
    fn the_cap_is_at_most_half_the_range_and_at_least_one() {
        let cap = |range: Option<RangeInclusive<u16>>, max| {
            PassivePorts::new(range, max).max_per_client()
        };
        assert_eq!(cap(None, Some(16)), 16);
        assert_eq!(cap(None, None), usize::MAX);
        assert_eq!(cap(Some(50000..=50009), Some(16)), 5);
        assert_eq!(cap(Some(50000..=50009), None), 5);
        assert_eq!(cap(Some(50000..=50009), Some(2)), 2);
        assert_eq!(cap(Some(50000..=50000), None), 1);
        assert_eq!(cap(None, Some(0)), 1);
    }
}
