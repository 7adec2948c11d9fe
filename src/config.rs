//! Session configuration: limits and timeouts, all with the defaults an operator would expect.

use std::net::IpAddr;
use std::time::Duration;

use crate::tls::TlsPolicy;

/// Per-session settings. Build one with [`Config::default`] and change the fields you need
/// (`let mut config = Config::default(); config.idle_timeout = ...;`): new fields may come, so
/// it cannot be built as a struct literal outside this crate.
///
/// A duration too long to add to the session's clock (such as [`Duration::MAX`]) means "none":
/// no timeout, no delay. No setting makes the session panic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Text of the `220` greeting.
    pub banner: String,
    /// Longest command line accepted, in bytes, without its line end. A longer line gets `500` and
    /// is discarded up to its end without being buffered. Default 8 KiB.
    pub max_line_len: usize,
    /// Most bytes of complete command lines kept waiting while a request is outstanding (the client
    /// pipelines). Past it the session gets `421` and closes. Default 64 KiB.
    pub max_pending_input: usize,
    /// A session with no command for this long gets `421` and closes, unless a transfer is running.
    /// Default 300 s.
    pub idle_timeout: Duration,
    /// A session not logged in this long after it started (or after `REIN`, or a `USER` that
    /// ended a login) gets `421` and closes. No command pushes this deadline back, so a client
    /// cannot hold a session without logging in by sending `NOOP`s. Default 60 s.
    pub login_timeout: Duration,
    /// How long a passive listener waits for the client's data connection, and how long an active
    /// connection may take, before the command gets `425`. Default 30 s.
    pub data_timeout: Duration,
    /// How long a failed `PASS` waits before its `530`. Commands that arrive meanwhile wait too.
    /// Default 1 s.
    pub login_failure_delay: Duration,
    /// After this many failed logins the session gets `421` and closes. Default 3.
    pub max_login_failures: u32,
    /// After this many refused command lines in a row (unknown, malformed, over-long, or not
    /// allowed before login) the session gets `421` and closes. Default 20.
    pub max_bad_commands: u32,
    /// Before login, after this many refused command lines (or `max_bad_commands`, if lower) the
    /// session gets `421` and closes. Nothing but a login resets this count (a `NOOP` between
    /// bad lines does not). Default 10, as vsftpd.
    pub max_bad_commands_before_login: u32,
    /// The address advertised in `227` replies instead of the listener's own (for NAT). Default none.
    pub passive_address: Option<IpAddr>,
    /// Most names a wildcard in `LIST`, `NLST` or `STAT` may match; past it the command gets
    /// `550` and nothing is listed (a client that meant all of them should list the
    /// directory). Default 10,000.
    pub max_glob_matches: usize,
    /// FTPS: whether `AUTH TLS` is offered and who must use TLS. Default: not offered.
    pub tls: TlsPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            banner: "thinftp ready".to_owned(),
            max_line_len: 8 * 1024,
            max_pending_input: 64 * 1024,
            idle_timeout: Duration::from_secs(300),
            login_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(30),
            login_failure_delay: Duration::from_secs(1),
            max_login_failures: 3,
            max_bad_commands: 20,
            max_bad_commands_before_login: 10,
            passive_address: None,
            max_glob_matches: 10_000,
            tls: TlsPolicy::default(),
        }
    }
}
