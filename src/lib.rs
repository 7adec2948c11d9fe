//! thinftp: an FTP server protocol core that performs no I/O.
//!
//! A [`Session`] is one client's control connection as a pure state machine. It takes bytes and
//! the results of work it asked for ([`Input`]) and gives back replies and requests for work
//! ([`Output`]). It opens no socket, touches no file, starts no thread and reads no clock: the
//! runtime that drives it does all of that, so the same core runs on threads, on an async
//! executor, or inside someone else's event loop.
//!
//! # The run loop
//!
//! 1. Accept a control connection and create the session with [`Session::new`]. It queues the
//!    `220` greeting.
//! 2. Drain [`Session::poll_output`] until it returns `None`, and carry out each [`Output`] in
//!    order: write replies, start filesystem or authentication work, open listeners, start
//!    transfers. Work may finish later; its answer is an [`Input`] with the id it was given.
//! 3. Wait for the next event: bytes on the control connection, the answer to some work, or the
//!    deadline from [`Session::poll_timeout`]. Feed it with [`Session::handle_input`] and go to 2.
//! 4. Stop after [`Output::CloseSession`] (then [`Session::is_closed`] is true).
//!
//! An error from [`Session::handle_input`] is the runtime's mistake, never the client's; its
//! [`DriveError`] kind says which (a [stale](DriveError::is_stale) answer that lost a race with
//! `ABOR` or a new `PASV` is harmless and may be ignored).
//!
//! The sketch below serves the control connection only and answers every request at once;
//! `tests/custom_loop.rs` in the repository is a complete loop (a thread per session, one
//! channel for its inputs) that waits for the next input *or* [`Session::poll_timeout`] and
//! carries out listeners, connects and transfers.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::TcpListener;
//! use std::time::Instant;
//! use thinftp::{AuthResult, Config, Input, Output, Permissions, Session};
//!
//! let listener = TcpListener::bind("127.0.0.1:2121")?;
//! let (mut control, peer) = listener.accept()?;
//! let mut session = Session::new(Config::default(), peer, control.local_addr()?, Instant::now());
//! let mut buf = [0u8; 4096];
//! while !session.is_closed() {
//!     // Carry out every output, in order. Answers become inputs fed back at once here; a real
//!     // runtime would run them elsewhere and feed them when they finish.
//!     let mut answers = Vec::new();
//!     while let Some(output) = session.poll_output() {
//!         match output {
//!             Output::Reply(reply) => control.write_all(reply.as_bytes())?,
//!             Output::Authenticate { id, user, password } => {
//!                 let ok = user == "demo" && password == "demo";
//!                 let result = if ok {
//!                     AuthResult::Accepted(Permissions::read_only())
//!                 } else {
//!                     AuthResult::Refused
//!                 };
//!                 answers.push(Input::Auth { id, result });
//!             }
//!             Output::Fs { id, op } => {
//!                 // Carry out `op` beneath the root (see thinftp-host for a real storage).
//!                 let _ = op;
//!                 answers.push(Input::Fs { id, result: Err(thinftp::FsError::NotFound) });
//!             }
//!             Output::CloseSession => break,
//!             _ => { /* listeners, connects and transfers: see tests/custom_loop.rs */ }
//!         }
//!     }
//!     for input in answers {
//!         session.handle_input(Instant::now(), input).expect("answers carry the ids we were given");
//!     }
//!     if session.is_closed() {
//!         break;
//!     }
//!     // A real loop waits for the socket *or* `session.poll_timeout()`; this one only reads.
//!     let n = control.read(&mut buf)?;
//!     let input = if n == 0 {
//!         Input::ControlEof
//!     } else {
//!         Input::ControlBytes(bytes::Bytes::copy_from_slice(&buf[..n]))
//!     };
//!     session.handle_input(Instant::now(), input).expect("control input is never a DriveError");
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Transfers never pass file bytes through the core: a `RETR` becomes
//! [`Output::StartTransfer`] with [`TransferKind::SendFile`], and the runtime copies the file to
//! the data connection itself. (`std::io::copy` from a `File` to a `TcpStream` does not use
//! `sendfile` on Linux: it falls back to 8 KiB reads and writes, so thinftp-host calls
//! `sendfile` and `splice` itself.) Listings are protocol text rendered by the core's pure
//! functions, but never one buffer: a `LIST` becomes [`TransferKind::SendListing`], and the
//! runtime streams the directory's entries through [`render_entry`] in bounded chunks.
//!
//! Every public type is at the crate root, except the command parser ([`command`]) and the
//! `TYPE A` line-end converters ([`ascii`]). Enums and structs that will grow are
//! `#[non_exhaustive]`: build [`Config`], [`Metadata`], [`Permissions`], [`DirEntry`] and
//! [`Listing`] from their constructors and set the fields you need.
//!
//! # A transfer in three steps
//!
//! The `150` comes only once a transfer can really start, so that a refused one gets its
//! `4xx`/`5xx` *instead of* the `150` (RFC 959 allows 550/553 for `STOR` only that way):
//!
//! 1. With the data connection there, [`Output::StartTransfer`] asks the runtime to *open*
//!    what the transfer reads or writes (the file for reading or writing; nothing yet for
//!    [`TransferKind::SendBytes`]), moving no byte. The runtime now holds the data connection.
//! 2. It answers [`Input::TransferOpened`], or [`Input::TransferDone`] with the error (and
//!    closes the data connection): the client then gets the error reply and no `150`.
//! 3. After `TransferOpened` the session replies `150` and then gives [`Output::MoveBytes`]:
//!    carried out in order, after the `150` is written, the runtime moves the bytes, closes the
//!    data connection and answers [`Input::TransferDone`], which becomes the `226` (or the error).
//!
//! [`Output::AbortTransfer`] may come at step 2 or 3; the runtime then ends the transfer with
//! [`Input::TransferDone`] either way (an open reported after it changes nothing). Every
//! command still gets exactly one final reply.
//!
//! # FTPS (RFC 4217)
//!
//! The core knows TLS *state*, never TLS bytes: the runtime runs every handshake. FTPS is off
//! until [`Config::tls`] says [`available`](TlsPolicy::available) (then `FEAT` lists
//! `AUTH TLS`, `PBSZ` and `PROT`); what it requires of whom is the rest of the [`TlsPolicy`].
//!
//! - **Control connection.** After the `234` to `AUTH TLS` comes [`Output::SecureControl`]:
//!   write the replies before it, then run a TLS server handshake on the control connection
//!   and answer [`Input::ControlSecured`] (with a [`TlsInfo`]) or [`Input::ControlTlsFailed`]
//!   (the session then closes with no reply). From then on decrypt before
//!   [`Input::ControlBytes`] and encrypt every reply. Whatever the client sent after the `AUTH`
//!   line in clear text is discarded, never run (CVE-2011-0411). [`Output::ClearControl`]
//!   (after the `200` to `CCC`, only with [`TlsPolicy::allow_ccc`]) means `close_notify`, then
//!   clear text again.
//! - **Implicit FTPS** (port 990): create the session with [`Session::new_implicit_tls`]. Its
//!   first output is [`Output::SecureControl`]; the `220` follows the handshake.
//! - **Data connections.** [`Output::StartTransfer`] carries a [`DataProtection`]. With
//!   [`DataProtection::Private`] (`PROT P`), run a TLS server handshake on the data connection
//!   when carrying out [`Output::MoveBytes`] (after the `150`), before any byte moves; a
//!   failed one ends the transfer with [`TransferError::TlsFailed`] (`425`), one that did not
//!   resume the control connection's session, if the runtime requires that, with
//!   [`TransferError::TlsNotResumed`] (`522`), having read or written nothing.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ascii;
mod auth;
pub mod command;
mod config;
mod error;
mod events;
mod framing;
mod fs;
mod glob;
mod ids;
mod listing;
mod path;
mod reply;
mod session;
mod tls;

pub use auth::{AuthResult, Permissions};
pub use config::Config;
pub use error::{DriveError, RequestKind};
pub use events::{Input, Output, TransferError, TransferKind, WriteMode};
pub use fs::{DirEntry, FileKind, FsError, FsOp, FsReply, HashAlgorithm, Listing, Metadata};
/// How many of its newest ids a session remembers the kind of (see [`DriveError::Stale`]).
#[doc(hidden)]
pub use ids::KIND_WINDOW as ID_KIND_WINDOW;
pub use ids::{AuthId, DataId, FsId, TransferId};
pub use listing::{render_entry, Facts, ListFormat, STAT_MAX_ENTRIES};
pub use path::{PathError, VirtualPath};
pub use reply::Reply;
pub use session::Session;
pub use tls::{DataProtection, TlsInfo, TlsPolicy, TlsRequirement};
