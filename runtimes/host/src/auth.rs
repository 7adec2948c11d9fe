//! Users and password checks.
//!
//! Users come from the command line (`--user NAME:PASSWORD`, read-write at the root), from a users
//! file in TOML with argon2 password hashes in PHC format, and, when enabled, the anonymous users
//! `anonymous` and `ftp`, who log in with any password.
//!
//! A users file looks like this (make a hash with `thinftp-std --hash-password`, which reads the
//! password from standard input, or with [`hash_password`]):
//!
//! ```toml
//! [[user]]
//! name = "alice"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$...$..."
//! home = "/alice"   # below the server's root; default "/"
//! write = true      # default false: read-only
//! require-tls = true  # optional: must (true) or need not (false) use FTPS, whatever
//!                     # --tls-required-control says
//! # Limits, each optional:
//! max_rate = "down=10M,up=2M"  # bytes per second, as --max-rate takes it; replaces
//!                              # --max-rate-per-session, shared by all of this user's
//!                              # sessions ("0": unlimited; --max-rate still applies)
//! quota_bytes = "5G"           # bytes of regular files beneath the home (decimal K/M/G)
//! quota_files = 10000          # regular files beneath the home
//! # A storage of its own, instead of the server's (--root or --storage); `home` is then
//! # inside it. A bucket is reached with --s3-endpoint/--s3-region/--s3-path-style and the
//! # AWS_* credentials of the environment, like --storage:
//! storage = "s3://bucket/prefix"   # or a local directory: "/srv/ftp/alice"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use argon2::password_hash::PasswordHasher;
use argon2::Argon2;
use blake2::{Blake2b512, Digest};
use serde::Deserialize;
use thinftp::{AuthResult, Permissions, VirtualPath};

use crate::hashing::{Hasher, PhcHash};

/// The names that log in as the anonymous user (compared without regard to case).
pub const ANONYMOUS_NAMES: [&str; 2] = ["anonymous", "ftp"];

/// Everyone who may log in, and how. Build it with [`Users::new`] and the `add_*` methods, or let
/// [`Host::from_options`](crate::Host::from_options) build it from the command line.
#[derive(Debug, Default)]
pub struct Users {
    named: HashMap<String, User>,
    anonymous: Option<Permissions>,
    /// Places for argon2 checks running at once: one per CPU (at most 8), each with its own
    /// memory, reused by every check (see [`hashing`](crate::hashing)). A burst of logins waits here, in a
    /// bounded queue, instead of taking gigabytes of memory and more CPUs than there are.
    /// Shared with the users that replace these on a reload
    /// ([`share_hashing_with`](Users::share_hashing_with)), so that checks running across the
    /// swap count in one queue and the memory is not allocated twice.
    hasher: Arc<Hasher>,
    /// Users whose `require-tls` says whether they must use FTPS, whatever the server's policy.
    tls_overrides: BTreeMap<String, bool>,
}

#[derive(Debug)]
struct User {
    secret: Secret,
    permissions: Permissions,
    limits: UserLimits,
    /// `storage`: where this user's files are, if not in the server's storage.
    storage: Option<crate::storage::StorageUrl>,
}

/// A user's limits from the users file: rates and quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserLimits {
    /// `max_rate`: shared by all of the user's sessions, instead of `--max-rate-per-session` (whole:
    /// a direction it leaves out, or `"0"`, is unlimited for this user).
    pub rate: Option<crate::rate::RateLimit>,
    /// `quota_bytes` and `quota_files`.
    pub quota: crate::quota::Quota,
}

/// A stored password. Its `Debug` shows no secret, so a user table can be logged.
enum Secret {
    Plain(String),
    Hash(PhcHash),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Plain(_) => f.write_str("Plain(..)"),
            Secret::Hash(_) => f.write_str("Hash(..)"),
        }
    }
}

/// Why users could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum UsersError {
    /// The users file could not be read.
    Read(PathBuf, std::io::Error),
    /// The users file is not valid TOML of the expected shape.
    Parse(PathBuf, String),
    /// A user's `password_hash` is not a PHC string argon2 can check.
    BadHash(String),
    /// A user's home directory is not a valid path.
    BadHome(String),
    /// The same name was given twice.
    Duplicate(String),
    /// A user's `max_rate`, `quota_bytes` or `quota_files` is not valid.
    BadLimit(String, String),
    /// A user's `storage` is not a storage URL: the file, the line, the user and why.
    BadStorage(PathBuf, usize, String, String),
}

impl fmt::Display for UsersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsersError::Read(path, e) => {
                write!(f, "cannot read users file {}: {e}", path.display())
            }
            UsersError::Parse(path, e) => write!(f, "invalid users file {}: {e}", path.display()),
            UsersError::BadHash(name) => {
                write!(
                    f,
                    "user {name:?}: password_hash is not an argon2 PHC string"
                )
            }
            UsersError::BadHome(name) => write!(f, "user {name:?}: invalid home directory"),
            UsersError::Duplicate(name) => write!(f, "user {name:?} is defined twice"),
            UsersError::BadLimit(name, e) => write!(f, "user {name:?}: {e}"),
            UsersError::BadStorage(path, line, name, e) => write!(
                f,
                "users file {} line {line}: user {name:?}: storage {e}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for UsersError {}

/// The shape of a users file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    user: Vec<UserEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: String,
    password_hash: String,
    #[serde(default)]
    home: Option<String>,
    #[serde(default)]
    write: bool,
    #[serde(default, rename = "require-tls", alias = "require_tls")]
    require_tls: Option<bool>,
    #[serde(default)]
    max_rate: Option<SizeText>,
    #[serde(default)]
    quota_bytes: Option<SizeText>,
    #[serde(default)]
    quota_files: Option<u64>,
    #[serde(default)]
    storage: Option<toml::Spanned<String>>,
}

/// A rate or size written as text (`"20M"`) or as a plain number.
#[derive(Deserialize)]
#[serde(untagged)]
enum SizeText {
    Number(u64),
    Text(String),
}

impl SizeText {
    fn text(&self) -> String {
        match self {
            SizeText::Number(n) => n.to_string(),
            SizeText::Text(t) => t.clone(),
        }
    }
}

impl UserEntry {
    fn limits(&self) -> Result<UserLimits, UsersError> {
        let bad =
            |key: &str, e: String| UsersError::BadLimit(self.name.clone(), format!("{key}: {e}"));
        let rate = match &self.max_rate {
            Some(rate) => {
                Some(crate::rate::RateLimit::parse(&rate.text()).map_err(|e| bad("max_rate", e))?)
            }
            None => None,
        };
        let bytes = match &self.quota_bytes {
            Some(size) => {
                Some(crate::rate::parse_size(&size.text()).map_err(|e| bad("quota_bytes", e))?)
            }
            None => None,
        };
        Ok(UserLimits {
            rate,
            quota: crate::quota::Quota {
                bytes,
                files: self.quota_files,
            },
        })
    }
}

impl Users {
    /// Nobody may log in.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user with a clear-text password (from the command line).
    pub fn add_plain(
        &mut self,
        name: &str,
        password: &str,
        permissions: Permissions,
    ) -> Result<(), UsersError> {
        self.insert(name, Secret::Plain(password.to_owned()), permissions)
    }

    /// Adds a user whose password is checked against an argon2 PHC string.
    pub fn add_hashed(
        &mut self,
        name: &str,
        phc: &str,
        permissions: Permissions,
    ) -> Result<(), UsersError> {
        // Refuse a bad hash now rather than at every login.
        let hash = PhcHash::parse(phc).ok_or_else(|| UsersError::BadHash(name.to_owned()))?;
        // Every place gets memory for the largest hash, and for the dummy hash of unknown names.
        self.hasher.need(hash.blocks());
        self.hasher.need(dummy_hash().blocks());
        self.insert(name, Secret::Hash(hash), permissions)
    }

    /// Adds every user of a users file (see the [module docs](self)).
    pub fn load_file(&mut self, path: &Path) -> Result<(), UsersError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| UsersError::Read(path.to_owned(), e))?;
        self.load_toml(&text).map_err(|e| match e {
            UsersError::Parse(_, msg) => UsersError::Parse(path.to_owned(), msg),
            UsersError::BadStorage(_, line, name, msg) => {
                UsersError::BadStorage(path.to_owned(), line, name, msg)
            }
            other => other,
        })
    }

    /// Adds every user of a users file's text.
    pub fn load_toml(&mut self, text: &str) -> Result<(), UsersError> {
        let file: UsersFile =
            toml::from_str(text).map_err(|e| UsersError::Parse(PathBuf::new(), e.to_string()))?;
        for entry in file.user {
            let home = match &entry.home {
                None => VirtualPath::root(),
                Some(home) => VirtualPath::root()
                    .resolve(home)
                    .map_err(|_| UsersError::BadHome(entry.name.clone()))?,
            };
            let permissions = Permissions::new(home, entry.write);
            let limits = entry.limits()?;
            let storage = match &entry.storage {
                None => None,
                Some(url) => Some(crate::storage::StorageUrl::parse(url.get_ref()).map_err(
                    |e| {
                        let before = &text.as_bytes()[..url.span().start.min(text.len())];
                        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
                        UsersError::BadStorage(PathBuf::new(), line, entry.name.clone(), e)
                    },
                )?),
            };
            self.add_hashed(&entry.name, &entry.password_hash, permissions)?;
            if let Some(require) = entry.require_tls {
                self.tls_overrides.insert(entry.name.clone(), require);
            }
            if let Some(user) = self.named.get_mut(&entry.name) {
                user.limits = limits;
                user.storage = storage;
            }
        }
        Ok(())
    }

    /// The users whose `require-tls` says whether they must use FTPS (true) or need not
    /// (false), whatever `--tls-required-control` says.
    pub fn tls_overrides(&self) -> &BTreeMap<String, bool> {
        &self.tls_overrides
    }

    /// Lets `anonymous` and `ftp` log in with any password, with `permissions`.
    pub fn allow_anonymous(&mut self, permissions: Permissions) {
        self.anonymous = Some(permissions);
    }

    /// Whether anonymous logins are allowed.
    pub fn anonymous(&self) -> Option<&Permissions> {
        self.anonymous.as_ref()
    }

    /// How many named (not anonymous) users there are.
    pub fn named_count(&self) -> usize {
        self.named.len()
    }

    /// The permissions of every named user, for checks at startup (e.g. that homes exist).
    pub fn named(&self) -> impl Iterator<Item = (&str, &Permissions)> {
        self.named
            .iter()
            .map(|(name, user)| (name.as_str(), &user.permissions))
    }

    /// The limits of the named user `user` (none for unknown and anonymous users).
    pub fn limits(&self, user: &str) -> UserLimits {
        self.named.get(user).map(|u| u.limits).unwrap_or_default()
    }

    /// The storage of its own the named user `user` has in the users file (`None`: the
    /// server's, also for unknown and anonymous users).
    pub fn storage(&self, user: &str) -> Option<&crate::storage::StorageUrl> {
        self.named.get(user).and_then(|u| u.storage.as_ref())
    }

    /// Every named user with a storage of its own, and that storage.
    pub fn storages(&self) -> impl Iterator<Item = (&str, &crate::storage::StorageUrl)> {
        self.named
            .iter()
            .filter_map(|(name, u)| Some((name.as_str(), u.storage.as_ref()?)))
    }

    /// Makes every user read-only (`--read-only`).
    pub fn make_read_only(&mut self) {
        for user in self.named.values_mut() {
            user.permissions.write = false;
        }
        if let Some(anonymous) = &mut self.anonymous {
            anonymous.write = false;
        }
    }

    /// Checks a name and password. Blocking and slow on purpose for hashed passwords (argon2):
    /// call it off any event loop. At most one argon2 check per CPU runs at once (for all
    /// threads using these users); more wait their turn, however many. Never logs the password.
    pub fn check(&self, user: &str, password: &str) -> AuthResult {
        self.check_queued(None, user, password)
    }

    /// Like [`check`](Self::check), for a client of address group `ip` (see
    /// [`limits::ip_group`](crate::limits::ip_group)): when the check needs a hash and the queue
    /// of checks is full (see [`set_queue_bounds`](Self::set_queue_bounds)), in total or for
    /// that group (`None`: only the total counts), the answer is [`AuthResult::Unavailable`] at
    /// once, without hashing.
    pub fn check_queued(&self, ip: Option<IpAddr>, user: &str, password: &str) -> AuthResult {
        let named = self.named.get(user);
        if let Some(User {
            secret: Secret::Plain(expected),
            permissions,
            ..
        }) = named
        {
            return if constant_time_eq(expected.as_bytes(), password.as_bytes()) {
                AuthResult::Accepted(permissions.clone())
            } else {
                AuthResult::Refused
            };
        }
        if named.is_none() {
            if let Some(anonymous) = &self.anonymous {
                if ANONYMOUS_NAMES.iter().any(|n| n.eq_ignore_ascii_case(user)) {
                    return AuthResult::Accepted(anonymous.clone());
                }
            }
            if !self.has_hashes() {
                return AuthResult::Refused;
            }
        }
        // A hash to compute: a user's, or for an unknown name the dummy one, which spends the
        // time (and the memory) of a real check so that response times do not tell which names
        // exist.
        let Some(ticket) = self.hasher.enter(ip) else {
            return AuthResult::Unavailable;
        };
        match named {
            Some(User {
                secret: Secret::Hash(hash),
                permissions,
                ..
            }) => {
                if self.hasher.check(&ticket, hash, password) {
                    AuthResult::Accepted(permissions.clone())
                } else {
                    AuthResult::Refused
                }
            }
            _ => {
                let _ = self.hasher.check(&ticket, dummy_hash(), password);
                AuthResult::Refused
            }
        }
    }

    /// Whether [`check`](Self::check) of `user` is quick (no password hash to compute: a plain
    /// password, an anonymous name, or an unknown name while no user has a hash), so that an
    /// event loop may call it in place instead of handing it to a thread. The answer depends
    /// only on the name, never on the password, and takes no longer for a name that exists.
    pub fn check_is_quick(&self, user: &str) -> bool {
        match self.named.get(user) {
            Some(entry) => matches!(entry.secret, Secret::Plain(_)),
            None => !self.has_hashes(),
        }
    }

    /// Bounds the queue of argon2 checks: at most `total` waiting or running, `per_ip` of them
    /// for one address group. Checks past a bound are answered [`AuthResult::Unavailable`] by
    /// [`check_queued`](Self::check_queued). Default: unbounded.
    pub fn set_queue_bounds(&mut self, total: usize, per_ip: usize) {
        match Arc::get_mut(&mut self.hasher) {
            Some(hasher) => hasher.set_queue_bounds(total, per_ip),
            None => {
                // Shared with other users: these get a queue of their own with the new bounds.
                let mut hasher = Hasher::per_cpu();
                hasher.set_queue_bounds(total, per_ip);
                self.hasher = Arc::new(hasher);
                self.need_hash_memory();
            }
        }
    }

    /// Checks passwords in `other`'s places and queue (with its bounds) from now on: call it
    /// on users loaded to replace `other`, before they are used.
    pub fn share_hashing_with(&mut self, other: &Users) {
        self.hasher = Arc::clone(&other.hasher);
        self.need_hash_memory();
    }

    fn need_hash_memory(&self) {
        let hashes = self.named.values().filter_map(|u| match &u.secret {
            Secret::Hash(hash) => Some(hash.blocks()),
            Secret::Plain(_) => None,
        });
        for blocks in hashes {
            self.hasher.need(blocks);
            self.hasher.need(dummy_hash().blocks());
        }
    }

    /// Allocates the memory of every argon2 place now (if any user has a hash), so that the
    /// first logins do not raise the process's memory. Call it once at startup.
    pub fn reserve_hash_memory(&self) {
        if self.has_hashes() {
            self.hasher.reserve();
        }
    }

    fn has_hashes(&self) -> bool {
        self.named
            .values()
            .any(|u| matches!(u.secret, Secret::Hash(_)))
    }

    fn insert(
        &mut self,
        name: &str,
        secret: Secret,
        permissions: Permissions,
    ) -> Result<(), UsersError> {
        if self.named.contains_key(name) {
            return Err(UsersError::Duplicate(name.to_owned()));
        }
        self.named.insert(
            name.to_owned(),
            User {
                secret,
                permissions,
                limits: UserLimits::default(),
                storage: None,
            },
        );
        Ok(())
    }
}

/// Hashes `password` with argon2id (default parameters, random salt) into a PHC string for the
/// `password_hash` field of a users file.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default()
        .hash_password(password.as_bytes())?
        .to_string())
}

/// A hash of nothing anyone types, computed once (with the default parameters, as
/// [`hash_password`] makes them), for checks of unknown names.
fn dummy_hash() -> &'static PhcHash {
    static HASH: OnceLock<PhcHash> = OnceLock::new();
    HASH.get_or_init(|| {
        let phc = hash_password("thinftp: no such user").expect("argon2 with default parameters");
        PhcHash::parse(&phc).expect("a hash just made parses")
    })
}

/// Compares without stopping at the first difference, nor at a difference in length, so timing
/// does not tell how much of a password was right, nor how long it is: both sides are reduced
/// to fixed-length digests first, which are compared whole.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Blake2b512::digest(a), Blake2b512::digest(b));
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_tls_in_the_users_file_overrides_the_policy_per_user() {
        let hash = hash_password("pw").unwrap();
        let text = format!(
            "[[user]]\nname = \"alice\"\npassword_hash = \"{hash}\"\nrequire-tls = true\n\
             [[user]]\nname = \"bob\"\npassword_hash = \"{hash}\"\nrequire-tls = false\n\
             [[user]]\nname = \"carol\"\npassword_hash = \"{hash}\"\n"
        );
        let mut users = Users::new();
        users.load_toml(&text).unwrap();
        let overrides: Vec<_> = users.tls_overrides().iter().collect();
        let (alice, bob) = ("alice".to_owned(), "bob".to_owned());
        assert_eq!(overrides, vec![(&alice, &true), (&bob, &false)]);
        let bad = format!("[[user]]\nname = \"a\"\npassword_hash = \"{hash}\"\nrequire-tls = 1\n");
        assert!(Users::new().load_toml(&bad).is_err());
    }

    #[test]
    fn a_users_file_gives_rates_and_quotas() {
        let hash = hash_password("pw").unwrap();
        let mut users = Users::new();
        let text = format!(
            "[[user]]\nname = \"a\"\npassword_hash = \"{hash}\"\nmax_rate = \"down=10M\"\n\
             quota_bytes = \"5G\"\nquota_files = 7\n\
             [[user]]\nname = \"b\"\npassword_hash = \"{hash}\"\nmax_rate = 1000\n\
             quota_bytes = 2000\n\
             [[user]]\nname = \"c\"\npassword_hash = \"{hash}\"\n"
        );
        users.load_toml(&text).unwrap();
        let a = users.limits("a");
        assert_eq!(
            a.rate,
            Some(crate::rate::RateLimit {
                down: Some(10_000_000),
                up: None
            })
        );
        assert_eq!(a.quota.bytes, Some(5_000_000_000));
        assert_eq!(a.quota.files, Some(7));
        let b = users.limits("b");
        assert_eq!(b.rate.and_then(|r| r.up), Some(1000));
        assert_eq!(b.quota.bytes, Some(2000));
        assert_eq!(users.limits("c"), UserLimits::default());
        assert_eq!(users.limits("nobody"), UserLimits::default());
        let bad =
            format!("[[user]]\nname = \"d\"\npassword_hash = \"{hash}\"\nmax_rate = \"fast\"\n");
        let err = Users::new().load_toml(&bad).unwrap_err().to_string();
        assert!(err.contains("\"d\"") && err.contains("max_rate"), "{err}");
    }

    #[test]
    fn a_users_file_gives_storages_of_their_own() {
        let hash = hash_password("pw").unwrap();
        let mut users = Users::new();
        let text = format!(
            "[[user]]\nname = \"a\"\npassword_hash = \"{hash}\"\nstorage = \"s3://bucket/a\"\n\
             [[user]]\nname = \"b\"\npassword_hash = \"{hash}\"\nstorage = \"/srv/b\"\n\
             [[user]]\nname = \"c\"\npassword_hash = \"{hash}\"\n"
        );
        users.load_toml(&text).unwrap();
        let named = |n| users.storage(n).map(ToString::to_string);
        assert_eq!(named("a").as_deref(), Some("s3://bucket/a"));
        assert_eq!(named("b").as_deref(), Some("/srv/b"));
        assert_eq!(named("c"), None);
        assert_eq!(named("nobody"), None);
        assert_eq!(users.storages().count(), 2);
        let bad = format!(
            "[[user]]\nname = \"c\"\npassword_hash = \"{hash}\"\n\
             [[user]]\nname = \"d\"\npassword_hash = \"{hash}\"\nstorage = \"s4://x\"\n"
        );
        let err = Users::new().load_toml(&bad).unwrap_err().to_string();
        assert!(
            err.contains("line 7") && err.contains("\"d\"") && err.contains("s4://x"),
            "{err}"
        );
    }

    #[test]
    fn a_full_queue_answers_unavailable_without_hashing() {
        let mut users = Users::new();
        let hash = hash_password("pw").unwrap();
        users
            .add_hashed("alice", &hash, Permissions::read_write())
            .unwrap();
        users
            .add_plain("bob", "pw", Permissions::read_only())
            .unwrap();
        users.set_queue_bounds(1, 1);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let held = users.hasher.enter(Some(ip)).unwrap();
        for name in ["alice", "nobody"] {
            assert_eq!(
                users.check_queued(Some(ip), name, "pw"),
                AuthResult::Unavailable
            );
        }
        // A check without a hash needs no place in the queue.
        assert_eq!(
            users.check_queued(Some(ip), "bob", "pw"),
            AuthResult::Accepted(Permissions::read_only())
        );
        drop(held);
        assert_eq!(
            users.check_queued(Some(ip), "alice", "pw"),
            AuthResult::Accepted(Permissions::read_write())
        );
        assert_eq!(
            users.check_queued(Some(ip), "nobody", "pw"),
            AuthResult::Refused
        );
    }

    #[test]
    fn users_loaded_by_a_reload_check_in_the_queue_of_those_they_replace() {
        let hash = hash_password("pw").unwrap();
        let mut old = Users::new();
        old.add_hashed("alice", &hash, Permissions::read_write())
            .unwrap();
        old.set_queue_bounds(1, 1);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        // A check of the old users still runs when the new ones come in force.
        let held = old.hasher.enter(Some(ip)).unwrap();
        let mut new = Users::new();
        new.add_hashed("bob", &hash, Permissions::read_write())
            .unwrap();
        new.share_hashing_with(&old);
        assert_eq!(
            new.check_queued(Some(ip), "bob", "pw"),
            AuthResult::Unavailable,
            "the running check counts for the new users too"
        );
        drop(held);
        assert_eq!(
            new.check_queued(Some(ip), "bob", "pw"),
            AuthResult::Accepted(Permissions::read_write())
        );
        assert_eq!(
            new.check_queued(Some(ip), "alice", "pw"),
            AuthResult::Refused
        );
    }

    #[test]
    fn equal_means_equal_whatever_the_lengths() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret "));
        assert!(!constant_time_eq(b"secret", b""));
    }

    #[test]
    fn only_checks_without_a_hash_are_quick() {
        let mut users = Users::new();
        users
            .add_plain("bob", "pw", Permissions::read_only())
            .unwrap();
        users.allow_anonymous(Permissions::read_only());
        assert!(users.check_is_quick("bob"));
        assert!(users.check_is_quick("anonymous"));
        assert!(users.check_is_quick("nobody"));
        let hash = hash_password("pw").unwrap();
        users
            .add_hashed("alice", &hash, Permissions::read_write())
            .unwrap();
        assert!(!users.check_is_quick("alice"));
        // An unknown name now costs a dummy hash, like a real one: not quick either.
        assert!(!users.check_is_quick("nobody"));
        assert!(users.check_is_quick("bob"));
    }

    #[test]
    fn plain_passwords_need_no_place() {
        let mut users = Users::new();
        users.set_queue_bounds(0, 0);
        users
            .add_plain("bob", "pw", Permissions::read_only())
            .unwrap();
        assert_eq!(
            users.check("bob", "pw"),
            AuthResult::Accepted(Permissions::read_only())
        );
    }
}
