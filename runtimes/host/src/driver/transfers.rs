//! The transfers of one session that run, or whose final reply is not written yet.
//!
//! A transfer goes through two jobs, so that the `150` comes only once it can really start:
//! [`Output::StartTransfer`](thinftp::Output::StartTransfer) becomes an *open* job (the file
//! for reading or writing), which reports [`Completion::TransferOpened`](super::Completion::TransferOpened) or, if the file cannot
//! be opened, the `TransferDone` error that the client gets instead of the `150`. The opened
//! file waits here with the data connection until the core answers with the `150` and
//! [`Output::MoveBytes`](thinftp::Output::MoveBytes); the driver carries that out after the
//! `150` is written, as the *move* job that moves the bytes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use thinftp::{Input, TransferError, TransferId, TransferKind};
use tracing::Span;

use super::work::{Job, Task};
use crate::limits::SessionGuard;
use crate::progress::TransferProgress;
use crate::session_limits::SessionLimits;
use crate::shutdown::TransferGuard;
use crate::storage::Storage;
use crate::tls::SessionTls;
use crate::transfer::{AbortHandle, Opened};
use crate::Host;

/// What the session needs of each transfer: its data connection and opened file until the
/// bytes move, the handle to abort it and the [`TransferGuard`] that makes shutdown wait for
/// its final reply.
#[derive(Debug)]
pub(super) struct Transfers<S> {
    running: HashMap<TransferId, Running<S>>,
}

impl<S> Default for Transfers<S> {
    fn default() -> Self {
        Transfers {
            running: HashMap::new(),
        }
    }
}

#[derive(Debug)]
struct Running<S> {
    abort: AbortHandle,
    /// Counts the transfer for [`Lifecycle::drain`](crate::shutdown::Lifecycle::drain) until
    /// its final reply is written (with the clone in the move [`Job`], while the bytes move).
    counted: TransferGuard,
    /// The data connection, until the move job takes it.
    stream: Option<S>,
    /// The opened file, from [`Completion::TransferOpened`](super::Completion::TransferOpened) until the move job takes it.
    opened: Option<Opened>,
    protection: Protection,
    /// The bytes it has moved so far, counted by its copy loop.
    progress: TransferProgress,
}

/// How a transfer's data connection is protected, as the driver carries it out.
#[derive(Debug, Clone)]
pub(super) enum Protection {
    /// `PROT C`.
    Clear,
    /// `PROT P`, with the session's TLS configuration (`None` if it has none: the transfer
    /// fails with `TlsFailed`).
    Private(Option<SessionTls>),
}

/// What a transfer needs besides its connection.
pub(super) struct Setup<'a> {
    pub(super) host: &'a Host,
    pub(super) storage: &'a Arc<dyn Storage>,
    pub(super) limits: &'a SessionLimits,
    pub(super) span: &'a Span,
    pub(super) session: &'a SessionGuard,
    pub(super) stall: Duration,
}

impl<S> Transfers<S> {
    /// For [`Output::StartTransfer`](thinftp::Output::StartTransfer) on the data connection
    /// `stream`: keeps the connection and returns the job that opens the transfer's file.
    /// Without a connection (the core named a channel the driver does not hold: a bug) it is
    /// `Err` with the answer to feed instead.
    pub(super) fn start(
        &mut self,
        setup: &Setup<'_>,
        id: TransferId,
        kind: TransferKind,
        stream: Option<S>,
        protection: Protection,
    ) -> Result<Job<S>, Input> {
        let Some(stream) = stream else {
            tracing::error!(%id, "transfer on a data connection the driver does not hold");
            return Err(Input::TransferDone {
                id,
                result: Err(TransferError::ConnectionLost),
            });
        };
        let running = Running {
            abort: AbortHandle::new(),
            counted: setup.host.lifecycle().enter_transfer(),
            stream: Some(stream),
            opened: None,
            protection,
            progress: TransferProgress::new(),
        };
        self.running.insert(id, running);
        Ok(Job {
            task: Task::Open {
                id,
                kind,
                storage: Arc::clone(setup.storage),
                limits: setup.limits.clone(),
            },
            span: setup.span.clone(),
            session: setup.session.clone(),
        })
    }

    /// The open job of `id` is done: the input to feed. `None` if the transfer is gone (the
    /// session closed); the file is then closed (an upload's temporary file removed). After an
    /// abort the core hears that the transfer ended, aborted, instead.
    pub(super) fn opened(&mut self, id: TransferId, opened: Opened) -> Option<Input> {
        let running = self.running.get_mut(&id)?;
        if running.abort.is_aborted() {
            return Some(Input::TransferDone {
                id,
                result: Err(TransferError::Aborted),
            });
        }
        let mut opened = opened;
        opened.count_into(running.progress.clone());
        running.opened = Some(opened);
        Some(Input::TransferOpened { id })
    }

    /// The byte count of the running transfer `id` (what its copy loop has moved so far).
    pub(super) fn progress(&self, id: TransferId) -> Option<TransferProgress> {
        self.running.get(&id).map(|r| r.progress.clone())
    }

    /// For [`Output::MoveBytes`](thinftp::Output::MoveBytes) (its `150` is written): the job
    /// that moves the bytes. `Err` with the answer to feed if the transfer was never opened
    /// (a bug) or is gone.
    pub(super) fn move_bytes(
        &mut self,
        setup: &Setup<'_>,
        id: TransferId,
    ) -> Result<Job<S>, Input> {
        let taken = self
            .running
            .get_mut(&id)
            .and_then(|r| Some((r.stream.take()?, r.opened.take()?, r)));
        let Some((stream, opened, running)) = taken else {
            tracing::error!(%id, "MoveBytes for a transfer that is not open");
            return Err(Input::TransferDone {
                id,
                result: Err(TransferError::ConnectionLost),
            });
        };
        let tls = match running.protection.clone() {
            Protection::Clear => None,
            Protection::Private(Some(tls)) => Some(tls),
            Protection::Private(None) => {
                tracing::error!(%id, "PROT P transfer without a TLS configuration");
                return Err(Input::TransferDone {
                    id,
                    result: Err(TransferError::TlsFailed),
                });
            }
        };
        let task = Task::Transfer {
            id,
            opened,
            stream,
            tls,
            stall: setup.stall,
            abort: running.abort.clone(),
            counted: running.counted.clone(),
        };
        Ok(Job {
            task,
            span: setup.span.clone(),
            session: setup.session.clone(),
        })
    }

    /// For [`Output::AbortTransfer`](thinftp::Output::AbortTransfer).
    pub(super) fn abort(&self, id: TransferId) {
        if let Some(running) = self.running.get(&id) {
            running.abort.abort();
        }
    }

    /// Call with every input before feeding it. For [`Input::TransferDone`] the transfer is
    /// forgotten (its connection, if no job took it, closed) and its guard returned: hold it
    /// until the outputs that follow the input are carried out (the transfer's final reply is
    /// written), so that shutdown waits for that reply too.
    pub(super) fn ended(&mut self, input: &Input) -> Option<TransferGuard> {
        match input {
            Input::TransferDone { id, .. } => self.running.remove(id).map(|r| r.counted),
            _ => None,
        }
    }

    /// Aborts every transfer (when the session ends).
    pub(super) fn abort_all(&self) {
        for running in self.running.values() {
            running.abort.abort();
        }
    }

    /// Whether no transfer runs or waits for its final reply.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::Completion;
    use std::net::{TcpListener, TcpStream};

    fn host(args: &[&str]) -> (tempfile::TempDir, Host) {
        let dir = tempfile::tempdir().unwrap();
        let mut all = vec!["thinftp-test", "--root", dir.path().to_str().unwrap()];
        all.extend_from_slice(args);
        let options = crate::Options::try_parse_args(all).unwrap();
        let host = Host::from_options(&options).unwrap();
        (dir, host)
    }

    fn stream() -> TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        drop(listener.accept().unwrap());
        client
    }

    fn setup<'a>(host: &'a Host, span: &'a Span, session: &'a SessionGuard) -> Setup<'a> {
        static NO_LIMITS: std::sync::OnceLock<SessionLimits> = std::sync::OnceLock::new();
        Setup {
            host,
            storage: host.storage(),
            limits: NO_LIMITS.get_or_init(SessionLimits::default),
            span,
            session,
            stall: Duration::from_secs(5),
        }
    }

    fn bytes() -> TransferKind {
        TransferKind::SendBytes(bytes::Bytes::from_static(b"x"))
    }

    /// Runs the open job of `id` and hands its file to `transfers`: the move job.
    fn open_and_move(
        transfers: &mut Transfers<TcpStream>,
        setup: &Setup<'_>,
        host: &Host,
        id: TransferId,
    ) -> Job<TcpStream> {
        let job = transfers
            .start(setup, id, bytes(), Some(stream()), Protection::Clear)
            .unwrap();
        let Completion::TransferOpened {
            id: opened_id,
            opened,
        } = job.run(host)
        else {
            panic!("a listing's bytes always open");
        };
        assert_eq!(opened_id, id);
        assert_eq!(
            transfers.opened(id, opened),
            Some(Input::TransferOpened { id })
        );
        transfers.move_bytes(setup, id).unwrap()
    }

    #[test]
    fn shutdown_waits_for_a_transfer_until_its_final_reply() {
        let (_dir, host) = host(&["--shutdown-grace", "0"]);
        let span = Span::none();
        let guard = host.admission().try_admit([192, 0, 2, 1].into()).unwrap();
        let setup = setup(&host, &span, &guard);
        let mut transfers = Transfers::default();
        let id = TransferId::from_raw(1);
        let job = open_and_move(&mut transfers, &setup, &host, id);
        assert!(
            !host.lifecycle().drain(),
            "a transfer that was started is waited for"
        );
        let done = Input::TransferDone { id, result: Ok(1) };
        assert!(transfers.ended(&Input::ControlEof).is_none());
        let counted = transfers.ended(&done).expect("the transfer was running");
        assert!(transfers.is_empty());
        drop(counted);
        assert!(!host.lifecycle().drain(), "the bytes are still moving");
        assert!(matches!(job.run(&host), Completion::Input(i) if i == done));
        assert!(host.lifecycle().drain());
        assert!(transfers.ended(&done).is_none(), "reported once");

        // The other order: the bytes are moved, the final reply is not written yet.
        let job = open_and_move(&mut transfers, &setup, &host, id);
        assert!(matches!(job.run(&host), Completion::Input(i) if i == done));
        assert!(
            !host.lifecycle().drain(),
            "its final reply is not written yet"
        );
        drop(transfers.ended(&done));
        assert!(host.lifecycle().drain());
    }

    #[test]
    fn a_file_that_cannot_be_opened_ends_the_transfer_before_any_byte() {
        let (_dir, host) = host(&[]);
        let span = Span::none();
        let guard = host.admission().try_admit([192, 0, 2, 1].into()).unwrap();
        let setup = setup(&host, &span, &guard);
        let mut transfers = Transfers::default();
        let id = TransferId::from_raw(3);
        let kind = TransferKind::ReceiveFile {
            path: thinftp::VirtualPath::root()
                .resolve("missing/new.txt")
                .unwrap(),
            mode: thinftp::WriteMode::Replace,
            ascii: false,
        };
        let job = transfers
            .start(&setup, id, kind, Some(stream()), Protection::Clear)
            .unwrap();
        let Completion::Input(done) = job.run(&host) else {
            panic!("no directory, no upload");
        };
        assert_eq!(
            done,
            Input::TransferDone {
                id,
                result: Err(TransferError::Fs(thinftp::FsError::NotFound))
            }
        );
        assert!(transfers.ended(&done).is_some());
        assert!(transfers.is_empty());
    }

    #[test]
    fn a_transfer_aborted_while_it_opens_never_moves() {
        let (_dir, host) = host(&[]);
        let span = Span::none();
        let guard = host.admission().try_admit([192, 0, 2, 1].into()).unwrap();
        let setup = setup(&host, &span, &guard);
        let mut transfers = Transfers::default();
        let id = TransferId::from_raw(4);
        let job = transfers
            .start(&setup, id, bytes(), Some(stream()), Protection::Clear)
            .unwrap();
        transfers.abort(id);
        let Completion::TransferOpened { opened, .. } = job.run(&host) else {
            panic!("a listing's bytes always open");
        };
        assert_eq!(
            transfers.opened(id, opened),
            Some(Input::TransferDone {
                id,
                result: Err(TransferError::Aborted)
            }),
            "the core hears it ended, not that it opened"
        );
    }

    #[test]
    fn a_transfer_without_a_connection_is_answered_at_once() {
        let (_dir, host) = host(&[]);
        let span = Span::none();
        let guard = host.admission().try_admit([192, 0, 2, 1].into()).unwrap();
        let mut transfers = Transfers::<TcpStream>::default();
        let id = TransferId::from_raw(7);
        let answer = transfers
            .start(
                &setup(&host, &span, &guard),
                id,
                bytes(),
                None,
                Protection::Clear,
            )
            .unwrap_err();
        assert_eq!(
            answer,
            Input::TransferDone {
                id,
                result: Err(TransferError::ConnectionLost)
            }
        );
        assert!(transfers.is_empty());
        assert!(host.lifecycle().drain());
    }

    #[test]
    fn aborting_reaches_the_running_transfer() {
        let (_dir, host) = host(&[]);
        let span = Span::none();
        let guard = host.admission().try_admit([192, 0, 2, 1].into()).unwrap();
        let mut transfers = Transfers::default();
        let id = TransferId::from_raw(1);
        let setup = setup(&host, &span, &guard);
        let job = open_and_move(&mut transfers, &setup, &host, id);
        let Task::Transfer { abort, .. } = &job.task else {
            panic!("a transfer with a connection starts");
        };
        transfers.abort(TransferId::from_raw(2));
        assert!(!abort.is_aborted(), "another id");
        transfers.abort(id);
        assert!(abort.is_aborted());
    }
}
