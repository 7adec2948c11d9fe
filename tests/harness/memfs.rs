//! The in-memory tree that answers the session's filesystem requests, the way a storage layer
//! would: symlinks are followed (a link leading above the root is `NotFound`), a `Stat` reports
//! what a link leads to, `ListDir` reports links as links with their target text, `ListNames`
//! reports only names and kinds.

use std::collections::BTreeMap;

use thinftp::{render_entry, ListFormat, ListPattern, TransferError};
use thinftp::{
    DirEntry, FileKind, FsError, FsOp, FsReply, HashAlgorithm, Listing, Metadata, WriteMode,
};

use super::script::TreeDecl;
use super::text::{quote, show_time};

/// What `FreeSpace` counts from: the tree's files take their sizes from it.
const CAPACITY: u64 = 1 << 30;

/// The digest of `data`, with the crates the host uses.
fn digest(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match algorithm {
        HashAlgorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
        HashAlgorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
        HashAlgorithm::Md5 => md5::Md5::digest(data).to_vec(),
        HashAlgorithm::Crc32 => crc32fast::hash(data).to_be_bytes().to_vec(),
        other => panic!("no digest for {other:?}"),
    }
}

/// 2024-06-10T08:30:00Z: the default modification time of declared nodes.
const DEFAULT_MTIME: i64 = 1_718_008_200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    File(Vec<u8>),
    Dir,
    Symlink(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub content: Content,
    /// A size to report instead of the content's length (for huge files).
    pub size: Option<u64>,
    pub mtime: i64,
    pub mode: u32,
    pub ino: u64,
}

/// Paths (absolute, normalised) to nodes. The root always exists.
#[derive(Debug, Clone)]
pub struct MemFs {
    pub nodes: BTreeMap<String, Node>,
    next_ino: u64,
    /// `ListDir`/`ListNames` of a non-directory answer `FsReply::Entry`, not `NotADirectory`.
    pub single_entry: bool,
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl MemFs {
    pub fn new(decls: &[TreeDecl]) -> Result<Self, String> {
        let mut fs = Self {
            nodes: BTreeMap::new(),
            next_ino: 1,
            single_entry: false,
        };
        fs.insert("/", Content::Dir, DEFAULT_MTIME, 0o755);
        for decl in decls {
            let (path, content, mtime, mode) = match decl {
                TreeDecl::File {
                    path,
                    data,
                    mtime,
                    mode,
                    ..
                } => (
                    path,
                    Content::File(data.clone()),
                    *mtime,
                    mode.unwrap_or(0o644),
                ),
                TreeDecl::Dir { path, mtime, mode } => {
                    (path, Content::Dir, *mtime, mode.unwrap_or(0o755))
                }
                TreeDecl::Symlink { path, target } => {
                    (path, Content::Symlink(target.clone()), None, 0o777)
                }
            };
            // Not `VirtualPath::resolve`: a disk may hold names with CR or LF, which clients
            // can never type but listings must still show safely.
            let parts: Vec<&str> = path
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .collect();
            let (last, parents) = parts.split_last().ok_or("cannot redeclare the root")?;
            // Declared parents exist implicitly.
            let mut dir = String::from("/");
            for part in parents {
                dir = join(&dir, part);
                if !fs.nodes.contains_key(&dir) {
                    fs.insert(&dir.clone(), Content::Dir, DEFAULT_MTIME, 0o755);
                }
            }
            let norm = join(&dir, last);
            fs.insert(&norm, content, mtime.unwrap_or(DEFAULT_MTIME), mode);
            if let TreeDecl::File {
                size: Some(size), ..
            } = decl
            {
                if let Some(node) = fs.nodes.get_mut(&norm) {
                    node.size = Some(*size);
                }
            }
        }
        Ok(fs)
    }

    fn insert(&mut self, path: &str, content: Content, mtime: i64, mode: u32) {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(
            path.to_owned(),
            Node {
                content,
                size: None,
                mtime,
                mode,
                ino,
            },
        );
    }

    /// Follows symlinks in every component (and in the last one if `follow_last`). The result
    /// may not exist (for creating it); a missing or non-directory intermediate is an error.
    fn real_path(&self, path: &str, follow_last: bool, depth: u32) -> Result<String, FsError> {
        if depth > 8 {
            return Err(FsError::Other);
        }
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut cur = String::from("/");
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            match self.nodes.get(&cur).map(|n| &n.content) {
                Some(Content::Dir) => {}
                Some(_) => return Err(FsError::NotADirectory),
                None => return Err(FsError::NotFound),
            }
            let next = join(&cur, part);
            match self.nodes.get(&next).map(|n| &n.content) {
                Some(Content::Symlink(target)) if !last || follow_last => {
                    let target = lexical(&cur, target).ok_or(FsError::NotFound)?;
                    cur = self.real_path(&target, true, depth + 1)?;
                }
                _ => cur = next,
            }
        }
        Ok(cur)
    }

    fn existing(&self, path: &str, follow_last: bool) -> Result<(String, &Node), FsError> {
        let real = self.real_path(path, follow_last, 0)?;
        let node = self.nodes.get(&real).ok_or(FsError::NotFound)?;
        Ok((real, node))
    }

    fn metadata(node: &Node) -> Metadata {
        let (kind, size, nlink, target) = match &node.content {
            Content::File(data) => (
                FileKind::File,
                node.size.unwrap_or(data.len() as u64),
                1,
                None,
            ),
            Content::Dir => (FileKind::Dir, 4096, 2, None),
            Content::Symlink(t) => (FileKind::Symlink, t.len() as u64, 1, Some(t.clone())),
        };
        let mut metadata = Metadata::file(size, (node.mtime != i64::MIN).then_some(node.mtime));
        metadata.kind = kind;
        metadata.mode = node.mode;
        metadata.nlink = nlink;
        metadata.symlink_target = target;
        metadata.unique = Some((1, node.ino));
        metadata
    }

    fn children(&self, dir: &str) -> Vec<(String, &Node)> {
        let prefix = if dir == "/" {
            "/".to_owned()
        } else {
            format!("{dir}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| p.len() > prefix.len() && !p[prefix.len()..].contains('/'))
            .map(|(p, n)| (p[prefix.len()..].to_owned(), n))
            .collect()
    }

    /// Where a new node at `path` goes: its parent must be an existing directory.
    fn creatable(&self, path: &str) -> Result<String, FsError> {
        let real = self.real_path(path, false, 0)?;
        match self.nodes.get(parent_of(&real)).map(|n| &n.content) {
            Some(Content::Dir) => Ok(real),
            Some(_) => Err(FsError::NotADirectory),
            None => Err(FsError::NotFound),
        }
    }

    /// Carries out one request at wall-clock time `now`.
    pub fn apply(&mut self, op: &FsOp, now: i64) -> Result<FsReply, FsError> {
        match op {
            FsOp::Stat(p) => Ok(FsReply::Metadata(Self::metadata(
                self.existing(p.as_str(), true)?.1,
            ))),
            FsOp::ListDir(p) | FsOp::ListNames(p) | FsOp::ListDirFirst { path: p, .. } => {
                let (real, node) = self.existing(p.as_str(), true)?;
                if matches!(
                    op,
                    FsOp::ListDirFirst {
                        pattern: Some(_),
                        ..
                    }
                ) && node.content != Content::Dir
                {
                    // A pattern's directory that is a file: nothing in it matches.
                    return Err(FsError::NotFound);
                }
                if node.content != Content::Dir && self.single_entry {
                    return Ok(FsReply::Entry {
                        metadata: Self::metadata(node),
                        now,
                    });
                }
                if node.content != Content::Dir {
                    return Err(FsError::NotADirectory);
                }
                let names_only = matches!(op, FsOp::ListNames(_));
                let entries = self
                    .children(&real)
                    .into_iter()
                    .map(|(name, n)| {
                        let full = Self::metadata(n);
                        // As a disk storage would: the kind is free from the directory entry,
                        // everything else would need a stat, so it is left at the default.
                        let metadata = if names_only {
                            let mut bare = Metadata::file(0, None);
                            bare.kind = full.kind;
                            bare
                        } else {
                            full
                        };
                        DirEntry::new(name, metadata)
                    })
                    .collect::<Vec<_>>();
                let mut entries = entries;
                if let FsOp::ListDirFirst { max, pattern, .. } = op {
                    if let Some(pattern) = pattern {
                        entries.retain(|e| pattern.matches(&e.name));
                    }
                    entries.truncate(*max);
                }
                Ok(FsReply::Listing(Listing::new(entries, now)))
            }
            FsOp::MakeDir(p) => {
                let real = self.creatable(p.as_str())?;
                if self.nodes.contains_key(&real) {
                    return Err(FsError::AlreadyExists);
                }
                self.insert(&real, Content::Dir, now, 0o755);
                Ok(FsReply::Done)
            }
            FsOp::RemoveDir(p) => {
                let (real, node) = self.existing(p.as_str(), false)?;
                if node.content != Content::Dir {
                    return Err(FsError::NotADirectory);
                }
                if real == "/" {
                    return Err(FsError::PermissionDenied);
                }
                if !self.children(&real).is_empty() {
                    return Err(FsError::DirectoryNotEmpty);
                }
                self.nodes.remove(&real);
                Ok(FsReply::Done)
            }
            FsOp::RemoveFile(p) => {
                let (real, node) = self.existing(p.as_str(), false)?;
                if node.content == Content::Dir {
                    return Err(FsError::IsADirectory);
                }
                self.nodes.remove(&real);
                Ok(FsReply::Done)
            }
            FsOp::Rename { from, to } => {
                let (from, node) = self.existing(from.as_str(), false)?;
                let node = node.clone();
                let to = self.creatable(to.as_str())?;
                if to == from {
                    return Ok(FsReply::Done);
                }
                if to.starts_with(&format!("{from}/")) {
                    return Err(FsError::InvalidName);
                }
                match self.nodes.get(&to).map(|n| &n.content) {
                    Some(Content::Dir) if node.content != Content::Dir => {
                        return Err(FsError::IsADirectory)
                    }
                    Some(Content::Dir) if !self.children(&to).is_empty() => {
                        return Err(FsError::DirectoryNotEmpty)
                    }
                    Some(Content::File(_) | Content::Symlink(_))
                        if node.content == Content::Dir =>
                    {
                        return Err(FsError::NotADirectory)
                    }
                    _ => {}
                }
                // Move the node and everything beneath it.
                let moved: Vec<String> = self
                    .nodes
                    .keys()
                    .filter(|k| **k == from || k.starts_with(&format!("{from}/")))
                    .cloned()
                    .collect();
                for old in moved {
                    let n = self.nodes.remove(&old).expect("listed above");
                    self.nodes.insert(format!("{to}{}", &old[from.len()..]), n);
                }
                Ok(FsReply::Done)
            }
            FsOp::CreateUnique { dir } => {
                let (real, node) = self.existing(dir.as_str(), true)?;
                if node.content != Content::Dir {
                    return Err(FsError::NotADirectory);
                }
                let name = (1..)
                    .map(|n| format!("stou.{n}"))
                    .find(|name| !self.nodes.contains_key(&join(&real, name)))
                    .expect("some name is free");
                self.insert(&join(&real, &name), Content::File(Vec::new()), now, 0o644);
                // The answer is in the session's view of the path, not the resolved one.
                Ok(FsReply::Created(
                    dir.resolve(&name).map_err(|_| FsError::InvalidName)?,
                ))
            }
            FsOp::SetModified { path, unix_secs } => {
                let real = self.real_path(path.as_str(), true, 0)?;
                let node = self.nodes.get_mut(&real).ok_or(FsError::NotFound)?;
                node.mtime = *unix_secs;
                Ok(FsReply::Done)
            }
            FsOp::SetMode { path, mode } => {
                let real = self.real_path(path.as_str(), true, 0)?;
                let node = self.nodes.get_mut(&real).ok_or(FsError::NotFound)?;
                node.mode = *mode;
                Ok(FsReply::Done)
            }
            FsOp::Hash {
                path,
                algorithm,
                range,
            } => {
                let mut data = self.read(path.as_str())?;
                if let Some((first, last)) = *range {
                    let len = data.len() as u64;
                    let (first, end) = (first.min(len), last.saturating_add(1).min(len));
                    data = data[first as usize..end.max(first) as usize].to_vec();
                }
                Ok(FsReply::Hash {
                    digest: digest(*algorithm, &data),
                    size: data.len() as u64,
                })
            }
            FsOp::FreeSpace(path) => {
                self.existing(path.as_str(), true)?;
                let used: u64 = self.nodes.values().map(|n| Self::metadata(n).size).sum();
                Ok(FsReply::FreeSpace(CAPACITY.saturating_sub(used)))
            }
            other => panic!("the in-memory storage does not know {other:?}"),
        }
    }

    /// The body a runtime would stream for a `SendListing` of `path` at wall-clock time `now`,
    /// rendered entry by entry with the core's renderer, sorted by name: a directory's entries,
    /// or one file under `name` (not for MLSD). With a `pattern`, the directory's matches only:
    /// none is `NotFound`, more than its `max_matches` is `TooManyMatches`.
    pub fn listing(
        &self,
        path: &str,
        format: ListFormat,
        name: &str,
        pattern: Option<&ListPattern>,
        now: i64,
    ) -> Result<Vec<u8>, TransferError> {
        let (real, node) = self.existing(path, true).map_err(TransferError::Fs)?;
        if let Some(pattern) = pattern {
            if node.content != Content::Dir {
                return Err(TransferError::Fs(FsError::NotFound));
            }
            let mut entries: Vec<DirEntry> = self
                .children(&real)
                .into_iter()
                .filter(|(name, _)| pattern.matches(name))
                .map(|(name, n)| DirEntry::new(name, Self::metadata(n)))
                .collect();
            if entries.is_empty() {
                return Err(TransferError::Fs(FsError::NotFound));
            }
            if entries.len() > pattern.max_matches() {
                return Err(TransferError::TooManyMatches);
            }
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            let mut body = String::new();
            for entry in &mut entries {
                pattern.present(format, entry);
                render_entry(format, entry, now, &mut body);
            }
            return Ok(body.into_bytes());
        }
        let mut entries: Vec<DirEntry> = if node.content == Content::Dir {
            self.children(&real)
                .into_iter()
                .map(|(name, n)| DirEntry::new(name, Self::metadata(n)))
                .collect()
        } else if matches!(format, ListFormat::Mlsd { .. }) {
            return Err(TransferError::Fs(FsError::NotADirectory));
        } else {
            vec![DirEntry::new(name.to_owned(), Self::metadata(node))]
        };
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let mut body = String::new();
        for entry in &entries {
            render_entry(format, entry, now, &mut body);
        }
        Ok(body.into_bytes())
    }

    /// The file's bytes for a download.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, FsError> {
        match &self.existing(path, true)?.1.content {
            Content::File(data) => Ok(data.clone()),
            Content::Dir => Err(FsError::IsADirectory),
            Content::Symlink(_) => Err(FsError::NotFound),
        }
    }

    /// Whether an upload in `mode` could open `path` for writing now (as a runtime opens its
    /// target before the `150`): the directory must be there, a directory cannot be written,
    /// and resuming or a `STOU` file needs the file.
    pub fn check_writable(&self, path: &str, mode: WriteMode) -> Result<(), FsError> {
        let real = self.creatable(path)?;
        match (self.nodes.get(&real).map(|n| &n.content), mode) {
            (Some(Content::Dir), _) => Err(FsError::IsADirectory),
            (Some(Content::Symlink(_)), WriteMode::Resume(_) | WriteMode::New) => {
                Err(FsError::NotFound)
            }
            (None, WriteMode::Resume(_) | WriteMode::New) => Err(FsError::NotFound),
            _ => Ok(()),
        }
    }

    /// Writes an upload: `keep` is how many existing bytes stay (None: append to all of them).
    pub fn write(
        &mut self,
        path: &str,
        keep: Option<u64>,
        data: &[u8],
        now: i64,
    ) -> Result<(), FsError> {
        let real = self.creatable(path)?;
        let old = match self.nodes.get(&real).map(|n| &n.content) {
            Some(Content::File(old)) => old.clone(),
            Some(Content::Dir) => return Err(FsError::IsADirectory),
            Some(Content::Symlink(_)) => return Err(FsError::NotFound),
            None => Vec::new(),
        };
        let keep = keep.map_or(old.len(), |k| {
            usize::try_from(k).unwrap_or(usize::MAX).min(old.len())
        });
        let mut new = old[..keep].to_vec();
        new.extend_from_slice(data);
        match self.nodes.get_mut(&real) {
            Some(node) => {
                node.content = Content::File(new);
                node.size = None;
                node.mtime = now;
            }
            None => self.insert(&real, Content::File(new), now, 0o644),
        }
        Ok(())
    }

    /// What changed since `before`, one line per path.
    pub fn diff(&self, before: &MemFs) -> Vec<String> {
        let mut out = Vec::new();
        for (path, node) in &self.nodes {
            match before.nodes.get(path) {
                None => out.push(format!("+ {path:?} {}", show(node))),
                Some(old) if old != node => {
                    out.push(format!("~ {path:?} {}", show_change(node, old)))
                }
                Some(_) => {}
            }
        }
        for (path, node) in &before.nodes {
            if !self.nodes.contains_key(path) {
                out.push(format!("- {path:?} (was {})", show(node)));
            }
        }
        out
    }
}

fn show(node: &Node) -> String {
    let what = match &node.content {
        Content::File(data) => format!("file {}", quote(data)),
        Content::Dir => "dir".to_owned(),
        Content::Symlink(t) => format!("symlink -> {t}"),
    };
    format!("{what} mtime={}", show_mtime(node.mtime))
}

/// A changed node, with its mode when that changed too (modes show only then, so that the
/// diffs of every other transcript stay as they were).
fn show_change(node: &Node, old: &Node) -> String {
    if node.mode == old.mode {
        format!("{} (was {})", show(node), show(old))
    } else {
        format!(
            "{} mode={:o} (was {} mode={:o})",
            show(node),
            node.mode,
            show(old),
            old.mode
        )
    }
}

/// Resolves a symlink's target text against the directory holding the link; `None` if it
/// climbs above the root (storage refuses such links).
fn lexical(dir: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

fn show_mtime(mtime: i64) -> String {
    if mtime == i64::MIN {
        "none".to_owned()
    } else {
        show_time(mtime)
    }
}
