//! Commands that read or change a file's attributes beyond its bytes: MFMT and SITE UTIME
//! (modification time), SITE CHMOD (mode), HASH and the legacy XSHA256/XSHA1/XMD5/XCRC
//! (digests), AVBL (free space). What each does with its answer is in `fs_answers`.

use super::fs_answers::{FsThen, HashStyle};
use super::Session;
use crate::command::args::{parse_site_chmod, parse_site_utime};
use crate::fs::{FsOp, HashAlgorithm};

/// The bits `SITE CHMOD` may set: never setuid, setgid or sticky.
const CHMOD_MASK: u32 = 0o777;

impl Session {
    /// `MFMT time path`: `213 Modify=time; path` (draft-somers-ftp-mfxx 3.1).
    pub(super) fn cmd_mfmt(&mut self, time: &str, unix_secs: i64, path: &str) {
        if !self.require_write() {
            return;
        }
        let Some((_, server_path)) = self.resolve(path) else {
            return;
        };
        let text = format!("Modify={time}; {path}");
        let op = FsOp::SetModified {
            path: server_path,
            unix_secs,
        };
        self.request_fs(op, FsThen::Attribute { code: 213, text });
    }

    /// `SITE UTIME`, in each form clients send ([`parse_site_utime`]).
    pub(super) fn cmd_site_utime(&mut self, args: &str) {
        if !self.require_write() {
            return;
        }
        let Some((path, unix_secs)) = parse_site_utime(args) else {
            return self.reply(
                501,
                "Syntax: SITE UTIME <path> YYYYMMDDHHMMSS, SITE UTIME YYYYMMDDHHMMSS <path> or \
                 SITE UTIME <path> <atime> <mtime> <ctime> UTC.",
            );
        };
        let Some((_, server_path)) = self.resolve(path) else {
            return;
        };
        let op = FsOp::SetModified {
            path: server_path,
            unix_secs,
        };
        let text = "SITE UTIME command successful.".to_owned();
        self.request_fs(op, FsThen::Attribute { code: 200, text });
    }

    /// `SITE CHMOD mode path`, the mode masked to `0o777`.
    pub(super) fn cmd_site_chmod(&mut self, args: &str) {
        if !self.require_write() {
            return;
        }
        let Some((mode, path)) = parse_site_chmod(args) else {
            return self.reply(501, "Syntax: SITE CHMOD <octal mode> <path>.");
        };
        let Some((_, server_path)) = self.resolve(path) else {
            return;
        };
        let op = FsOp::SetMode {
            path: server_path,
            mode: mode & CHMOD_MASK,
        };
        let text = "SITE CHMOD command successful.".to_owned();
        self.request_fs(op, FsThen::Attribute { code: 200, text });
    }

    /// `HASH path` with the selected algorithm, or a legacy `X...` verb with its own. The
    /// digest is of the file as stored, whatever the `TYPE` (as the draft says: the server's
    /// bytes, not a converted stream).
    pub(super) fn cmd_hash(&mut self, algorithm: Option<HashAlgorithm>, path: &str) {
        let (algorithm, style, range) = match algorithm {
            Some(a) => (a, HashStyle::Legacy, None),
            // The range of a RANG right before, used up (draft-bryan-ftpext-hash 3.3).
            None => (
                self.hash_algorithm,
                HashStyle::Draft(path.to_owned()),
                self.hash_range.take(),
            ),
        };
        self.request_hash(algorithm, style, path, range);
    }

    /// `XSHA256`, `XSHA1`, `XMD5`, `XCRC path [start end]`.
    pub(super) fn cmd_legacy_hash(
        &mut self,
        algorithm: HashAlgorithm,
        path: &str,
        range: Option<(u64, u64)>,
    ) {
        self.request_hash(algorithm, HashStyle::Legacy, path, range);
    }

    fn request_hash(
        &mut self,
        algorithm: HashAlgorithm,
        style: HashStyle,
        path: &str,
        range: Option<(u64, u64)>,
    ) {
        let Some((_, server_path)) = self.resolve(path) else {
            return;
        };
        let op = FsOp::Hash {
            path: server_path,
            algorithm,
            range,
        };
        self.request_fs(
            op,
            FsThen::Hash {
                algorithm,
                style,
                range,
            },
        );
    }

    /// `RANG start end` (draft-bryan-ftp-range): the bytes the next `HASH` digests, inclusive.
    /// `RANG 1 0` resets it; any other start after its end is refused.
    pub(super) fn cmd_rang(&mut self, start: u64, end: u64) {
        if (start, end) == (1, 0) {
            self.hash_range = None;
            return self.reply(350, "Restarting at 1. Ending at 0. Range reset.");
        }
        if start > end {
            self.hash_range = None;
            return self.reply(501, "The start of the range is after its end.");
        }
        self.hash_range = Some((start, end));
        self.reply(350, &format!("Restarting at {start}. Ending at {end}."));
    }

    /// `OPTS HASH [algorithm]`: with none, the selected one; else select it.
    pub(super) fn cmd_opts_hash(&mut self, args: &str) {
        let name = args.trim();
        if name.is_empty() {
            return self.reply(200, self.hash_algorithm.name());
        }
        match HashAlgorithm::from_name(name) {
            Some(algorithm) => {
                self.hash_algorithm = algorithm;
                self.reply(200, algorithm.name());
            }
            None => self.reply(504, "Unknown algorithm; use SHA-256, SHA-1, MD5 or CRC32."),
        }
    }

    /// The `FEAT` line for `HASH`, the selected algorithm starred.
    pub(super) fn hash_feat_line(&self) -> String {
        let names: Vec<String> = HashAlgorithm::ALL
            .iter()
            .map(|&a| {
                if a == self.hash_algorithm {
                    format!("{}*", a.name())
                } else {
                    a.name().to_owned()
                }
            })
            .collect();
        format!("HASH {}", names.join(";"))
    }

    /// `AVBL [path]`: the free bytes where the user may store (read-write users only).
    pub(super) fn cmd_avbl(&mut self, path: Option<&str>) {
        if !self.require_write() {
            return;
        }
        let Some((_, server_path)) = self.resolve(path.unwrap_or(".")) else {
            return;
        };
        self.request_fs(FsOp::FreeSpace(server_path), FsThen::Avbl);
    }
}

/// Lower-case hex of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}
