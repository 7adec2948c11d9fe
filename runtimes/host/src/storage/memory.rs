//! [`MemoryStorage`]: files and directories held in memory, for tests and the deterministic
//! simulator.
//!
//! Deterministic: nothing here reads the wall clock or a random source. The time listings are
//! dated against, and that new or changed files get as their modification time, is set by the
//! caller ([`set_now`](MemoryStorage::set_now)); `STOU` names come from a counter. Its
//! [`Capabilities`] are chosen at construction, so that a test can play a storage that cannot
//! append or rename and see the honest refusals.
//!
//! Uploads behave as an object store's: the bytes are gathered in the stream and become the
//! file only at [`commit`](WriteStream::commit), at once and whole, whatever the mode
//! (`APPE` adds them to the file as it is then, `REST n` + `STOR` keeps its first `n` bytes); a
//! stream dropped without `commit` changes nothing.

use std::collections::BTreeMap;
use std::io::{self, Cursor, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use thinftp::{DirEntry, FsError, FsOp, FsReply, Metadata, VirtualPath, WriteMode};

use super::{
    collect_listing, digest_stream, Capabilities, DirStream, ReadStream, Storage, WriteStream,
};

/// What [`FsOp::FreeSpace`] counts down from by default.
const DEFAULT_CAPACITY: u64 = 1 << 30;

/// Mode of new files and directories.
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// A tree of files in memory, beneath a root or one user's home in it. Cheap to clone: clones
/// (and the storages [`for_home`](Storage::for_home) makes) share the tree.
#[derive(Debug, Clone)]
pub struct MemoryStorage {
    tree: Arc<Tree>,
    /// Where this storage is, in the server's view (`/` for the root).
    home: VirtualPath,
}

#[derive(Debug)]
struct Tree {
    state: Mutex<State>,
    capabilities: Capabilities,
}

#[derive(Debug)]
struct State {
    /// Every node by its path (a [`VirtualPath`]'s text, so that a directory's descendants are
    /// the keys that start with its path and `/`); the root `/` is always there.
    nodes: BTreeMap<String, Node>,
    /// The clock, in seconds since the Unix epoch.
    now: i64,
    next_ino: u64,
    /// For `STOU` names.
    next_unique: u64,
    capacity: u64,
}

#[derive(Debug, Clone)]
struct Node {
    /// `Some` for a file, `None` for a directory.
    data: Option<Bytes>,
    mtime: i64,
    mode: u32,
    ino: u64,
}

impl Node {
    fn is_dir(&self) -> bool {
        self.data.is_none()
    }

    fn metadata(&self) -> Metadata {
        let mut metadata = match &self.data {
            Some(data) => Metadata::file(data.len() as u64, Some(self.mtime)),
            None => Metadata::dir(Some(self.mtime)),
        };
        metadata.mode = self.mode;
        metadata.unique = Some((0, self.ino));
        metadata
    }
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    /// An empty tree that can do everything a local disk can but hand out files
    /// ([`Capabilities::local_fd`]), with the clock at 0 (1970-01-01).
    pub fn new() -> MemoryStorage {
        let mut capabilities = Capabilities::all();
        capabilities.local_fd = false;
        Self::with_capabilities(capabilities)
    }

    /// An empty tree that does only what `capabilities` allow (what they rule out answers
    /// [`FsError::Unsupported`]). [`Capabilities::local_fd`] is ignored: no file to hand out.
    pub fn with_capabilities(mut capabilities: Capabilities) -> MemoryStorage {
        capabilities.local_fd = false;
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "/".to_owned(),
            Node {
                data: None,
                mtime: 0,
                mode: DIR_MODE,
                ino: 1,
            },
        );
        MemoryStorage {
            tree: Arc::new(Tree {
                state: Mutex::new(State {
                    nodes,
                    now: 0,
                    next_ino: 2,
                    next_unique: 0,
                    capacity: DEFAULT_CAPACITY,
                }),
                capabilities,
            }),
            home: VirtualPath::root(),
        }
    }

    /// Sets the clock (seconds since the Unix epoch) of the whole tree.
    pub fn set_now(&self, unix_secs: i64) {
        self.lock().now = unix_secs;
    }

    /// Sets how many bytes the files may hold together (1 GiB by default): what
    /// [`FsOp::FreeSpace`] counts down from, and past which an upload's commit fails with
    /// [`FsError::NoSpace`] (the old file kept).
    pub fn set_capacity(&self, bytes: u64) {
        self.lock().capacity = bytes;
    }

    /// Makes the file `path` (in the server's view) hold `data`, with its missing parent
    /// directories, modified now: for setting a test up.
    pub fn put_file(&self, path: &str, data: &[u8]) {
        let path = absolute(path);
        let mut state = self.lock();
        if let Some(parent) = path.parent() {
            state.make_dirs(&parent);
        }
        state.store(&path, Bytes::copy_from_slice(data));
    }

    /// Makes the directory `path` (in the server's view) and its missing parents.
    pub fn put_dir(&self, path: &str) {
        self.lock().make_dirs(&absolute(path));
    }

    /// The bytes of the file `path` (in the server's view), if it is one.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        let state = self.lock();
        let data = state.nodes.get(absolute(path).as_str())?.data.as_ref()?;
        Some(data.to_vec())
    }

    /// Every path in the tree (in the server's view), in order: for tests to see all there is.
    pub fn paths(&self) -> Vec<String> {
        let state = self.lock();
        state.nodes.keys().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves a consistent map: every change is one
        // insert or remove.
        self.tree.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `path` if it is at or below this storage's home; else `NotFound`, as for a path outside.
    fn inside(&self, path: &VirtualPath) -> Result<VirtualPath, FsError> {
        path.strip_prefix(&self.home)
            .map(|_| path.clone())
            .ok_or(FsError::NotFound)
    }

    fn allowed(&self, yes: bool) -> Result<(), FsError> {
        if yes {
            Ok(())
        } else {
            Err(FsError::Unsupported)
        }
    }
}

impl State {
    fn node(&self, path: &VirtualPath) -> Result<&Node, FsError> {
        self.nodes.get(path.as_str()).ok_or(FsError::NotFound)
    }

    fn node_mut(&mut self, path: &VirtualPath) -> Result<&mut Node, FsError> {
        self.nodes.get_mut(path.as_str()).ok_or(FsError::NotFound)
    }

    fn exists(&self, path: &VirtualPath) -> bool {
        self.nodes.contains_key(path.as_str())
    }

    /// The parent of `path` must be a directory for `path` to be made.
    fn require_parent(&self, path: &VirtualPath) -> Result<(), FsError> {
        let parent = path.parent().ok_or(FsError::PermissionDenied)?;
        if self.node(&parent)?.is_dir() {
            Ok(())
        } else {
            Err(FsError::NotADirectory)
        }
    }

    fn new_node(&mut self, data: Option<Bytes>) -> Node {
        let ino = self.next_ino;
        self.next_ino += 1;
        Node {
            mode: if data.is_some() { FILE_MODE } else { DIR_MODE },
            data,
            mtime: self.now,
            ino,
        }
    }

    fn insert(&mut self, path: &VirtualPath, node: Node) {
        self.nodes.insert(path.as_str().to_owned(), node);
    }

    /// Makes `path` hold `data`, modified now, keeping the mode of a file already there.
    fn store(&mut self, path: &VirtualPath, data: Bytes) {
        let now = self.now;
        if let Some(node) = self.nodes.get_mut(path.as_str()) {
            node.data = Some(data);
            node.mtime = now;
            return;
        }
        let node = self.new_node(Some(data));
        self.insert(path, node);
    }

    fn make_dirs(&mut self, path: &VirtualPath) {
        let mut dir = VirtualPath::root();
        for name in path.components() {
            let Ok(next) = dir.resolve(name) else { return };
            dir = next;
            if !self.exists(&dir) {
                let node = self.new_node(None);
                self.insert(&dir, node);
            }
        }
    }

    /// The paths strictly below the directory `dir`, in order, each with the part after `dir`
    /// and its `/`.
    fn below<'a>(&'a self, dir: &VirtualPath) -> impl Iterator<Item = (&'a str, &'a Node)> {
        let prefix = if dir.is_root() {
            "/".to_owned()
        } else {
            format!("{}/", dir.as_str())
        };
        let len = prefix.len();
        self.nodes
            .range(prefix.clone()..)
            .take_while(move |(p, _)| p.starts_with(&prefix))
            .filter_map(move |(p, node)| Some((p.get(len..).filter(|r| !r.is_empty())?, node)))
    }

    /// The entries directly in the directory `dir`.
    fn children(&self, dir: &VirtualPath) -> Vec<DirEntry> {
        self.below(dir)
            .filter(|(rest, _)| !rest.contains('/'))
            .map(|(name, node)| DirEntry::new(name.to_owned(), node.metadata()))
            .collect()
    }

    fn used(&self) -> u64 {
        self.nodes
            .values()
            .filter_map(|n| n.data.as_ref())
            .map(|d| d.len() as u64)
            .sum()
    }

    fn rename(&mut self, from: &VirtualPath, to: &VirtualPath, dirs: bool) -> Result<(), FsError> {
        let source = self.node(from)?.clone();
        if from.is_root() || to.is_root() {
            return Err(FsError::PermissionDenied);
        }
        if from == to {
            return Ok(());
        }
        self.require_parent(to)?;
        if source.is_dir() {
            if !dirs {
                return Err(FsError::Unsupported);
            }
            // A directory cannot go inside itself.
            if to.strip_prefix(from).is_some() {
                return Err(FsError::InvalidName);
            }
        }
        if let Ok(target) = self.node(to) {
            match (source.is_dir(), target.is_dir()) {
                (false, true) => return Err(FsError::IsADirectory),
                (true, false) => return Err(FsError::NotADirectory),
                (true, true) if self.below(to).next().is_some() => {
                    return Err(FsError::DirectoryNotEmpty)
                }
                _ => {}
            }
        }
        let moved: Vec<String> = self.below(from).map(|(rest, _)| rest.to_owned()).collect();
        self.nodes.remove(to.as_str());
        self.nodes.remove(from.as_str());
        self.insert(to, source);
        for rest in moved {
            let old = format!("{}/{rest}", from.as_str());
            if let Some(node) = self.nodes.remove(&old) {
                self.nodes.insert(format!("{}/{rest}", to.as_str()), node);
            }
        }
        Ok(())
    }
}

/// A path written by a test, made absolute and normalised.
fn absolute(path: &str) -> VirtualPath {
    VirtualPath::root()
        .resolve(path)
        .unwrap_or_else(|_| VirtualPath::root())
}

impl Storage for MemoryStorage {
    fn capabilities(&self) -> Capabilities {
        self.tree.capabilities
    }

    fn home(&self) -> &VirtualPath {
        &self.home
    }

    fn describe(&self) -> String {
        format!("memory:{}", self.home.as_str())
    }

    fn now(&self) -> i64 {
        self.lock().now
    }

    fn for_home(&self, home: &VirtualPath) -> Result<Arc<dyn Storage>, FsError> {
        let home = self.inside(home)?;
        if !self.lock().node(&home)?.is_dir() {
            return Err(FsError::NotADirectory);
        }
        Ok(Arc::new(MemoryStorage {
            tree: Arc::clone(&self.tree),
            home,
        }))
    }

    fn execute(&self, op: &FsOp) -> Result<FsReply, FsError> {
        let caps = self.tree.capabilities;
        match op {
            FsOp::Stat(path) => {
                let path = self.inside(path)?;
                Ok(FsReply::Metadata(self.lock().node(&path)?.metadata()))
            }
            FsOp::ListDir(path) | FsOp::ListNames(path) => {
                collect_listing(self.list(path, true)?, usize::MAX, self.now())
                    .map(FsReply::Listing)
            }
            FsOp::ListDirFirst { path, max } => {
                collect_listing(self.list(path, true)?, *max, self.now()).map(FsReply::Listing)
            }
            FsOp::MakeDir(path) => {
                let path = self.inside(path)?;
                let mut state = self.lock();
                if state.exists(&path) {
                    return Err(FsError::AlreadyExists);
                }
                state.require_parent(&path)?;
                let node = state.new_node(None);
                state.insert(&path, node);
                Ok(FsReply::Done)
            }
            FsOp::RemoveDir(path) => {
                let path = self.inside(path)?;
                let mut state = self.lock();
                if !state.node(&path)?.is_dir() {
                    return Err(FsError::NotADirectory);
                }
                if path.is_root() || path == self.home {
                    return Err(FsError::PermissionDenied);
                }
                if state.below(&path).next().is_some() {
                    return Err(FsError::DirectoryNotEmpty);
                }
                state.nodes.remove(path.as_str());
                Ok(FsReply::Done)
            }
            FsOp::RemoveFile(path) => {
                let path = self.inside(path)?;
                let mut state = self.lock();
                if state.node(&path)?.is_dir() {
                    return Err(FsError::IsADirectory);
                }
                state.nodes.remove(path.as_str());
                Ok(FsReply::Done)
            }
            FsOp::Rename { from, to } => {
                self.allowed(caps.rename)?;
                let (from, to) = (self.inside(from)?, self.inside(to)?);
                if from == self.home {
                    return Err(FsError::PermissionDenied);
                }
                self.lock().rename(&from, &to, caps.rename_dir)?;
                Ok(FsReply::Done)
            }
            FsOp::CreateUnique { dir } => {
                self.allowed(caps.create_unique)?;
                let dir = self.inside(dir)?;
                let mut state = self.lock();
                if !state.node(&dir)?.is_dir() {
                    return Err(FsError::NotADirectory);
                }
                loop {
                    let name = format!("stou.{:016x}", state.next_unique);
                    state.next_unique += 1;
                    let path = dir.resolve(&name).map_err(|_| FsError::Other)?;
                    if !state.exists(&path) {
                        state.store(&path, Bytes::new());
                        return Ok(FsReply::Created(path));
                    }
                }
            }
            FsOp::SetModified { path, unix_secs } => {
                self.allowed(caps.set_modified)?;
                let path = self.inside(path)?;
                self.lock().node_mut(&path)?.mtime = *unix_secs;
                Ok(FsReply::Done)
            }
            FsOp::SetMode { path, mode } => {
                self.allowed(caps.set_mode)?;
                let path = self.inside(path)?;
                self.lock().node_mut(&path)?.mode = mode & 0o777;
                Ok(FsReply::Done)
            }
            FsOp::Hash { path, algorithm } => {
                self.allowed(caps.hash)?;
                let mut file = self.open_read(path, 0)?;
                let (digest, size) = digest_stream(&mut file, *algorithm)
                    .ok_or(FsError::Unsupported)?
                    .map_err(|_| FsError::Other)?;
                Ok(FsReply::Hash { digest, size })
            }
            FsOp::FreeSpace(path) => {
                self.allowed(caps.free_space)?;
                let path = self.inside(path)?;
                let state = self.lock();
                state.node(&path)?;
                Ok(FsReply::FreeSpace(
                    state.capacity.saturating_sub(state.used()),
                ))
            }
            _ => Err(FsError::Unsupported),
        }
    }

    /// A snapshot of the directory's entries as it is now, in name order.
    fn list(&self, path: &VirtualPath, _metadata: bool) -> Result<DirStream, FsError> {
        let path = self.inside(path)?;
        let state = self.lock();
        if !state.node(&path)?.is_dir() {
            return Err(FsError::NotADirectory);
        }
        Ok(Box::new(state.children(&path).into_iter().map(Ok)))
    }

    /// The file's bytes as they are now: a later upload does not change what this reads.
    fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<Box<dyn ReadStream>, FsError> {
        let path = self.inside(path)?;
        let state = self.lock();
        let data = state
            .node(&path)?
            .data
            .clone()
            .ok_or(FsError::IsADirectory)?;
        let mut cursor = Cursor::new(data);
        cursor.set_position(offset);
        Ok(Box::new(MemoryRead(cursor)))
    }

    fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<Box<dyn WriteStream>, FsError> {
        let caps = self.tree.capabilities;
        let path = self.inside(path)?;
        let state = self.lock();
        state.require_parent(&path)?;
        let existing = state.nodes.get(path.as_str());
        if existing.is_some_and(Node::is_dir) {
            return Err(FsError::IsADirectory);
        }
        let how = match mode {
            WriteMode::Replace => How::Replace,
            WriteMode::Resume(0) => How::Replace,
            WriteMode::Resume(offset) => {
                self.allowed(caps.write_at_offset)?;
                existing.ok_or(FsError::NotFound)?;
                How::Keep(offset)
            }
            WriteMode::Append => {
                self.allowed(caps.append)?;
                How::Append
            }
            WriteMode::New => {
                self.allowed(caps.create_unique)?;
                existing.ok_or(FsError::NotFound)?;
                How::Replace
            }
            _ => return Err(FsError::Unsupported),
        };
        Ok(Box::new(MemoryUpload {
            storage: self.clone(),
            path,
            how,
            received: Vec::new(),
        }))
    }
}

/// A download's snapshot of a file.
struct MemoryRead(Cursor<Bytes>);

impl io::Read for MemoryRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl ReadStream for MemoryRead {}

/// What [`MemoryUpload::commit`] does with the received bytes.
#[derive(Debug, Clone, Copy)]
enum How {
    /// They are the file.
    Replace,
    /// They follow the file as it is at commit.
    Append,
    /// They follow the first `n` bytes of the file as it is at commit.
    Keep(u64),
}

/// An upload gathered in memory until [`commit`](WriteStream::commit).
struct MemoryUpload {
    storage: MemoryStorage,
    path: VirtualPath,
    how: How,
    received: Vec<u8>,
}

impl Write for MemoryUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.received.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl WriteStream for MemoryUpload {
    fn commit(self: Box<Self>) -> Result<(), FsError> {
        let MemoryUpload {
            storage,
            path,
            how,
            received,
        } = *self;
        let mut state = storage.lock();
        // The directory may have gone meanwhile.
        state.require_parent(&path)?;
        let old = match state.nodes.get(path.as_str()) {
            Some(node) => Some(node.data.clone().ok_or(FsError::IsADirectory)?),
            None => None,
        };
        let old_len = old.as_ref().map_or(0, |d| d.len() as u64);
        let data = match (how, old) {
            (How::Replace, _) | (How::Append, None) => received,
            (How::Keep(_), None) => return Err(FsError::NotFound),
            (How::Append, Some(old)) => [old.as_ref(), &received].concat(),
            (How::Keep(n), Some(old)) => {
                let keep = usize::try_from(n).unwrap_or(usize::MAX).min(old.len());
                [old.get(..keep).unwrap_or_default(), &received].concat()
            }
        };
        // The capacity holds: an upload that does not fit fails whole, as on a full disk.
        let used = state.used() - old_len;
        if used.saturating_add(data.len() as u64) > state.capacity {
            return Err(FsError::NoSpace);
        }
        state.store(&path, Bytes::from(data));
        Ok(())
    }
}
