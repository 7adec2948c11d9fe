//! The storage one session sees: the server's root until a login is accepted, then the user's
//! home (in the server's storage, or in the user's storage of its own), opened once at login
//! so that every later access of the user resolves beneath it.

use std::sync::Arc;

use thinftp::{AuthResult, Input};

use crate::storage::Storage;
use crate::Host;

/// One session's storage. A runtime keeps one per session, passes every input through
/// [`fed`](Self::fed) before feeding it to the core, and runs each [`Job`](crate::driver::Job)
/// with [`storage`](Self::storage). Cheap to clone (for work run on another thread).
#[derive(Debug, Clone)]
pub struct SessionStorage {
    /// Where the home of the login under way is looked for: the server's root, or the user's
    /// storage of its own ([`logging_in`](Self::logging_in)); `None`: that one is not open,
    /// and the login is refused.
    root: Option<Arc<dyn Storage>>,
    current: Arc<dyn Storage>,
}

impl SessionStorage {
    /// A new session's: the server's root (no filesystem request comes before a login).
    pub fn new(host: &Host) -> Self {
        let root = host.storage().clone();
        SessionStorage {
            current: Arc::clone(&root),
            root: Some(root),
        }
    }

    /// A login of `user` is asked for: its home is looked for in the user's storage of its
    /// own, if the users file gives one (see [`Host::storage_for`]), else in the server's.
    pub fn logging_in(&mut self, host: &Host, user: &str) {
        self.root = host.storage_for(user);
    }

    /// Call with every input before feeding it, and feed what it returns. An accepted login
    /// switches to a storage opened on the user's home; a home that cannot be opened (missing,
    /// not a directory, a symlink leading outside the root) turns the login into a refusal,
    /// logged, as the user could reach nothing.
    pub fn fed(&mut self, input: Input) -> Input {
        let Input::Auth {
            id,
            result: AuthResult::Accepted(permissions),
        } = input
        else {
            return input;
        };
        let Some(root) = &self.root else {
            tracing::warn!(home = %permissions.home, "the user's storage is not open: login refused");
            return Input::Auth {
                id,
                result: AuthResult::Refused,
            };
        };
        match root.for_home(&permissions.home) {
            Ok(home) => {
                self.current = home;
                Input::Auth {
                    id,
                    result: AuthResult::Accepted(permissions),
                }
            }
            Err(e) => {
                tracing::warn!(home = %permissions.home, error = ?e, "cannot open the user's home: login refused");
                Input::Auth {
                    id,
                    result: AuthResult::Refused,
                }
            }
        }
    }

    /// The storage to run this session's work with.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.current
    }
}
