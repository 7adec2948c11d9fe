//! Virtual paths: what a client names, resolved purely and lexically.
//!
//! A [`VirtualPath`] is absolute, normalised (no `.`, `..`, empty components or trailing `/`) and
//! free of NUL, CR and LF. `..` at the root stays at the root, so no virtual path is ever above the
//! root; keeping symlinks from leading outside is the storage layer's job.

use core::fmt;

/// An absolute, normalised path beneath the server's (or the user's) root.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualPath(String);

/// Why a client's path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// The path holds NUL, CR or LF.
    ForbiddenCharacter,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("path contains a forbidden character")
    }
}

impl VirtualPath {
    /// The root, `/`.
    pub fn root() -> Self {
        Self("/".to_owned())
    }

    /// Resolves a client's path argument against `self` (the current directory): an argument that
    /// starts with `/` starts from the root. `.` and empty components are skipped, `..` goes up and
    /// stops at the root.
    pub fn resolve(&self, arg: &str) -> Result<Self, PathError> {
        if arg.contains(['\0', '\r', '\n']) {
            return Err(PathError::ForbiddenCharacter);
        }
        let mut out = if arg.starts_with('/') {
            String::from("/")
        } else {
            self.0.clone()
        };
        for part in arg.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    // Pop the last component; the root has none, so `..` stays there.
                    let cut = out.rfind('/').unwrap_or(0);
                    out.truncate(cut.max(1));
                }
                name => {
                    if !out.ends_with('/') {
                        out.push('/');
                    }
                    out.push_str(name);
                }
            }
        }
        Ok(Self(out))
    }

    /// `self` with `inner` appended below it: maps a path in a user's view (where `/` is the
    /// user's home) to the server's view.
    pub fn join(&self, inner: &VirtualPath) -> Self {
        if self.is_root() {
            inner.clone()
        } else if inner.is_root() {
            self.clone()
        } else {
            Self(format!("{}{}", self.0, inner.0))
        }
    }

    /// The reverse of [`join`](Self::join): `self` in the view rooted at `base`, or `None` if
    /// `self` is not at or below `base`.
    pub fn strip_prefix(&self, base: &VirtualPath) -> Option<Self> {
        if base.is_root() {
            return Some(self.clone());
        }
        let rest = self.0.strip_prefix(base.0.as_str())?;
        if rest.is_empty() {
            Some(Self::root())
        } else if rest.starts_with('/') {
            Some(Self(rest.to_owned()))
        } else {
            None
        }
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The path as text, starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path relative to the root, for opening beneath a root directory handle: `.` for the
    /// root itself, else the path without its leading `/`.
    pub fn relative(&self) -> &str {
        if self.is_root() {
            "."
        } else {
            &self.0[1..]
        }
    }

    /// The last component, or `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            None
        } else {
            self.0.rsplit('/').next()
        }
    }

    /// The containing directory, or `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        if self.is_root() {
            return None;
        }
        let cut = self.0.rfind('/').unwrap_or(0);
        Some(Self(self.0[..cut.max(1)].to_owned()))
    }

    /// The components from the root down (none for the root).
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }
}

impl fmt::Debug for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for VirtualPath {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let text: &str = u.arbitrary()?;
        Ok(Self::root().resolve(text).unwrap_or_else(|_| Self::root()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(cwd: &str, arg: &str) -> String {
        VirtualPath::root()
            .resolve(cwd)
            .unwrap()
            .resolve(arg)
            .unwrap()
            .as_str()
            .to_owned()
    }

    #[test]
    fn relative_and_absolute() {
        assert_eq!(resolve("/a/b", "c"), "/a/b/c");
        assert_eq!(resolve("/a/b", "/c"), "/c");
        assert_eq!(resolve("/a/b", "c/d/"), "/a/b/c/d");
        assert_eq!(resolve("/", "x"), "/x");
    }

    #[test]
    fn dots_and_empty_components() {
        assert_eq!(resolve("/a/b", "."), "/a/b");
        assert_eq!(resolve("/a/b", ".."), "/a");
        assert_eq!(resolve("/a/b", "../.."), "/");
        assert_eq!(resolve("/a/b", "./c//d/./e/.."), "/a/b/c/d");
        assert_eq!(resolve("/a", ""), "/a");
    }

    #[test]
    fn dotdot_above_root_stays_at_root() {
        assert_eq!(resolve("/", ".."), "/");
        assert_eq!(resolve("/a", "../../../../etc/passwd"), "/etc/passwd");
        assert_eq!(resolve("/", "/../.."), "/");
    }

    #[test]
    fn names_keep_spaces_and_stars() {
        assert_eq!(resolve("/", " a b "), "/ a b ");
        assert_eq!(resolve("/", "*.txt"), "/*.txt");
        assert_eq!(resolve("/", "..."), "/...");
    }

    #[test]
    fn forbidden_characters() {
        let root = VirtualPath::root();
        for bad in ["a\0b", "a\rb", "a\nb", "\n"] {
            assert_eq!(root.resolve(bad), Err(PathError::ForbiddenCharacter));
        }
    }

    #[test]
    fn parent_name_relative() {
        let p = VirtualPath::root().resolve("/a/b").unwrap();
        assert_eq!(p.file_name(), Some("b"));
        assert_eq!(p.parent().unwrap().as_str(), "/a");
        assert_eq!(p.parent().unwrap().parent().unwrap().as_str(), "/");
        assert_eq!(VirtualPath::root().parent(), None);
        assert_eq!(VirtualPath::root().file_name(), None);
        assert_eq!(p.relative(), "a/b");
        assert_eq!(VirtualPath::root().relative(), ".");
        assert_eq!(p.components().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn join_and_strip_prefix() {
        let home = VirtualPath::root().resolve("/home/u").unwrap();
        let inner = VirtualPath::root().resolve("/x/y").unwrap();
        let joined = home.join(&inner);
        assert_eq!(joined.as_str(), "/home/u/x/y");
        assert_eq!(joined.strip_prefix(&home), Some(inner));
        assert_eq!(home.join(&VirtualPath::root()), home);
        assert_eq!(VirtualPath::root().join(&home), home);
        assert_eq!(home.strip_prefix(&home), Some(VirtualPath::root()));
        let other = VirtualPath::root().resolve("/home/user2").unwrap();
        assert_eq!(other.strip_prefix(&home), None);
    }
}
