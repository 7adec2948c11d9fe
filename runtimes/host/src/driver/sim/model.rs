//! What one client expects of its home: every file's bytes and every directory, changed only
//! by the replies that say a change was made, and compared with the storage as it goes.

use std::collections::{BTreeMap, BTreeSet};

use thinftp::{FsOp, FsReply, VirtualPath};

use crate::storage::{MemoryStorage, Storage};

/// A file's bytes, or a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    File(Vec<u8>),
    Dir,
}

/// A home as its client should see it, by path in the client's view (`/` is the home).
#[derive(Debug, Clone)]
pub(super) struct Model {
    nodes: BTreeMap<String, Node>,
}

impl Model {
    pub(super) fn new() -> Model {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_owned(), Node::Dir);
        Model { nodes }
    }

    pub(super) fn get(&self, path: &VirtualPath) -> Option<&Node> {
        self.nodes.get(path.as_str())
    }

    pub(super) fn file(&self, path: &VirtualPath) -> Option<&[u8]> {
        match self.get(path)? {
            Node::File(data) => Some(data),
            Node::Dir => None,
        }
    }

    pub(super) fn put(&mut self, path: &VirtualPath, node: Node) {
        self.nodes.insert(path.as_str().to_owned(), node);
    }

    /// Removes `path` and everything below it.
    pub(super) fn remove(&mut self, path: &VirtualPath) {
        let below = format!("{}/", path.as_str());
        self.nodes
            .retain(|p, _| p != path.as_str() && !p.starts_with(&below));
    }

    /// Moves `from` and everything below it to `to`, replacing what `to` was.
    pub(super) fn rename(&mut self, from: &VirtualPath, to: &VirtualPath) {
        let below = format!("{}/", from.as_str());
        let moved: Vec<(String, Node)> = self
            .nodes
            .iter()
            .filter(|(p, _)| *p == from.as_str() || p.starts_with(&below))
            .map(|(p, n)| {
                (
                    format!("{}{}", to.as_str(), &p[from.as_str().len()..]),
                    n.clone(),
                )
            })
            .collect();
        self.remove(from);
        self.remove(to);
        self.nodes.extend(moved);
    }

    /// The names directly in the directory `dir`.
    pub(super) fn children(&self, dir: &VirtualPath) -> BTreeSet<String> {
        let prefix = if dir.is_root() {
            "/".to_owned()
        } else {
            format!("{}/", dir.as_str())
        };
        self.nodes
            .keys()
            .filter_map(|p| p.strip_prefix(&prefix))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_owned)
            .collect()
    }

    /// The entries directly in the directory `dir`, by name.
    pub(super) fn entries(&self, dir: &VirtualPath) -> BTreeMap<String, Node> {
        self.children(dir)
            .into_iter()
            .filter_map(|name| {
                let node = self.get(&dir.resolve(&name).ok()?)?.clone();
                Some((name, node))
            })
            .collect()
    }

    /// Every path and node, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter()
    }

    /// What `storage` holds at `path` (the client's view) beneath `home` is what the model
    /// says; else what differs.
    pub(super) fn check(
        &self,
        storage: &MemoryStorage,
        home: &VirtualPath,
        path: &VirtualPath,
    ) -> Result<(), String> {
        let server = home.join(path);
        let actual = match storage.execute(&FsOp::Stat(server.clone())) {
            Ok(FsReply::Metadata(m)) if m.is_dir() => Some(Node::Dir),
            Ok(_) => Some(Node::File(
                storage.file(server.as_str()).unwrap_or_default(),
            )),
            Err(_) => None,
        };
        let expected = self.get(path).cloned();
        if actual == expected {
            return Ok(());
        }
        Err(format!(
            "{} holds {} but the replies so far say {}",
            server.as_str(),
            describe(actual.as_ref()),
            describe(expected.as_ref())
        ))
    }
}

fn describe(node: Option<&Node>) -> String {
    match node {
        None => "nothing".to_owned(),
        Some(Node::Dir) => "a directory".to_owned(),
        Some(Node::File(data)) => {
            let head: String = String::from_utf8_lossy(data).chars().take(40).collect();
            format!("{} bytes {head:?}...", data.len())
        }
    }
}
