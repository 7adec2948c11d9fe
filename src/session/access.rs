//! Login: USER, PASS, REIN, QUIT, and the answers to authentication requests.

use super::{Busy, Login, Session};
use crate::auth::AuthResult;
use crate::error::DriveError;
use crate::events::Output;
use crate::ids::AuthId;
use crate::path::VirtualPath;

use super::timers::Timer;

impl Session {
    pub(super) fn cmd_user(&mut self, name: String) {
        if self.logged_in() {
            // RFC 959 lets USER change the user at any time: start over as after REIN.
            self.reset_session_state();
        }
        self.login = Login::UserGiven(name);
        // The same reply for every name, known or not: no user-name oracle.
        self.reply(331, "Please specify the password.");
    }

    pub(super) fn cmd_pass(&mut self, password: String) {
        match std::mem::replace(&mut self.login, Login::Anonymous) {
            Login::UserGiven(user) => {
                let id = AuthId::from_raw(self.ids.next());
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
            _ => return Err(DriveError::UnknownId("authentication", id.raw())),
        };
        self.busy = Busy::Idle;
        match result {
            AuthResult::Accepted(perms) => {
                self.login = Login::LoggedIn { user, perms };
                self.cwd = VirtualPath::root();
                self.reply(230, "Login successful.");
            }
            AuthResult::Refused => {
                self.failed_logins = self.failed_logins.saturating_add(1);
                if self.config.login_failure_delay.is_zero() {
                    self.on_login_delay_over();
                } else {
                    // Hold the 530 (and every command behind it) to slow password guessing.
                    self.busy = Busy::LoginDelay;
                    self.timers.set(
                        Timer::LoginDelay,
                        self.now + self.config.login_failure_delay,
                    );
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
        self.reply(530, "Login incorrect.");
        if self.failed_logins >= self.config.max_login_failures {
            self.reply(421, "Too many failed logins; closing control connection.");
            self.close();
        }
    }

    pub(super) fn cmd_rein(&mut self) {
        self.reset_session_state();
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

    /// Back to the state right after the greeting (REIN, or USER while logged in). Failed
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
    }
}
