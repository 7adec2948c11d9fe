//! FTPS (RFC 4217): AUTH, PBSZ, PROT, CCC, the answers to control-connection handshakes, and
//! the policy checks (TLS required at `USER` and for transfers).
//!
//! Choices where the RFCs leave room (the README's FTPS section says the same):
//! - `AUTH` on a control connection that is already TLS gets `503` (no renegotiation of the
//!   mechanism); in implicit FTPS too. A successful `AUTH` logs out and forgets `PBSZ`/`PROT`
//!   and the data channel (RFC 2228: `AUTH` "removes any state associated with prior FTP
//!   Security commands" and the user must log in again).
//! - `REIN` logs out and forgets `PBSZ`/`PROT` (back to `PROT C`, or `PROT P` in implicit
//!   FTPS), but keeps the control connection's TLS: tearing it down would need a `close_notify`
//!   exchange no client expects, and would put the next login in clear text.
//! - `CCC`: `502` unless [`TlsPolicy::allow_ccc`](crate::TlsPolicy::allow_ccc), `533` on a
//!   control connection that is not TLS (RFC 2228: the command's protection level is refused),
//!   `534` when the policy requires TLS of the logged-in user.
//! - A `PROT C` transfer when data protection is required gets `522` (as vsftpd's "Data
//!   connections must be encrypted"), and a `USER` whose name must use TLS on a clear control
//!   connection gets `530`, before any password is sent.

use super::{Busy, Login, Session};
use crate::command::{AuthMechanism, ProtectionLevel};
use crate::error::DriveError;
use crate::events::Output;
use crate::framing::LineReader;
use crate::tls::{DataProtection, TlsInfo};

/// The FTPS state of one session.
#[derive(Debug)]
pub(super) struct TlsState {
    pub(super) control: ControlTls,
    /// Made with `Session::new_implicit_tls`: TLS came first, `PROT P` is the default, `AUTH`
    /// is refused.
    pub(super) implicit: bool,
    /// `PBSZ` was accepted (since the last `AUTH` or `REIN`): `PROT` may follow.
    pub(super) pbsz: bool,
    pub(super) protection: DataProtection,
}

/// Where the control connection stands.
#[derive(Debug)]
pub(super) enum ControlTls {
    /// Clear text, never secured.
    Clear,
    /// `SecureControl` went out; waiting for `ControlSecured` or `ControlTlsFailed`.
    Securing,
    /// TLS.
    Secured(Box<TlsInfo>),
    /// Clear text again after `CCC`.
    Cleared,
}

impl TlsState {
    pub(super) fn new(implicit: bool) -> Self {
        Self {
            control: if implicit {
                ControlTls::Securing
            } else {
                ControlTls::Clear
            },
            implicit,
            pbsz: false,
            protection: Self::default_protection(implicit),
        }
    }

    fn default_protection(implicit: bool) -> DataProtection {
        if implicit {
            DataProtection::Private
        } else {
            DataProtection::Clear
        }
    }

    /// `PBSZ`/`PROT` back to their defaults (`AUTH`, `REIN`).
    pub(super) fn forget_data_protection(&mut self) {
        self.pbsz = false;
        self.protection = Self::default_protection(self.implicit);
    }

    pub(super) fn secured(&self) -> bool {
        matches!(self.control, ControlTls::Secured(_))
    }

    /// Whether a TLS handshake on the control connection ever succeeded (`PBSZ` may come).
    fn negotiated(&self) -> bool {
        matches!(self.control, ControlTls::Secured(_) | ControlTls::Cleared)
    }

    /// The lines `STAT` shows.
    pub(super) fn status_lines(&self) -> [String; 2] {
        let control = match &self.control {
            ControlTls::Clear | ControlTls::Securing => "Control connection: clear text".to_owned(),
            ControlTls::Secured(info) => {
                format!("Control connection: {}, {}", info.version, info.cipher)
            }
            ControlTls::Cleared => "Control connection: clear text after CCC".to_owned(),
        };
        let data = match self.protection {
            DataProtection::Clear => "Data connections: PROT C (clear)",
            DataProtection::Private => "Data connections: PROT P (private, TLS)",
        };
        [control, data.to_owned()]
    }
}

impl Session {
    /// Whether this session speaks FTPS at all: the policy offers it, or TLS came first.
    pub(super) fn tls_offered(&self) -> bool {
        self.config.tls.available || self.tls.implicit
    }

    pub(super) fn cmd_auth(&mut self, mechanism: AuthMechanism) {
        if self.tls.implicit {
            return self.reply(
                503,
                "AUTH refused: this is implicit FTPS, TLS is in force already.",
            );
        }
        if self.tls.secured() {
            return self.reply(503, "AUTH refused: TLS is in force already.");
        }
        // RFC 2228: a new security exchange starts over; the user logs in again.
        self.close_data_channel();
        if !matches!(self.login, Login::Anonymous) {
            self.log_out();
        }
        self.tls.forget_data_protection();
        let text = format!("AUTH {} OK; start the TLS handshake.", mechanism.name());
        self.reply(234, &text);
        self.begin_securing();
    }

    /// Hands the control connection to the runtime's handshake. What the client sent after the
    /// `AUTH` line (or before an implicit handshake) is dropped, framed or not: it came in clear
    /// text and anyone on the path could have put it there (CVE-2011-0411).
    pub(super) fn begin_securing(&mut self) {
        self.outputs.push_back(Output::SecureControl);
        self.tls.control = ControlTls::Securing;
        self.busy = Busy::Securing;
        self.lines.clear();
        self.pending_bytes = 0;
        self.reader = LineReader::new(self.config.max_line_len);
    }

    pub(super) fn securing(&self) -> bool {
        matches!(self.busy, Busy::Securing)
    }

    pub(super) fn on_control_secured(&mut self, info: Box<TlsInfo>) -> Result<(), DriveError> {
        if !self.securing() {
            return Err(DriveError::TlsNotRequested);
        }
        self.busy = Busy::Idle;
        self.tls.control = ControlTls::Secured(info);
        self.arm_idle();
        if self.tls.implicit {
            let banner = self.config.banner.clone();
            self.reply(220, &banner);
        }
        Ok(())
    }

    pub(super) fn on_control_tls_failed(&mut self) -> Result<(), DriveError> {
        if !self.securing() {
            return Err(DriveError::TlsNotRequested);
        }
        // No reply: the connection is half-way through a handshake.
        self.close();
        Ok(())
    }

    pub(super) fn cmd_pbsz(&mut self, _size: u64) {
        if !self.tls.negotiated() {
            return self.reply(503, "PBSZ needs AUTH TLS first.");
        }
        // RFC 4217 section 8: TLS has no buffer size; any size asked for is answered with 0.
        self.tls.pbsz = true;
        self.reply(200, "PBSZ=0");
    }

    pub(super) fn cmd_prot(&mut self, level: ProtectionLevel) {
        if !self.tls.pbsz {
            return self.reply(503, "PROT needs PBSZ first (AUTH TLS, PBSZ 0, PROT P).");
        }
        match level {
            ProtectionLevel::Clear => {
                self.tls.protection = DataProtection::Clear;
                self.reply(200, "Protection level set to Clear.");
            }
            ProtectionLevel::Private => {
                self.tls.protection = DataProtection::Private;
                self.reply(200, "Protection level set to Private.");
            }
            ProtectionLevel::Safe | ProtectionLevel::Confidential => {
                let text = format!(
                    "PROT {} not supported by TLS; use PROT P or PROT C.",
                    level.letter()
                );
                self.reply(536, &text);
            }
        }
    }

    pub(super) fn cmd_ccc(&mut self) {
        if !self.config.tls.allow_ccc {
            return self.reply(502, "CCC not allowed on this server.");
        }
        if !self.tls.secured() {
            return self.reply(533, "CCC needs a TLS-protected control connection.");
        }
        let required = self
            .login_name()
            .is_some_and(|user| self.config.tls.control_required_for(user));
        if required {
            return self.reply(
                534,
                "CCC refused: this account must keep TLS on the control connection.",
            );
        }
        self.tls.control = ControlTls::Cleared;
        self.reply(
            200,
            "CCC OK; the control connection is clear text from now on.",
        );
        self.outputs.push_back(Output::ClearControl);
    }

    /// `USER name` on a clear control connection when `name` must use TLS: `530` before any
    /// password crosses in clear text. Returns whether it was refused.
    pub(super) fn refuse_clear_login(&mut self, name: &str) -> bool {
        if self.tls.secured() || !self.config.tls.control_required_for(name) {
            return false;
        }
        self.reply(
            530,
            "TLS required for this account: use AUTH TLS first, then log in.",
        );
        true
    }

    /// A transfer or listing under `PROT C` when this user's data connections must be TLS:
    /// `522` before any data-connection work. Returns whether it was refused.
    pub(super) fn refuse_clear_data(&mut self) -> bool {
        if self.tls.protection == DataProtection::Private {
            return false;
        }
        let required = self
            .login_name()
            .is_some_and(|user| self.config.tls.data_required_for(user));
        if !required {
            return false;
        }
        if self.tls.secured() {
            self.reply(
                522,
                "Data connections must be protected with TLS: use PBSZ 0 and PROT P first.",
            );
        } else {
            self.reply(
                522,
                "Data connections must be protected with TLS: use AUTH TLS, PBSZ 0 and PROT P \
                 first.",
            );
        }
        true
    }

    /// The logged-in user's name, or the one given with `USER`.
    fn login_name(&self) -> Option<&str> {
        match &self.login {
            Login::Anonymous => None,
            Login::UserGiven(user) | Login::LoggedIn { user, .. } => Some(user),
        }
    }
}
