//! The table of verbs: the one place that says which verbs exist, under which names, whether a
//! client may send them before logging in or while a transfer runs, and their `HELP` text.
//!
//! The parser looks verbs up here, `HELP` is rendered from it, and the session's login and
//! transfer rules read it. Adding a command means a row here, its parser arms (its `Command`
//! variant, parsing and re-encoding in `command/mod.rs`) and its handler (its arm in
//! `Session::run` and the function it calls); nothing else.

/// Whether a command may run while a transfer is under way (RFC 959 4.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DuringTransfer {
    /// It waits for the transfer to end.
    Waits,
    /// It runs at once.
    Runs,
    /// It runs at once without an argument, and waits with one (`STAT` is the session status
    /// at once, but a listing after the transfer).
    RunsWithoutArgument,
}

/// One verb.
#[derive(Debug)]
pub(crate) struct Verb {
    /// The canonical upper-case name, as `Command::verb` reports it.
    pub(crate) name: &'static str,
    /// Other names for the same command (RFC 775's `XPWD` for `PWD`, ...).
    pub(crate) aliases: &'static [&'static str],
    /// Whether the server carries it out; a verb known but not implemented gets `502`.
    pub(crate) implemented: bool,
    /// Whether a client may send it before logging in (every other verb gets `530` then).
    pub(crate) before_login: bool,
    pub(crate) during_transfer: DuringTransfer,
    /// The syntax shown by `HELP <verb>` (implemented verbs only).
    pub(crate) help: &'static str,
    /// An FTPS command (RFC 4217): known only when the server offers TLS, `502` and not in
    /// `HELP` otherwise.
    pub(crate) tls: bool,
}

use DuringTransfer::{Runs, RunsWithoutArgument, Waits};

const fn verb(name: &'static str, help: &'static str) -> Verb {
    Verb {
        name,
        aliases: &[],
        implemented: true,
        before_login: false,
        during_transfer: Waits,
        help,
        tls: false,
    }
}

impl Verb {
    const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    const fn before_login(mut self) -> Self {
        self.before_login = true;
        self
    }

    const fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    const fn during_transfer(mut self, rule: DuringTransfer) -> Self {
        self.during_transfer = rule;
        self
    }

    /// A verb this server knows but refuses with `502`.
    const fn not_implemented(name: &'static str) -> Self {
        Verb {
            name,
            aliases: &[],
            implemented: false,
            before_login: false,
            during_transfer: Waits,
            help: "",
            tls: false,
        }
    }
}

/// Every verb, implemented or not. The FTPS verbs (RFC 4217) are refused with `502` unless the
/// server offers TLS (`AUTH`, `PBSZ` and `PROT` before login too, so that a client probing for
/// TLS hears "not implemented", not "log in first"). The other security extensions (RFC 2228),
/// long addresses (RFC 1639) and the RFC 3659 and draft extensions nobody here needs are known,
/// and refused with `502`.
pub(crate) const VERBS: &[Verb] = &[
    verb("USER", "USER <name>").before_login(),
    verb("PASS", "PASS <password>").before_login(),
    verb("ACCT", "ACCT <account> (not needed)"),
    verb("REIN", "REIN (start over)"),
    verb("QUIT", "QUIT").before_login().during_transfer(Runs),
    verb("PWD", "PWD (print the current directory)").aliases(&["XPWD"]),
    verb("CWD", "CWD <directory>").aliases(&["XCWD"]),
    verb("CDUP", "CDUP (go to the parent directory)").aliases(&["XCUP"]),
    verb("MKD", "MKD <directory>").aliases(&["XMKD"]),
    verb("RMD", "RMD <directory>").aliases(&["XRMD"]),
    verb("DELE", "DELE <file>"),
    verb("RNFR", "RNFR <path>"),
    verb("RNTO", "RNTO <path>"),
    verb("SIZE", "SIZE <file>"),
    verb("MDTM", "MDTM <file> (modification time)"),
    verb("TYPE", "TYPE A | TYPE I"),
    verb("MODE", "MODE S"),
    verb("STRU", "STRU F"),
    verb("ALLO", "ALLO <size> (ignored)"),
    verb("REST", "REST <offset>"),
    verb("RETR", "RETR <file>"),
    verb("STOR", "STOR <file>"),
    verb("APPE", "APPE <file> (append to a file)"),
    verb("STOU", "STOU (store under a unique name)"),
    verb("PASV", "PASV (passive mode)"),
    verb("EPSV", "EPSV [1|2|ALL]"),
    verb("PORT", "PORT h1,h2,h3,h4,p1,p2"),
    verb("EPRT", "EPRT |<proto>|<address>|<port>|"),
    verb("ABOR", "ABOR (abort the transfer in progress)").during_transfer(Runs),
    verb("LIST", "LIST [path] (long listing)"),
    verb("NLST", "NLST [path] (names only)"),
    verb("MLSD", "MLSD [directory] (machine listing)"),
    verb("MLST", "MLST [path] (machine facts)"),
    verb("FEAT", "FEAT (list the extensions)").before_login(),
    verb("OPTS", "OPTS UTF8 ON | OPTS MLST <facts>").before_login(),
    verb("SYST", "SYST").before_login(),
    verb("STAT", "STAT [path]").during_transfer(RunsWithoutArgument),
    verb("HELP", "HELP [command]").before_login(),
    verb("NOOP", "NOOP").before_login().during_transfer(Runs),
    verb("SITE", "SITE HELP"),
    verb("CLNT", "CLNT <client name> (noted, ignored)").before_login(),
    verb(
        "MFMT",
        "MFMT YYYYMMDDHHMMSS <path> (set the modification time)",
    ),
    verb(
        "HASH",
        "HASH <file> (digest; OPTS HASH picks the algorithm)",
    ),
    verb("XSHA256", "XSHA256 <file> (SHA-256 digest)"),
    verb("XSHA1", "XSHA1 <file> (SHA-1 digest)"),
    verb("XMD5", "XMD5 <file> (MD5 digest)"),
    verb("XCRC", "XCRC <file> (CRC-32 of the whole file)"),
    verb("AVBL", "AVBL [directory] (free space, bytes)"),
    Verb::not_implemented("SMNT"),
    Verb::not_implemented("LPRT"),
    Verb::not_implemented("LPSV"),
    verb("AUTH", "AUTH TLS (secure the control connection)")
        .before_login()
        .tls(),
    verb("PBSZ", "PBSZ 0 (after AUTH)").before_login().tls(),
    verb("PROT", "PROT C | PROT P (data connection protection)")
        .before_login()
        .tls(),
    verb("CCC", "CCC (control connection back to clear text)").tls(),
    Verb::not_implemented("ADAT"),
    Verb::not_implemented("CONF"),
    Verb::not_implemented("ENC"),
    Verb::not_implemented("MIC"),
    Verb::not_implemented("MFCT"),
    Verb::not_implemented("MFF"),
    Verb::not_implemented("LANG"),
    Verb::not_implemented("HOST"),
];

/// The longest name in [`VERBS`]: a longer word is unknown without looking it up.
pub(crate) const MAX_VERB: usize = 7;

/// The verb named `upper` (an upper-case name or alias).
pub(crate) fn lookup(upper: &[u8]) -> Option<&'static Verb> {
    VERBS
        .iter()
        .find(|v| v.name.as_bytes() == upper || v.aliases.iter().any(|a| a.as_bytes() == upper))
}

/// Whether `upper` (a canonical name) is an FTPS verb.
pub(crate) fn is_tls(upper: &str) -> bool {
    lookup(upper.as_bytes()).is_some_and(|v| v.tls)
}

/// The verb named `name` (any case), e.g. for `HELP name`.
pub(crate) fn find(name: &str) -> Option<&'static Verb> {
    lookup(name.to_ascii_uppercase().as_bytes())
}

/// Every name and alias of an implemented verb, sorted: the list `HELP` shows. The FTPS verbs
/// are in it only `with_tls`.
pub(crate) fn implemented_names(with_tls: bool) -> Vec<&'static str> {
    let mut names: Vec<&str> = VERBS
        .iter()
        .filter(|v| v.implemented && (with_tls || !v.tls))
        .flat_map(|v| std::iter::once(v.name).chain(v.aliases.iter().copied()))
        .collect();
    names.sort_unstable();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_upper_case_and_short() {
        let mut all: Vec<&str> = VERBS
            .iter()
            .flat_map(|v| std::iter::once(v.name).chain(v.aliases.iter().copied()))
            .collect();
        for name in &all {
            assert!(name.len() <= MAX_VERB, "{name} is longer than MAX_VERB");
            assert!(name.as_bytes()[0].is_ascii_uppercase(), "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
                "{name}"
            );
        }
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "a name is in the table twice");
    }

    #[test]
    fn implemented_verbs_have_help_and_others_none() {
        for v in VERBS {
            assert_eq!(v.implemented, !v.help.is_empty(), "{}", v.name);
        }
    }

    #[test]
    fn aliases_find_their_verb() {
        assert_eq!(lookup(b"XPWD").map(|v| v.name), Some("PWD"));
        assert_eq!(find("xcup").map(|v| v.name), Some("CDUP"));
        assert!(lookup(b"NOPE").is_none());
    }
}
