//! `thinftp-smol`: the thinftp FTP server on smol, one task per session.
//!
//! Everything of FTP (the session loop's decisions, storage, users, limits, logging, transfers,
//! shutdown) comes from `thinftp-host`; this binary accepts connections and runs
//! [`session::run`], the host's driver on smol's sockets, for each as a task. Tasks run on one executor thread; blocking work (the
//! disk, password hashes, transfers) runs on the `blocking` thread pool.
#![forbid(unsafe_code)]

mod data;
mod session;

use std::net::{TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;

use async_executor::Executor;
use async_io::{Async, Timer};
use thinftp_host::server::{self, Server};
use thinftp_host::Host;
use tracing::Instrument;

/// Runs every task of the server: sessions, passive accepts and active connects.
pub(crate) static EXECUTOR: Executor<'static> = Executor::new();

fn main() -> ExitCode {
    server::main("thinftp-smol", start)
}

/// Sizes the blocking pool, then serves until SIGINT/SIGTERM.
fn start(server: Server) -> Result<(), Box<dyn std::error::Error>> {
    let Server {
        options,
        host,
        listeners,
        ..
    } = server;
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
    let listeners = listeners
        .into_iter()
        .map(Async::new)
        .collect::<Result<Vec<_>, _>>()?;
    async_io::block_on(EXECUTOR.run(serve(listeners, host)));
    Ok(())
}

/// Accepts control connections on every listener until shutdown is asked for, then lets running
/// transfers finish.
async fn serve(listeners: Vec<Async<TcpListener>>, host: Arc<Host>) {
    let shutdown = host.lifecycle().shutdown().clone();
    // The flag is a condition variable: wait for it on a thread of the pool.
    let stop = blocking::unblock(move || shutdown.wait());
    // The accept loop is a task of its own, not part of this future: `Executor::run` polls its
    // main future whenever any task wakes, and an accept polled that way would try `accept4`
    // (and re-arm the listener in epoll) once per command of every session.
    let accepting: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            let host = Arc::clone(&host);
            EXECUTOR.spawn(async move { accept_loop(&listener, &host).await })
        })
        .collect();
    stop.await;
    // Cancelling the tasks drops the listeners: no new connections from here on.
    for task in accepting {
        task.cancel().await;
    }
    // Sessions keep running on this executor meanwhile, so replies still go out.
    blocking::unblock(move || host.lifecycle().drain()).await;
}

async fn accept_loop(listener: &Async<TcpListener>, host: &Arc<Host>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // The socket is non-blocking: a 421 fits its empty send buffer, or is lost.
                let mut socket: &TcpStream = stream.get_ref();
                let Some(admission) = host.admission().admit(peer, &mut socket) else {
                    continue;
                };
                let host = Arc::clone(host);
                let span = admission.span.clone();
                let task = session::run(host, stream, peer, admission);
                EXECUTOR.spawn(task.instrument(span)).detach();
            }
            Err(e) => {
                Timer::after(host.admission().accept_failed(&e)).await;
            }
        }
    }
}
