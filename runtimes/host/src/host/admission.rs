//! Letting control connections in: the session limits, each session's id and span, the `421`
//! for those over a limit, and the accept loop's pause after a failed `accept`.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::Span;

use crate::limits::{self, Limits, SessionGuard};
use crate::observe::Metrics;
use crate::proxy_protocol::TrustedProxies;

/// How long to pause after a failed `accept` before the next one, so that a lasting error (out
/// of file descriptors) does not make the accept loop spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// Who gets in: the session limits, each session's id and span, the `421` for those over a
/// limit, the accept loop's pause after a failed `accept`. Reached through
/// [`Host::admission`](crate::Host::admission).
#[derive(Debug)]
pub struct Gate {
    limits: Limits,
    next_session: AtomicU64,
    /// Connections from these addresses start with a PROXY header naming the client.
    proxies: TrustedProxies,
    /// Counts sessions admitted and refused.
    metrics: Metrics,
}

/// A control connection let in by [`Gate::admit`]: keep it for as long as the session runs
/// (the [`Driver`](crate::driver::Driver) does).
#[derive(Debug)]
#[must_use = "the session's place is freed when the admission is dropped"]
pub struct Admission {
    /// The session's id, for logs and thread names.
    pub id: u64,
    /// The session's span ([`logging::session_span`](crate::logging::session_span)): run the
    /// session inside it, and enter it on every thread that works for the session.
    pub span: Span,
    /// The session's place within the limits, freed when dropped.
    pub guard: SessionGuard,
    /// The connection comes from a trusted proxy: its PROXY header, which names the client, is
    /// still to be read (the driver does), and the place counts against no address until then
    /// ([`SessionGuard::place_client`]).
    pub proxied: bool,
}

impl Gate {
    /// At most `max_total` sessions at once, `max_per_ip` of them from one address (group:
    /// see [`limits::ip_group`]), `max_unauthenticated` of them not logged in yet.
    pub(crate) fn new(
        max_total: usize,
        max_per_ip: usize,
        max_unauthenticated: usize,
        metrics: Metrics,
    ) -> Gate {
        Gate {
            limits: Limits::with_max_unauthenticated(max_total, max_per_ip, max_unauthenticated),
            next_session: AtomicU64::new(1),
            proxies: TrustedProxies::default(),
            metrics,
        }
    }

    /// Connections from `proxies` start with a PROXY header (`--proxy-protocol-from`).
    pub(crate) fn behind(mut self, proxies: TrustedProxies) -> Gate {
        self.proxies = proxies;
        self
    }

    /// Whether connections from `ip` start with a PROXY header naming the client.
    pub fn from_proxy(&self, ip: IpAddr) -> bool {
        !self.proxies.is_empty() && self.proxies.contains(ip)
    }

    /// Replaces the session limits (as [`new`](Self::new) sets them) for the sessions admitted
    /// from now on; those admitted keep their places.
    pub(crate) fn set_limits(
        &self,
        max_total: usize,
        max_per_ip: usize,
        max_unauthenticated: usize,
    ) {
        self.limits
            .set_bounds(max_total, max_per_ip, max_unauthenticated);
    }

    /// Lets the control connection `conn` from `peer` in, or turns it away: over a limit it is
    /// sent `421` ([`limits::reject`]) and `None` is returned; the caller then drops the
    /// connection at once. Once admitted, the connection's socket options are set
    /// ([`socket::prepare_control`](crate::socket::prepare_control)) and the session gets an id
    /// and a span. A non-blocking `conn` is fine: the `421` fits an empty send buffer.
    ///
    /// A connection from a trusted proxy ([`from_proxy`](Self::from_proxy)) counts in total
    /// but against no address until the driver has read its PROXY header, which names the
    /// client; the per-address limit is applied to that client then.
    pub fn admit<C: Write + AsFd>(&self, peer: SocketAddr, conn: &mut C) -> Option<Admission> {
        let proxied = self.from_proxy(peer.ip());
        let guard = if proxied {
            // Counted as admitted (in the metrics) once its header names the client.
            match self.limits.try_acquire_proxied() {
                Ok(guard) => Some(guard),
                Err(why) => {
                    self.metrics.session_refused(why);
                    let limit = why.as_str();
                    tracing::warn!(proxy = %peer, limit, "too many sessions: refused with 421");
                    None
                }
            }
        } else {
            self.try_admit(peer.ip())
        };
        let Some(guard) = guard else {
            limits::reject(conn);
            return None;
        };
        crate::socket::prepare_control(conn);
        let id = self.next_session_id();
        let span = if proxied {
            crate::logging::proxied_session_span(id, peer)
        } else {
            crate::logging::session_span(id, peer)
        };
        Some(Admission {
            id,
            span,
            guard,
            proxied,
        })
    }

    /// Names the client of a session admitted from a trusted proxy, from its PROXY header
    /// ([`SessionGuard::place_client`]); false (logged and counted) when the client already
    /// holds `--max-sessions-per-ip` sessions: refuse it with [`limits::reject`].
    pub fn place_client(&self, guard: &SessionGuard, client: SocketAddr) -> bool {
        if guard.place_client(client.ip()) {
            self.metrics.session_admitted();
            return true;
        }
        let why = limits::Refusal::MaxSessionsPerIp;
        self.metrics.session_refused(why);
        tracing::warn!(%client, limit = why.as_str(), "too many sessions: refused with 421");
        false
    }

    /// Admits a session from `ip`, or `None` when a limit is reached: then send
    /// [`limits::reject`] and close the connection at once. [`admit`](Self::admit) does all of
    /// that.
    pub fn try_admit(&self, ip: IpAddr) -> Option<SessionGuard> {
        match self.limits.try_acquire_or_why(ip) {
            Ok(guard) => {
                self.metrics.session_admitted();
                Some(guard)
            }
            Err(why) => {
                self.metrics.session_refused(why);
                tracing::warn!(%ip, limit = why.as_str(), "too many sessions: refused with 421");
                None
            }
        }
    }

    /// A new session id, for logs.
    pub fn next_session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Sessions admitted and not yet ended.
    pub fn active(&self) -> usize {
        self.limits.active()
    }

    /// Logs a failed `accept` of a control connection and returns how long to pause before the
    /// next one. Such errors (out of file descriptors, a connection reset before it was
    /// accepted) do not stop the server.
    pub fn accept_failed(&self, e: &io::Error) -> Duration {
        tracing::warn!("accept failed: {e}");
        ACCEPT_PAUSE
    }
}
