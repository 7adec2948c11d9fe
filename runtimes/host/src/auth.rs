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
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use argon2::password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use serde::Deserialize;
use thinftp::{AuthResult, Permissions, VirtualPath};

use crate::limits::Semaphore;

/// The names that log in as the anonymous user (compared without regard to case).
pub const ANONYMOUS_NAMES: [&str; 2] = ["anonymous", "ftp"];

/// Everyone who may log in, and how. Build it with [`Users::new`] and the `add_*` methods, or let
/// [`Host::from_options`](crate::Host::from_options) build it from the command line.
#[derive(Debug, Default)]
pub struct Users {
    named: HashMap<String, User>,
    anonymous: Option<Permissions>,
    /// Places for argon2 checks running at once: one per CPU. Each check holds about 19 MiB
    /// and a CPU for its whole run, so a burst of logins waits here instead of taking gigabytes
    /// of memory and more CPUs than there are.
    hashing: Semaphore,
}

#[derive(Debug)]
struct User {
    secret: Secret,
    permissions: Permissions,
}

/// A stored password. Its `Debug` shows no secret, so a user table can be logged.
enum Secret {
    Plain(String),
    Hash(String),
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
        match PasswordHash::new(phc) {
            Ok(hash) if hash.algorithm.as_str().starts_with("argon2") => {}
            _ => return Err(UsersError::BadHash(name.to_owned())),
        }
        self.insert(name, Secret::Hash(phc.to_owned()), permissions)
    }

    /// Adds every user of a users file (see the [module docs](self)).
    pub fn load_file(&mut self, path: &Path) -> Result<(), UsersError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| UsersError::Read(path.to_owned(), e))?;
        self.load_toml(&text).map_err(|e| match e {
            UsersError::Parse(_, msg) => UsersError::Parse(path.to_owned(), msg),
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
            let permissions = Permissions {
                home,
                write: entry.write,
            };
            self.add_hashed(&entry.name, &entry.password_hash, permissions)?;
        }
        Ok(())
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
    /// threads using these users); more wait their turn. Never logs the password.
    pub fn check(&self, user: &str, password: &str) -> AuthResult {
        if let Some(entry) = self.named.get(user) {
            let ok = match &entry.secret {
                Secret::Plain(expected) => {
                    constant_time_eq(expected.as_bytes(), password.as_bytes())
                }
                Secret::Hash(phc) => self.verify(phc, password),
            };
            return if ok {
                AuthResult::Accepted(entry.permissions.clone())
            } else {
                AuthResult::Refused
            };
        }
        if let Some(anonymous) = &self.anonymous {
            if ANONYMOUS_NAMES.iter().any(|n| n.eq_ignore_ascii_case(user)) {
                return AuthResult::Accepted(anonymous.clone());
            }
        }
        if self
            .named
            .values()
            .any(|u| matches!(u.secret, Secret::Hash(_)))
        {
            // Spend the time of a real check, so that response times do not tell which names
            // exist.
            let _ = self.verify(dummy_hash(), password);
        }
        AuthResult::Refused
    }

    /// Whether [`check`](Self::check) of `user` is quick (no password hash to compute: a plain
    /// password, an anonymous name, or an unknown name while no user has a hash), so that an
    /// event loop may call it in place instead of handing it to a thread. The answer depends
    /// only on the name, never on the password, and takes no longer for a name that exists.
    pub fn check_is_quick(&self, user: &str) -> bool {
        match self.named.get(user) {
            Some(entry) => matches!(entry.secret, Secret::Plain(_)),
            None => !self
                .named
                .values()
                .any(|u| matches!(u.secret, Secret::Hash(_))),
        }
    }

    /// Checks `password` against an argon2 PHC string, once a place for it is free.
    fn verify(&self, phc: &str, password: &str) -> bool {
        let _place = self.hashing.acquire();
        verify(phc, password)
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

fn verify(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of nothing anyone types, computed once, for checks of unknown names.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password("thinftp: no such user").unwrap_or_default())
}

/// Compares without stopping at the first difference, so timing does not tell how much of a
/// password was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn argon2_checks_wait_for_a_free_place() {
        let mut users = Users {
            hashing: Semaphore::new(1),
            ..Users::default()
        };
        let hash = hash_password("pw").unwrap();
        users
            .add_hashed("alice", &hash, Permissions::read_write())
            .unwrap();
        let users = &users;
        let held = users.hashing.acquire();
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel();
            s.spawn(move || tx.send(users.check("alice", "pw")).unwrap());
            // The only place is taken: the check waits...
            assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
            drop(held);
            // ... and runs once the place is free.
            let result = rx.recv_timeout(Duration::from_secs(20)).unwrap();
            assert_eq!(result, AuthResult::Accepted(Permissions::read_write()));
        });
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
        let mut users = Users {
            hashing: Semaphore::new(1),
            ..Users::default()
        };
        users
            .add_plain("bob", "pw", Permissions::read_only())
            .unwrap();
        let _held = users.hashing.acquire();
        assert_eq!(
            users.check("bob", "pw"),
            AuthResult::Accepted(Permissions::read_only())
        );
    }
}
