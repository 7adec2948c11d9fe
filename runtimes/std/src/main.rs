//! `thinftp-std`: the thinftp FTP server on std threads, one thread per session.
//!
//! Everything of FTP (the session loop's decisions, admission, storage, users, limits, logging,
//! transfers, shutdown, the threads kept for reuse) comes from `thinftp-host`; this binary has
//! blocking sockets and one `poll` per session ([`inbox`]), and runs [`session::run`] for each
//! connection on a thread of its own.
#![forbid(unsafe_code)]

mod inbox;
mod session;

use std::net::TcpListener;
use std::process::ExitCode;
use std::thread;

use thinftp_host::runtime::{capacity, threads, Accepted, Acceptor};
use thinftp_host::server::{self, Server};

fn main() -> ExitCode {
    server::main("thinftp-std", serve)
}

/// Accepts control connections on every listener, each on a thread of its own, until shutdown;
/// then lets running transfers finish.
fn serve(server: Server) -> Result<(), Box<dyn std::error::Error>> {
    // A thread per session: past what the kernel lets one process map, refuse with 421 rather
    // than fail to start a thread.
    let budget = capacity::sessions_on_threads(server.options.max_sessions);
    let acceptor = Acceptor::new(&server.host, budget);
    let mut accepting = Vec::with_capacity(server.listeners.len());
    for listener in server.listeners {
        acceptor.stop_on_shutdown(&listener)?;
        let acceptor = acceptor.clone();
        let accept = thread::Builder::new()
            .name("accept".into())
            .spawn(move || accept_loop(&listener, &acceptor))?;
        accepting.push(accept);
    }
    for accept in accepting {
        let _ = accept.join();
    }
    server.host.lifecycle().drain();
    Ok(())
}

fn accept_loop(listener: &TcpListener, acceptor: &Acceptor) {
    loop {
        match acceptor.accepted(listener.accept()) {
            Accepted::Session(new) => {
                let span = new.span().clone();
                let spawned = threads::spawn(move || span.in_scope(|| session::run(new)));
                if let Err(e) = spawned {
                    tracing::error!("cannot start a session thread: {e}");
                }
            }
            Accepted::Pause(pause) => thread::sleep(pause),
            Accepted::Next => {}
            Accepted::Stop => return,
        }
    }
}
