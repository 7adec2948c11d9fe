//! Passive-mode data listeners within the configured port range.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where passive listeners may bind. Shared by all sessions: the start of each search rotates, so
/// sessions do not all fight over the first ports of the range.
#[derive(Debug)]
pub struct PassivePorts {
    range: Option<RangeInclusive<u16>>,
    next: AtomicU32,
}

impl PassivePorts {
    /// Listeners on ports in `range`, or on any free port the system picks when `None`.
    pub fn new(range: Option<RangeInclusive<u16>>) -> Self {
        PassivePorts {
            range,
            next: AtomicU32::new(fastrand::u32(..)),
        }
    }

    /// Binds a listener on `ip` at the next free port of the range (blocking, but quick). Fails
    /// with `AddrInUse` when every port is taken.
    pub fn bind(&self, ip: IpAddr) -> io::Result<TcpListener> {
        let Some(range) = &self.range else {
            return TcpListener::bind(SocketAddr::new(ip, 0));
        };
        let first = u32::from(*range.start());
        let count = u32::from(*range.end()) - first + 1;
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
        for i in 0..count {
            let port = u16::try_from(first + (start + i) % count).unwrap_or(0);
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
}

/// Makes an `accept` blocked on `listener` in another thread return at once with an error (on
/// Linux, `shutdown` of a listening socket does that), and every later `accept` fail. Use it to
/// close a listener that a thread is waiting on.
pub fn wake_listener(listener: &TcpListener) {
    let _ = socket2::SockRef::from(listener).shutdown(std::net::Shutdown::Both);
}
