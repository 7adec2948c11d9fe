//! How a [`LocalStorage`](super::LocalStorage) writes: the permission bits it takes away, the
//! node it belongs to (for the names of its temporary upload files) and whether uploads of new
//! files are atomic too.
//!
//! Several nodes may serve one directory (a shared file system behind a load balancer). Each
//! names its temporary files `.thinftp-part.NODE.RANDOM` and, at start-up, sweeps only its own
//! (and those of older versions, `.thinftp-part.RANDOM`, which no running node writes): a node
//! starting never removes the temporary file of an upload another node is running.

use super::{DEFAULT_UMASK, TEMP_PREFIX};

/// Most characters of a node id.
const MAX_NODE_ID: usize = 64;

/// The settings of a local storage and of every home made from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSettings {
    /// Permission bits new files and directories do not get (`--umask`).
    pub umask: u32,
    /// This node's name in its temporary files (`--node-id`; default: the host name): letters,
    /// digits, `-` and `_` ([`parse_node_id`]).
    pub node_id: String,
    /// `STOR` of a new name also writes a temporary file and renames it at the end
    /// (`--atomic-uploads`), so that a broken upload leaves nothing at that name; without it
    /// the bytes that arrived stay there, for `REST` + `STOR` to resume.
    pub atomic_uploads: bool,
}

impl Default for LocalSettings {
    /// The [`DEFAULT_UMASK`], the host name as node id, uploads of new files written in place.
    fn default() -> Self {
        LocalSettings {
            umask: DEFAULT_UMASK,
            node_id: default_node_id(),
            atomic_uploads: false,
        }
    }
}

impl LocalSettings {
    /// The start of this node's temporary file names: `.thinftp-part.NODE.`.
    pub(crate) fn temp_prefix(&self) -> String {
        format!("{TEMP_PREFIX}{}.", self.node_id)
    }
}

/// Checks a `--node-id`: 1 to 64 ASCII letters, digits, `-` and `_` (no `.`, so that one
/// node's prefix never starts another's).
pub fn parse_node_id(text: &str) -> Result<String, String> {
    let ok = (1..=MAX_NODE_ID).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?}: a node id is 1 to {MAX_NODE_ID} letters, digits, `-` and `_`"
        ))
    }
}

/// The host name (`/proc/sys/kernel/hostname`), with every character a node id cannot have
/// made `-`; `node` if there is none.
pub fn default_node_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let id: String = name
        .trim()
        .chars()
        .take(MAX_NODE_ID)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if id.is_empty() {
        "node".to_owned()
    } else {
        id
    }
}

/// Whether the start-up sweep of the node whose temporary files start with `own_prefix` removes
/// the file `name`: its own (`.thinftp-part.NODE.*`), or one of a version without node ids
/// (`.thinftp-part.X` with no `.` in `X`); never another node's.
pub(crate) fn swept_by(own_prefix: &str, name: &[u8]) -> bool {
    if name.starts_with(own_prefix.as_bytes()) {
        return true;
    }
    name.strip_prefix(TEMP_PREFIX.as_bytes())
        .is_some_and(|rest| !rest.contains(&b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_checked_and_the_host_name_is_the_default() {
        assert!(parse_node_id("node-1_a").is_ok());
        for bad in ["", "a.b", "a/b", "é", &"x".repeat(65)] {
            assert!(parse_node_id(bad).is_err(), "{bad:?}");
        }
        assert!(parse_node_id(&default_node_id()).is_ok());
    }

    #[test]
    fn a_node_sweeps_its_own_and_old_temporary_files_only() {
        let settings = LocalSettings {
            node_id: "a".into(),
            ..LocalSettings::default()
        };
        let own = settings.temp_prefix();
        assert!(swept_by(&own, b".thinftp-part.a.0123456789abcdef"));
        assert!(swept_by(&own, b".thinftp-part.0123456789abcdef"));
        assert!(!swept_by(&own, b".thinftp-part.b.0123456789abcdef"));
        assert!(!swept_by(&own, b".thinftp-part.ab.0123456789abcdef"));
        assert!(!swept_by(&own, b"a.0123456789abcdef"));
    }
}
