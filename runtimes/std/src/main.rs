//! `thinftp-std`: the thinftp FTP server on std threads, one thread per session.
//!
//! Everything of FTP (the session loop's decisions, storage, users, limits, logging, transfers,
//! shutdown) comes from `thinftp-host`; this binary only accepts connections and runs
//! [`session::run`], the host's driver on blocking sockets, for each on its own thread.
#![forbid(unsafe_code)]

mod inbox;
mod session;
mod threads;

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;

use thinftp_host::server::{self, Server};
use thinftp_host::{limits, passive, Host};

fn main() -> ExitCode {
    server::main("thinftp-std", serve)
}

/// Accepts control connections on every listener until SIGINT/SIGTERM, then lets running
/// transfers finish.
fn serve(server: Server) -> Result<(), Box<dyn std::error::Error>> {
    let Server {
        host,
        listeners,
        options,
        ..
    } = server;
    // A thread per session: past what the kernel lets one process map, refuse with 421 rather
    // than fail to start a thread.
    let budget = threads::session_budget();
    if budget < options.max_sessions {
        tracing::warn!(
            "at most {budget} sessions on threads here (vm.max_map_count, kernel.threads-max), \
             below --max-sessions {}; thinftp-smol has no such limit",
            options.max_sessions
        );
    }
    let mut accepting = Vec::with_capacity(listeners.len());
    for listener in listeners {
        // A signal only raises a flag; this thread turns it into a wake-up of the blocked accept.
        let waker = listener.try_clone()?;
        let shutdown = host.lifecycle().shutdown().clone();
        thread::spawn(move || {
            shutdown.wait();
            passive::wake_listener(&waker);
        });
        let host = Arc::clone(&host);
        let accept = thread::Builder::new()
            .name("accept".into())
            .spawn(move || accept_loop(listener, &host, budget))?;
        accepting.push(accept);
    }
    for accept in accepting {
        let _ = accept.join();
    }
    host.lifecycle().drain();
    Ok(())
}

/// Accepts control connections on `listener` and starts a session thread for each, until the
/// shutdown flag is raised; then drops the listener.
fn accept_loop(listener: TcpListener, host: &Arc<Host>, budget: usize) {
    for conn in listener.incoming() {
        if host.lifecycle().shutdown().is_triggered() {
            break;
        }
        let mut stream = match conn {
            Ok(stream) => stream,
            Err(e) => {
                thread::sleep(host.admission().accept_failed(&e));
                continue;
            }
        };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        if host.admission().active() >= budget {
            limits::reject(&mut stream);
            continue;
        }
        let Some(admission) = host.admission().admit(peer, &mut stream) else {
            continue;
        };
        let host = Arc::clone(host);
        let spawned = threads::spawn(move || {
            let span = admission.span.clone();
            span.in_scope(|| session::run(&host, stream, peer, admission));
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start a session thread: {e}");
        }
    }
}
