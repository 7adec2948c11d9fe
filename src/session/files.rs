//! Navigation and file management: PWD, CWD, CDUP, MKD, RMD, DELE, RNFR, RNTO, SIZE, MDTM, MLST.
//! What each does with its filesystem answer is in `fs_answers`.

use super::fs_answers::FsThen;
use super::Session;
use crate::fs::FsOp;
use crate::path::VirtualPath;
use crate::reply::quote_path;

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
}
