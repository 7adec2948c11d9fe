//! What a server binary's `main` does around its accept loop, the same for every runtime.

use std::error::Error;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;

use crate::{limits, logging, Host, Options};

/// A server ready to accept: what [`main`] hands to the runtime's accept loop.
#[derive(Debug)]
#[non_exhaustive]
pub struct Server {
    /// The command line.
    pub options: Options,
    /// Storage, users, limits and settings, shared by every session.
    pub host: Arc<Host>,
    /// The control connections' listener, bound to `--listen`, in blocking mode.
    pub listener: TcpListener,
}

/// The whole `main` of a server binary named `bin`, except its accept loop, which is `serve`.
///
/// It parses the command line (printing help or an error and exiting when asked or invalid),
/// carries out `--hash-password` and returns, or else: starts logging, builds the [`Host`],
/// binds the listener, logs the first line ([`Host::startup_line`]), raises the open-files
/// limit ([`limits::raise_open_files_limit`]) and installs the SIGINT/SIGTERM handler. Then
/// `serve` accepts connections until the [shutdown flag](crate::shutdown::Lifecycle::shutdown)
/// is raised, and returns after [`drain`](crate::shutdown::Lifecycle::drain). An error on the way is logged and makes the exit code a failure.
pub fn main<F>(bin: &'static str, serve: F) -> ExitCode
where
    F: FnOnce(Server) -> Result<(), Box<dyn Error>>,
{
    let options = Options::parse_for(bin);
    if let Some(code) = options.run_utility() {
        return code;
    }
    logging::init(options.verbosity());
    match start(bin, options).and_then(serve) {
        Ok(()) => {
            tracing::info!("exiting");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn start(bin: &str, options: Options) -> Result<Server, Box<dyn Error>> {
    // --umask is the whole mask for what the server creates: the storage asks for
    // `0o666 & !umask` and the kernel applies the process's umask on top, so it is set to the
    // same value (this process creates nothing else).
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(options.umask));
    let host = Arc::new(Host::from_options(&options)?);
    let listener =
        listen(options.listen).map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    // Before anything else is logged at info level: tests read the address from this line.
    tracing::info!("{}", host.startup_line(bin, listener.local_addr()?));
    host.warn_missing_homes();
    host.remove_stale_uploads();
    limits::raise_open_files_limit();
    host.lifecycle().shutdown().install_signal_handler()?;
    Ok(Server {
        options,
        host,
        listener,
    })
}

/// Queue of connections the kernel completes before the server accepts them. std's
/// `TcpListener::bind` asks for 128: a burst of clients connecting at once (a thousand sessions
/// starting together) overflows that, and the clients beyond it wait for SYN retransmits (1 s,
/// then 3 s...) or fail. The kernel caps this at `net.core.somaxconn` (4096 by default since
/// Linux 5.4).
pub const LISTEN_BACKLOG: i32 = 4096;

/// Binds the control listener like `TcpListener::bind` (with `SO_REUSEADDR`, so a restart does
/// not wait for old connections in `TIME_WAIT`), but with a [`LISTEN_BACKLOG`] queue.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_queues_a_burst_of_connections_before_any_accept() {
        // Where the kernel caps the queue below the burst, connects would stall: nothing to test.
        let cap = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if cap < 400 {
            return;
        }
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // More than std's backlog of 128: all of them complete without a single accept.
        let clients: Vec<_> = (0..300)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        listener.set_nonblocking(true).unwrap();
        let accepted = std::iter::from_fn(|| listener.accept().ok()).count();
        assert_eq!(accepted, clients.len());
    }
}
