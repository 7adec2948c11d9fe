//! Blocking work a session asks for: filesystem requests, password checks and transfers.
//!
//! The [`Driver`](super::Driver) runs cheap requests on the runtime's loop itself and hands the
//! rest to the runtime as a [`Job`] ([`Action::Run`](super::Action::Run)): the runtime runs
//! [`Job::run`] off its loop (a thread, or `blocking::unblock`) and reports the
//! [`Completion`] it returns.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use thinftp::{
    AuthId, AuthResult, DataId, FsError, FsId, FsOp, Input, TransferError, TransferId, TransferKind,
};
use tracing::Span;

use super::Completion;
use crate::data_stream::DataStream;
use crate::limits::SessionGuard;
use crate::session_limits::SessionLimits;
use crate::shutdown::TransferGuard;
use crate::storage::{digest_file, Storage};
use crate::tls::SessionTls;
use crate::transfer::{move_bytes_protected, AbortHandle, Opened};
use crate::Host;

/// One piece of blocking work for a session, with what it needs to run anywhere: the session's
/// storage and its span. Its `Debug` shows no password.
pub struct Job<S> {
    pub(super) task: Task<S>,
    /// Entered while the job runs: logins and transfers are logged in the session's span.
    pub(super) span: Span,
    /// The session's place within the limits, held until the job ends even if the client has
    /// hung up meanwhile: work started and abandoned still counts against the session limits
    /// (a password hash that runs on after its client left keeps the slot it costs).
    pub(super) session: SessionGuard,
}

/// What a [`Job`] does.
pub(super) enum Task<S> {
    /// [`Output::Fs`](thinftp::Output::Fs), beneath `storage`.
    Fs {
        id: FsId,
        /// Boxed: a request with a listing pattern is large, and a `Job` travels by value.
        op: Box<FsOp>,
        storage: Arc<dyn Storage>,
        /// Set once the session has ended or ABOR cancelled it: a long request (a digest)
        /// stops early.
        cancel: Arc<AtomicBool>,
        /// The quota usage that removals and renames change.
        limits: SessionLimits,
    },
    /// [`Output::Authenticate`](thinftp::Output::Authenticate).
    Auth {
        id: AuthId,
        user: String,
        password: String,
    },
    /// [`Output::StartTransfer`](thinftp::Output::StartTransfer): open the transfer's file,
    /// made by [`Transfers::start`](super::transfers::Transfers::start).
    Open {
        id: TransferId,
        kind: TransferKind,
        storage: Arc<dyn Storage>,
        /// Rates and quota the transfer runs under.
        limits: SessionLimits,
    },
    /// [`Output::MoveBytes`](thinftp::Output::MoveBytes): move the bytes of the opened transfer
    /// on the data connection `stream`, made by
    /// [`Transfers::move_bytes`](super::transfers::Transfers::move_bytes).
    Transfer {
        id: TransferId,
        opened: Opened,
        stream: S,
        /// `PROT P`: secure the connection with this (the session's) configuration first.
        tls: Option<SessionTls>,
        /// A transfer that moves no byte for this long has lost its connection.
        stall: Duration,
        /// Stops it; a clone is kept in [`Transfers`](super::transfers::Transfers).
        abort: AbortHandle,
        /// Counts the transfer for shutdown while the bytes move; a clone stays with the
        /// session until the final reply is written.
        counted: TransferGuard,
    },
    /// A passive data connection accepted from a trusted proxy: read its PROXY header
    /// ([`read_data_header`](crate::proxy_protocol::read_data_header)) before the core hears
    /// of it, so that the core checks the client the header names.
    DataHeader {
        id: DataId,
        stream: S,
        /// The proxy's address.
        proxy: SocketAddr,
    },
}

impl<S: DataStream> Job<S> {
    /// Does the work (blocking; for a transfer, until it ends) inside the session's span and
    /// returns what to report.
    pub fn run(self, host: &Host) -> Completion<S> {
        let _entered = self.span.enter();
        let input = match self.task {
            Task::Transfer {
                id,
                opened,
                mut stream,
                tls,
                stall,
                abort,
                counted,
            } => {
                // A client that stops moving bytes for this long is gone.
                let _ = stream.set_stall_timeout(stall);
                let result = move_bytes_protected(opened, stream, tls.as_ref(), &abort);
                // The bytes are moved (or the upload cleaned up); the session's clone counts on
                // until the final reply is written.
                drop(counted);
                Input::TransferDone { id, result }
            }
            Task::Open {
                id,
                kind,
                storage,
                limits,
            } => return open(&storage, id, &kind, &limits),
            Task::Fs {
                id,
                op,
                storage,
                cancel,
                limits,
            } => fs(&*storage, id, &op, &cancel, &limits),
            Task::Auth { id, user, password } => auth(host, &self.session, id, &user, &password),
            Task::DataHeader {
                id,
                mut stream,
                proxy,
            } => {
                // Only a TCP connection comes from a proxy.
                let header = match stream.as_tcp() {
                    Some(tcp) => crate::proxy_protocol::read_data_header(tcp, proxy),
                    None => Err(std::io::ErrorKind::Unsupported.into()),
                };
                let result = match header {
                    Ok(client) => Some((stream, client)),
                    Err(e) => {
                        tracing::info!(%id, %proxy, "data connection from the proxy refused: {e}");
                        None
                    }
                };
                return Completion::HeaderRead { id, result };
            }
        };
        Completion::Input(input)
    }
}

/// Opens what transfer `id` reads or writes beneath `storage` (blocking): the file is kept in
/// the completion, or the error is the transfer's end, before any `150`.
pub(super) fn open<S>(
    storage: &Arc<dyn Storage>,
    id: TransferId,
    kind: &TransferKind,
    limits: &SessionLimits,
) -> Completion<S> {
    match limits.open(storage, kind) {
        Ok(opened) => Completion::TransferOpened { id, opened },
        Err(e) => {
            tracing::info!(?kind, error = ?e, "transfer refused: cannot open");
            Completion::Input(Input::TransferDone { id, result: Err(e) })
        }
    }
}

/// Carries out a filesystem request beneath `storage` (blocking) and returns its answer.
pub(super) fn fs(
    storage: &dyn Storage,
    id: FsId,
    op: &FsOp,
    cancel: &AtomicBool,
    limits: &SessionLimits,
) -> Input {
    let result = match op {
        // A digest reads the whole file: it stops at its next read once cancelled.
        FsOp::Hash {
            path,
            algorithm,
            range,
        } if storage.capabilities().allows(op) => {
            digest_file(storage, path, *algorithm, *range, cancel)
        }
        _ => crate::quota::execute(storage, op, limits.usage()),
    };
    tracing::debug!(?op, ok = result.is_ok(), "fs");
    Input::Fs { id, result }
}

/// Checks a login of the session `session` (blocking, slow on purpose) and returns its
/// answer: its address counts for bans and the queue of checks (see
/// [`Host::authenticate_session`]).
pub(super) fn auth(
    host: &Host,
    session: &SessionGuard,
    id: AuthId,
    user: &str,
    password: &str,
) -> Input {
    let result = host.authenticate_session(session, user, password);
    if let AuthResult::Accepted(permissions) = &result {
        // A quota's first measurement of the home, here off the session's loop.
        host.user_usage(user, permissions);
    }
    Input::Auth { id, result }
}

impl<S> Job<S> {
    /// The answer to report instead if the job cannot be started (no thread for it): a failure
    /// the core reports to the client. Take it before handing the job to a thread that may not
    /// start.
    pub fn not_started(&self) -> Input {
        match &self.task {
            Task::Fs { id, .. } => Input::Fs {
                id: *id,
                result: Err(FsError::Other),
            },
            Task::Auth { id, .. } => Input::Auth {
                id: *id,
                result: AuthResult::Refused,
            },
            Task::Open { id, .. } => Input::TransferDone {
                id: *id,
                result: Err(TransferError::Fs(FsError::Other)),
            },
            Task::Transfer { id, .. } => Input::TransferDone {
                id: *id,
                result: Err(TransferError::ConnectionLost),
            },
            // The connection is dropped with the job; the core's data timer ends the wait (an
            // early timeout only re-arms the timer).
            Task::DataHeader { .. } => Input::Timeout,
        }
    }

    /// What kind of work this is, for logs and thread names.
    pub fn name(&self) -> &'static str {
        match &self.task {
            Task::Fs { .. } => "fs",
            Task::Auth { .. } => "auth",
            Task::Open { .. } => "open",
            Task::Transfer { .. } => "transfer",
            Task::DataHeader { .. } => "proxy-header",
        }
    }

    /// The session's span, to enter on the thread that runs the job.
    pub fn span(&self) -> &Span {
        &self.span
    }
}

impl<S> fmt::Debug for Job<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.task {
            Task::Fs { id, op, .. } => f
                .debug_struct("Fs")
                .field("id", id)
                .field("op", op)
                .finish_non_exhaustive(),
            Task::Auth { id, user, .. } => f
                .debug_struct("Auth")
                .field("id", id)
                .field("user", user)
                .finish_non_exhaustive(),
            Task::Open { id, kind, .. } => f
                .debug_struct("Open")
                .field("id", id)
                .field("kind", kind)
                .finish_non_exhaustive(),
            Task::Transfer { id, opened, .. } => f
                .debug_struct("Transfer")
                .field("id", id)
                .field("opened", opened)
                .finish_non_exhaustive(),
            Task::DataHeader { id, proxy, .. } => f
                .debug_struct("DataHeader")
                .field("id", id)
                .field("proxy", proxy)
                .finish_non_exhaustive(),
        }
    }
}
