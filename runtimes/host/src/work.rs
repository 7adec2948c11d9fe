//! Blocking work a session asks for, and the transfers a session has running.
//!
//! A runtime turns [`Output::Fs`](thinftp::Output::Fs),
//! [`Output::Authenticate`](thinftp::Output::Authenticate) and
//! [`Output::StartTransfer`](thinftp::Output::StartTransfer) into a [`Work`], runs
//! [`Work::run`] off its event loop (a thread, or `blocking::unblock`), and feeds the input it
//! returns. [`Transfers`] keeps what the session needs of each running transfer: the handle to
//! abort it and the [`TransferGuard`] that makes shutdown wait for its final reply.

use std::collections::HashMap;
use std::fmt;
use std::net::TcpStream;

use thinftp::{
    AuthId, AuthResult, FsError, FsId, FsOp, Input, TransferError, TransferId, TransferKind,
};

use crate::shutdown::TransferGuard;
use crate::transfer::AbortHandle;
use crate::{Host, SessionStorage};

/// A piece of blocking work for one output of a session. Its `Debug` shows no password.
#[non_exhaustive]
pub enum Work {
    /// [`Output::Fs`](thinftp::Output::Fs).
    Fs {
        /// The request's id.
        id: FsId,
        /// The operation.
        op: FsOp,
    },
    /// [`Output::Authenticate`](thinftp::Output::Authenticate).
    Auth {
        /// The request's id.
        id: AuthId,
        /// The user name.
        user: String,
        /// The password (never logged).
        password: String,
    },
    /// [`Output::StartTransfer`](thinftp::Output::StartTransfer), made by
    /// [`Transfers::start`].
    Transfer {
        /// The transfer's id.
        id: TransferId,
        /// What to move.
        kind: TransferKind,
        /// The data connection.
        stream: TcpStream,
        /// Stops it; a clone is kept in [`Transfers`].
        abort: AbortHandle,
        /// Counts the transfer for shutdown while it runs; a clone is kept in [`Transfers`]
        /// until the final reply.
        counted: TransferGuard,
    },
}

impl Work {
    /// Does the work (blocking; for a transfer, until it ends) beneath the session's `storage`
    /// and returns the answer to feed. Run it inside the session's span: logins and transfers
    /// are logged there.
    pub fn run(self, host: &Host, storage: &SessionStorage) -> Input {
        match self {
            Work::Fs { id, op } => Input::Fs {
                id,
                result: host.fs(storage.storage(), &op),
            },
            Work::Auth { id, user, password } => Input::Auth {
                id,
                result: host.authenticate(&user, &password),
            },
            Work::Transfer {
                id,
                kind,
                stream,
                abort,
                counted,
            } => {
                let result = host.run_transfer(storage.storage(), &kind, stream, &abort);
                // The bytes are moved (or the upload cleaned up); the session's clone counts on
                // until the final reply is written.
                drop(counted);
                Input::TransferDone { id, result }
            }
        }
    }

    /// Whether the work takes no time worth a thread: a login whose check computes no password
    /// hash ([`Host::authenticate_is_quick`]). Handing such work to a thread pool costs more
    /// than doing it, so an event loop may [`run`](Self::run) it in place. Filesystem requests
    /// are never quick: a disk or network filesystem may stall.
    pub fn is_quick(&self, host: &Host) -> bool {
        match self {
            Work::Auth { user, .. } => host.authenticate_is_quick(user),
            Work::Fs { .. } | Work::Transfer { .. } => false,
        }
    }

    /// The answer to feed instead if the work cannot be started (no thread for it): a failure
    /// the core reports to the client. Take it before handing the work to a thread that may not
    /// start.
    pub fn not_started(&self) -> Input {
        match self {
            Work::Fs { id, .. } => Input::Fs {
                id: *id,
                result: Err(FsError::Other),
            },
            Work::Auth { id, .. } => Input::Auth {
                id: *id,
                result: AuthResult::Refused,
            },
            Work::Transfer { id, .. } => Input::TransferDone {
                id: *id,
                result: Err(TransferError::ConnectionLost),
            },
        }
    }

    /// What kind of work this is, for logs and thread names.
    pub fn name(&self) -> &'static str {
        match self {
            Work::Fs { .. } => "fs",
            Work::Auth { .. } => "auth",
            Work::Transfer { .. } => "transfer",
        }
    }
}

impl fmt::Debug for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Work::Fs { id, op } => f
                .debug_struct("Fs")
                .field("id", id)
                .field("op", op)
                .finish(),
            Work::Auth { id, user, .. } => f
                .debug_struct("Auth")
                .field("id", id)
                .field("user", user)
                .finish_non_exhaustive(),
            Work::Transfer { id, kind, .. } => f
                .debug_struct("Transfer")
                .field("id", id)
                .field("kind", kind)
                .finish_non_exhaustive(),
        }
    }
}

/// The transfers of one session that run, or whose final reply is not written yet.
#[derive(Debug, Default)]
pub struct Transfers {
    running: HashMap<TransferId, Running>,
}

#[derive(Debug)]
struct Running {
    abort: AbortHandle,
    /// Counts the transfer for [`Host::drain`] until its final reply is written (with the clone
    /// in the [`Work`], while the bytes move).
    counted: TransferGuard,
}

impl Transfers {
    /// None.
    pub fn new() -> Self {
        Self::default()
    }

    /// For [`Output::StartTransfer`](thinftp::Output::StartTransfer) on the data connection
    /// `stream` (from [`DataChannels::take_stream`](crate::channels::DataChannels::take_stream)):
    /// the work that runs it. Without a connection (the core named a channel the runtime does
    /// not hold: a runtime bug) it is `Err` with the answer to feed instead.
    pub fn start(
        &mut self,
        host: &Host,
        id: TransferId,
        kind: TransferKind,
        stream: Option<TcpStream>,
    ) -> Result<Work, Input> {
        let Some(stream) = stream else {
            tracing::error!(%id, "transfer on a data connection this runtime does not hold");
            return Err(Input::TransferDone {
                id,
                result: Err(TransferError::ConnectionLost),
            });
        };
        let abort = AbortHandle::new();
        let counted = host.enter_transfer();
        let running = Running {
            abort: abort.clone(),
            counted: counted.clone(),
        };
        self.running.insert(id, running);
        Ok(Work::Transfer {
            id,
            kind,
            stream,
            abort,
            counted,
        })
    }

    /// For [`Output::AbortTransfer`](thinftp::Output::AbortTransfer).
    pub fn abort(&self, id: TransferId) {
        if let Some(running) = self.running.get(&id) {
            running.abort.abort();
        }
    }

    /// Call with every input before feeding it. For [`Input::TransferDone`] the transfer is
    /// forgotten and its guard returned: hold it until the outputs that follow the input are
    /// carried out (the transfer's final reply is written), so that shutdown waits for that
    /// reply too.
    pub fn ended(&mut self, input: &Input) -> Option<TransferGuard> {
        match input {
            Input::TransferDone { id, .. } => self.running.remove(id).map(|r| r.counted),
            _ => None,
        }
    }

    /// Aborts every transfer (when the session ends).
    pub fn abort_all(&self) {
        for running in self.running.values() {
            running.abort.abort();
        }
    }

    /// How many transfers run or wait for their final reply.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether none does.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn host(root: &std::path::Path) -> Host {
        let args = ["thinftp-test", "--root", root.to_str().unwrap()];
        let options = crate::Options::try_parse_args(args.iter().copied()).unwrap();
        Host::from_options(&options).unwrap()
    }

    fn stream() -> TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        drop(listener.accept().unwrap());
        client
    }

    #[test]
    fn shutdown_waits_for_a_transfer_until_its_final_reply() {
        let dir = tempfile::tempdir().unwrap();
        let options = crate::Options::try_parse_args([
            "thinftp-test",
            "--root",
            dir.path().to_str().unwrap(),
            "--shutdown-grace",
            "0",
        ])
        .unwrap();
        let host = Host::from_options(&options).unwrap();
        let mut transfers = Transfers::new();
        let id = TransferId::from_raw(1);
        let kind = TransferKind::SendBytes(bytes::Bytes::from_static(b"x"));
        let work = transfers.start(&host, id, kind, Some(stream())).unwrap();
        assert!(!host.drain(), "a transfer that was started is waited for");
        let done = Input::TransferDone { id, result: Ok(1) };
        assert!(transfers.ended(&Input::ControlEof).is_none());
        let guard = transfers.ended(&done).expect("the transfer was running");
        assert!(transfers.is_empty());
        drop(guard);
        assert!(!host.drain(), "the bytes are still moving");
        assert_eq!(work.run(&host, &SessionStorage::new(&host)), done);
        assert!(host.drain());
        assert!(transfers.ended(&done).is_none(), "reported once");

        // The other order: the bytes are moved, the final reply is not written yet.
        let kind = TransferKind::SendBytes(bytes::Bytes::from_static(b"x"));
        let work = transfers.start(&host, id, kind, Some(stream())).unwrap();
        assert_eq!(work.run(&host, &SessionStorage::new(&host)), done);
        assert!(!host.drain(), "its final reply is not written yet");
        drop(transfers.ended(&done));
        assert!(host.drain());
    }

    #[test]
    fn a_transfer_without_a_connection_is_answered_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let host = host(dir.path());
        let mut transfers = Transfers::new();
        let id = TransferId::from_raw(7);
        let kind = TransferKind::SendBytes(bytes::Bytes::new());
        let answer = transfers.start(&host, id, kind, None).unwrap_err();
        assert_eq!(
            answer,
            Input::TransferDone {
                id,
                result: Err(TransferError::ConnectionLost)
            }
        );
        assert!(transfers.is_empty());
        assert!(host.drain());
    }

    #[test]
    fn work_runs_on_the_host_and_has_an_answer_when_not_started() {
        let dir = tempfile::tempdir().unwrap();
        let host = host(dir.path());
        let id = AuthId::from_raw(3);
        let login = || Work::Auth {
            id,
            user: "anonymous".into(),
            password: "secret-word".into(),
        };
        assert!(!format!("{:?}", login()).contains("secret-word"));
        assert_eq!(
            login().run(&host, &SessionStorage::new(&host)),
            Input::Auth {
                id,
                result: AuthResult::Accepted(thinftp::Permissions::read_only())
            }
        );
        assert_eq!(
            login().not_started(),
            Input::Auth {
                id,
                result: AuthResult::Refused
            }
        );
        let fs = Work::Fs {
            id: FsId::from_raw(4),
            op: FsOp::Stat(thinftp::VirtualPath::root()),
        };
        assert_eq!(fs.name(), "fs");
        assert!(matches!(
            fs.run(&host, &SessionStorage::new(&host)),
            Input::Fs { result: Ok(_), .. }
        ));
    }

    #[test]
    fn aborting_reaches_the_running_transfer() {
        let dir = tempfile::tempdir().unwrap();
        let host = host(dir.path());
        let mut transfers = Transfers::new();
        let id = TransferId::from_raw(1);
        let kind = TransferKind::SendBytes(bytes::Bytes::from_static(b"x"));
        let Ok(Work::Transfer { abort, .. }) = transfers.start(&host, id, kind, Some(stream()))
        else {
            panic!("a transfer with a connection starts");
        };
        transfers.abort(TransferId::from_raw(2));
        assert!(!abort.is_aborted(), "another id");
        transfers.abort(id);
        assert!(abort.is_aborted());
    }
}
