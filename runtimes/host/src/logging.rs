//! Logging through `tracing`: one span per session, a line per login and per transfer.

use std::io::IsTerminal;
use std::net::SocketAddr;

use tracing::{Event, Level, Span, Subscriber};
use tracing_subscriber::fmt::format::{format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Sends logs to standard error. `verbosity` 0 logs `info` and above, each step up or down one
/// level (from `-v`/`-q`); `RUST_LOG`, when set, decides instead. Calling it twice does nothing.
///
/// When standard error is the journal's ([`crate::systemd::stderr_is_journal`]), each line starts with
/// its syslog priority (`<6>` for info, as `sd-daemon.h` does) and carries neither a time stamp
/// nor colours: the journal records the time and the level itself.
pub fn init(verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if crate::systemd::stderr_is_journal() {
        builder
            .with_ansi(false)
            .event_format(JournalPriority(format().without_time().with_ansi(false)))
            .try_init()
    } else {
        // Colour codes only for a person at a terminal, not in log files.
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}

/// An event format that puts the syslog priority of the event's level before each line, for
/// the journal.
struct JournalPriority<F>(F);

impl<S, N, F> FormatEvent<S, N> for JournalPriority<F>
where
    F: FormatEvent<S, N>,
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "<{}>", syslog_priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// The syslog priority of a level: err, warning, info, debug.
fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// The span of one session: every event logged inside it names the session, the client's address
/// and, once logged in, the user. Enter it on every thread that works for the session.
pub fn session_span(id: u64, peer: SocketAddr) -> Span {
    tracing::info_span!("session", id, %peer, user = tracing::field::Empty)
}

/// The span of a session that comes through the trusted proxy at `proxy`: the client's address
/// (`peer`) is recorded once its PROXY header is read (`span.record("peer", ...)`).
pub fn proxied_session_span(id: u64, proxy: SocketAddr) -> Span {
    tracing::info_span!(
        "session",
        id,
        peer = tracing::field::Empty,
        %proxy,
        user = tracing::field::Empty
    )
}
