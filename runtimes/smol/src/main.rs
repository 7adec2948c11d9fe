//! `thinftp-smol`: the thinftp FTP server on smol, one task per session.
//!
//! Everything of FTP (the session loop's decisions, admission, storage, users, limits, logging,
//! transfers, shutdown) comes from `thinftp-host`; this binary has smol's sockets and timers and
//! runs [`session::run`] for each connection as a task. Tasks run on one executor thread;
//! blocking work (the disk, password hashes, transfers) runs on the `blocking` thread pool.
#![forbid(unsafe_code)]

mod session;

use std::net::TcpListener;
use std::process::ExitCode;

use async_executor::Executor;
use async_io::{Async, Timer};
use thinftp_host::runtime::{capacity, Accepted, Acceptor};
use thinftp_host::server::{self, Server};
use tracing::Instrument;

/// Runs every task of the server: sessions, passive accepts and active connects.
pub(crate) static EXECUTOR: Executor<'static> = Executor::new();

fn main() -> ExitCode {
    server::main("thinftp-smol", serve)
}

/// Accepts control connections on every listener, each in a task of its own, until shutdown;
/// then lets running transfers finish.
fn serve(server: Server) -> Result<(), Box<dyn std::error::Error>> {
    blocking::set_max_blocking_threads(capacity::blocking_pool(server.options.max_sessions));
    let acceptor = Acceptor::new(&server.host, usize::MAX);
    let mut accepting = Vec::with_capacity(server.listeners.len());
    for listener in server.listeners {
        acceptor.stop_on_shutdown(&listener)?;
        let (listener, acceptor) = (Async::new(listener)?, acceptor.clone());
        // A task of its own, not part of the main future: `Executor::run` polls its main future
        // whenever any task wakes, and an accept polled that way would try `accept4` (and re-arm
        // the listener in epoll) once per command of every session.
        accepting.push(EXECUTOR.spawn(async move { accept_loop(&listener, &acceptor).await }));
    }
    let host = server.host;
    async_io::block_on(EXECUTOR.run(async move {
        for accept in accepting {
            accept.await;
        }
        // Sessions keep running on this executor meanwhile, so replies still go out.
        blocking::unblock(move || host.lifecycle().drain()).await;
    }));
    Ok(())
}

async fn accept_loop(listener: &Async<TcpListener>, acceptor: &Acceptor) {
    loop {
        // Accepted as a blocking socket, like thinftp-std's: the session makes it asynchronous.
        match acceptor.accepted(listener.read_with(TcpListener::accept).await) {
            Accepted::Session(new) => {
                let span = new.span().clone();
                EXECUTOR.spawn(session::run(new).instrument(span)).detach();
            }
            Accepted::Pause(pause) => {
                Timer::after(pause).await;
            }
            Accepted::Next => {}
            Accepted::Stop => return,
        }
    }
}
