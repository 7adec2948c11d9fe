//! The transfers of one session that run, or whose final reply is not written yet.

use std::collections::HashMap;
use std::time::Duration;

use thinftp::{Input, TransferError, TransferId, TransferKind};
use tracing::Span;

use super::work::{Job, Task};
use crate::limits::SessionGuard;
use crate::shutdown::TransferGuard;
use crate::storage::Storage;
use crate::transfer::AbortHandle;
use crate::Host;

/// What the session needs of each running transfer: the handle to abort it and the
/// [`TransferGuard`] that makes shutdown wait for its final reply.
#[derive(Debug, Default)]
pub(super) struct Transfers {
    running: HashMap<TransferId, Running>,
}

#[derive(Debug)]
struct Running {
    abort: AbortHandle,
    /// Counts the transfer for [`Lifecycle::drain`](crate::shutdown::Lifecycle::drain) until its final reply is written (with the clone
    /// in the [`Job`], while the bytes move).
    counted: TransferGuard,
}

/// What a transfer needs besides its connection.
pub(super) struct Setup<'a> {
    pub(super) host: &'a Host,
    pub(super) storage: &'a Storage,
    pub(super) span: &'a Span,
    pub(super) session: &'a SessionGuard,
    pub(super) stall: Duration,
}

impl Transfers {
    /// For [`Output::StartTransfer`](thinftp::Output::StartTransfer) on the data connection
    /// `stream`: the job that runs it. Without a connection (the core named a channel the
    /// driver does not hold: a bug) it is `Err` with the answer to feed instead.
    pub(super) fn start<S>(
        &mut self,
        setup: &Setup<'_>,
        id: TransferId,
        kind: TransferKind,
        stream: Option<S>,
    ) -> Result<Job<S>, Input> {
        let Some(stream) = stream else {
            tracing::error!(%id, "transfer on a data connection the driver does not hold");
            return Err(Input::TransferDone {
                id,
                result: Err(TransferError::ConnectionLost),
            });
        };
        let abort = AbortHandle::new();
        let counted = setup.host.lifecycle().enter_transfer();
        let running = Running {
            abort: abort.clone(),
            counted: counted.clone(),
        };
        self.running.insert(id, running);
        let task = Task::Transfer {
            id,
            kind,
            stream,
            storage: setup.storage.clone(),
            stall: setup.stall,
            abort,
            counted,
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
    /// forgotten and its guard returned: hold it until the outputs that follow the input are
    /// carried out (the transfer's final reply is written), so that shutdown waits for that
    /// reply too.
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
        Setup {
            host,
            storage: host.storage(),
            span,
            session,
            stall: Duration::from_secs(5),
        }
    }

    fn bytes() -> TransferKind {
        TransferKind::SendBytes(bytes::Bytes::from_static(b"x"))
    }

    #[test]
    fn shutdown_waits_for_a_transfer_until_its_final_reply() {
        let (_dir, host) = host(&["--shutdown-grace", "0"]);
        let span = Span::none();
        let guard = host.admission().try_admit([192, 0, 2, 1].into()).unwrap();
        let mut transfers = Transfers::default();
        let id = TransferId::from_raw(1);
        let job = transfers
            .start(&setup(&host, &span, &guard), id, bytes(), Some(stream()))
            .unwrap();
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
        assert_eq!(job.run(&host), done);
        assert!(host.lifecycle().drain());
        assert!(transfers.ended(&done).is_none(), "reported once");

        // The other order: the bytes are moved, the final reply is not written yet.
        let job = transfers
            .start(&setup(&host, &span, &guard), id, bytes(), Some(stream()))
            .unwrap();
        assert_eq!(job.run(&host), done);
        assert!(
            !host.lifecycle().drain(),
            "its final reply is not written yet"
        );
        drop(transfers.ended(&done));
        assert!(host.lifecycle().drain());
    }

    #[test]
    fn a_transfer_without_a_connection_is_answered_at_once() {
        let (_dir, host) = host(&[]);
        let span = Span::none();
        let guard = host.admission().try_admit([192, 0, 2, 1].into()).unwrap();
        let mut transfers = Transfers::default();
        let id = TransferId::from_raw(7);
        let answer = transfers
            .start::<TcpStream>(&setup(&host, &span, &guard), id, bytes(), None)
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
        let job = transfers
            .start(&setup(&host, &span, &guard), id, bytes(), Some(stream()))
            .unwrap();
        let Task::Transfer { abort, .. } = &job.task else {
            panic!("a transfer with a connection starts");
        };
        transfers.abort(TransferId::from_raw(2));
        assert!(!abort.is_aborted(), "another id");
        transfers.abort(id);
        assert!(abort.is_aborted());
    }
}
