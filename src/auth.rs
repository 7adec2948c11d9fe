//! Authentication: what the core asks for at `PASS`, and what the runtime answers.

use crate::path::VirtualPath;

/// What a logged-in user may do (build it with [`Permissions::new`]: new fields may come). The core enforces it: a read-only user's `STOR`, `DELE`, `MKD`,
/// ... get `550` without any filesystem request being made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct Permissions {
    /// The user's home directory in the server's view. It becomes `/` for the client, who can
    /// never leave it.
    pub home: VirtualPath,
    /// Whether the user may change anything (upload, delete, rename, make directories).
    pub write: bool,
}

impl Permissions {
    /// Access rooted at `home` (the server's view), read-write if `write`.
    pub fn new(home: VirtualPath, write: bool) -> Self {
        Self { home, write }
    }

    /// Read-only access rooted at the server's root.
    pub fn read_only() -> Self {
        Self {
            home: VirtualPath::root(),
            write: false,
        }
    }

    /// Read-write access rooted at the server's root.
    pub fn read_write() -> Self {
        Self {
            home: VirtualPath::root(),
            write: true,
        }
    }
}

/// The runtime's answer to an [`Output::Authenticate`](crate::Output::Authenticate).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum AuthResult {
    /// The name and password are good: the user is logged in with these permissions.
    Accepted(Permissions),
    /// Unknown user or wrong password (the client is not told which).
    Refused,
    /// The password was not checked: the runtime will not check one for this client now (too
    /// many checks are waiting, or the client's address is banned after failed logins). The
    /// session answers `421` and closes, without counting a failed login or waiting the login
    /// failure delay.
    Unavailable,
}
