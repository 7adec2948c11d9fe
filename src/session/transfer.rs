//! Transfer commands: RETR, STOR, APPE, STOU, LIST, NLST, MLSD, STAT with a path, ABOR, and the
//! settings they use (TYPE, REST).

use bytes::Bytes;

use super::fs_answers::{FsThen, GlobFallback, ListKind};
use super::timers::Timer;
use super::{fs_error_text, Busy, Session};
use crate::command::TransferType;
use crate::error::{DriveError, RequestKind};
use crate::events::{Output, TransferError, TransferKind, WriteMode};
use crate::fs::{FileKind, FsError, FsOp, Listing, Metadata};
use crate::glob::ListPattern;
use crate::ids::TransferId;
use crate::listing::{self, ListFormat};
use crate::path::VirtualPath;
use crate::reply::Reply;

/// A transfer command between its checks and its final reply.
#[derive(Debug)]
pub(super) struct PendingTransfer {
    kind: TransferKind,
    /// The `150`, sent once the data connection is there and the runtime has opened the file
    /// (or directory): a refusal to open comes instead of it, never after it.
    opening: Reply,
    /// The text of the `226`.
    done_text: String,
    running: Option<TransferId>,
    /// The runtime reported [`Input::TransferOpened`](crate::Input::TransferOpened): the `150`
    /// went out and the bytes move.
    opened: bool,
    abort_requested: bool,
}

impl PendingTransfer {
    /// The transfer's id once [`Output::StartTransfer`] went out.
    pub(super) fn running(&self) -> Option<TransferId> {
        self.running
    }

    /// Whether `ABOR` asked the runtime to stop it already.
    pub(super) fn abort_pending(&self) -> bool {
        self.abort_requested
    }
}

impl Session {
    pub(super) fn cmd_type(&mut self, transfer_type: TransferType) {
        self.transfer_type = transfer_type;
        match transfer_type {
            TransferType::Ascii => self.reply(200, "Switching to ASCII mode."),
            TransferType::Image => self.reply(200, "Switching to Binary mode."),
        }
    }

    pub(super) fn cmd_rest(&mut self, offset: u64) {
        self.rest = Some(offset);
        self.reply(350, &format!("Restart position accepted ({offset})."));
    }

    fn ascii(&self) -> bool {
        self.transfer_type == TransferType::Ascii
    }

    pub(super) fn cmd_retr(&mut self, arg: &str) {
        let offset = self.rest.take().unwrap_or(0);
        if self.refuse_clear_data() {
            return;
        }
        if !self.has_data_channel() {
            return self.reply_no_data_channel();
        }
        let Some((_, path)) = self.resolve(arg) else {
            return;
        };
        self.request_fs(FsOp::Stat(path.clone()), FsThen::Retr { path, offset });
    }

    /// A transfer that starts at `offset` of the file described by `meta` (`RETR`, `REST` +
    /// `STOR`): only a regular file, only an offset within it. Otherwise the refusal is sent and
    /// the data channel closed.
    fn restart_allowed(&mut self, offset: u64, meta: &Metadata) -> bool {
        if !is_retrievable(meta) {
            self.close_data_channel();
            self.reply(550, "Not a regular file.");
            return false;
        }
        if offset > meta.size {
            self.close_data_channel();
            self.reply(554, "Restart position beyond the end of the file.");
            return false;
        }
        true
    }

    /// `RETR` after its `Stat`: only regular files, only offsets within the file.
    pub(super) fn retr_checked(&mut self, path: VirtualPath, offset: u64, meta: &Metadata) {
        if !self.restart_allowed(offset, meta) {
            return;
        }
        let mode = if self.ascii() { "ASCII" } else { "BINARY" };
        let name = path.file_name().unwrap_or("/");
        let opening = format!(
            "Opening {mode} mode data connection for {name} ({} bytes).",
            meta.size
        );
        let ascii = self.ascii();
        self.begin_transfer(
            TransferKind::SendFile {
                path,
                offset,
                ascii,
            },
            Reply::new(150, &opening),
            "Transfer complete.",
        );
    }

    /// `STOR` (or `APPE` when `append`).
    pub(super) fn cmd_stor(&mut self, arg: &str, append: bool) {
        let rest = self.rest.take();
        if !self.require_write() || self.refuse_clear_data() {
            return;
        }
        if !self.has_data_channel() {
            return self.reply_no_data_channel();
        }
        let Some((_, path)) = self.resolve_below_root(arg, 553, "File name not allowed.") else {
            return;
        };
        let mode = match (append, rest) {
            (true, _) => WriteMode::Append,
            (false, Some(offset)) if offset > 0 => {
                // Resuming needs the file, and an offset within it: look first, so that a
                // missing file is not created and an offset past the end is not a sparse hole.
                return self.request_fs(
                    FsOp::Stat(path.clone()),
                    FsThen::StorResume { path, offset },
                );
            }
            (false, _) => WriteMode::Replace,
        };
        self.begin_receive(path, mode);
    }

    /// `REST` + `STOR` after its `Stat`: only a regular file, only an offset within it (`554`
    /// beyond the end, as for `RETR`).
    pub(super) fn stor_resume_checked(&mut self, path: VirtualPath, offset: u64, meta: &Metadata) {
        if !self.restart_allowed(offset, meta) {
            return;
        }
        self.begin_receive(path, WriteMode::Resume(offset));
    }

    fn begin_receive(&mut self, path: VirtualPath, mode: WriteMode) {
        let ascii = self.ascii();
        self.begin_transfer(
            TransferKind::ReceiveFile { path, mode, ascii },
            Reply::new(150, "Ok to send data."),
            "Transfer complete.",
        );
    }

    pub(super) fn cmd_stou(&mut self) {
        self.rest = None;
        if !self.require_write() || self.refuse_clear_data() {
            return;
        }
        if !self.has_data_channel() {
            return self.reply_no_data_channel();
        }
        let Some((_, dir)) = self.resolve(".") else {
            return;
        };
        self.request_fs(FsOp::CreateUnique { dir }, FsThen::Stou);
    }

    /// `STOU` after `CreateUnique`: receive into the new file (RFC 1123 4.1.2.9: `150 FILE:`).
    pub(super) fn stou_created(&mut self, path: VirtualPath) {
        let name = path.file_name().unwrap_or_default().to_owned();
        let ascii = self.ascii();
        self.begin_transfer(
            TransferKind::ReceiveFile {
                path,
                mode: WriteMode::New,
                ascii,
            },
            Reply::new(150, &format!("FILE: {name}")),
            &format!("Transfer complete (unique file name: {name})."),
        );
    }

    /// `LIST`, `NLST`, `MLSD`.
    pub(super) fn cmd_list(&mut self, kind: ListKind, arg: Option<String>) {
        if self.refuse_clear_data() {
            return;
        }
        if !self.has_data_channel() {
            return self.reply_no_data_channel();
        }
        let arg = arg.unwrap_or_default();
        let target = if arg.is_empty() { "." } else { arg.as_str() };
        let Some((_, path)) = self.resolve(target) else {
            return;
        };
        let glob = match kind {
            // MLSD takes a directory, never a pattern (RFC 3659 7.1).
            ListKind::Mlsd => None,
            ListKind::List | ListKind::Nlst => {
                glob_fallback(&arg, &path, self.config.max_glob_matches)
            }
        };
        if let Some(glob) = glob {
            // A pattern: the name as given is looked up first (a file may really be called
            // `*.bin`); only if nothing has it is the pattern's directory streamed through it.
            let then = FsThen::ListPattern {
                kind,
                path: path.clone(),
                name: arg,
                glob,
            };
            return self.request_fs(FsOp::Stat(path), then);
        }
        self.stream_listing(kind, path, arg, None);
    }

    /// Streams the listing of `path` on the data connection: storage sends the entries
    /// through the renderer (those `pattern` matches, if set). The directory is opened before
    /// the 150, so a missing one (or a pattern without a match) gets its 550 instead.
    pub(super) fn stream_listing(
        &mut self,
        kind: ListKind,
        path: VirtualPath,
        name: String,
        pattern: Option<ListPattern>,
    ) {
        let format = match kind {
            ListKind::List => ListFormat::List,
            ListKind::Nlst => ListFormat::Nlst,
            ListKind::Mlsd => ListFormat::Mlsd {
                facts: self.facts,
                writable: self.may_write(),
            },
        };
        self.begin_transfer(
            TransferKind::SendListing {
                path,
                format,
                name,
                pattern,
            },
            Reply::new(150, "Here comes the directory listing."),
            "Directory send OK.",
        );
    }

    /// `STAT path`: a `LIST` over the control connection.
    pub(super) fn cmd_stat_path(&mut self, arg: &str) {
        let Some((_, path)) = self.resolve(arg) else {
            return;
        };
        let glob = glob_fallback(arg, &path, self.config.max_glob_matches);
        // At most STAT_MAX_ENTRIES are shown: storage need not read more than one beyond.
        let max = listing::STAT_MAX_ENTRIES + 1;
        self.request_fs(
            FsOp::ListDirFirst {
                path: path.clone(),
                max,
                pattern: None,
            },
            FsThen::ListDir {
                kind: None,
                path,
                name: arg.to_owned(),
                glob,
            },
        );
    }

    /// A listing arrived: send it on the data connection, or (for `STAT`) on the control one.
    pub(super) fn listing_ready(&mut self, kind: Option<ListKind>, name: &str, listing: &Listing) {
        let writable = self.may_write();
        let body = match kind {
            None => {
                // Over the control connection: at most STAT_MAX_ENTRIES lines (storage may
                // have stopped reading after one more), then a line saying it was cut.
                let cut = listing.entries.len() > listing::STAT_MAX_ENTRIES;
                let mut shown = Listing {
                    entries: listing.entries.clone(),
                    now: listing.now,
                };
                shown.entries.sort_by(|a, b| a.name.cmp(&b.name));
                shown.entries.truncate(listing::STAT_MAX_ENTRIES);
                let text = listing::render_list(&shown);
                let text = String::from_utf8_lossy(&text);
                let mut lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
                let more = format!(
                    "... more than {} entries; use LIST for all of them.",
                    listing::STAT_MAX_ENTRIES
                );
                if cut {
                    lines.push(&more);
                }
                let first = if name.is_empty() {
                    "Status follows:".to_owned()
                } else {
                    format!("Status of {name}:")
                };
                return self.send(Reply::multiline(213, &first, lines, "End of status."));
            }
            Some(ListKind::List) => listing::render_list(listing),
            Some(ListKind::Nlst) => listing::render_nlst(listing),
            Some(ListKind::Mlsd) => listing::render_mlsd(listing, self.facts, writable),
        };
        self.begin_transfer(
            TransferKind::SendBytes(Bytes::from(body)),
            Reply::new(150, "Here comes the directory listing."),
            "Directory send OK.",
        );
    }

    /// Waits for the data connection (connecting out in active mode), then starts `kind`.
    fn begin_transfer(&mut self, kind: TransferKind, opening: Reply, done_text: &str) {
        if !self.prepare_data_connection() {
            return;
        }
        self.busy = Busy::Transfer(PendingTransfer {
            kind,
            opening,
            done_text: done_text.to_owned(),
            running: None,
            opened: false,
            abort_requested: false,
        });
        self.start_waiting_transfer();
    }

    /// If a transfer waits and its data connection is up: ask the runtime to open it. The `150`
    /// waits for [`on_transfer_opened`](Self::on_transfer_opened).
    pub(super) fn start_waiting_transfer(&mut self) {
        let Some(data) = self.connected_data() else {
            return;
        };
        let Busy::Transfer(pending) = &mut self.busy else {
            return;
        };
        if pending.running.is_some() {
            return;
        }
        let id = TransferId::from_raw(self.ids.next(RequestKind::Transfer));
        pending.running = Some(id);
        let kind = pending.kind.clone();
        let protection = self.tls.protection;
        self.outputs.push_back(Output::StartTransfer {
            id,
            data,
            kind,
            protection,
        });
        // A running transfer is activity: no idle timeout until it ends.
        self.timers.clear(Timer::Idle);
    }

    /// The data connection for a waiting transfer could not be made.
    pub(super) fn fail_waiting_transfer(&mut self) {
        if let Busy::Transfer(pending) = &self.busy {
            if pending.running.is_none() {
                let kind = pending.kind.clone();
                self.busy = Busy::Idle;
                self.reply(425, "Cannot open data connection.");
                self.arm_idle();
                self.remove_unused_unique_file(&kind);
            }
        }
    }

    /// A `STOU` that failed (its data connection failed or was lost, it was aborted, or its
    /// file could not be opened or written): its new file, empty or partly received, is removed,
    /// so that a failed `STOU` leaves nothing behind, as a failed `STOR` of a new name does. The
    /// answer is not the client's business: no reply.
    fn remove_unused_unique_file(&mut self, kind: &TransferKind) {
        if let TransferKind::ReceiveFile {
            path,
            mode: WriteMode::New,
            ..
        } = kind
        {
            if !(self.closed || self.shutting_down || self.quit_after_transfer) {
                self.request_fs(FsOp::RemoveFile(path.clone()), FsThen::Discard);
            }
        }
    }

    /// The runtime opened the transfer's file or directory: `150`, then let the bytes move.
    /// After `ABOR` or [`Input::Shutdown`](crate::Input::Shutdown) the transfer is being
    /// stopped: the runtime ends it without the bytes.
    pub(super) fn on_transfer_opened(&mut self, id: TransferId) -> Result<(), DriveError> {
        let Busy::Transfer(pending) = &mut self.busy else {
            return Err(self.ids.unawaited(id.raw(), RequestKind::Transfer));
        };
        if pending.running != Some(id) || pending.opened {
            return Err(self.ids.unawaited(id.raw(), RequestKind::Transfer));
        }
        if pending.abort_requested || self.shutting_down {
            // Being stopped (ABOR, or the server shutting down): no 150, no bytes.
            return Ok(());
        }
        pending.opened = true;
        let opening = pending.opening.clone();
        self.outputs.push_back(Output::Reply(opening));
        self.outputs.push_back(Output::MoveBytes { id });
        Ok(())
    }

    pub(super) fn on_transfer_done(
        &mut self,
        id: TransferId,
        result: Result<u64, TransferError>,
    ) -> Result<(), DriveError> {
        let pending = match std::mem::replace(&mut self.busy, Busy::Idle) {
            Busy::Transfer(pending) if pending.running == Some(id) => pending,
            other => {
                self.busy = other;
                return Err(self.ids.unawaited(id.raw(), RequestKind::Transfer));
            }
        };
        // The runtime closed the data connection with the transfer.
        self.data = super::data::DataChannel::None;
        let mlsd = matches!(
            pending.kind,
            TransferKind::SendListing {
                format: ListFormat::Mlsd { .. },
                ..
            }
        );
        match result {
            // MLSD lists directories only (RFC 3659 7.1); MLST is for one file.
            Err(TransferError::Fs(FsError::NotADirectory)) if mlsd && !pending.opened => {
                self.reply(501, "Not a directory.")
            }
            Ok(_) => self.reply(226, &pending.done_text),
            Err(TransferError::ConnectionLost | TransferError::Aborted) => {
                self.reply(426, "Connection closed; transfer aborted.")
            }
            Err(TransferError::Fs(err)) => {
                let (code, text) = fs_error_text(err);
                self.reply(code, text);
            }
            Err(TransferError::TooManyMatches) => {
                let cap = self.config.max_glob_matches;
                self.reply(550, &too_many_matches(cap));
            }
            Err(TransferError::TlsFailed) => self.reply(
                425,
                "Cannot open data connection: its TLS handshake failed.",
            ),
            Err(TransferError::TlsNotResumed) => self.reply(
                522,
                "The data connection's TLS must resume the control connection's TLS session.",
            ),
        }
        if pending.abort_requested {
            self.reply(226, "ABOR command successful.");
        }
        self.arm_idle();
        if result.is_err() {
            self.remove_unused_unique_file(&pending.kind);
        }
        if self.shutting_down {
            self.reply_shutting_down();
        } else if self.quit_after_transfer {
            self.reply(221, "Goodbye.");
            self.close();
        }
        Ok(())
    }

    /// `ABOR` (RFC 959 4.1.3): 426 + 226 for a transfer under way, 225 otherwise.
    pub(super) fn cmd_abor(&mut self) {
        if let Busy::Fs {
            id,
            then: FsThen::Hash { .. },
        } = self.busy
        {
            // The digest gets its one reply now, ABOR its own; the answer, whenever it
            // comes, is dropped.
            self.busy = Busy::Fs {
                id,
                then: FsThen::Discard,
            };
            self.outputs.push_back(Output::CancelFs { id });
            self.reply(426, "Digest aborted.");
            return self.reply(226, "ABOR command successful.");
        }
        if let Busy::Transfer(pending) = &mut self.busy {
            match pending.running {
                Some(id) if !pending.abort_requested => {
                    // The 426 and 226 follow when the runtime reports the transfer stopped.
                    pending.abort_requested = true;
                    self.outputs.push_back(Output::AbortTransfer { id });
                }
                Some(_) => self.reply(225, "Abort already in progress."),
                None => {
                    let kind = pending.kind.clone();
                    self.busy = Busy::Idle;
                    self.close_data_channel();
                    self.reply(426, "Connection closed; transfer aborted.");
                    self.reply(226, "ABOR command successful.");
                    self.remove_unused_unique_file(&kind);
                }
            }
            return;
        }
        if self.has_data_channel() {
            self.close_data_channel();
            self.reply(225, "ABOR command successful; data channel closed.");
        } else {
            self.reply(225, "No transfer to abort.");
        }
    }
}

/// Whether metadata names something `RETR` can send.
fn is_retrievable(meta: &Metadata) -> bool {
    meta.kind == FileKind::File
}

/// The pattern in the last component of a listing's argument (`path` is the argument
/// resolved), if it has one. Only the last component is ever expanded: wildcards before it are
/// taken literally, as vsftpd and proftpd do.
fn glob_fallback(arg: &str, path: &VirtualPath, max_matches: usize) -> Option<GlobFallback> {
    let pattern = path.file_name()?;
    let given = arg.trim_end_matches('/');
    let (prefix, last) = given
        .rsplit_once('/')
        .map_or(("", given), |(dir, last)| (&given[..=dir.len()], last));
    if last != pattern {
        // `*.bin/..`, `.` and the like: the pattern is not what gets listed (nor, for `/`,
        // the last component of the user's home, which is never the client's to expand).
        return None;
    }
    let pattern = ListPattern::new(pattern, prefix, max_matches)?;
    let parent = path.parent()?;
    Some(GlobFallback { parent, pattern })
}

/// The refusal of a pattern with more than `cap` matches.
pub(super) fn too_many_matches(cap: usize) -> String {
    format!("Too many matches (more than {cap}); narrow the pattern.")
}
