//! Checking logins: the users, the bans that refuse an address or a name before any password
//! check, the bounded queue of password checks, and warnings that cannot flood the log.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use thinftp::AuthResult;

use crate::auth::Users;
use crate::bans::{BanPolicy, Banned, Bans};
use crate::limits::SessionGuard;
use crate::observe::metrics::{LoginOutcome, Metrics};
use crate::throttle::Throttle;

/// At most one "login refused" (or "login queue full") warning per this long; the next one
/// says how many were left out.
const LOGIN_WARN_EVERY: Duration = Duration::from_secs(5);

/// Who may log in, and the defences around the check. Reached through
/// [`Host::authenticate`](crate::Host::authenticate) and
/// [`Host::authenticate_session`](crate::Host::authenticate_session).
#[derive(Debug)]
pub(crate) struct Logins {
    /// Swapped whole by a reload; a check takes its own reference (a read lock held for one
    /// `Arc` clone), so a reload never waits for a password hash, nor a login for a reload.
    users: RwLock<Arc<Users>>,
    bans: Bans,
    refused_log: Throttle,
    queue_full_log: Throttle,
    /// Counts logins by outcome.
    metrics: Metrics,
}

impl Logins {
    pub(crate) fn new(users: Users, bans: BanPolicy, metrics: Metrics) -> Self {
        Logins {
            metrics,
            users: RwLock::new(Arc::new(users)),
            bans: Bans::new(bans),
            refused_log: Throttle::new(LOGIN_WARN_EVERY),
            queue_full_log: Throttle::new(LOGIN_WARN_EVERY),
        }
    }

    /// Puts the ban `policy` in force from now on (a reload; see [`Bans::set_policy`]).
    pub(crate) fn set_ban_policy(&self, policy: BanPolicy) {
        self.bans.set_policy(policy);
    }

    /// The ban policy in force.
    pub(crate) fn ban_policy(&self) -> BanPolicy {
        self.bans.policy()
    }

    /// The users now in force.
    pub(crate) fn users(&self) -> Arc<Users> {
        Arc::clone(&self.users.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts `users` in force for every check from now on (sessions logged in keep what they
    /// were given); they check passwords in the same queue as the users they replace.
    pub(crate) fn replace_users(&self, mut users: Users) {
        let mut current = self.users.write().unwrap_or_else(|e| e.into_inner());
        users.share_hashing_with(&current);
        users.reserve_hash_memory();
        *current = Arc::new(users);
    }

    /// See [`Host::authenticate_session`](crate::Host::authenticate_session).
    pub(crate) fn check_session(
        &self,
        session: &SessionGuard,
        user: &str,
        password: &str,
    ) -> AuthResult {
        let result = self.check(Some(session.ip_group()), user, password);
        if matches!(result, AuthResult::Accepted(_)) {
            session.logged_in();
        }
        result
    }

    /// Checks `user`'s `password` for a client from the address group `ip` (none: only name
    /// bans apply and the queue of checks is bounded in total only), and logs the outcome.
    pub(crate) fn check(&self, ip: Option<IpAddr>, user: &str, password: &str) -> AuthResult {
        let now = Instant::now();
        if let Some(banned) = self.bans.banned(now, ip, user) {
            // Logged when the ban started; each refusal only at debug level.
            tracing::debug!(user = ?user, ?banned, "login refused: banned");
            self.metrics.login(LoginOutcome::Banned);
            return AuthResult::Unavailable;
        }
        let result = self.users().check_queued(ip, user, password);
        match &result {
            AuthResult::Accepted(p) => {
                self.metrics.login(LoginOutcome::Ok);
                tracing::Span::current().record("user", user);
                tracing::info!(user = ?user, home = %p.home, write = p.write, "login accepted");
            }
            AuthResult::Refused => {
                self.metrics.login(LoginOutcome::Failed);
                if let Some(suppressed) = self.refused_log.admit(now) {
                    tracing::warn!(user = ?user, suppressed, "login refused");
                }
                self.log_new_bans(self.bans.failed(now, ip, user));
            }
            AuthResult::Unavailable => {
                self.metrics.login(LoginOutcome::Busy);
                if let Some(suppressed) = self.queue_full_log.admit(now) {
                    tracing::warn!(user = ?user, suppressed, "too many password checks waiting: 421");
                }
            }
            other => tracing::warn!(?other, "unknown answer to a login"),
        }
        result
    }

    fn log_new_bans(&self, banned: Vec<Banned>) {
        let secs = self.bans.ban_time().as_secs();
        for banned in banned {
            match banned {
                Banned::Address(ip) => tracing::warn!(
                    %ip, "too many failed logins from this address: banned for {secs} s"
                ),
                Banned::User(name) => tracing::warn!(
                    user = ?name, "too many failed logins for this user: banned for {secs} s"
                ),
            }
        }
    }
}
