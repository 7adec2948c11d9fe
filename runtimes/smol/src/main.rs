//! `thinftp-smol`: the thinftp FTP server on smol, one task per session.
//!
//! Everything outside the session loop (storage, users, options, limits, logging, transfers)
//! comes from `thinftp-host`; this binary accepts connections and runs [`session::run`] for each
//! as a task. Tasks run on one executor thread; blocking work (the disk, password hashes,
//! transfers) runs on the `blocking` thread pool.
#![forbid(unsafe_code)]

mod data;
mod session;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use async_executor::Executor;
use async_io::{Async, Timer};
use futures_lite::FutureExt;
use thinftp_host::shutdown::ActiveTransfers;
use thinftp_host::{limits, logging, Host, Options};
use tracing::Instrument;

use crate::session::Shared;

/// Runs every task of the server: sessions, passive accepts and active connects.
pub(crate) static EXECUTOR: Executor<'static> = Executor::new();

/// How long shutdown waits, after the transfers have ended, for their final replies.
const REPLY_FLUSH: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    let options = Options::parse_for("thinftp-smol");
    if let Some(code) = options.run_utility() {
        return code;
    }
    logging::init(options.verbosity());
    match start(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Sets the server up, then serves until SIGINT/SIGTERM.
fn start(options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let host = Arc::new(Host::from_options(options)?);
    let listener = Async::<TcpListener>::bind(options.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    tracing::info!(
        "thinftp-smol listening on {}: {}",
        listener.get_ref().local_addr()?,
        host.describe()
    );
    host.shutdown().install_signal_handler()?;
    // Each session has at most one transfer and one filesystem or password request running on
    // the pool; beyond the pool's default of 500 threads, short requests would queue behind
    // long transfers.
    let threads = options
        .max_sessions
        .saturating_mul(2)
        .saturating_add(16)
        .clamp(500, 10_000);
    if let Some(threads) = NonZeroUsize::new(threads) {
        blocking::set_max_blocking_threads(threads);
    }
    let shared = Arc::new(Shared {
        host,
        unreported: ActiveTransfers::default(),
    });
    async_io::block_on(EXECUTOR.run(serve(listener, shared)));
    Ok(())
}

/// Accepts control connections until shutdown is asked for, then lets running transfers finish.
async fn serve(listener: Async<TcpListener>, shared: Arc<Shared>) {
    let shutdown = shared.host.shutdown().clone();
    // The flag is a condition variable: wait for it on a thread of the pool.
    let stop = blocking::unblock(move || shutdown.wait());
    accept_loop(&listener, &shared).or(stop).await;
    drop(listener);
    tracing::info!("no longer accepting connections");
    // Sessions keep running on this executor meanwhile, so replies still go out.
    let host = Arc::clone(&shared.host);
    blocking::unblock(move || host.drain()).await;
    let unreported = shared.unreported.clone();
    blocking::unblock(move || unreported.wait_idle(REPLY_FLUSH)).await;
    tracing::info!("exiting");
}

async fn accept_loop(listener: &Async<TcpListener>, shared: &Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => admit(stream, peer, shared),
            Err(e) => {
                // Out of file descriptors, or a connection reset before accept: keep serving,
                // but do not spin if the error repeats.
                tracing::warn!("accept failed: {e}");
                Timer::after(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Starts a session for a new control connection, or turns it away over a limit.
fn admit(stream: Async<TcpStream>, peer: SocketAddr, shared: &Arc<Shared>) {
    let Some(guard) = shared.host.try_admit(peer.ip()) else {
        // The socket is non-blocking: the short reply fits its empty send buffer, or is lost.
        let mut socket: &TcpStream = stream.get_ref();
        limits::reject(&mut socket);
        return;
    };
    let id = shared.host.next_session_id();
    let span = logging::session_span(id, peer);
    let shared = Arc::clone(shared);
    let task = async move {
        session::run(shared, stream, peer, tracing::Span::current()).await;
        drop(guard);
    };
    EXECUTOR.spawn(task.instrument(span)).detach();
}
