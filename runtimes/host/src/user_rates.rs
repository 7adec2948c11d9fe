//! The rate buckets of users whose users-file entry has a `max_rate`: one set per user name,
//! shared by all of that user's sessions (as pure-ftpd and ProFTPD operators expect: a user's
//! rate is the user's, however many connections the client opens), kept while one of those
//! sessions lives and dropped with the last.
//!
//! The registry holds each user's buckets weakly; the sessions ([`SessionLimits`]) and their
//! transfers hold them strongly. When the last holder drops them, they take their entry out of
//! the registry, so it never grows beyond the users logged in now.
//!
//! [`SessionLimits`]: crate::session_limits::SessionLimits

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::rate::RateLimit;
use crate::session_limits::RateBuckets;

type Registry = Mutex<HashMap<String, Weak<UserBuckets>>>;

/// Every logged-in user's shared buckets, by name. Cheap to clone: clones share the registry.
#[derive(Debug, Clone, Default)]
pub struct UserRates {
    by_user: Arc<Registry>,
}

/// One user's buckets, shared by the user's sessions.
#[derive(Debug)]
pub struct UserBuckets {
    buckets: RateBuckets,
    name: String,
    registry: Weak<Registry>,
}

impl UserBuckets {
    /// The buckets.
    pub fn buckets(&self) -> &RateBuckets {
        &self.buckets
    }
}

impl UserRates {
    /// The buckets of `user` at `rate`: those the user's live sessions share, or new ones if
    /// none lives (or a reload changed the user's rate: sessions that run keep the old ones,
    /// later logins share the new).
    pub fn for_user(&self, user: &str, rate: RateLimit) -> Arc<UserBuckets> {
        // Declared before the lock: the replaced buckets, if these were the last holder, are
        // dropped after the lock is released (their drop takes it).
        let live;
        let mut map = lock(&self.by_user);
        live = map.get(user).and_then(Weak::upgrade);
        if let Some(buckets) = live.as_ref().filter(|b| b.buckets.limit() == rate) {
            return Arc::clone(buckets);
        }
        let buckets = Arc::new(UserBuckets {
            buckets: RateBuckets::new(rate),
            name: user.to_owned(),
            registry: Arc::downgrade(&self.by_user),
        });
        map.insert(user.to_owned(), Arc::downgrade(&buckets));
        buckets
    }

    /// How many users have buckets now (for tests).
    pub fn users(&self) -> usize {
        lock(&self.by_user).len()
    }
}

impl Drop for UserBuckets {
    /// The last session of the user ended: its entry goes, unless a newer set took its place.
    fn drop(&mut self) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        let mut map = lock(&registry);
        // No upgrade here: a temporary strong reference could be the last one and drop inside
        // the lock.
        if map.get(&self.name).is_some_and(|w| w.strong_count() == 0) {
            map.remove(&self.name);
        }
    }
}

fn lock(registry: &Registry) -> MutexGuard<'_, HashMap<String, Weak<UserBuckets>>> {
    registry.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(n: u64) -> RateLimit {
        RateLimit {
            down: Some(n),
            up: Some(n),
        }
    }

    #[test]
    fn a_users_sessions_share_its_buckets_until_the_last_ends() {
        let rates = UserRates::default();
        let a = rates.for_user("alice", rate(1000));
        let b = rates.for_user("alice", rate(1000));
        assert!(Arc::ptr_eq(&a, &b), "one user, one set of buckets");
        let other = rates.for_user("bob", rate(1000));
        assert!(!Arc::ptr_eq(&a, &other));
        assert_eq!(rates.users(), 2);
        drop(a);
        assert_eq!(rates.users(), 2, "alice still has a session");
        drop(b);
        assert_eq!(rates.users(), 1, "alice's last session ended");
        let again = rates.for_user("alice", rate(1000));
        assert_eq!(again.buckets().limit(), rate(1000));
        drop((again, other));
        assert_eq!(rates.users(), 0);
    }

    #[test]
    fn a_changed_rate_gives_later_logins_new_buckets() {
        let rates = UserRates::default();
        let old = rates.for_user("alice", rate(1000));
        let new = rates.for_user("alice", rate(2000));
        assert!(!Arc::ptr_eq(&old, &new));
        assert_eq!(
            old.buckets().limit(),
            rate(1000),
            "a running session keeps its own"
        );
        assert!(Arc::ptr_eq(&new, &rates.for_user("alice", rate(2000))));
        drop(old);
        assert_eq!(
            rates.users(),
            1,
            "the old set does not take the new one's entry"
        );
        drop(new);
        assert_eq!(rates.users(), 0);
    }
}
