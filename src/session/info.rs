//! Informational commands: FEAT, OPTS, STAT, HELP, SITE.

use super::{Busy, Login, Session};
use crate::command::verbs;
use crate::command::TransferType;
use crate::listing::Facts;
use crate::reply::Reply;

impl Session {
    pub(super) fn cmd_feat(&mut self) {
        let facts = self.facts.feat_line();
        let hash = self.hash_feat_line();
        let mut features = vec![
            "AVBL",
            "EPRT",
            "EPSV",
            &hash,
            "MDTM",
            "MFMT",
            &facts,
            "PASV",
            "REST STREAM",
            "SIZE",
            "TVFS",
            "UTF8",
        ];
        // Not where the storage cannot set times (an object store): rclone would count on it.
        if !self.config.can_set_modified {
            features.retain(|f| *f != "MFMT");
        }
        if self.tls_offered() {
            // RFC 4217 section 6; AUTH only where it can be used (not in implicit FTPS).
            if !self.tls.implicit {
                features.push("AUTH TLS");
            }
            features.extend(["PBSZ", "PROT"]);
            features.sort_unstable();
        }
        self.send(Reply::multiline(211, "Features:", features, "End"));
    }

    pub(super) fn cmd_opts(&mut self, option: &str, args: &str) {
        match option {
            "UTF8" => match args.trim().to_ascii_uppercase().as_str() {
                "ON" | "" => self.reply(200, "Always in UTF8 mode."),
                "OFF" => self.reply(504, "UTF8 cannot be turned off."),
                _ => self.reply(501, "Syntax: OPTS UTF8 ON."),
            },
            "MLST" => {
                self.facts = Facts::parse_opts(args);
                let text = format!("MLST OPTS {}", self.facts.opts_reply_list());
                self.reply(200, &text);
            }
            "HASH" => self.cmd_opts_hash(args),
            _ => self.reply(501, "Option not understood."),
        }
    }

    /// `STAT`: the session's status (also during a transfer), or a listing of a path.
    pub(super) fn cmd_stat(&mut self, path: Option<&str>) {
        if let Some(path) = path {
            return self.cmd_stat_path(path);
        }
        let mut lines = vec![format!("Connected to {}", self.peer.ip())];
        match &self.login {
            Login::LoggedIn { user, .. } => lines.push(format!("Logged in as {user}")),
            _ => lines.push("Not logged in".to_owned()),
        }
        lines.push(match self.transfer_type {
            TransferType::Ascii => "TYPE: ASCII".to_owned(),
            TransferType::Image => "TYPE: BINARY".to_owned(),
        });
        lines.push("MODE: Stream; STRU: File".to_owned());
        lines.push(self.data_channel_status().to_owned());
        if self.tls_offered() {
            lines.extend(self.tls.status_lines());
        }
        if let Busy::Transfer(pending) = &self.busy {
            if pending.running().is_some() {
                lines.push("Transfer in progress.".to_owned());
            } else {
                lines.push("Transfer waiting for its data connection.".to_owned());
            }
        }
        self.send(Reply::multiline(
            211,
            "FTP server status:",
            lines,
            "End of status.",
        ));
    }

    pub(super) fn cmd_help(&mut self, topic: Option<&str>) {
        match topic {
            None => {
                let mut names = verbs::implemented_names(self.tls_offered());
                // Implicit FTPS: TLS came first and AUTH is refused, so it is not offered (as in
                // FEAT). PBSZ and PROT stay: they apply (PROT C turns data connections clear).
                if self.tls.implicit {
                    names.retain(|name| *name != "AUTH");
                }
                let rows: Vec<String> = names.chunks(8).map(|row| row.join(" ")).collect();
                self.send(Reply::multiline(
                    214,
                    "The following commands are recognized.",
                    rows,
                    "Help OK.",
                ));
            }
            Some(topic) => {
                let verb = topic.trim().to_ascii_uppercase();
                let offered = self.tls_offered();
                if self.tls.implicit && verb == "AUTH" {
                    return self.reply(
                        214,
                        "AUTH is not used here: this is implicit FTPS, TLS is in force already.",
                    );
                }
                match verbs::find(&verb).filter(|v| v.implemented && (offered || !v.tls)) {
                    Some(known) => self.reply(214, &format!("Syntax: {}", known.help)),
                    None => self.reply(501, &format!("Unknown command {verb}.")),
                }
            }
        }
    }

    pub(super) fn cmd_site(&mut self, args: &str) {
        let (sub, rest) = args.split_once(' ').unwrap_or((args, ""));
        match sub.to_ascii_uppercase().as_str() {
            "HELP" => self.reply(214, "SITE commands: CHMOD HELP UTIME"),
            "UTIME" => self.cmd_site_utime(rest),
            "CHMOD" => self.cmd_site_chmod(rest),
            _ => self.reply(504, "Unknown SITE command."),
        }
    }
}
