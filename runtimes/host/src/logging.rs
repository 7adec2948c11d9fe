//! Logging through `tracing`: one span per session, a line per login and per transfer.

use std::io::IsTerminal;
use std::net::SocketAddr;

use tracing::Span;
use tracing_subscriber::EnvFilter;

/// Sends logs to standard error. `verbosity` 0 logs `info` and above, each step up or down one
/// level (from `-v`/`-q`); `RUST_LOG`, when set, decides instead. Calling it twice does nothing.
pub fn init(verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in log files.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The span of one session: every event logged inside it names the session, the client's address
/// and, once logged in, the user. Enter it on every thread that works for the session.
pub fn session_span(id: u64, peer: SocketAddr) -> Span {
    tracing::info_span!("session", id, %peer, user = tracing::field::Empty)
}
