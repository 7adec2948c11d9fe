//! The filesystem answers: what each command does once its [`FsOp`] is answered. Kept apart
//! from the commands (`files`, `transfer`), which depend on this file and not on each other; it
//! calls back into them through `Session` methods only.

use super::{Busy, Session};
use crate::command::TransferType;
use crate::error::{DriveError, RequestKind};
use crate::fs::{DirEntry, FileKind, FsError, FsOp, FsReply, HashAlgorithm, Listing, Metadata};
use crate::glob::ListPattern;
use crate::ids::FsId;
use crate::listing;
use crate::path::VirtualPath;
use crate::reply::{quote_path, Reply};

/// Which listing a `LIST`-like command sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListKind {
    List,
    Nlst,
    Mlsd,
}

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
    /// `ListNames`. `path` is the server-view path, for the `Stat` fallback when it names a file;
    /// `glob` the pattern to try when it names nothing.
    ListDir {
        kind: Option<ListKind>,
        path: VirtualPath,
        name: String,
        glob: Option<GlobFallback>,
    },
    /// `LIST`/`NLST` of a pattern after the `Stat` of the name as given: that name if it
    /// exists, else the pattern's directory streamed through the pattern.
    ListPattern {
        kind: ListKind,
        path: VirtualPath,
        name: String,
        glob: GlobFallback,
    },
    /// `STAT` of a pattern, after listing the matches in the directory it is in.
    ListGlob {
        kind: Option<ListKind>,
        name: String,
        glob: GlobFallback,
    },
    /// The fallback: `LIST`/`NLST`/`STAT` of a single file.
    ListFile {
        kind: Option<ListKind>,
        name: String,
    },
    /// `MFMT`, `SITE UTIME`, `SITE CHMOD`: the reply once done.
    Attribute {
        code: u16,
        text: String,
    },
    /// `HASH` and the legacy `X...` digests.
    Hash {
        algorithm: HashAlgorithm,
        style: HashStyle,
        /// The bytes asked for (first, last), if not the whole file.
        range: Option<(u64, u64)>,
    },
    Avbl,
    /// Clean-up the client does not wait for (a failed `STOU`'s empty file): no reply.
    Discard,
}

/// How a digest is answered.
#[derive(Debug)]
pub(super) enum HashStyle {
    /// `HASH`: `213 <algorithm> 0-<size> <hex> <path as given>` (draft-bryan-ftpext-hash-02).
    Draft(String),
    /// `XSHA256`, `XSHA1`, `XMD5`, `XCRC`: `250 <hex>`, as FileZilla and WinSCP expect.
    Legacy,
}

/// A `LIST`/`NLST`/`STAT` argument whose last component is a pattern. The name as given is
/// listed first (so a file really called `*.bin` is still reachable); only if nothing has that
/// name is `parent` listed and filtered by `glob`.
#[derive(Debug)]
pub(super) struct GlobFallback {
    /// The directory the pattern is in (server view).
    pub(super) parent: VirtualPath,
    /// The pattern, with the argument's directory part as the client gave it (`sub/` of
    /// `sub/*.bin`), put in front of each name in an `NLST` so the client can send the names
    /// back.
    pub(super) pattern: ListPattern,
}

impl FsThen {
    /// Whether the request belongs to a command that uses the data channel.
    fn is_transfer(&self) -> bool {
        match self {
            Self::Retr { .. } | Self::StorResume { .. } | Self::Stou | Self::ListPattern { .. } => {
                true
            }
            Self::ListDir { kind, .. }
            | Self::ListGlob { kind, .. }
            | Self::ListFile { kind, .. } => kind.is_some(),
            _ => false,
        }
    }
}

impl Session {
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
                return Err(self.ids.unawaited(id.raw(), RequestKind::Filesystem));
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
            (
                FsThen::ListDir {
                    kind,
                    name,
                    glob: Some(glob),
                    ..
                },
                Err(FsError::NotFound),
            ) => {
                // No such name: it is a pattern. Storage answers the matches only, and no more
                // than STAT shows (plus one, to tell it was cut) or the cap allows (plus one,
                // to tell it was passed).
                let max = (listing::STAT_MAX_ENTRIES + 1)
                    .min(self.config.max_glob_matches.saturating_add(1));
                let op = FsOp::ListDirFirst {
                    path: glob.parent.clone(),
                    max,
                    pattern: Some(glob.pattern.clone()),
                };
                self.request_fs(op, FsThen::ListGlob { kind, name, glob });
            }
            (
                FsThen::ListPattern {
                    kind, name, glob, ..
                },
                Err(FsError::NotFound),
            ) => {
                // No such name: it is a pattern, matched while the directory streams by.
                self.stream_listing(kind, glob.parent, name, Some(glob.pattern));
            }
            (FsThen::ListGlob { kind, .. }, Err(FsError::NotADirectory)) => {
                // The pattern's directory is a file: nothing in it matches.
                self.refuse_listing(kind, 550, "No such file or directory.")
            }
            (
                FsThen::ListDir {
                    kind, path, name, ..
                },
                Err(FsError::NotADirectory),
            ) => {
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
            (FsThen::Discard, _) => {}
            (then, Err(err)) => {
                if then.is_transfer() {
                    // A refused transfer command uses up its data channel, as if it had run.
                    self.close_data_channel();
                }
                self.fs_error_reply(err)
            }
            (then, Ok(reply)) => return self.on_fs_success(id, then, reply),
        }
        Ok(())
    }

    /// A successful answer. One of the wrong shape for its request (the storage's bug) still
    /// ends the command, with a `451`, and is reported to the runtime.
    fn on_fs_success(&mut self, id: FsId, then: FsThen, reply: FsReply) -> Result<(), DriveError> {
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
            (FsThen::Attribute { code, text }, FsReply::Done) => self.reply(code, &text),
            (
                FsThen::Hash {
                    algorithm,
                    style,
                    range,
                },
                FsReply::Hash { digest, size },
            ) => {
                let hex = super::attributes::hex(&digest);
                let span = match range {
                    None => format!("0-{size}"),
                    // The range as far as the file has it: the last byte hashed.
                    Some((start, _)) if size > 0 => {
                        format!("{start}-{}", start.saturating_add(size - 1))
                    }
                    Some(_) => {
                        self.reply(554, "The range starts beyond the end of the file.");
                        return Ok(());
                    }
                };
                match style {
                    HashStyle::Draft(name) => {
                        let text = format!("{} {span} {hex} {name}", algorithm.name());
                        self.reply(213, &text)
                    }
                    HashStyle::Legacy => self.reply(250, &hex),
                }
            }
            (FsThen::Avbl, FsReply::FreeSpace(bytes)) => self.reply(213, &bytes.to_string()),
            (FsThen::ListDir { kind, name, .. }, FsReply::Listing(listing)) => {
                self.listing_ready(kind, &name, &listing)
            }
            (
                FsThen::ListPattern {
                    kind, path, name, ..
                },
                FsReply::Metadata(_),
            ) => {
                // The name as given exists: it is listed, not expanded.
                self.stream_listing(kind, path, name, None)
            }
            (FsThen::ListGlob { kind, name, glob }, FsReply::Listing(listing)) => {
                self.glob_listing_ready(kind, &name, &glob, listing)
            }
            (FsThen::ListGlob { kind, .. }, FsReply::Entry { .. }) => {
                // The pattern's directory is a file: nothing in it matches.
                self.refuse_listing(kind, 550, "No such file or directory.")
            }
            (FsThen::ListDir { kind, name, .. }, FsReply::Entry { metadata, now }) => {
                self.list_one_file(kind, name, metadata, now)
            }
            // The `Stat` fallback brings no wall-clock time: the date shows with its year (a
            // time of day would claim the file is from the last six months).
            (FsThen::ListFile { kind, name }, FsReply::Metadata(meta)) => {
                self.list_one_file(kind, name, meta, listing::NOW_UNKNOWN)
            }
            (then, _) => {
                if then.is_transfer() {
                    // The command will not run: its data channel is used up, as on a refusal.
                    self.close_data_channel();
                }
                self.reply(451, "Local error in processing.");
                return Err(DriveError::WrongShape { id: id.raw() });
            }
        }
        Ok(())
    }
}

impl Session {
    /// The matches of a `STAT` pattern arrived: list them, at most `Config::max_glob_matches`
    /// (the names are matched again, cheaply, in case a storage answered more).
    fn glob_listing_ready(
        &mut self,
        kind: Option<ListKind>,
        name: &str,
        glob: &GlobFallback,
        listing: Listing,
    ) {
        let cap = self.config.max_glob_matches;
        let mut entries = Vec::new();
        for mut entry in listing.entries {
            if !glob.pattern.matches(&entry.name) {
                continue;
            }
            if entries.len() == cap {
                let text = super::transfer::too_many_matches(cap);
                return self.refuse_listing(kind, 550, &text);
            }
            if kind == Some(ListKind::Nlst) {
                entry.name.insert_str(0, glob.pattern.prefix());
            }
            entries.push(entry);
        }
        if entries.is_empty() {
            return self.refuse_listing(kind, 550, "No such file or directory.");
        }
        let listing = Listing {
            entries,
            now: listing.now,
        };
        self.listing_ready(kind, name, &listing)
    }

    /// A listing that will not be sent: the reply, and the data channel used up.
    fn refuse_listing(&mut self, kind: Option<ListKind>, code: u16, text: &str) {
        if kind.is_some() {
            self.close_data_channel();
        }
        self.reply(code, text);
    }

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
