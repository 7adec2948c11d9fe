//! Quotas per user, in bytes and files (a users file's `quota_bytes` and `quota_files`).
//!
//! A user's [`Usage`] is shared by all of the user's sessions. It is measured at the user's
//! first login by a bounded walk of the home ([`MEASURE_ENTRIES`] entries at most; what lies
//! beyond is not counted, and a warning says so), then kept up to date by what the server
//! does: uploads, deletes and renames over an existing file. Changes made to the home by
//! other means are seen when the home is measured again: at a login while none of the user's
//! sessions is active (nothing then holds the usage, so no upload's charge is under way), in
//! the login's job, off the session's loop. So that a client that logs in and out in a loop
//! does not walk a huge home over and over, a home is measured again only once the last walk
//! is at least [`RESCAN_FACTOR`] times its own duration old: a walk of 1 ms may repeat after
//! 0.1 s, one of 5 s after about 8 minutes. A user who always keeps a session open sees
//! outside changes only once all of them ended. Only regular files count (the
//! walk lists with [`Storage::list`], which never shows a storage's temporary files; the
//! uploads that run are counted by their upload). Storage-neutral: it uses the [`Storage`]
//! trait only.
//!
//! An upload is charged as its bytes arrive, before they are written ([`QuotaCharge`]): a
//! `STOR` never runs past the quota, it gets `552` at the first byte beyond it and its partial
//! data is removed. An upload over an existing file is charged only for what it adds: the old
//! file's size is credited from the start, since the new file replaces it (so replacing a file
//! with one of the same size never fails), and if the upload fails the old file stays and the
//! charge is given back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use thinftp::{FileKind, FsError, FsOp, FsReply, VirtualPath, WriteMode};

use crate::storage::{execute_checked, Storage, WriteStream};

/// Most directory entries the first measurement of a home looks at.
pub const MEASURE_ENTRIES: usize = 1_000_000;

/// A home is measured again (at a login with none of its user's sessions active) only once its
/// last measurement is this many times its own duration old: walking homes takes at most about
/// 1% of the time.
pub const RESCAN_FACTOR: u32 = 100;

/// Directories deeper than this below the home are not measured.
const MEASURE_DEPTH: usize = 64;

/// A user's quota: bytes and files (`None`: no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Most bytes of regular files beneath the home.
    pub bytes: Option<u64>,
    /// Most regular files beneath the home.
    pub files: Option<u64>,
}

impl Quota {
    /// Whether it limits anything.
    pub fn is_some(&self) -> bool {
        self.bytes.is_some() || self.files.is_some()
    }
}

/// What one user holds, against the user's quota. Shared by the user's sessions.
#[derive(Debug)]
pub struct Usage {
    state: Mutex<Held>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Held {
    quota: Quota,
    bytes: u64,
    files: u64,
}

impl Usage {
    /// Measures the home `storage` (a bounded walk, blocking) for a user with `quota`.
    pub fn measure(storage: &dyn Storage, quota: Quota) -> Usage {
        let (bytes, files, complete) = walk(storage, MEASURE_ENTRIES);
        if !complete {
            tracing::warn!(
                entries = MEASURE_ENTRIES,
                "quota: the home is too big to measure whole; what lies beyond is not counted"
            );
        }
        tracing::info!(bytes, files, "quota: home measured");
        Usage {
            state: Mutex::new(Held {
                quota,
                bytes,
                files,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bytes and files held now.
    pub fn held(&self) -> (u64, u64) {
        let held = self.lock();
        (held.bytes, held.files)
    }

    fn set_quota(&self, quota: Quota) {
        self.lock().quota = quota;
    }

    /// Bytes that may still be added (`u64::MAX` without a byte quota).
    fn room(&self) -> u64 {
        let held = self.lock();
        held.quota
            .bytes
            .map_or(u64::MAX, |max| max.saturating_sub(held.bytes))
    }

    /// Adds `n` bytes; `Err` (they stay added: give them back) if that passes the quota.
    fn add_bytes(&self, n: u64) -> Result<(), FsError> {
        let mut held = self.lock();
        held.bytes = held.bytes.saturating_add(n);
        match held.quota.bytes {
            Some(max) if held.bytes > max => Err(FsError::QuotaExceeded),
            _ => Ok(()),
        }
    }

    fn sub_bytes(&self, n: u64) {
        let mut held = self.lock();
        held.bytes = held.bytes.saturating_sub(n);
    }

    /// Counts one more file, or refuses it if that passes the quota.
    fn add_file(&self) -> Result<(), FsError> {
        let mut held = self.lock();
        if held.quota.files.is_some_and(|max| held.files >= max) {
            return Err(FsError::QuotaExceeded);
        }
        held.files += 1;
        Ok(())
    }

    fn sub_file(&self) {
        let mut held = self.lock();
        held.files = held.files.saturating_sub(1);
    }
}

/// Every user's [`Usage`], by name, for the life of the server.
#[derive(Debug, Default)]
pub struct Quotas {
    by_user: Mutex<HashMap<String, Measured>>,
}

/// A user's usage and when its home was measured.
#[derive(Debug)]
struct Measured {
    usage: Arc<Usage>,
    at: Instant,
    /// How long the walk took.
    took: Duration,
}

impl Measured {
    /// Whether the home should be measured again: no session holds the usage (only this entry
    /// does) and the last walk is old enough (see [`RESCAN_FACTOR`]).
    fn is_stale(&self) -> bool {
        Arc::strong_count(&self.usage) == 1
            && self.at.elapsed() >= self.took.saturating_mul(RESCAN_FACTOR)
    }
}

impl Quotas {
    /// The usage of `user` under `quota`, measured beneath `home` if it never was (blocking).
    /// `None` when `quota` limits nothing.
    pub fn for_user(&self, user: &str, quota: Quota, home: &dyn Storage) -> Option<Arc<Usage>> {
        self.usage(user, quota, home, false)
    }

    /// [`for_user`](Self::for_user) for a login's job: also measures the home again if the
    /// usage is stale (none of the user's sessions is active and the last walk is old enough),
    /// so that changes made behind the server's back count from this login on.
    pub fn refresh(&self, user: &str, quota: Quota, home: &dyn Storage) -> Option<Arc<Usage>> {
        self.usage(user, quota, home, true)
    }

    fn usage(
        &self,
        user: &str,
        quota: Quota,
        home: &dyn Storage,
        rescan: bool,
    ) -> Option<Arc<Usage>> {
        if !quota.is_some() {
            return None;
        }
        if let Some(measured) = self.lock().get(user) {
            if !(rescan && measured.is_stale()) {
                // A reload may have changed the quota.
                measured.usage.set_quota(quota);
                return Some(measured.usage.clone());
            }
        }
        // Measured outside the lock: another user's login does not wait for this walk.
        let started = Instant::now();
        let usage = Arc::new(Usage::measure(home, quota));
        let took = started.elapsed();
        let mut map = self.lock();
        // Meanwhile a session may have taken the old usage (its charges go there: keep it), or
        // another login measured too (the first one stored wins).
        if let Some(measured) = map.get(user) {
            if !measured.is_stale() || measured.at >= started {
                measured.usage.set_quota(quota);
                return Some(measured.usage.clone());
            }
        }
        let measured = Measured {
            usage: usage.clone(),
            at: Instant::now(),
            took,
        };
        map.insert(user.to_owned(), measured);
        Some(usage)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Measured>> {
        self.by_user.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The quota side of one upload: charges its bytes as they arrive.
#[derive(Debug)]
pub struct QuotaCharge {
    usage: Arc<Usage>,
    /// Bytes the upload may write without adding to the usage: the size of the file it
    /// replaces (`STOR` over a file), or the part of the old file past the offset
    /// (`REST` + `STOR`), which it overwrites.
    credit: u64,
    /// Bytes written so far.
    written: u64,
    /// Bytes added to the usage so far (`written` beyond `credit`).
    charged: u64,
    /// The target before the upload.
    before: UploadBefore,
}

/// What an upload's target was before it, looked at just before it is opened (for the quota,
/// and to leave no trace if the quota stops the upload).
#[derive(Debug, Clone)]
pub struct UploadBefore {
    storage: Arc<dyn Storage>,
    path: VirtualPath,
    /// There was no file: the upload creates one.
    created: bool,
    /// The size of the file there (0 if none).
    len: u64,
    /// The upload writes in place (`APPE`, `REST` + `STOR`): cut it back to `len` to undo it.
    in_place: bool,
    /// Bytes the upload overwrites rather than adds (see [`QuotaCharge`]).
    overwritten: u64,
}

impl UploadBefore {
    /// Looks at `path` beneath `storage` before an upload in `mode` opens it.
    pub fn look(storage: &Arc<dyn Storage>, path: &VirtualPath, mode: WriteMode) -> UploadBefore {
        let file = storage.stat(path).ok().filter(|m| m.kind == FileKind::File);
        let len = file.as_ref().map_or(0, |m| m.size);
        let (in_place, overwritten) = match mode {
            WriteMode::Append | WriteMode::New => (true, 0),
            WriteMode::Resume(offset) => (true, len.saturating_sub(offset)),
            // Replace: the new file takes the old one's place whole.
            _ => (false, len),
        };
        UploadBefore {
            storage: Arc::clone(storage),
            path: path.clone(),
            // `STOU`'s file was made (and counted) by its `CreateUnique`.
            created: file.is_none() && !matches!(mode, WriteMode::New),
            len,
            in_place,
            overwritten,
        }
    }

    /// Gives `upload` up leaving no trace: a file written in place is cut back to its old size
    /// (where the storage hands out the file), the upload is dropped without commit (a
    /// replacement leaves the old file intact), and a file it created is removed.
    pub fn give_up(&self, mut upload: Box<dyn WriteStream>) {
        if self.in_place {
            if let Some(file) = upload.local_file() {
                let _ = file.set_len(self.len);
            }
        }
        drop(upload);
        if self.created {
            let _ = self.storage.execute(&FsOp::RemoveFile(self.path.clone()));
        }
    }
}

impl QuotaCharge {
    /// Admits an upload whose target was `before`: `Err(QuotaExceeded)` when the file quota is
    /// reached (for a new file) or no byte fits.
    pub fn admit(usage: Arc<Usage>, before: UploadBefore) -> Result<QuotaCharge, FsError> {
        let credit = before.overwritten;
        if credit == 0 && usage.room() == 0 {
            return Err(FsError::QuotaExceeded);
        }
        if before.created {
            usage.add_file()?;
        }
        Ok(QuotaCharge {
            usage,
            credit,
            written: 0,
            charged: 0,
            before,
        })
    }

    /// Most bytes to read from the client now: one more than fits, so that an upload that
    /// ends exactly at the quota passes and one that goes on is caught at its next byte.
    pub fn cap(&self, want: usize) -> usize {
        let free_credit = self.credit.saturating_sub(self.written);
        let fits = self.usage.room().saturating_add(free_credit);
        usize::try_from(fits.saturating_add(1)).map_or(want, |fits| want.min(fits))
    }

    /// `n` more bytes are about to be written: `Err(QuotaExceeded)` if they pass the quota
    /// (then do not write them).
    pub fn wrote(&mut self, n: u64) -> Result<(), FsError> {
        self.written = self.written.saturating_add(n);
        let due = self.written.saturating_sub(self.credit);
        let more = due.saturating_sub(self.charged);
        self.charged = due;
        self.usage.add_bytes(more)
    }

    /// The upload ended. `kept`: what it wrote stays (it succeeded, or it wrote in place and
    /// keeps what arrived); otherwise it left no trace (a replacement that failed, or an upload
    /// refused by the quota, whose partial data was removed): everything is given back.
    pub fn settle(self, kept: bool) {
        if kept {
            // The file is now `written - credit` bytes bigger (or smaller) than before.
            self.usage
                .sub_bytes(self.credit.saturating_sub(self.written));
        } else {
            self.usage.sub_bytes(self.charged);
            if self.before.created {
                self.usage.sub_file();
            }
        }
    }

    /// The quota stopped the upload: it is given up leaving no trace
    /// ([`UploadBefore::give_up`]) and everything is given back.
    pub fn give_up(self, upload: Box<dyn WriteStream>) {
        self.before.give_up(upload);
        self.settle(false);
    }
}

impl QuotaCharge {
    /// The upload never moved its bytes: what was charged goes back; a file it created stays
    /// (empty) and counts.
    pub fn abandon(self) {
        self.usage.sub_bytes(self.charged);
    }
}

/// Carries out `op` beneath `storage` and keeps `usage` up to date with it: a removed file is
/// no longer counted, nor is a file replaced by a rename; `STOU`'s new file counts (or is
/// refused by the file quota).
pub fn execute(
    storage: &dyn Storage,
    op: &FsOp,
    usage: Option<&Usage>,
) -> Result<FsReply, FsError> {
    let Some(usage) = usage else {
        return execute_checked(storage, op);
    };
    match op {
        FsOp::RemoveFile(path) => {
            let size = file_size(storage, path);
            let reply = execute_checked(storage, op)?;
            if let Some(size) = size {
                usage.sub_bytes(size);
                usage.sub_file();
            }
            Ok(reply)
        }
        FsOp::Rename { from, to } => {
            // Within the home a rename moves bytes but adds none; a file it replaces is gone.
            let replaced = (from != to).then(|| file_size(storage, to)).flatten();
            let reply = execute_checked(storage, op)?;
            if let Some(size) = replaced {
                usage.sub_bytes(size);
                usage.sub_file();
            }
            Ok(reply)
        }
        FsOp::CreateUnique { .. } => {
            usage.add_file()?;
            execute_checked(storage, op).inspect_err(|_| usage.sub_file())
        }
        _ => execute_checked(storage, op),
    }
}

/// The size of `path` if it is a regular file. (A storage's `stat` follows a symlink beneath
/// the home: removing a link to a file then gives back the file's size, which the walk never
/// counted; the usage errs low, never refusing what fits.)
fn file_size(storage: &dyn Storage, path: &VirtualPath) -> Option<u64> {
    let meta = storage.stat(path).ok()?;
    (meta.kind == FileKind::File).then_some(meta.size)
}

/// Bytes and regular files beneath `storage`, looking at `max_entries` entries at most; and
/// whether it saw them all.
fn walk(storage: &dyn Storage, max_entries: usize) -> (u64, u64, bool) {
    let (mut bytes, mut files) = (0u64, 0u64);
    let mut budget = max_entries;
    let mut stack = vec![(storage.home().clone(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = storage.list(&dir, true) else {
            continue;
        };
        for entry in entries {
            let Some(left) = budget.checked_sub(1) else {
                return (bytes, files, false);
            };
            budget = left;
            let Ok(entry) = entry else { break };
            // Listed as itself: a symlink is never followed.
            match entry.metadata.kind {
                FileKind::File => {
                    files += 1;
                    bytes = bytes.saturating_add(entry.metadata.size);
                }
                FileKind::Dir if depth < MEASURE_DEPTH => {
                    if let Ok(sub) = dir.resolve(&entry.name) {
                        stack.push((sub, depth + 1));
                    }
                }
                _ => {}
            }
        }
    }
    (bytes, files, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{LocalStorage, TEMP_PREFIX};

    fn home() -> (tempfile::TempDir, Arc<dyn Storage>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("sub/b"), [0u8; 50]).unwrap();
        std::fs::write(dir.path().join(format!("{TEMP_PREFIX}x")), [0u8; 7]).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::open(dir.path()).unwrap());
        (dir, storage)
    }

    /// An upload target that was (`created` false) or was not there, `overwritten` bytes of it
    /// to be overwritten.
    fn target(storage: &Arc<dyn Storage>, created: bool, overwritten: u64) -> UploadBefore {
        UploadBefore {
            storage: Arc::clone(storage),
            path: VirtualPath::root().resolve("/x").unwrap(),
            created,
            len: overwritten,
            in_place: false,
            overwritten,
        }
    }

    fn quota(bytes: u64, files: u64) -> Quota {
        Quota {
            bytes: Some(bytes),
            files: Some(files),
        }
    }

    #[test]
    fn a_home_is_measured_by_its_regular_files() {
        let (_dir, storage) = home();
        let usage = Usage::measure(&*storage, quota(1000, 10));
        assert_eq!(usage.held(), (150, 2));
        // The walk is bounded.
        assert!(!walk(&*storage, 2).2);
    }

    #[test]
    fn an_upload_is_charged_up_to_the_quota_and_caught_one_byte_past_it() {
        let (_dir, storage) = home();
        let usage = Arc::new(Usage::measure(&*storage, quota(200, 3)));
        let mut charge = QuotaCharge::admit(usage.clone(), target(&storage, true, 0)).unwrap();
        assert_eq!(usage.held(), (150, 3));
        assert_eq!(charge.cap(1 << 20), 51);
        assert!(charge.wrote(50).is_ok());
        assert_eq!(charge.cap(1 << 20), 1);
        assert_eq!(charge.wrote(1), Err(FsError::QuotaExceeded));
        charge.settle(false);
        assert_eq!(usage.held(), (150, 2));
        // A kept upload stays counted; no file may be added past the file quota.
        let mut charge = QuotaCharge::admit(usage.clone(), target(&storage, true, 0)).unwrap();
        charge.wrote(10).unwrap();
        charge.settle(true);
        assert_eq!(usage.held(), (160, 3));
        assert_eq!(
            QuotaCharge::admit(usage.clone(), target(&storage, true, 0)).err(),
            Some(FsError::QuotaExceeded)
        );
    }

    #[test]
    fn a_replacement_is_credited_the_old_size() {
        let (_dir, storage) = home();
        let usage = Arc::new(Usage::measure(&*storage, quota(150, 10)));
        // Full, but replacing the 100-byte file with 100 bytes fits, and 101 does not.
        let mut charge = QuotaCharge::admit(usage.clone(), target(&storage, false, 100)).unwrap();
        assert_eq!(charge.cap(1 << 20), 101);
        charge.wrote(100).unwrap();
        assert_eq!(charge.wrote(1), Err(FsError::QuotaExceeded));
        charge.settle(false);
        assert_eq!(usage.held(), (150, 2));
        // A smaller replacement frees the difference.
        let mut charge = QuotaCharge::admit(usage.clone(), target(&storage, false, 100)).unwrap();
        charge.wrote(40).unwrap();
        charge.settle(true);
        assert_eq!(usage.held(), (90, 2));
        // Full with nothing to credit: refused at once.
        let usage = Arc::new(Usage::measure(&*storage, quota(150, 10)));
        assert!(QuotaCharge::admit(usage, target(&storage, false, 0)).is_err());
    }

    #[test]
    fn a_home_is_measured_again_once_no_session_holds_its_usage() {
        let (dir, storage) = home();
        let quotas = Quotas::default();
        let first = quotas.refresh("u", quota(1000, 10), &*storage).unwrap();
        assert_eq!(first.held(), (150, 2));
        std::fs::write(dir.path().join("outside"), [0u8; 300]).unwrap();
        // A session holds the usage: its charges go there, so it is not measured again.
        let held = quotas.refresh("u", quota(1000, 10), &*storage).unwrap();
        assert!(Arc::ptr_eq(&first, &held));
        assert_eq!(held.held(), (150, 2));
        drop((first, held));
        // No session holds it: the loop's lookup measures nothing, a login's refresh does once
        // the last walk is old enough (a bounded wait: the walk took well under a second).
        let looked_up = quotas.for_user("u", quota(1000, 10), &*storage).unwrap();
        assert_eq!(looked_up.held(), (150, 2));
        drop(looked_up);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(100);
        let again = loop {
            let usage = quotas.refresh("u", quota(1000, 10), &*storage).unwrap();
            if usage.held() != (150, 2) || std::time::Instant::now() > deadline {
                break usage;
            }
            drop(usage);
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(again.held(), (450, 3));
    }

    #[test]
    fn deletes_and_renames_over_a_file_are_given_back() {
        let (_dir, storage) = home();
        let usage = Usage::measure(&*storage, quota(1000, 10));
        let path = |p: &str| VirtualPath::root().resolve(p).unwrap();
        let rename = FsOp::Rename {
            from: path("/sub/b"),
            to: path("/a"),
        };
        execute(&*storage, &rename, Some(&usage)).unwrap();
        assert_eq!(usage.held(), (50, 1));
        // Removing a symlink frees nothing.
        execute(&*storage, &FsOp::RemoveFile(path("/link")), Some(&usage)).unwrap();
        assert_eq!(usage.held(), (50, 1));
        execute(&*storage, &FsOp::RemoveFile(path("/a")), Some(&usage)).unwrap();
        assert_eq!(usage.held(), (0, 0));
        // A failed delete changes nothing.
        assert!(execute(&*storage, &FsOp::RemoveFile(path("/a")), Some(&usage)).is_err());
        assert_eq!(usage.held(), (0, 0));
    }
}
