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
//! - The accept loop: [`runtime::Acceptor::accepted`] for each result of `accept` (admission
//!   through [`Gate::admit`](Gate::admit): over a limit it answers `421`; else it prepares the
//!   socket and gives the session an [`Admission`]: an id, a span and its place within the
//!   limits; a pause after a failed `accept`; the stop once the
//!   [shutdown flag](shutdown::Lifecycle::shutdown) is raised), then
//!   [`Lifecycle::drain`](shutdown::Lifecycle::drain) while the sessions keep running.
//! - The session loop: a [`runtime::SessionLoop`] per session, around a [`driver::Driver`]. It
//!   starts the blocking [`driver::Job`]s, passive accepts and active connects through the
//!   runtime's [`runtime::Runtime`], and leaves the runtime the control connection's I/O (write
//!   bytes, arm the timer, close) and the waiting ([`runtime::SessionLoop::look`]).
//!
//! See [`runtime`] for the whole contract; `thinftp-std` and `thinftp-smol` are two adapters of
//! about 300 lines each.
//!
//! A server's `main` is then:
//!
//! ```no_run
//! use std::process::ExitCode;
//! use thinftp_host::runtime::{Accepted, Acceptor};
//! use thinftp_host::server::{self, Server};
//!
//! fn main() -> ExitCode {
//!     server::main("my-ftpd", |server: Server| {
//!         // One accept loop per listener (`--listen` is repeatable); here, the first.
//!         let acceptor = Acceptor::new(&server.host, usize::MAX);
//!         acceptor.stop_on_shutdown(&server.listeners[0])?;
//!         loop {
//!             match acceptor.accepted(server.listeners[0].accept()) {
//!                 // `new.start(runtime)`: the control connection and its runtime::SessionLoop,
//!                 // to run on a thread or task of its own.
//!                 Accepted::Session(new) => drop(new),
//!                 Accepted::Pause(pause) => std::thread::sleep(pause),
//!                 Accepted::Next => {}
//!                 Accepted::Stop => break,
//!             }
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
pub mod runtime;
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
