//! What a thinftp server does outside the protocol, written once for every runtime: the
//! [`driver`] (one session's loop: replies, data channels, transfers, work in flight), the
//! [`storage`] back-ends behind the [`Storage`] trait (local disk beneath a root, through
//! `cap-std`), moving transfer bytes, users and password checks,
//! the command line, session limits, passive listeners, logging and graceful shutdown.
//!
//! A runtime is an adapter: it owns sockets and a way to wait, and nothing of FTP.
//!
//! - `main`: [`server::main`] parses the command line, starts logging, builds the [`Host`],
//!   binds the listeners (or takes systemd's), logs the first line, raises the open-files limit
//!   and installs the signal handlers, then calls the runtime's accept loop with a [`server::Server`].
//! - The accept loop: [`Gate::admit`](Gate::admit) ([`Host::admission`]) for each
//!   connection (over a limit it answers `421`; else it prepares the socket and gives the
//!   session an [`Admission`]: an id, a span and its place within the limits),
//!   [`Gate::accept_failed`](Gate::accept_failed) when `accept` fails, and, once the
//!   [shutdown flag](shutdown::Lifecycle::shutdown) ([`Host::lifecycle`]) is raised,
//!   [`Lifecycle::drain`](shutdown::Lifecycle::drain) while the sessions keep running.
//! - The session loop: a [`driver::Driver`] per session. The runtime carries out the
//!   [`driver::Action`]s it gives (write bytes, run a blocking [`driver::Job`], listen, connect,
//!   arm the timer, close) and tells it what happened (control bytes, completions, the timer).
//!   Blocking work runs on the runtime's threads: [`driver::Job::run`].
//!
//! A server's `main` is then:
//!
//! ```no_run
//! use std::process::ExitCode;
//! use thinftp_host::server::{self, Server};
//!
//! fn main() -> ExitCode {
//!     server::main("my-ftpd", |server: Server| {
//!         // One accept loop per listener (`--listen` is repeatable); here, the first.
//!         for conn in server.listeners[0].incoming() {
//!             if server.host.lifecycle().shutdown().is_triggered() {
//!                 break;
//!             }
//!             // host.admission().admit(peer, &mut conn), then a session loop around a driver::Driver
//!         }
//!         server.host.lifecycle().drain();
//!         Ok(())
//!     })
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod allowance;
pub mod auth;
pub mod bans;
pub mod busy_poll;
pub mod cli;
pub mod config;
mod copy;
pub mod data_stream;
pub mod driver;
pub mod errors;
mod hashing;
mod host;
pub mod limits;
pub mod logging;
pub mod names;
pub mod object_store;
pub mod observe;
pub mod passive;
pub mod progress;
pub mod proxy_protocol;
pub mod quota;
pub mod rate;
pub mod server;
pub mod session_limits;
pub mod session_storage;
pub mod shutdown;
pub mod signals;
pub mod socket;
pub mod storage;
pub mod systemd;
mod throttle;
pub mod tls;
pub mod transfer;
pub mod user_rates;

pub use cli::Options;
pub use data_stream::DataStream;
pub use host::{Admission, Gate, Host, ReloadableSettings, StartupError};
pub use session_storage::SessionStorage;
pub use storage::{LocalStorage, Storage};
pub use transfer::{move_bytes, open_transfer, run_transfer, AbortHandle, Opened};
