//! The signals a server obeys: SIGINT and SIGTERM stop it (the [shutdown
//! flag](crate::shutdown::Shutdown) is raised and systemd is told `STOPPING=1`); SIGHUP reloads
//! its settings ([`crate::config::reload`]) without dropping a session.

use std::io;
use std::thread;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::shutdown::Shutdown;

/// Starts a thread that waits for SIGINT, SIGTERM and SIGHUP: the first two raise `shutdown`,
/// SIGHUP calls `reload` (on that thread, one at a time). Call it once, at start-up.
pub fn install<F>(shutdown: Shutdown, mut reload: F) -> io::Result<()>
where
    F: FnMut() + Send + 'static,
{
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGHUP {
                    tracing::info!("SIGHUP: reloading");
                    reload();
                    continue;
                }
                if !shutdown.is_triggered() {
                    tracing::info!(
                        "signal received: no new sessions; waiting for transfers to finish"
                    );
                    crate::systemd::notify_or_log("STOPPING=1");
                }
                shutdown.trigger();
            }
        })?;
    Ok(())
}
