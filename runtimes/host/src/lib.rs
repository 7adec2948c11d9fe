//! What a thinftp runtime does on the host outside its event loop, written once for every
//! runtime: local-disk storage beneath a root (through `cap-std`), moving transfer bytes,
//! users and password checks, the command line, session limits, passive listeners, logging and
//! graceful shutdown.
//!
//! Everything here is blocking and uses std types. A thread-per-session runtime calls it
//! directly; an async runtime calls it through its blocking pool (e.g. `blocking::unblock`).
//!
//! A server binary is its accept loop and its session loop; everything else is here:
//!
//! - `main`: [`server::main`] parses the command line, starts logging, builds the [`Host`],
//!   binds the listener, logs the first line, raises the open-files limit and installs the
//!   signal handler, then calls the runtime's accept loop with a [`server::Server`].
//! - The accept loop: [`Host::admit`] for each connection (over a limit it answers `421`; else
//!   it prepares the socket and gives the session an id and a span), [`Host::accept_failed`]
//!   when `accept` fails, and, once [`Host::shutdown`] is raised, [`Host::drain`] while the
//!   sessions keep running.
//! - The session loop: [`Host::new_session`] makes the [`thinftp::Session`];
//!   [`socket::read_control`] turns control reads into inputs; replies are written with
//!   [`Host::reply_timeout`]; after answering, [`Host::busy_poll`] says whether (and how long)
//!   to keep polling for the next command before sleeping. Outputs are carried out with the
//!   per-session [`channels::DataChannels`] and [`work::Transfers`], and blocking
//!   [`work::Work`]:
//!
//! | output | call |
//! | --- | --- |
//! | `Fs`, `Authenticate` | run [`work::Work`] off the loop with the session's [`SessionStorage`], feed what [`work::Work::run`] returns |
//! | `OpenPassive` | [`Host::open_passive`], start accepting, [`channels::DataChannels::listening`] |
//! | `Connect` | start connecting ([`Host::connect`] blocks), [`channels::DataChannels::connecting`] |
//! | `RefuseDataConnection` | [`channels::DataChannels::refuse`], then accept again on the listener |
//! | `CloseData` | [`channels::DataChannels::close`] |
//! | `StartTransfer` | [`channels::DataChannels::take_stream`], [`work::Transfers::start`], run the work |
//! | `AbortTransfer` | [`work::Transfers::abort`] |
//!
//! Every input goes through [`SessionStorage::fed`] before it is fed: an accepted login opens
//! the user's home, beneath which all of that user's work then runs.
//!
//! What the work reports comes back as a [`channels::Event`]:
//! [`channels::DataChannels::input`] turns it into the input to feed, and
//! [`work::Transfers::ended`] gives the guard to hold until a finished transfer's final reply is
//! written. After the outputs of each input: [`channels::DataChannels::settle`].
//!
//! A server's `main` is then:
//!
//! ```no_run
//! use std::process::ExitCode;
//! use thinftp_host::server::{self, Server};
//!
//! fn main() -> ExitCode {
//!     server::main("my-ftpd", |server: Server| {
//!         for conn in server.listener.incoming() {
//!             if server.host.shutdown().is_triggered() {
//!                 break;
//!             }
//!             // host.admit(peer, &mut conn), then a session loop driving thinftp::Session
//!         }
//!         server.host.drain();
//!         Ok(())
//!     })
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod busy_poll;
pub mod channels;
pub mod cli;
mod copy;
pub mod errors;
mod host;
pub mod limits;
pub mod logging;
pub mod names;
pub mod passive;
pub mod server;
pub mod session_storage;
pub mod shutdown;
pub mod socket;
pub mod storage;
pub mod transfer;
mod upload;
pub mod work;

pub use cli::Options;
pub use host::{Admission, Host, StartupError};
pub use session_storage::SessionStorage;
pub use storage::Storage;
pub use transfer::{run_transfer, AbortHandle};
