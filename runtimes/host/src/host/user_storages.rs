//! The storages of their own that users of the users file have (`storage = "..."`), opened
//! once each (users naming the same URL share it) at start-up and by a reload, before the
//! users that name them come in force.
//!
//! A storage once opened stays open for the life of the process, even when a reload drops the
//! last user naming it: sessions logged in still work in it, shutdown must still remove what
//! their cut uploads leave, and a reload naming it again finds it open.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::auth::Users;
use crate::storage::{Storage, StorageUrl};
use crate::Options;

/// Every user storage opened so far, by URL.
#[derive(Debug)]
pub(crate) struct UserStorages {
    open: RwLock<HashMap<String, Arc<dyn Storage>>>,
    /// Whether every one of them can set modification times (for FEAT's MFMT).
    set_modified: AtomicBool,
}

impl Default for UserStorages {
    fn default() -> Self {
        UserStorages {
            open: RwLock::default(),
            set_modified: AtomicBool::new(true),
        }
    }
}

impl UserStorages {
    /// Opens every storage `users` name that is not open yet (blocking: a bucket is asked
    /// whether it answers), and returns those it opened. On an error, naming the user, nothing
    /// new is kept.
    pub(crate) fn open_for(
        &self,
        users: &Users,
        options: &Options,
    ) -> Result<Vec<Arc<dyn Storage>>, String> {
        let mut opened: HashMap<String, Arc<dyn Storage>> = HashMap::new();
        for (name, url) in users.storages() {
            let key = url.to_string();
            if opened.contains_key(&key) || self.read().contains_key(&key) {
                continue;
            }
            let storage = url
                .open(options)
                .map_err(|e| format!("user {name:?}: storage {url}: {e}"))?;
            opened.insert(key, storage);
        }
        let mut new = Vec::with_capacity(opened.len());
        for (key, storage) in opened {
            // Debug: at start-up nothing may come before the first info line (the address).
            tracing::debug!(storage = %key, "opened a user's storage");
            new.push(Arc::clone(&storage));
            if !storage.capabilities().set_modified {
                self.set_modified.store(false, Ordering::Relaxed);
            }
            self.open
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, storage);
        }
        Ok(new)
    }

    /// The storage `url` names, if it was opened.
    pub(crate) fn get(&self, url: &StorageUrl) -> Option<Arc<dyn Storage>> {
        self.read().get(&url.to_string()).cloned()
    }

    /// Every storage opened so far.
    pub(crate) fn all(&self) -> Vec<Arc<dyn Storage>> {
        self.read().values().cloned().collect()
    }

    /// Whether every storage opened so far can set modification times.
    pub(crate) fn all_set_modified(&self) -> bool {
        self.set_modified.load(Ordering::Relaxed)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<dyn Storage>>> {
        self.open.read().unwrap_or_else(|e| e.into_inner())
    }
}
