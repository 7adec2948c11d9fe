//! The limits one session's transfers run under: the server's rate buckets (`--max-rate`,
//! shared by every session), the session's own (`--max-rate-per-session`), or instead its
//! user's `max_rate` from the users file (buckets shared by all of that user's sessions: see
//! [`user_rates`](crate::user_rates)), and after login its user's quota.
//!
//! The driver keeps one per session: it names the user when a login is asked for
//! ([`logging_in`](SessionLimits::logging_in)), takes the user's limits once the login is
//! accepted ([`logged_in`](SessionLimits::logged_in)), and puts every opened transfer under
//! them ([`limit`](SessionLimits::limit)). Settings changed by a reload apply to sessions that
//! start afterwards (and the quota itself to the next login).

use std::sync::Arc;

use thinftp::{TransferError, TransferKind};

use crate::quota::{QuotaCharge, UploadBefore, Usage};
use crate::rate::{Bucket, Direction, Pacer, RateLimit};
use crate::storage::Storage;
use crate::transfer::{open_transfer, Opened};
use crate::user_rates::UserBuckets;
use crate::Host;

/// The server's buckets, one per direction (none: no limit).
#[derive(Debug, Clone, Default)]
pub struct RateBuckets {
    down: Option<Arc<Bucket>>,
    up: Option<Arc<Bucket>>,
}

impl RateBuckets {
    /// New buckets for `limit`.
    pub fn new(limit: RateLimit) -> Self {
        RateBuckets {
            down: limit.down.map(Bucket::new),
            up: limit.up.map(Bucket::new),
        }
    }

    fn get(&self, direction: Direction) -> Option<&Arc<Bucket>> {
        match direction {
            Direction::Down => self.down.as_ref(),
            Direction::Up => self.up.as_ref(),
        }
    }

    /// The limit these buckets enforce.
    pub fn limit(&self) -> RateLimit {
        RateLimit {
            down: self.down.as_ref().map(|b| b.rate()),
            up: self.up.as_ref().map(|b| b.rate()),
        }
    }
}

/// One session's limits (see the [module docs](self)). Cheap to clone: a job holds a clone.
#[derive(Debug, Clone, Default)]
pub struct SessionLimits {
    server: RateBuckets,
    session: RateBuckets,
    /// The logged-in user's shared buckets, if the users file gives the user a `max_rate`:
    /// they replace `session`.
    user_rate: Option<Arc<UserBuckets>>,
    usage: Option<Arc<Usage>>,
    /// The name of the login under way.
    user: Option<String>,
}

impl SessionLimits {
    /// A new session's: the server's buckets as they are now, and buckets of its own for
    /// `--max-rate-per-session`.
    pub fn new(host: &Host) -> Self {
        SessionLimits {
            server: host.rate_buckets(),
            session: RateBuckets::new(host.rate_per_session()),
            user_rate: None,
            usage: None,
            user: None,
        }
    }

    /// A login of `user` is asked for.
    pub fn logging_in(&mut self, user: &str) {
        self.user = Some(user.to_owned());
    }

    /// The user of the login asked for, until it is accepted.
    pub fn user_logging_in(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The login asked for is accepted, with its `home`: the user's `max_rate`, if the users
    /// file gives one, replaces the session's rates with the user's buckets, shared by all of
    /// the user's sessions, and its quota applies (the home is measured at the user's first
    /// login: blocking, see [`Host::user_usage`]).
    pub fn logged_in(&mut self, host: &Host, home: &dyn Storage) {
        let Some(user) = self.user.take() else {
            return;
        };
        let (rate, usage) = host.user_limits(&user, home);
        self.user_rate = rate.map(|rate| host.user_rates().for_user(&user, rate));
        self.usage = usage;
    }

    /// The quota usage of the logged-in user, if the user has a quota.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_deref()
    }

    /// The pacer of a transfer in `direction`.
    pub fn pacer(&self, direction: Direction) -> Pacer {
        let own = match &self.user_rate {
            Some(user) => user.buckets(),
            None => &self.session,
        };
        let buckets = [&self.server, own]
            .into_iter()
            .filter_map(|b| b.get(direction).cloned());
        Pacer::new(buckets)
    }

    /// Opens the transfer `kind` beneath `storage` ([`open_transfer`]) under these limits:
    /// paced for its direction and, for an upload of a user with a quota, charged to it.
    /// `Err` (552) for an upload the quota has no room for (nothing of it stays).
    pub fn open(
        &self,
        storage: &Arc<dyn Storage>,
        kind: &TransferKind,
    ) -> Result<Opened, TransferError> {
        // Looked at before the open, which may create the file.
        let before = match (&self.usage, kind) {
            (Some(_), TransferKind::ReceiveFile { path, mode, .. }) => {
                Some(UploadBefore::look(storage, path, *mode))
            }
            _ => None,
        };
        let mut opened = open_transfer(&**storage, kind)?;
        opened.pace(self.pacer(opened.direction()));
        if let (Some(usage), Some(before)) = (&self.usage, before) {
            match QuotaCharge::admit(usage.clone(), before.clone()) {
                Ok(charge) => opened.charge(charge),
                Err(e) => {
                    opened.give_up(&before);
                    return Err(TransferError::Fs(e));
                }
            }
        }
        Ok(opened)
    }
}
