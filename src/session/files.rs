//! Navigation and file management: PWD, CWD, CDUP, MKD, RMD, DELE, RNFR, RNTO, SIZE, MDTM, MLST,
//! and what each does with its filesystem answer.

use super::transfer::ListKind;
use super::{Busy, Session};
use crate::command::TransferType;
use crate::error::DriveError;
use crate::fs::{DirEntry, FileKind, FsError, FsOp, FsReply, Listing, Metadata};
use crate::ids::FsId;
use crate::listing;
use crate::path::VirtualPath;
use crate::reply::{quote_path, Reply};

/// What to do with the answer to an outstanding filesystem request.
#[derive(Debug)]
pub(super) enum FsThen {
    /// `CWD`/`CDUP`: the new directory, in the user's view.
    Cwd(VirtualPath),
    Size,
    Mdtm,
    /// `MKD`: the new directory in the user's view, for the `257`.
    Mkd(VirtualPath),
    Rmd,
    Dele,
    /// `RNFR`: the source, kept for `RNTO`.
    Rnfr(VirtualPath),
    Rnto,
    /// `MLST`: the path as the client sees it.
    Mlst(VirtualPath),
    /// `RETR` after its `Stat`: the file and the `REST` offset.
    Retr {
        path: VirtualPath,
        offset: u64,
    },
    /// `REST` + `STOR` after its `Stat`: the file and the offset.
    StorResume {
        path: VirtualPath,
        offset: u64,
    },
    /// `STOU` after `CreateUnique`.
    Stou,
    /// `LIST`/`MLSD` (or `STAT path` when `kind` is `None`) after `ListDir`, `NLST` after
    /// `ListNames`. `path` is the server-view path, for the `Stat` fallback when it names a file.
    ListDir {
        kind: Option<ListKind>,
        path: VirtualPath,
        name: String,
    },
    /// The fallback: `LIST`/`NLST`/`STAT` of a single file.
    ListFile {
        kind: Option<ListKind>,
        name: String,
    },
}

impl FsThen {
    /// Whether the request belongs to a command that uses the data channel.
    fn is_transfer(&self) -> bool {
        match self {
            Self::Retr { .. } | Self::StorResume { .. } | Self::Stou => true,
            Self::ListDir { kind, .. } | Self::ListFile { kind, .. } => kind.is_some(),
            _ => false,
        }
    }
}

impl Session {
    pub(super) fn cmd_pwd(&mut self) {
        let text = format!(
            "{} is the current directory.",
            quote_path(self.cwd.as_str())
        );
        self.reply(257, &text);
    }

    pub(super) fn cmd_cwd(&mut self, arg: &str) {
        let Some((user_path, server_path)) = self.resolve(arg) else {
            return;
        };
        self.request_fs(FsOp::Stat(server_path), FsThen::Cwd(user_path));
    }

    /// Resolves the target of a command that changes something: the root itself is refused
    /// with `code` and `text` (it can be neither made, removed nor renamed).
    pub(super) fn resolve_below_root(
        &mut self,
        arg: &str,
        code: u16,
        text: &str,
    ) -> Option<(VirtualPath, VirtualPath)> {
        let (user_path, server_path) = self.resolve(arg)?;
        if user_path.is_root() {
            self.reply(code, text);
            return None;
        }
        Some((user_path, server_path))
    }

    pub(super) fn cmd_mkd(&mut self, arg: &str) {
        if !self.require_write() {
            return;
        }
        let Some((user_path, server_path)) = self.resolve_below_root(arg, 550, "File exists.")
        else {
            return;
        };
        self.request_fs(FsOp::MakeDir(server_path), FsThen::Mkd(user_path));
    }

    pub(super) fn cmd_rmd(&mut self, arg: &str) {
        if !self.require_write() {
            return;
        }
        let Some((_, server_path)) =
            self.resolve_below_root(arg, 550, "Cannot remove the root directory.")
        else {
            return;
        };
        self.request_fs(FsOp::RemoveDir(server_path), FsThen::Rmd);
    }

    pub(super) fn cmd_dele(&mut self, arg: &str) {
        if !self.require_write() {
            return;
        }
        let Some((_, server_path)) = self.resolve_below_root(arg, 550, "Is a directory.") else {
            return;
        };
        self.request_fs(FsOp::RemoveFile(server_path), FsThen::Dele);
    }

    pub(super) fn cmd_rnfr(&mut self, arg: &str) {
        if !self.require_write() {
            return;
        }
        let Some((_, server_path)) =
            self.resolve_below_root(arg, 550, "Cannot rename the root directory.")
        else {
            return;
        };
        self.request_fs(FsOp::Stat(server_path.clone()), FsThen::Rnfr(server_path));
    }

    pub(super) fn cmd_rnto(&mut self, arg: &str, from: Option<VirtualPath>) {
        if !self.require_write() {
            return;
        }
        let Some(from) = from else {
            return self.reply(503, "RNFR required first.");
        };
        let Some((_, to)) = self.resolve_below_root(arg, 553, "File name not allowed.") else {
            return;
        };
        self.request_fs(FsOp::Rename { from, to }, FsThen::Rnto);
    }

    pub(super) fn cmd_size(&mut self, arg: &str) {
        let Some((_, server_path)) = self.resolve(arg) else {
            return;
        };
        self.request_fs(FsOp::Stat(server_path), FsThen::Size);
    }

    pub(super) fn cmd_mdtm(&mut self, arg: &str) {
        let Some((_, server_path)) = self.resolve(arg) else {
            return;
        };
        self.request_fs(FsOp::Stat(server_path), FsThen::Mdtm);
    }

    pub(super) fn cmd_mlst(&mut self, arg: Option<&str>) {
        let Some((user_path, server_path)) = self.resolve(arg.unwrap_or(".")) else {
            return;
        };
        self.request_fs(FsOp::Stat(server_path), FsThen::Mlst(user_path));
    }

    /// The answer to the outstanding filesystem request.
    pub(super) fn on_fs(
        &mut self,
        id: FsId,
        result: Result<FsReply, FsError>,
    ) -> Result<(), DriveError> {
        let then = match std::mem::replace(&mut self.busy, Busy::Idle) {
            Busy::Fs { id: expected, then } if expected == id => then,
            other => {
                self.busy = other;
                return Err(DriveError::UnknownId("filesystem", id.raw()));
            }
        };
        match (then, result) {
            (
                FsThen::ListDir {
                    kind: Some(ListKind::Mlsd),
                    ..
                },
                Err(FsError::NotADirectory),
            ) => {
                self.close_data_channel();
                self.reply(501, "Not a directory.");
            }
            (FsThen::ListDir { kind, path, name }, Err(FsError::NotADirectory)) => {
                // LIST/NLST/STAT of a file shows that one file.
                self.request_fs(FsOp::Stat(path), FsThen::ListFile { kind, name });
            }
            (
                FsThen::ListDir {
                    kind: Some(ListKind::Mlsd),
                    ..
                },
                Ok(FsReply::Entry { .. }),
            ) => {
                // MLSD lists directories only (RFC 3659 7.1); MLST is for one file.
                self.close_data_channel();
                self.reply(501, "Not a directory.");
            }
            (then, Err(err)) => {
                if then.is_transfer() {
                    // A refused transfer command uses up its data channel, as if it had run.
                    self.close_data_channel();
                }
                self.fs_error_reply(err)
            }
            (then, Ok(reply)) => self.on_fs_success(then, reply),
        }
        Ok(())
    }

    fn on_fs_success(&mut self, then: FsThen, reply: FsReply) {
        match (then, reply) {
            (FsThen::Cwd(user_path), FsReply::Metadata(meta)) => {
                if meta.is_dir() {
                    self.cwd = user_path;
                    self.reply(250, "Directory successfully changed.");
                } else {
                    self.reply(550, "Not a directory.");
                }
            }
            (FsThen::Size, FsReply::Metadata(meta)) => match meta.kind {
                // In TYPE A a RETR sends more than the stored bytes (LF goes out as CRLF), and
                // only reading the whole file would say how much: refused, as proftpd and
                // pyftpdlib do (RFC 3659 4.1 allows it). Missing files and directories still
                // get their own reply.
                FileKind::File if self.transfer_type == TransferType::Ascii => {
                    self.reply(550, "SIZE not allowed in ASCII mode; use TYPE I.")
                }
                FileKind::File => self.reply(213, &meta.size.to_string()),
                _ => self.reply(550, "Not a regular file."),
            },
            (FsThen::Mdtm, FsReply::Metadata(meta)) => match (meta.kind, meta.modified) {
                (FileKind::File, Some(secs)) => self.reply(213, &listing::mdtm_time(secs)),
                (FileKind::File, None) => self.reply(550, "Modification time unknown."),
                _ => self.reply(550, "Not a regular file."),
            },
            (FsThen::Mkd(user_path), FsReply::Done) => {
                let text = format!("{} created.", quote_path(user_path.as_str()));
                self.reply(257, &text);
            }
            (FsThen::Rmd, FsReply::Done) => self.reply(250, "Directory removed."),
            (FsThen::Dele, FsReply::Done) => self.reply(250, "File deleted."),
            (FsThen::Rnfr(from), FsReply::Metadata(_)) => {
                self.rename_from = Some(from);
                self.reply(350, "Ready for RNTO.");
            }
            (FsThen::Rnto, FsReply::Done) => self.reply(250, "Rename successful."),
            (FsThen::Mlst(user_path), FsReply::Metadata(meta)) => {
                let writable = self.may_write();
                let line = format!(
                    "{}{}",
                    listing::mlsx_facts(&meta, self.facts, writable),
                    user_path.as_str()
                );
                let first = format!("Listing {}", user_path.as_str());
                self.send(Reply::multiline(250, &first, [line], "End."));
            }
            (FsThen::Retr { path, offset }, FsReply::Metadata(meta)) => {
                self.retr_checked(path, offset, &meta)
            }
            (FsThen::StorResume { path, offset }, FsReply::Metadata(meta)) => {
                self.stor_resume_checked(path, offset, &meta)
            }
            (FsThen::Stou, FsReply::Created(path)) => self.stou_created(path),
            (FsThen::ListDir { kind, name, .. }, FsReply::Listing(listing)) => {
                self.listing_ready(kind, &name, &listing)
            }
            (FsThen::ListDir { kind, name, .. }, FsReply::Entry { metadata, now }) => {
                self.list_one_file(kind, name, metadata, now)
            }
            // The `Stat` fallback brings no wall-clock time: the date shows with its year (a
            // time of day would claim the file is from the last six months).
            (FsThen::ListFile { kind, name }, FsReply::Metadata(meta)) => {
                self.list_one_file(kind, name, meta, listing::NOW_UNKNOWN)
            }
            // An answer of the wrong shape is the storage's bug; the client gets a local error.
            _ => self.reply(451, "Local error in processing."),
        }
    }
}

impl Session {
    /// `LIST`/`NLST`/`STAT` of one file: a listing of that one entry, under the name the
    /// client gave (NLST's answer is what clients send back, e.g. to `DELE`).
    fn list_one_file(&mut self, kind: Option<ListKind>, name: String, meta: Metadata, now: i64) {
        let listing = Listing {
            entries: vec![DirEntry {
                name,
                metadata: meta,
            }],
            now,
        };
        self.listing_ready(kind, "", &listing)
    }
}

/// Whether metadata names something `RETR` can send.
pub(super) fn is_retrievable(meta: &Metadata) -> bool {
    meta.kind == FileKind::File
}
