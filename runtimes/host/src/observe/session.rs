//! What one session does, as metrics, transfer log lines and audit lines: read off the inputs
//! the driver feeds the core and the outputs it carries out, so that no runtime and no part of
//! the driver counts anything itself.
//!
//! The [`Driver`](crate::driver::Driver) calls [`SessionObserver::input`] with every input
//! it feeds and [`SessionObserver::output`] with every output it takes from the core.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use thinftp::{
    AuthResult, DataId, FsError, FsId, FsOp, Input, Output, TransferError, TransferId, TransferKind,
};

use super::commands::CommandTally;
use super::transfer_log::{Direction, Record, Status};
use super::Observe;
use crate::progress::TransferProgress;

/// The tracing target of audit lines: one per change to the files (upload, delete, rename,
/// mkdir, rmdir, chmod, mfmt), inside the session's span (id, client, user).
pub const AUDIT_TARGET: &str = "thinftp::audit";

/// One session's view for metrics, the transfer log and audit lines.
#[derive(Debug)]
pub struct SessionObserver {
    observe: Observe,
    id: u64,
    peer: SocketAddr,
    commands: CommandTally,
    /// The command counters this session moved, by verb and reply class: kept, as a session
    /// uses few verbs many times.
    counters: Vec<(&'static str, u16, super::metrics::Counter)>,
    /// The name of the login being checked, and the user logged in.
    checking: Option<String>,
    user: Option<String>,
    /// Changes asked for, until their answer.
    changes: HashMap<FsId, FsOp>,
    /// Data channels waiting for a connection: passive or not.
    channels: HashMap<DataId, bool>,
    transfers: HashMap<TransferId, Transfer>,
}

#[derive(Debug)]
struct Transfer {
    kind: Kind,
    /// `PROT P`: a TLS handshake on the data connection comes first.
    private: bool,
    /// When the bytes started to move (its `150`); `None` while its file opens.
    started: Option<Instant>,
    /// The bytes moved so far, for a transfer that ends without a count of its own (aborted,
    /// failed, or cut by the end of the session); given by the driver ([`SessionObserver::count`]).
    progress: Option<TransferProgress>,
}

impl Transfer {
    /// The bytes it moved before it ended without a count (0 if the driver gave none).
    fn moved(&self) -> u64 {
        self.progress.as_ref().map_or(0, TransferProgress::moved)
    }
}

#[derive(Debug)]
enum Kind {
    File {
        direction: Direction,
        path: String,
        ascii: bool,
    },
    Listing,
}

impl SessionObserver {
    /// For the session `id` of the client at `peer`.
    pub fn new(observe: Observe, id: u64, peer: SocketAddr) -> Self {
        SessionObserver {
            observe,
            id,
            peer,
            commands: CommandTally::default(),
            counters: Vec::new(),
            checking: None,
            user: None,
            changes: HashMap::new(),
            channels: HashMap::new(),
            transfers: HashMap::new(),
        }
    }

    /// An input the core is about to be fed.
    pub fn input(&mut self, input: &Input) {
        let metrics = &self.observe.metrics;
        match input {
            Input::ControlBytes(bytes) => self.commands.bytes(bytes),
            Input::Auth { result, .. } => {
                let name = self.checking.take();
                if matches!(result, AuthResult::Accepted(_)) {
                    self.user = name;
                }
            }
            Input::Fs { id, result } => {
                if let Err(e) = result {
                    metrics.storage_error(error_kind(*e));
                }
                if let Some(op) = self.changes.remove(id) {
                    audit(&op, result.as_ref().err());
                }
            }
            Input::DataConnected { id, .. } => {
                if let Some(passive) = self.channels.remove(id) {
                    metrics.data_connection(if passive { "passive" } else { "active" });
                }
            }
            Input::ConnectFailed { id } | Input::PassiveFailed { id } => {
                self.channels.remove(id);
            }
            Input::ControlSecured(_) => metrics.tls_handshake("control", "ok"),
            Input::ControlTlsFailed => metrics.tls_handshake("control", "failed"),
            Input::TransferDone { id, result } => {
                if let Some(transfer) = self.transfers.remove(id) {
                    self.transfer_done(transfer, *result);
                }
            }
            _ => {}
        }
    }

    /// An output taken from the core, about to be carried out.
    pub fn output(&mut self, output: &Output) {
        match output {
            Output::Reply(reply) => {
                if let Some(verb) = self.commands.reply(reply.code()) {
                    self.count_command(verb, reply.code());
                }
            }
            Output::Authenticate { user, .. } => self.checking = Some(user.clone()),
            Output::Fs { id, op } if is_change(op) => {
                self.changes.insert(*id, op.clone());
            }
            Output::OpenPassive { id, .. } => {
                self.channels.insert(*id, true);
            }
            Output::Connect { id, .. } => {
                self.channels.insert(*id, false);
            }
            Output::CloseData { id } => {
                self.channels.remove(id);
            }
            Output::StartTransfer {
                id,
                kind,
                protection,
                ..
            } => {
                let kind = match kind {
                    TransferKind::SendFile { path, ascii, .. } => Kind::File {
                        direction: Direction::Download,
                        path: path.to_string(),
                        ascii: *ascii,
                    },
                    TransferKind::ReceiveFile { path, ascii, .. } => Kind::File {
                        direction: Direction::Upload,
                        path: path.to_string(),
                        ascii: *ascii,
                    },
                    _ => Kind::Listing,
                };
                let transfer = Transfer {
                    kind,
                    private: *protection == thinftp::DataProtection::Private,
                    started: None,
                    progress: None,
                };
                self.transfers.insert(*id, transfer);
            }
            Output::MoveBytes { id } => {
                if let Some(transfer) = self.transfers.get_mut(id) {
                    transfer.started = Some(Instant::now());
                }
            }
            _ => {}
        }
    }

    /// The driver counts the bytes of transfer `id` (started, see [`output`](Self::output))
    /// in `progress`: what an aborted or failed transfer reports.
    pub fn count(&mut self, id: TransferId, progress: TransferProgress) {
        if let Some(transfer) = self.transfers.get_mut(&id) {
            transfer.progress = Some(progress);
        }
    }

    fn count_command(&mut self, verb: &'static str, code: u16) {
        let class = code / 100;
        let kept = self
            .counters
            .iter()
            .find(|(v, c, _)| *c == class && *v == verb);
        match kept {
            Some((_, _, counter)) => {
                counter.inc();
            }
            None => {
                let counter = self.observe.metrics.command_counter(verb, code);
                counter.inc();
                self.counters.push((verb, class, counter));
            }
        }
    }

    fn transfer_done(&self, transfer: Transfer, result: Result<u64, TransferError>) {
        // The data connection's handshake: it failed, or a transfer that ended well had one.
        match result {
            Err(TransferError::TlsFailed) => self.observe.metrics.tls_handshake("data", "failed"),
            Err(TransferError::TlsNotResumed) => {
                self.observe.metrics.tls_handshake("data", "not_resumed");
            }
            Ok(_) if transfer.private => self.observe.metrics.tls_handshake("data", "ok"),
            _ => {}
        }
        let Some(started) = transfer.started else {
            // It never opened: the client got an error instead of a `150`.
            if let Err(TransferError::Fs(e)) = result {
                self.observe.metrics.storage_error(error_kind(e));
            }
            return;
        };
        let seconds = started.elapsed().as_secs_f64();
        let (status, bytes) = match result {
            Ok(bytes) => (Status::Complete, bytes),
            Err(TransferError::Aborted) => (Status::Aborted, transfer.moved()),
            Err(TransferError::Fs(e)) => {
                self.observe.metrics.storage_error(error_kind(e));
                (Status::Failed, transfer.moved())
            }
            Err(_) => (Status::Failed, transfer.moved()),
        };
        self.finished(transfer.kind, status, bytes, seconds);
    }

    fn finished(&self, kind: Kind, status: Status, bytes: u64, seconds: f64) {
        let metrics = &self.observe.metrics;
        let label = match status {
            Status::Complete => "ok",
            Status::Aborted => "aborted",
            Status::Failed => "failed",
        };
        let Kind::File {
            direction,
            path,
            ascii,
        } = kind
        else {
            metrics.transfer("listing", label, bytes, seconds);
            return;
        };
        let name = match direction {
            Direction::Download => "download",
            Direction::Upload => "upload",
        };
        metrics.transfer(name, label, bytes, seconds);
        if direction == Direction::Upload {
            tracing::info!(target: AUDIT_TARGET, action = "upload", path = path.as_str(), bytes, outcome = status.as_str(), "change");
        }
        if let Some(log) = &self.observe.transfer_log {
            let user = self.user.clone().unwrap_or_default();
            log.record(&Record {
                time: SystemTime::now(),
                session: self.id,
                client: self.peer.ip().to_canonical(),
                anonymous: crate::auth::ANONYMOUS_NAMES
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&user)),
                user,
                path,
                direction,
                ascii,
                bytes,
                seconds,
                status,
            });
        }
    }
}

impl Drop for SessionObserver {
    /// Transfers still moving when the session ends (the client hung up, or shutdown) were cut:
    /// they report the bytes moved until now.
    fn drop(&mut self) {
        for (_, transfer) in std::mem::take(&mut self.transfers) {
            if let Some(started) = transfer.started {
                let seconds = started.elapsed().as_secs_f64();
                let moved = transfer.moved();
                self.finished(transfer.kind, Status::Aborted, moved, seconds);
            }
        }
    }
}

/// Whether `op` changes the files (and gets an audit line).
fn is_change(op: &FsOp) -> bool {
    matches!(
        op,
        FsOp::MakeDir(_)
            | FsOp::RemoveDir(_)
            | FsOp::RemoveFile(_)
            | FsOp::Rename { .. }
            | FsOp::SetModified { .. }
            | FsOp::SetMode { .. }
    )
}

/// The audit line of the change `op`, done or refused with `error`.
fn audit(op: &FsOp, error: Option<&FsError>) {
    let outcome = match error {
        None => "ok",
        Some(e) => error_kind(*e),
    };
    match op {
        FsOp::MakeDir(path) => {
            tracing::info!(target: AUDIT_TARGET, action = "mkdir", path = path.as_str(), outcome, "change");
        }
        FsOp::RemoveDir(path) => {
            tracing::info!(target: AUDIT_TARGET, action = "rmdir", path = path.as_str(), outcome, "change");
        }
        FsOp::RemoveFile(path) => {
            tracing::info!(target: AUDIT_TARGET, action = "delete", path = path.as_str(), outcome, "change");
        }
        FsOp::Rename { from, to } => {
            tracing::info!(target: AUDIT_TARGET, action = "rename", path = from.as_str(), to = to.as_str(), outcome, "change");
        }
        FsOp::SetModified { path, unix_secs } => {
            tracing::info!(target: AUDIT_TARGET, action = "mfmt", path = path.as_str(), unix_secs, outcome, "change");
        }
        FsOp::SetMode { path, mode } => {
            let mode = format!("{mode:03o}");
            tracing::info!(target: AUDIT_TARGET, action = "chmod", path = path.as_str(), mode, outcome, "change");
        }
        _ => {}
    }
}

/// The label of a storage error kind.
fn error_kind(e: FsError) -> &'static str {
    match e {
        FsError::NotFound => "not_found",
        FsError::PermissionDenied => "permission_denied",
        FsError::AlreadyExists => "already_exists",
        FsError::NotADirectory => "not_a_directory",
        FsError::IsADirectory => "is_a_directory",
        FsError::DirectoryNotEmpty => "directory_not_empty",
        FsError::NoSpace => "no_space",
        FsError::InvalidName => "invalid_name",
        FsError::Unsupported => "unsupported",
        FsError::QuotaExceeded => "quota_exceeded",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thinftp::{Reply, VirtualPath, WriteMode};

    fn observer() -> (Observe, SessionObserver) {
        let observe = Observe::default();
        let peer = "192.0.2.1:40000".parse().unwrap();
        (observe.clone(), SessionObserver::new(observe, 1, peer))
    }

    #[test]
    fn a_quota_refusal_is_its_own_kind_of_storage_error() {
        assert_eq!(error_kind(FsError::QuotaExceeded), "quota_exceeded");
        assert_eq!(error_kind(FsError::NoSpace), "no_space");
    }

    fn has(observe: &Observe, line: &str) -> bool {
        observe.metrics.render(0).lines().any(|l| l == line)
    }

    fn upload(id: u64) -> Output {
        Output::StartTransfer {
            id: TransferId::from_raw(id),
            data: DataId::from_raw(id),
            kind: TransferKind::ReceiveFile {
                path: VirtualPath::root().resolve("f").unwrap(),
                mode: WriteMode::Replace,
                ascii: false,
            },
            protection: thinftp::DataProtection::Clear,
        }
    }

    #[test]
    fn a_transfer_refused_before_its_150_is_a_storage_error_not_a_transfer() {
        let (observe, mut o) = observer();
        o.output(&upload(1));
        o.input(&Input::TransferDone {
            id: TransferId::from_raw(1),
            result: Err(TransferError::Fs(FsError::NoSpace)),
        });
        assert!(has(
            &observe,
            "thinftp_storage_errors_total{kind=\"no_space\"} 1"
        ));
        assert!(!observe
            .metrics
            .render(0)
            .contains("thinftp_transfers_total{"));
    }

    #[test]
    fn a_session_that_ends_mid_transfer_counts_it_aborted() {
        let (observe, mut o) = observer();
        o.output(&upload(2));
        o.output(&Output::MoveBytes {
            id: TransferId::from_raw(2),
        });
        drop(o);
        assert!(has(
            &observe,
            "thinftp_transfers_total{direction=\"upload\",status=\"aborted\"} 1"
        ));
    }

    #[test]
    fn aborted_and_failed_transfers_count_the_bytes_they_moved() {
        let (observe, mut o) = observer();
        for (n, result) in [
            (6, Err(TransferError::Aborted)),
            (7, Err(TransferError::ConnectionLost)),
        ] {
            let id = TransferId::from_raw(n);
            o.output(&upload(n));
            let progress = TransferProgress::new();
            o.count(id, progress.clone());
            o.output(&Output::MoveBytes { id });
            progress.add(1000 * n);
            o.input(&Input::TransferDone { id, result });
        }
        for line in [
            "thinftp_transfers_total{direction=\"upload\",status=\"aborted\"} 1",
            "thinftp_transfers_total{direction=\"upload\",status=\"failed\"} 1",
            "thinftp_transfer_bytes_total{direction=\"upload\"} 13000",
        ] {
            assert!(has(&observe, line), "{line}");
        }
    }

    #[test]
    fn tls_handshakes_count_by_channel_and_result() {
        let (observe, mut o) = observer();
        o.input(&Input::ControlTlsFailed);
        let Output::StartTransfer { data, kind, .. } = upload(3) else {
            unreachable!()
        };
        for (n, result) in [
            (3, Ok(5)),
            (4, Err(TransferError::TlsNotResumed)),
            (5, Err(TransferError::TlsFailed)),
        ] {
            o.output(&Output::StartTransfer {
                id: TransferId::from_raw(n),
                data,
                kind: kind.clone(),
                protection: thinftp::DataProtection::Private,
            });
            o.output(&Output::MoveBytes {
                id: TransferId::from_raw(n),
            });
            o.input(&Input::TransferDone {
                id: TransferId::from_raw(n),
                result,
            });
        }
        for line in [
            "thinftp_tls_handshakes_total{channel=\"control\",result=\"failed\"} 1",
            "thinftp_tls_handshakes_total{channel=\"data\",result=\"ok\"} 1",
            "thinftp_tls_handshakes_total{channel=\"data\",result=\"not_resumed\"} 1",
            "thinftp_tls_handshakes_total{channel=\"data\",result=\"failed\"} 1",
        ] {
            assert!(has(&observe, line), "{line}");
        }
    }

    #[test]
    fn data_connections_count_once_by_mode() {
        let (observe, mut o) = observer();
        let ip = "192.0.2.2".parse().unwrap();
        let peer = "192.0.2.1:40001".parse().unwrap();
        o.output(&Output::OpenPassive {
            id: DataId::from_raw(1),
            ip,
        });
        o.output(&Output::Connect {
            id: DataId::from_raw(2),
            addr: peer,
        });
        for id in [1, 1, 2] {
            o.input(&Input::DataConnected {
                id: DataId::from_raw(id),
                peer,
            });
        }
        assert!(has(
            &observe,
            "thinftp_data_connections_total{mode=\"passive\"} 1"
        ));
        assert!(has(
            &observe,
            "thinftp_data_connections_total{mode=\"active\"} 1"
        ));
        // Replies count against the command lines they answer.
        o.input(&Input::ControlBytes(bytes::Bytes::from_static(
            b"NOOP\r\nNOOP\r\n",
        )));
        o.output(&Output::Reply(Reply::new(200, "ok")));
        o.output(&Output::Reply(Reply::new(200, "ok")));
        o.output(&Output::Reply(Reply::new(421, "bye")));
        assert!(has(
            &observe,
            "thinftp_commands_total{verb=\"NOOP\",class=\"2xx\"} 2"
        ));
    }
}
