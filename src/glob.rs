//! Server-side globbing for `LIST`, `NLST` and `STAT`: `*`, `?` and `[...]` in the last path
//! component, as vsftpd and proftpd do (clients' `mget *.bin` and `mdelete a*` rely on it).
//!
//! The work is bounded: a pattern is at most [`MAX_PATTERN_LEN`] bytes, and matching one name is
//! a loop over name and pattern that remembers only the last `*` (no recursion, no
//! backtracking beyond it), so it takes at most name length × pattern length steps.

/// Longest pattern accepted, in bytes (a name on common filesystems is at most 255).
pub(crate) const MAX_PATTERN_LEN: usize = 255;

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// One character, itself.
    Literal(char),
    /// `?`: any one character.
    Any,
    /// `*`: any run of characters, also none.
    Star,
    /// `[...]`: one character in (or, with `!` or `^` first, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled pattern for one path component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// The pattern in `component`, or `None` if it has no wildcard (or is too long to be one):
    /// then it is a plain name. A `[` without its `]` is a literal `[`.
    pub(crate) fn parse(component: &str) -> Option<Self> {
        if component.len() > MAX_PATTERN_LEN || !has_wildcard(component) {
            return None;
        }
        let chars: Vec<char> = component.chars().collect();
        let mut tokens = Vec::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    // `**` is `*`: fewer stars, less work.
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::Any);
                    i += 1;
                }
                '[' => match parse_class(&chars[i + 1..]) {
                    Some((token, used)) => {
                        tokens.push(token);
                        i += 1 + used;
                    }
                    None => {
                        tokens.push(Token::Literal('['));
                        i += 1;
                    }
                },
                c => {
                    tokens.push(Token::Literal(c));
                    i += 1;
                }
            }
        }
        let wild = tokens.iter().any(|t| !matches!(t, Token::Literal(_)));
        wild.then_some(Self { tokens })
    }

    /// Whether `name` matches. As in a shell, a leading `.` only matches a literal `.`, so `*`
    /// does not select hidden files.
    pub(crate) fn matches(&self, name: &str) -> bool {
        if name.starts_with('.') && !matches!(self.tokens.first(), Some(Token::Literal('.'))) {
            return false;
        }
        let name: Vec<char> = name.chars().collect();
        let (mut n, mut p) = (0, 0);
        // After the last `*` seen: the pattern position behind it and the name position it
        // has swallowed up to. A mismatch retries from there with one more character
        // swallowed; earlier stars never need revisiting.
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.tokens.get(p) {
                Some(Token::Star) => {
                    p += 1;
                    star = Some((p, n));
                    continue;
                }
                Some(token) if token.matches(name[n]) => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((after, swallowed)) => {
                    p = after;
                    n = swallowed + 1;
                    star = Some((after, n));
                }
                None => return false,
            }
        }
        self.tokens[p..].iter().all(|t| *t == Token::Star)
    }
}

/// The pattern of a listing (`LIST *.bin`, `NLST sub/a?`, `STAT [ab]*`), handed to the runtime
/// in [`TransferKind::SendListing`](crate::TransferKind::SendListing) and
/// [`FsOp::ListDirFirst`](crate::FsOp::ListDirFirst) so that it selects the matching entries
/// while it reads the directory, instead of handing the whole directory to the core. Matching
/// is the core's pure, bounded matcher: `*`, `?` and `[...]`, a leading `.` only matched by a
/// literal `.` (see [`matches`](Self::matches)).
#[derive(Clone, PartialEq, Eq)]
pub struct ListPattern(Box<Parts>);

/// What a [`ListPattern`] holds, boxed so that the requests carrying one stay small.
#[derive(Clone, PartialEq, Eq)]
struct Parts {
    /// The pattern as the client wrote it, for logs and transcripts.
    text: String,
    glob: Glob,
    /// The argument's directory part as the client gave it (`sub/` of `sub/*.bin`).
    prefix: String,
    max_matches: usize,
}

impl ListPattern {
    /// The pattern `component` (the last component of a listing's argument) with the
    /// argument's directory part `prefix` and at most `max_matches` matches, or `None` if it
    /// has no wildcard: then it is a plain name.
    #[must_use]
    pub fn new(component: &str, prefix: &str, max_matches: usize) -> Option<Self> {
        Some(Self(Box::new(Parts {
            glob: Glob::parse(component)?,
            text: component.to_owned(),
            prefix: prefix.to_owned(),
            max_matches,
        })))
    }

    /// Whether the entry called `name` is selected. As in a shell, a leading `.` only matches a
    /// literal `.`, so `*` does not select hidden files. Takes at most name length × pattern
    /// length steps.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        self.0.glob.matches(name)
    }

    /// How many matches a listing may have (`Config::max_glob_matches`): past it the listing is
    /// refused before anything is sent ([`TransferError::TooManyMatches`](crate::TransferError::TooManyMatches)).
    #[must_use]
    pub fn max_matches(&self) -> usize {
        self.0.max_matches
    }

    /// Renames a matching entry as the listing in `format` shows it: `NLST` puts the
    /// argument's directory part in front (`sub/a.bin` for `NLST sub/*.bin`), so that the
    /// client can send the names back (`mget`, `mdelete`); `LIST` and `MLSD` show the bare name.
    pub fn present(&self, format: crate::ListFormat, entry: &mut crate::DirEntry) {
        if format == crate::ListFormat::Nlst && !self.0.prefix.is_empty() {
            entry.name.insert_str(0, &self.0.prefix);
        }
    }

    /// The argument's directory part, as the client gave it.
    pub(crate) fn prefix(&self) -> &str {
        &self.0.prefix
    }
}

impl std::fmt::Debug for ListPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListPattern")
            .field("pattern", &self.0.text)
            .field("prefix", &self.0.prefix)
            .field("max_matches", &self.0.max_matches)
            .finish()
    }
}

/// Fuzzing builds a pattern from any string: one without a wildcard becomes `*`.
#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for ListPattern {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let component: String = u.arbitrary()?;
        let max: u16 = u.arbitrary()?;
        Self::new(&component, "", usize::from(max))
            .or_else(|| Self::new("*", "", usize::from(max)))
            .ok_or(arbitrary::Error::IncorrectFormat)
    }
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Self::Literal(l) => *l == c,
            Self::Any => true,
            Self::Star => false,
            Self::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// Whether a component has a character that may start a wildcard.
pub(crate) fn has_wildcard(component: &str) -> bool {
    component.contains(['*', '?', '['])
}

/// `rest` follows a `[`: the class up to its `]` and how many characters it used, or `None`
/// if there is no closing `]`. A `]` right after `[` (or `[!`) is a member, as in a shell.
fn parse_class(rest: &[char]) -> Option<(Token, usize)> {
    let mut i = 0;
    let negated = matches!(rest.first(), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *rest.get(i)?;
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        match (rest.get(i + 1), rest.get(i + 2)) {
            (Some('-'), Some(&hi)) if hi != ']' => {
                ranges.push((c, hi));
                i += 3;
            }
            _ => {
                ranges.push((c, c));
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> Glob {
        Glob::parse(p).unwrap_or_else(|| panic!("{p:?} is a pattern"))
    }

    #[test]
    fn plain_names_are_not_patterns() {
        assert_eq!(Glob::parse("a.bin"), None);
        assert_eq!(Glob::parse("a[b"), None, "an unclosed [ is literal");
        assert_eq!(Glob::parse(&"*".repeat(MAX_PATTERN_LEN + 1)), None);
        assert!(Glob::parse(&"*".repeat(MAX_PATTERN_LEN)).is_some());
    }

    #[test]
    fn star_and_question_mark() {
        let g = glob("*.bin");
        assert!(g.matches("a.bin"));
        assert!(!g.matches(".bin.bin"), "hidden files need a literal dot");
        assert!(g.matches("x.y.bin"));
        assert!(!g.matches("a.bin.txt"));
        assert!(!g.matches("abin"));
        let g = glob("a?c");
        assert!(g.matches("abc") && g.matches("aéc"));
        assert!(!g.matches("ac") && !g.matches("abbc"));
        assert!(glob("*").matches("x") && !glob("*").matches(".profile"));
        assert!(glob(".*").matches(".profile"));
        let p = ListPattern::new("a*", "sub/", 3).expect("a pattern");
        assert!(p.matches("ab") && !p.matches("ba"));
        assert_eq!(
            ListPattern::new("ab", "", 3),
            None,
            "no wildcard: a plain name"
        );
        assert!(glob("a*b*c").matches("a--b--c") && !glob("a*b*c").matches("a--c--b"));
        assert!(glob("a*").matches("a"));
    }

    #[test]
    fn classes() {
        let g = glob("[a-c]x");
        assert!(g.matches("ax") && g.matches("cx") && !g.matches("dx"));
        let g = glob("[!a-c]x");
        assert!(!g.matches("ax") && g.matches("dx"));
        let g = glob("[]]");
        assert!(g.matches("]") && !g.matches("a"));
        let g = glob("[a-]");
        assert!(g.matches("a") && g.matches("-") && !g.matches("b"));
        let g = glob("x[*]");
        assert!(
            g.matches("x*") && !g.matches("xy"),
            "a star in a class is literal"
        );
    }

    #[test]
    fn adversarial_patterns_take_bounded_steps() {
        // The classic blow-up for recursive matchers: many stars against a long near-miss.
        let pattern = format!("{}b", "a*".repeat(100));
        let name = "a".repeat(255);
        assert!(!glob(&pattern).matches(&name));
        assert!(glob(&pattern).matches(&format!("{name}b")));
    }
}
