//! Login: USER, PASS, REIN, QUIT, and the answers to authentication requests.

use super::{Busy, Login, Session};
use crate::auth::AuthResult;
use crate::error::{DriveError, RequestKind};
use crate::events::Output;
use crate::ids::AuthId;
use crate::path::VirtualPath;

use super::timers::Timer;

impl Session {
    /// Returns whether the `USER` was refused (TLS required for the name).
    pub(super) fn cmd_user(&mut self, name: String) -> bool {
        if self.logged_in() {
            // RFC 959 4.1.1 lets USER change the user at any time and leaves "all transfer
            // parameters unchanged": TYPE, the data connection (an open passive listener),
            // EPSV ALL and the MLST facts stay.
            self.log_out();
        }
        if self.refuse_clear_login(&name) {
            self.login = Login::Anonymous;
            return true;
        }
        self.login = Login::UserGiven(name);
        // The same reply for every name, known or not: no user-name oracle.
        self.reply(331, "Please specify the password.");
        false
    }

    /// The login starts over: a new home, so a new current directory, and no REST or RNFR
    /// carried from the old user.
    pub(super) fn log_out(&mut self) {
        if self.logged_in() {
            self.arm_login_deadline();
        }
        self.login = Login::Anonymous;
        self.cwd = VirtualPath::root();
        self.rest = None;
        self.rename_from = None;
    }

    pub(super) fn cmd_pass(&mut self, password: String) {
        match std::mem::replace(&mut self.login, Login::Anonymous) {
            Login::UserGiven(user) => {
                let id = AuthId::from_raw(self.ids.next(RequestKind::Authentication));
                self.outputs.push_back(Output::Authenticate {
                    id,
                    user: user.clone(),
                    password,
                });
                self.busy = Busy::Auth { id, user };
            }
            logged_in @ Login::LoggedIn { .. } => {
                self.login = logged_in;
                self.reply(503, "Already logged in.");
            }
            Login::Anonymous => self.reply(503, "Login with USER first."),
        }
    }

    pub(super) fn on_auth(&mut self, id: AuthId, result: AuthResult) -> Result<(), DriveError> {
        let user = match &self.busy {
            Busy::Auth { id: expected, user } if *expected == id => user.clone(),
            _ => return Err(self.ids.unawaited(id.raw(), RequestKind::Authentication)),
        };
        self.busy = Busy::Idle;
        match result {
            AuthResult::Accepted(perms) => {
                self.login = Login::LoggedIn { user, perms };
                self.cwd = VirtualPath::root();
                self.timers.clear(Timer::Login);
                // Refused lines before the login do not count against the logged-in user.
                self.bad_commands = 0;
                self.reply(230, "Login successful.");
            }
            AuthResult::Refused => {
                self.failed_logins = self.failed_logins.saturating_add(1);
                // Hold the 530 (and every command behind it) to slow password guessing. A
                // delay too long for the clock counts as none.
                let delayed = !self.config.login_failure_delay.is_zero()
                    && self.timers.set_after(
                        Timer::LoginDelay,
                        self.now,
                        self.config.login_failure_delay,
                    );
                if delayed {
                    self.busy = Busy::LoginDelay;
                } else {
                    self.on_login_delay_over();
                }
            }
            AuthResult::Unavailable => {
                self.reply(421, "Service not available, closing control connection.");
                self.close();
            }
        }
        Ok(())
    }

    pub(super) fn on_login_delay_over(&mut self) {
        if matches!(self.busy, Busy::LoginDelay) {
            self.busy = Busy::Idle;
        }
        // One reply per PASS: the last allowed failure is answered by the 421 alone, which
        // says the login failed as well as why the session ends.
        if self.failed_logins >= self.config.max_login_failures {
            self.reply(
                421,
                "Login incorrect; too many failed logins, closing control connection.",
            );
            self.close();
        } else {
            self.reply(530, "Login incorrect.");
        }
    }

    pub(super) fn cmd_rein(&mut self) {
        self.reset_session_state();
        self.arm_login_deadline();
        self.reply(220, "Service ready for new user.");
    }

    pub(super) fn cmd_quit(&mut self) {
        if let Busy::Transfer(pending) = &self.busy {
            if pending.running().is_some() {
                // RFC 959: the transfer's reply comes first, then 221 and the close.
                self.quit_after_transfer = true;
                return;
            }
            // Still waiting for its data connection: the transfer command ends first.
            self.busy = Busy::Idle;
            self.close_data_channel();
            self.reply(426, "Connection closed; transfer aborted.");
        }
        self.reply(221, "Goodbye.");
        self.close();
    }

    /// Back to the state right after the greeting (REIN). Failed
    /// logins keep counting.
    fn reset_session_state(&mut self) {
        self.close_data_channel();
        self.login = Login::Anonymous;
        self.cwd = VirtualPath::root();
        self.transfer_type = crate::command::TransferType::Ascii;
        self.rest = None;
        self.rename_from = None;
        self.epsv_all = false;
        self.facts = crate::listing::Facts::default();
        self.hash_algorithm = crate::fs::HashAlgorithm::Sha256;
        // The control connection's TLS stays (see `tls.rs`); PBSZ and PROT start over.
        self.tls.forget_data_protection();
    }
}
