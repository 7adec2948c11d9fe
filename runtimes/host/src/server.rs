//! What a server binary's `main` does around its accept loop, the same for every runtime.

use std::error::Error;
use std::net::TcpListener;
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
/// `serve` accepts connections until [`Host::shutdown`] is raised, and returns after
/// [`Host::drain`]. An error on the way is logged and makes the exit code a failure.
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
    let host = Arc::new(Host::from_options(&options)?);
    let listener = TcpListener::bind(options.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    // Before anything else is logged at info level: tests read the address from this line.
    tracing::info!("{}", host.startup_line(bin, listener.local_addr()?));
    limits::raise_open_files_limit();
    host.shutdown().install_signal_handler()?;
    Ok(Server {
        options,
        host,
        listener,
    })
}
