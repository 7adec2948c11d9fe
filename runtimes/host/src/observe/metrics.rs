//! The Prometheus metrics of the server (`--metrics-listen`), counted once for every runtime:
//! sessions and their refusals in [`Gate`](crate::Gate), logins in the login checks, and the
//! rest ([`SessionObserver`](super::SessionObserver)) from what a session's driver feeds the
//! core and carries out.
//!
//! Every label takes a value from a fixed set (a verb outside the verb table is `other`, an
//! error kind is one of `FsError`'s), so that no client can make the series grow.

use prometheus_client::encoding::prometheus_text;
pub use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// One label, with both name and value fixed strings.
type Label = (&'static str, &'static str);

/// The `Content-Type` of what [`Metrics::render`] returns (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Why a control connection was turned away before its session started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-sessions` sessions run already.
    MaxSessions,
    /// `--max-sessions-per-ip` sessions run from the client's address (or /64).
    MaxSessionsPerIp,
    /// `--max-unauthenticated-sessions` sessions have not logged in yet.
    MaxUnauthenticated,
}

impl Refusal {
    /// The label value: the option whose limit was reached.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::MaxSessions => "max_sessions",
            Refusal::MaxSessionsPerIp => "max_sessions_per_ip",
            Refusal::MaxUnauthenticated => "max_unauthenticated_sessions",
        }
    }
}

/// How a login check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Accepted.
    Ok,
    /// Wrong name or password.
    Failed,
    /// Refused without a check: the address or the name is banned.
    Banned,
    /// Refused without a check: too many checks wait (`--max-pending-logins`).
    Busy,
}

impl LoginOutcome {
    fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Ok => "ok",
            LoginOutcome::Failed => "failed",
            LoginOutcome::Banned => "banned",
            LoginOutcome::Busy => "busy",
        }
    }
}

/// The counters, shared by every session (cheap to clone: each metric is shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    sessions_active: Gauge,
    sessions: Counter,
    sessions_refused: Family<[Label; 1], Counter>,
    logins: Family<[Label; 1], Counter>,
    commands: Family<[Label; 2], Counter>,
    transfers: Family<[Label; 2], Counter>,
    transfer_bytes: Family<[Label; 1], Counter>,
    transfer_seconds: Family<[Label; 1], Histogram>,
    data_connections: Family<[Label; 1], Counter>,
    storage_errors: Family<[Label; 1], Counter>,
    tls_handshakes: Family<[Label; 2], Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric, at zero.
    pub fn new() -> Metrics {
        // 1 ms to about 4.6 hours, doubling: a transfer's duration spans that much.
        let histogram = || Histogram::new(exponential_buckets(0.001, 2.0, 24));
        let metrics = Metrics {
            // Replaced below by the registry that holds a clone of each metric.
            registry: Arc::new(Registry::default()),
            sessions_active: Gauge::default(),
            sessions: Counter::default(),
            sessions_refused: Family::default(),
            logins: Family::default(),
            commands: Family::default(),
            transfers: Family::default(),
            transfer_bytes: Family::default(),
            transfer_seconds: Family::new_with_constructor(histogram),
            data_connections: Family::default(),
            storage_errors: Family::default(),
            tls_handshakes: Family::default(),
        };
        let mut registry = Registry::with_prefix("thinftp");
        let r = &mut registry;
        r.register(
            "sessions_active",
            "Sessions running now",
            metrics.sessions_active.clone(),
        );
        r.register("sessions", "Sessions admitted", metrics.sessions.clone());
        r.register(
            "sessions_refused",
            "Control connections refused with 421, by the limit reached",
            metrics.sessions_refused.clone(),
        );
        r.register(
            "logins",
            "Login checks, by result (ok, failed, banned, busy)",
            metrics.logins.clone(),
        );
        r.register(
            "commands",
            "Commands, by verb (other: not in the verb table) and class of the final reply",
            metrics.commands.clone(),
        );
        r.register(
            "transfers",
            "Transfers that started moving bytes (after 150), by direction and status",
            metrics.transfers.clone(),
        );
        r.register(
            "transfer_bytes",
            "Bytes moved by finished transfers, by direction",
            metrics.transfer_bytes.clone(),
        );
        r.register(
            "transfer_duration_seconds",
            "Duration of finished transfers, from the 150 to the end, by direction",
            metrics.transfer_seconds.clone(),
        );
        r.register(
            "data_connections",
            "Data connections established, by mode (passive, active)",
            metrics.data_connections.clone(),
        );
        r.register(
            "storage_errors",
            "Storage requests and transfer files that failed, by error kind",
            metrics.storage_errors.clone(),
        );
        r.register(
            "tls_handshakes",
            "TLS handshakes, by channel (control, data) and result (ok, failed)",
            metrics.tls_handshakes.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            ..metrics
        }
    }

    /// The metrics in the Prometheus text format, with `active` sessions running now.
    pub fn render(&self, active: usize) -> String {
        self.sessions_active
            .set(i64::try_from(active).unwrap_or(i64::MAX));
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut text, &self.registry);
        text
    }

    /// A session was admitted.
    pub fn session_admitted(&self) {
        self.sessions.inc();
    }

    /// A control connection was refused with `421`.
    pub fn session_refused(&self, why: Refusal) {
        self.sessions_refused
            .get_or_create(&[("reason", why.as_str())])
            .inc();
    }

    /// A login check ended.
    pub fn login(&self, outcome: LoginOutcome) {
        self.logins
            .get_or_create(&[("result", outcome.as_str())])
            .inc();
    }

    /// A command with the canonical `verb` (or `other`) got its final reply `code`.
    pub fn command(&self, verb: &'static str, code: u16) {
        self.command_counter(verb, code).inc();
    }

    /// The counter [`command`](Self::command) increments, for a session to keep (a lookup in
    /// the family takes a lock and hashes the labels).
    pub fn command_counter(&self, verb: &'static str, code: u16) -> Counter {
        let class = match code / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        self.commands
            .get_or_create_owned(&[("verb", verb), ("class", class)])
    }

    /// A transfer that had started moving bytes ended.
    pub fn transfer(&self, direction: &'static str, status: &'static str, bytes: u64, secs: f64) {
        self.transfers
            .get_or_create(&[("direction", direction), ("status", status)])
            .inc();
        self.transfer_bytes
            .get_or_create(&[("direction", direction)])
            .inc_by(bytes);
        self.transfer_seconds
            .get_or_create(&[("direction", direction)])
            .observe(secs);
    }

    /// A data connection was established: `mode` is `passive` or `active`.
    pub fn data_connection(&self, mode: &'static str) {
        self.data_connections.get_or_create(&[("mode", mode)]).inc();
    }

    /// A storage request (or opening a transfer's file) failed with `kind`.
    pub fn storage_error(&self, kind: &'static str) {
        self.storage_errors.get_or_create(&[("kind", kind)]).inc();
    }

    /// The hook for FTPS: a TLS handshake on the `control` or `data` channel ended, `ok` or
    /// not. Call it where the driver learns how a handshake ended.
    pub fn tls_handshake(&self, channel: &'static str, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.tls_handshakes
            .get_or_create(&[("channel", channel), ("result", result)])
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_text_format_with_labels() {
        let metrics = Metrics::new();
        metrics.session_admitted();
        metrics.session_refused(Refusal::MaxSessionsPerIp);
        metrics.command("RETR", 226);
        metrics.command("RETR", 550);
        metrics.transfer("download", "ok", 1000, 0.5);
        metrics.tls_handshake("control", false);
        let text = metrics.render(3);
        for line in [
            "# TYPE thinftp_sessions_active gauge",
            "thinftp_sessions_active 3",
            "thinftp_sessions_total 1",
            "thinftp_sessions_refused_total{reason=\"max_sessions_per_ip\"} 1",
            "thinftp_commands_total{verb=\"RETR\",class=\"2xx\"} 1",
            "thinftp_commands_total{verb=\"RETR\",class=\"5xx\"} 1",
            "thinftp_transfers_total{direction=\"download\",status=\"ok\"} 1",
            "thinftp_transfer_bytes_total{direction=\"download\"} 1000",
            "thinftp_transfer_duration_seconds_count{direction=\"download\"} 1",
            "thinftp_tls_handshakes_total{channel=\"control\",result=\"failed\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing in:\n{text}"
            );
        }
    }
}
