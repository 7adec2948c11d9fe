//! `thinftp-std`: the thinftp FTP server on std threads, one thread per session.
//!
//! Everything outside the session loop (storage, users, options, limits, logging, transfers)
//! comes from `thinftp-host`; this binary only accepts connections and runs
//! [`session::run`] for each.
#![forbid(unsafe_code)]

mod session;

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use thinftp_host::{limits, logging, passive, Host, Options};

fn main() -> ExitCode {
    let options = Options::parse_for("thinftp-std");
    if let Some(code) = options.run_utility() {
        return code;
    }
    logging::init(options.verbosity());
    match serve(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Accepts control connections until SIGINT/SIGTERM, then lets running transfers finish.
fn serve(options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let host = Arc::new(Host::from_options(options)?);
    let listener = TcpListener::bind(options.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    tracing::info!(
        "thinftp-std listening on {}: {}",
        listener.local_addr()?,
        host.describe()
    );
    host.shutdown().install_signal_handler()?;

    // A signal only raises a flag; this thread turns it into a wake-up of the blocked accept.
    let waker = listener.try_clone()?;
    let shutdown = host.shutdown().clone();
    thread::spawn(move || {
        shutdown.wait();
        passive::wake_listener(&waker);
    });

    for conn in listener.incoming() {
        if host.shutdown().is_triggered() {
            break;
        }
        let mut stream = match conn {
            Ok(stream) => stream,
            Err(e) => {
                // Out of file descriptors or a connection reset before accept: keep serving, but
                // do not spin if the error repeats.
                tracing::warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        let Some(guard) = host.try_admit(peer.ip()) else {
            limits::reject(&mut stream);
            continue;
        };
        let id = host.next_session_id();
        let host = Arc::clone(&host);
        let spawned = thread::Builder::new()
            .name(format!("session-{id}"))
            .spawn(move || {
                session::run(&host, stream, peer, id);
                drop(guard);
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start a session thread: {e}");
        }
    }
    tracing::info!("no longer accepting connections");
    host.drain();
    Ok(())
}
