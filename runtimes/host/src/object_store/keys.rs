//! Where a virtual path lives in an object store: pure mapping, no I/O.
//!
//! An object store has keys, not directories. A file `/docs/a.txt` is the object `docs/a.txt`;
//! a directory `/docs` is every key that starts with `docs/`, plus, once it was made with
//! `MKD`, an empty *marker* object `docs/.thinftp-dir` ([`MARKER`]), so that an empty directory
//! exists too. The marker is an ordinary object inside the prefix, not the key `docs/` itself
//! (the S3 console's convention): servers that keep objects as files (s3s-fs, a file system
//! gateway) cannot list a `docs/` object, but list any prefix with an object in it. Markers
//! never show in listings; a `docs/` key written by other tools counts as a directory too. Keys are relative to the
//! back-end's root (the bucket's `PREFIX`, which OpenDAL prepends) and start with the user's
//! home prefix (`alice/` for home `/alice`, empty for `/`).

use thinftp::{FsError, VirtualPath};

/// The name of a directory's marker object, inside its prefix. Hidden from listings.
pub const MARKER: &str = ".thinftp-dir";

/// The keys of one path, beneath one home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keys {
    /// The object a file at this path is (`docs/a.txt`); empty for the home itself.
    pub(crate) file: String,
    /// The prefix of the directory at this path, with its trailing `/` (`docs/a.txt/`): the
    /// marker's key and what its entries start with. `/` for the store's root.
    pub(crate) dir: String,
    /// The directory's marker object (`docs/a.txt/.thinftp-dir`).
    pub(crate) marker: String,
    /// Whether this is the home itself (the top of what the user sees): a directory, never a
    /// file, never removed or renamed.
    pub(crate) home: bool,
}

/// The key prefix of the home `home` (`alice/`, or empty for `/`).
pub(crate) fn home_prefix(home: &VirtualPath) -> String {
    let rel = relative(home);
    if rel.is_empty() {
        String::new()
    } else {
        format!("{rel}/")
    }
}

/// The keys of `path` (in the server's view) for a home whose prefix is `prefix` and whose
/// path is `home`. A path outside the home is [`FsError::NotFound`], as on local disk.
pub(crate) fn keys(home: &VirtualPath, prefix: &str, path: &VirtualPath) -> Result<Keys, FsError> {
    let inside = path.strip_prefix(home).ok_or(FsError::NotFound)?;
    let rel = relative(&inside);
    if rel.is_empty() {
        let dir = if prefix.is_empty() { "/" } else { prefix };
        return Ok(Keys {
            file: String::new(),
            marker: format!("{prefix}{MARKER}"),
            dir: dir.to_owned(),
            home: true,
        });
    }
    let file = format!("{prefix}{rel}");
    Ok(Keys {
        dir: format!("{file}/"),
        marker: format!("{file}/{MARKER}"),
        file,
        home: false,
    })
}

/// `path` without its leading `/`; empty for `/` (which `VirtualPath::relative` calls `.`).
fn relative(path: &VirtualPath) -> &str {
    if path.is_root() {
        ""
    } else {
        path.relative()
    }
}

/// The name an entry listed under `dir_key` shows: its last component without a directory's
/// trailing `/`; `None` for what a client must not see as an entry (the directory's own key or
/// [`MARKER`], an empty name from a key with `//`).
pub(crate) fn entry_name<'a>(dir_key: &str, entry_path: &'a str) -> Option<&'a str> {
    let rest = if dir_key == "/" {
        entry_path.trim_start_matches('/')
    } else {
        entry_path.strip_prefix(dir_key)?
    };
    let name = rest.strip_suffix('/').unwrap_or(rest);
    (!name.is_empty() && !name.contains('/') && name != MARKER).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp(s: &str) -> VirtualPath {
        VirtualPath::root().resolve(s).unwrap()
    }

    #[test]
    fn a_file_and_a_directory_of_the_root() {
        let root = VirtualPath::root();
        let k = keys(&root, "", &vp("/docs/a.txt")).unwrap();
        assert_eq!(k.file, "docs/a.txt");
        assert_eq!(k.dir, "docs/a.txt/");
        assert_eq!(k.marker, "docs/a.txt/.thinftp-dir");
        assert!(!k.home);
        let top = keys(&root, "", &root).unwrap();
        assert_eq!(top.dir, "/");
        assert!(top.home);
    }

    #[test]
    fn a_home_is_a_key_prefix_and_nothing_leaves_it() {
        let home = vp("/alice");
        let prefix = home_prefix(&home);
        assert_eq!(prefix, "alice/");
        assert_eq!(
            keys(&home, &prefix, &vp("/alice/x")).unwrap().file,
            "alice/x"
        );
        let top = keys(&home, &prefix, &home).unwrap();
        assert_eq!(top.dir, "alice/");
        assert!(top.home);
        assert_eq!(keys(&home, &prefix, &vp("/bob/x")), Err(FsError::NotFound));
        assert_eq!(keys(&home, &prefix, &vp("/alicex")), Err(FsError::NotFound));
        assert_eq!(home_prefix(&VirtualPath::root()), "");
    }

    #[test]
    fn entry_names_hide_the_marker_and_odd_keys() {
        assert_eq!(entry_name("docs/", "docs/a.txt"), Some("a.txt"));
        assert_eq!(entry_name("docs/", "docs/sub/"), Some("sub"));
        assert_eq!(entry_name("docs/", "docs/"), None);
        assert_eq!(entry_name("docs/", "docs/.thinftp-dir"), None);
        assert_eq!(entry_name("/", ".thinftp-dir"), None);
        assert_eq!(entry_name("docs/", "docs//"), None);
        assert_eq!(entry_name("/", "top.txt"), Some("top.txt"));
        assert_eq!(entry_name("/", "sub/"), Some("sub"));
        assert_eq!(entry_name("docs/", "other/x"), None);
    }
}
