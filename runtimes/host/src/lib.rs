//! What a thinftp runtime does on the host outside its event loop, written once for every
//! runtime: local-disk storage beneath a root (through `cap-std`), moving transfer bytes,
//! users and password checks, the command line, session limits, passive listeners, logging and
//! graceful shutdown.
//!
//! Everything here is blocking and uses std types. A thread-per-session runtime calls it
//! directly; an async runtime calls it through its blocking pool (e.g. `blocking::unblock`).
//!
//! What to call for each [`thinftp::Output`] (all blocking; an async runtime runs them on its
//! blocking pool):
//!
//! | output | call |
//! | --- | --- |
//! | `Fs` | [`Host::fs`] |
//! | `Authenticate` | [`Host::authenticate`], inside the session's span ([`logging::session_span`]) |
//! | `OpenPassive` | [`Host::open_passive`] (quick); close it with [`passive::wake_listener`] if a thread is blocked in `accept` |
//! | `Connect` | [`Host::connect`] |
//! | `StartTransfer` | [`Host::run_transfer`] with a std `TcpStream` (blocking mode is set) and an [`AbortHandle`] |
//! | `AbortTransfer` | [`AbortHandle::abort`] |
//!
//! Before a session starts: [`Host::try_admit`] (over the limit: [`limits::reject`] and close),
//! [`socket::prepare_control`] on the control connection, [`Host::session_config`] for
//! [`thinftp::Session::new`].
//!
//! A server's `main` is typically:
//!
//! ```no_run
//! use std::sync::Arc;
//! use thinftp_host::{logging, Host, Options};
//!
//! let options = Options::parse_for("my-ftpd");
//! if let Some(code) = options.run_utility() {
//!     std::process::exit(if code == std::process::ExitCode::SUCCESS { 0 } else { 1 });
//! }
//! logging::init(options.verbosity());
//! let host = Arc::new(Host::from_options(&options)?);
//! host.shutdown().install_signal_handler()?;
//! tracing::info!("my-ftpd on {}: {}", options.listen, host.describe());
//! // accept loop: host.try_admit(ip), then one session per connection driving thinftp::Session,
//! // with host.fs(..), host.authenticate(..), host.open_passive(..), host.connect(..) and
//! // host.run_transfer(..) carrying out its outputs.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod cli;
mod copy;
pub mod errors;
mod host;
pub mod limits;
pub mod logging;
pub mod passive;
pub mod shutdown;
pub mod socket;
pub mod storage;
pub mod transfer;
mod upload;

pub use cli::Options;
pub use host::{Host, StartupError};
pub use storage::Storage;
pub use transfer::{run_transfer, AbortHandle};
