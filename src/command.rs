//! The command parser: one command line (without its line end) in, one [`Command`] out.
//!
//! Verbs are case-insensitive. The argument is everything after the first space, kept exactly:
//! inner and trailing spaces belong to file names.

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `USER name`
    User(String),
    /// `PASS password` (the password may be empty)
    Pass(String),
    /// `ACCT account`
    Acct(String),
    /// `REIN`
    Rein,
    /// `QUIT`
    Quit,
    /// `PWD`, `XPWD`
    Pwd,
    /// `CWD path`, `XCWD path`
    Cwd(String),
    /// `CDUP`, `XCUP`
    Cdup,
    /// `MKD path`, `XMKD path`
    Mkd(String),
    /// `RMD path`, `XRMD path`
    Rmd(String),
    /// `DELE path`
    Dele(String),
    /// `RNFR path`
    Rnfr(String),
    /// `RNTO path`
    Rnto(String),
    /// `SIZE path`
    Size(String),
    /// `MDTM path`
    Mdtm(String),
    /// `TYPE A`, `TYPE A N`, `TYPE I`, `TYPE L 8`
    Type(TransferType),
    /// `MODE S` (the only mode supported)
    Mode,
    /// `STRU F` (the only structure supported)
    Stru,
    /// `ALLO n` (accepted and ignored; the argument is optional)
    Allo,
    /// `REST offset`
    Rest(u64),
    /// `RETR path`
    Retr(String),
    /// `STOR path`
    Stor(String),
    /// `APPE path`
    Appe(String),
    /// `STOU` (an argument, if any, is ignored)
    Stou,
    /// `PASV`
    Pasv,
    /// `EPSV`, `EPSV 1`, `EPSV 2`, `EPSV ALL`
    Epsv(EpsvArg),
    /// `PORT h1,h2,h3,h4,p1,p2`
    Port(SocketAddr),
    /// `EPRT |1|addr|port|` or `EPRT |2|addr|port|`
    Eprt(SocketAddr),
    /// `ABOR`
    Abor,
    /// `LIST [-flags] [path]`
    List(ListArgs),
    /// `NLST [-flags] [path]`
    Nlst(ListArgs),
    /// `MLSD [path]`
    Mlsd(Option<String>),
    /// `MLST [path]`
    Mlst(Option<String>),
    /// `FEAT`
    Feat,
    /// `OPTS option [args]`: the option name upper-cased, the rest as given (may be empty).
    Opts {
        /// The option, upper-cased (`UTF8`, `MLST`).
        option: String,
        /// Its arguments, as given.
        args: String,
    },
    /// `SYST`
    Syst,
    /// `STAT [path]`
    Stat(Option<String>),
    /// `HELP [command]`
    Help(Option<String>),
    /// `NOOP`
    Noop,
    /// `SITE command`: the rest of the line, as given.
    Site(String),
}

/// The representation type set by `TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    /// `TYPE A` / `TYPE A N`: ASCII, line ends converted.
    Ascii,
    /// `TYPE I` / `TYPE L 8`: bytes as they are.
    Image,
}

/// The argument of `EPSV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    /// No argument: the control connection's protocol.
    Default,
    /// `EPSV 1` (IPv4) or `EPSV 2` (IPv6).
    Protocol(u8),
    /// `EPSV ALL`: from now on only `EPSV` may set up data connections.
    All,
}

/// The arguments of `LIST` and `NLST`: `ls`-style flags (tolerated, ignored) and a path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListArgs {
    /// A leading `-word` (such as `-la`), without the `-`; empty if none was given.
    pub flags: String,
    /// The path after the flags, if any.
    pub path: Option<String>,
}

/// Why a line is not a command the session can carry out. Each maps to one reply code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// `500`: no such command (or not a command at all: empty line, not UTF-8 verb).
    Unknown,
    /// `502`: a command this server knows but does not implement (`SMNT`, `LPRT`, ...).
    NotImplemented(&'static str),
    /// `501`: the command is missing its argument, or the argument is malformed.
    Syntax(&'static str),
    /// `504`: the command is fine but this parameter is not supported (`TYPE E`, `MODE B`).
    UnsupportedParameter(&'static str),
    /// `522`: `EPRT`/`EPSV` named a network protocol other than 1 (IPv4) or 2 (IPv6).
    UnsupportedProtocol(&'static str),
}

impl ParseError {
    /// The verb of the refused command (upper-case), if it was a known one.
    pub fn verb(&self) -> Option<&'static str> {
        match self {
            Self::Unknown => None,
            Self::NotImplemented(v)
            | Self::Syntax(v)
            | Self::UnsupportedParameter(v)
            | Self::UnsupportedProtocol(v) => Some(v),
        }
    }
}

impl Command {
    /// The canonical upper-case verb (`XPWD` reports `PWD`).
    pub fn verb(&self) -> &'static str {
        match self {
            Self::User(_) => "USER",
            Self::Pass(_) => "PASS",
            Self::Acct(_) => "ACCT",
            Self::Rein => "REIN",
            Self::Quit => "QUIT",
            Self::Pwd => "PWD",
            Self::Cwd(_) => "CWD",
            Self::Cdup => "CDUP",
            Self::Mkd(_) => "MKD",
            Self::Rmd(_) => "RMD",
            Self::Dele(_) => "DELE",
            Self::Rnfr(_) => "RNFR",
            Self::Rnto(_) => "RNTO",
            Self::Size(_) => "SIZE",
            Self::Mdtm(_) => "MDTM",
            Self::Type(_) => "TYPE",
            Self::Mode => "MODE",
            Self::Stru => "STRU",
            Self::Allo => "ALLO",
            Self::Rest(_) => "REST",
            Self::Retr(_) => "RETR",
            Self::Stor(_) => "STOR",
            Self::Appe(_) => "APPE",
            Self::Stou => "STOU",
            Self::Pasv => "PASV",
            Self::Epsv(_) => "EPSV",
            Self::Port(_) => "PORT",
            Self::Eprt(_) => "EPRT",
            Self::Abor => "ABOR",
            Self::List(_) => "LIST",
            Self::Nlst(_) => "NLST",
            Self::Mlsd(_) => "MLSD",
            Self::Mlst(_) => "MLST",
            Self::Feat => "FEAT",
            Self::Opts { .. } => "OPTS",
            Self::Syst => "SYST",
            Self::Stat(_) => "STAT",
            Self::Help(_) => "HELP",
            Self::Noop => "NOOP",
            Self::Site(_) => "SITE",
        }
    }
}

/// Verbs this server knows but refuses with `502`: security extensions (RFC 2228), long
/// addresses (RFC 1639), RFC 3659 and draft extensions nobody here needs.
const NOT_IMPLEMENTED: &[&str] = &[
    "SMNT", "LPRT", "LPSV", "AUTH", "PBSZ", "PROT", "ADAT", "CCC", "CONF", "ENC", "MIC", "MFMT",
    "MFCT", "MFF", "LANG", "HOST",
];

/// The longest verb we know; anything longer is unknown without looking further.
const MAX_VERB: usize = 4;

/// Parses one command line, without its line end. Telnet sequences were already stripped.
///
/// The verb runs up to the first space; the argument is everything after that space, exactly.
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let (verb, arg) = match line.iter().position(|&b| b == b' ') {
        Some(i) => {
            let (verb, rest) = line.split_at(i);
            (verb, rest.get(1..))
        }
        None => (line, None),
    };
    if verb.is_empty() || verb.len() > MAX_VERB || !verb.iter().all(u8::is_ascii_alphabetic) {
        return Err(ParseError::Unknown);
    }
    let mut upper = [0u8; MAX_VERB];
    let upper = &mut upper[..verb.len()];
    upper.copy_from_slice(verb);
    upper.make_ascii_uppercase();

    let arg = Arg(arg);
    let cmd = match &*upper {
        b"USER" => Command::User(arg.owned("USER")?),
        b"PASS" => Command::Pass(arg.optional("PASS")?.unwrap_or_default().to_owned()),
        b"ACCT" => Command::Acct(arg.owned("ACCT")?),
        b"REIN" => Command::Rein,
        b"QUIT" => Command::Quit,
        b"PWD" | b"XPWD" => Command::Pwd,
        b"CWD" | b"XCWD" => Command::Cwd(arg.owned("CWD")?),
        b"CDUP" | b"XCUP" => Command::Cdup,
        b"MKD" | b"XMKD" => Command::Mkd(arg.owned("MKD")?),
        b"RMD" | b"XRMD" => Command::Rmd(arg.owned("RMD")?),
        b"DELE" => Command::Dele(arg.owned("DELE")?),
        b"RNFR" => Command::Rnfr(arg.owned("RNFR")?),
        b"RNTO" => Command::Rnto(arg.owned("RNTO")?),
        b"SIZE" => Command::Size(arg.owned("SIZE")?),
        b"MDTM" => Command::Mdtm(arg.owned("MDTM")?),
        b"TYPE" => Command::Type(parse_type(arg.required("TYPE")?)?),
        b"MODE" => {
            one_letter(arg.required("MODE")?, "MODE", b'S', b"BC")?;
            Command::Mode
        }
        b"STRU" => {
            one_letter(arg.required("STRU")?, "STRU", b'F', b"RP")?;
            Command::Stru
        }
        // ALLO reserves space on systems that need it; ours do not, so its argument is moot.
        b"ALLO" => Command::Allo,
        b"REST" => Command::Rest(decimal(arg.required("REST")?.trim_ascii()).ok_or(SYNTAX_REST)?),
        b"RETR" => Command::Retr(arg.owned("RETR")?),
        b"STOR" => Command::Stor(arg.owned("STOR")?),
        b"APPE" => Command::Appe(arg.owned("APPE")?),
        b"STOU" => Command::Stou,
        b"PASV" => Command::Pasv,
        b"EPSV" => Command::Epsv(parse_epsv(arg.optional("EPSV")?)?),
        b"PORT" => Command::Port(parse_port(arg.required("PORT")?)?),
        b"EPRT" => Command::Eprt(parse_eprt(arg.required("EPRT")?)?),
        b"ABOR" => Command::Abor,
        b"LIST" => Command::List(parse_list(arg.optional("LIST")?)),
        b"NLST" => Command::Nlst(parse_list(arg.optional("NLST")?)),
        b"MLSD" => Command::Mlsd(arg.optional("MLSD")?.map(str::to_owned)),
        b"MLST" => Command::Mlst(arg.optional("MLST")?.map(str::to_owned)),
        b"FEAT" => Command::Feat,
        b"OPTS" => parse_opts(arg.required("OPTS")?)?,
        b"SYST" => Command::Syst,
        b"STAT" => Command::Stat(arg.optional("STAT")?.map(str::to_owned)),
        b"HELP" => Command::Help(arg.optional("HELP")?.map(str::to_owned)),
        b"NOOP" => Command::Noop,
        b"SITE" => Command::Site(arg.owned("SITE")?),
        other => {
            return Err(NOT_IMPLEMENTED
                .iter()
                .find(|v| v.as_bytes() == other)
                .map_or(ParseError::Unknown, |v| ParseError::NotImplemented(v)))
        }
    };
    Ok(cmd)
}

const SYNTAX_REST: ParseError = ParseError::Syntax("REST");

/// The raw argument: `None` when the line had no space after the verb.
struct Arg<'a>(Option<&'a [u8]>);

impl<'a> Arg<'a> {
    /// The argument as text; absent or empty gives `None`. Not UTF-8 is a syntax error
    /// (RFC 2640: paths travel as UTF-8).
    fn optional(&self, verb: &'static str) -> Result<Option<&'a str>, ParseError> {
        match self.0 {
            None | Some([]) => Ok(None),
            Some(raw) => core::str::from_utf8(raw)
                .map(Some)
                .map_err(|_| ParseError::Syntax(verb)),
        }
    }

    /// The argument as text; absent or empty is a syntax error.
    fn required(&self, verb: &'static str) -> Result<&'a str, ParseError> {
        self.optional(verb)?.ok_or(ParseError::Syntax(verb))
    }

    fn owned(&self, verb: &'static str) -> Result<String, ParseError> {
        self.required(verb).map(str::to_owned)
    }
}

/// A non-empty run of ASCII digits as a number. `str::parse` alone would also take a `+` sign.
fn decimal<T: core::str::FromStr>(s: &str) -> Option<T> {
    is_digits(s).then(|| s.parse().ok()).flatten()
}

/// Whether `s` is a non-empty run of ASCII digits whose value is `n`, a number without leading
/// zeros and not 0. Compared as text so that an absurdly long number is still a number, just
/// not `n`.
fn is_number(s: &str, n: &str) -> bool {
    is_digits(s) && s.trim_start_matches('0') == n
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `TYPE A [N]`, `TYPE I`, `TYPE L 8` (RFC 959 4.1.2). Other forms and byte sizes are valid
/// FTP but not supported here.
fn parse_type(arg: &str) -> Result<TransferType, ParseError> {
    let upper = arg.to_ascii_uppercase();
    let words: Vec<&str> = upper.split_ascii_whitespace().collect();
    match words.as_slice() {
        ["A"] | ["A", "N"] => Ok(TransferType::Ascii),
        ["I"] | ["L8"] => Ok(TransferType::Image),
        ["L", size] if is_number(size, "8") => Ok(TransferType::Image),
        ["L", size] if is_digits(size) => Err(ParseError::UnsupportedParameter("TYPE")),
        ["A", "T" | "C"] | ["E"] | ["E", "N" | "T" | "C"] => {
            Err(ParseError::UnsupportedParameter("TYPE"))
        }
        _ => Err(ParseError::Syntax("TYPE")),
    }
}

/// `MODE` and `STRU`: a single letter, `ok` accepted, the `unsupported` ones valid but refused.
fn one_letter(arg: &str, verb: &'static str, ok: u8, unsupported: &[u8]) -> Result<(), ParseError> {
    match arg.trim_ascii().as_bytes() {
        [c] if c.to_ascii_uppercase() == ok => Ok(()),
        [c] if unsupported.contains(&c.to_ascii_uppercase()) => {
            Err(ParseError::UnsupportedParameter(verb))
        }
        _ => Err(ParseError::Syntax(verb)),
    }
}

/// `PORT h1,h2,h3,h4,p1,p2`: six decimal bytes, spaces around each tolerated.
fn parse_port(arg: &str) -> Result<SocketAddr, ParseError> {
    const SYNTAX: ParseError = ParseError::Syntax("PORT");
    let mut fields = arg.split(',');
    let mut n = [0u8; 6];
    for slot in &mut n {
        let field = fields.next().ok_or(SYNTAX)?;
        *slot = decimal(field.trim_ascii()).ok_or(SYNTAX)?;
    }
    if fields.next().is_some() {
        return Err(SYNTAX);
    }
    let [a, b, c, d, p1, p2] = n;
    Ok(SocketAddr::from((
        Ipv4Addr::new(a, b, c, d),
        u16::from_be_bytes([p1, p2]),
    )))
}

/// `EPRT <d>proto<d>addr<d>port<d>` (RFC 2428), `d` being any one character.
fn parse_eprt(arg: &str) -> Result<SocketAddr, ParseError> {
    const SYNTAX: ParseError = ParseError::Syntax("EPRT");
    let mut chars = arg.chars();
    let delim = chars.next().ok_or(SYNTAX)?;
    let mut fields = chars.as_str().split(delim);
    let (Some(proto), Some(addr), Some(port), Some(""), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(SYNTAX);
    };
    // The protocol is judged first: an unknown family gets 522, which tells the client which
    // families to use instead, whatever the rest looks like.
    let ip = if is_number(proto, "1") {
        addr.parse::<Ipv4Addr>().map_err(|_| SYNTAX)?.into()
    } else if is_number(proto, "2") {
        addr.parse::<Ipv6Addr>().map_err(|_| SYNTAX)?.into()
    } else if is_digits(proto) {
        return Err(ParseError::UnsupportedProtocol("EPRT"));
    } else {
        return Err(SYNTAX);
    };
    let port = decimal(port).ok_or(SYNTAX)?;
    Ok(SocketAddr::new(ip, port))
}

/// `EPSV`, `EPSV 1`, `EPSV 2`, `EPSV ALL`.
fn parse_epsv(arg: Option<&str>) -> Result<EpsvArg, ParseError> {
    let arg = arg.unwrap_or_default().trim_ascii();
    if arg.is_empty() {
        Ok(EpsvArg::Default)
    } else if arg.eq_ignore_ascii_case("ALL") {
        Ok(EpsvArg::All)
    } else if is_number(arg, "1") {
        Ok(EpsvArg::Protocol(1))
    } else if is_number(arg, "2") {
        Ok(EpsvArg::Protocol(2))
    } else if is_digits(arg) {
        Err(ParseError::UnsupportedProtocol("EPSV"))
    } else {
        Err(ParseError::Syntax("EPSV"))
    }
}

/// `LIST`/`NLST` arguments: a leading `-word` is `ls` flags, the rest after its space the path.
fn parse_list(arg: Option<&str>) -> ListArgs {
    let Some(arg) = arg else {
        return ListArgs::default();
    };
    match arg.strip_prefix('-') {
        Some(flagged) => {
            let (flags, path) = flagged.split_once(' ').unwrap_or((flagged, ""));
            ListArgs {
                flags: flags.to_owned(),
                path: (!path.is_empty()).then(|| path.to_owned()),
            }
        }
        None => ListArgs {
            flags: String::new(),
            path: Some(arg.to_owned()),
        },
    }
}

/// `OPTS option [args]`.
fn parse_opts(arg: &str) -> Result<Command, ParseError> {
    let (option, args) = arg.split_once(' ').unwrap_or((arg, ""));
    if option.is_empty() {
        return Err(ParseError::Syntax("OPTS"));
    }
    Ok(Command::Opts {
        option: option.to_ascii_uppercase(),
        args: args.to_owned(),
    })
}

/// Re-encodes a command as a line (without line end) that [`parse`] turns back into an equal
/// command.
///
/// That holds for every command [`parse`] can return. Values it never returns have no exact
/// line: `Port` with an IPv6 address is written as an `EPRT` line, and an empty string where
/// `parse` requires an argument gives a line that `parse` refuses.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = self.verb();
        match self {
            Self::User(s)
            | Self::Acct(s)
            | Self::Cwd(s)
            | Self::Mkd(s)
            | Self::Rmd(s)
            | Self::Dele(s)
            | Self::Rnfr(s)
            | Self::Rnto(s)
            | Self::Size(s)
            | Self::Mdtm(s)
            | Self::Retr(s)
            | Self::Stor(s)
            | Self::Appe(s)
            | Self::Site(s) => write!(f, "{verb} {s}"),
            Self::Pass(s) if s.is_empty() => f.write_str(verb),
            Self::Pass(s) => write!(f, "{verb} {s}"),
            Self::Rein
            | Self::Quit
            | Self::Pwd
            | Self::Cdup
            | Self::Allo
            | Self::Stou
            | Self::Pasv
            | Self::Abor
            | Self::Feat
            | Self::Syst
            | Self::Noop => f.write_str(verb),
            Self::Type(TransferType::Ascii) => f.write_str("TYPE A"),
            Self::Type(TransferType::Image) => f.write_str("TYPE I"),
            Self::Mode => f.write_str("MODE S"),
            Self::Stru => f.write_str("STRU F"),
            Self::Rest(n) => write!(f, "REST {n}"),
            Self::Epsv(EpsvArg::Default) => f.write_str(verb),
            Self::Epsv(EpsvArg::Protocol(n)) => write!(f, "EPSV {n}"),
            Self::Epsv(EpsvArg::All) => f.write_str("EPSV ALL"),
            Self::Port(SocketAddr::V4(a)) => {
                let [h1, h2, h3, h4] = a.ip().octets();
                let [p1, p2] = a.port().to_be_bytes();
                write!(f, "PORT {h1},{h2},{h3},{h4},{p1},{p2}")
            }
            // PORT cannot carry IPv6; parse never builds this, EPRT is the faithful spelling.
            Self::Port(addr) | Self::Eprt(addr) => {
                let proto = if addr.is_ipv4() { 1 } else { 2 };
                write!(f, "EPRT |{proto}|{}|{}|", addr.ip(), addr.port())
            }
            Self::List(args) | Self::Nlst(args) => {
                f.write_str(verb)?;
                match (args.flags.as_str(), &args.path) {
                    ("", None) => Ok(()),
                    // A lone `-` word stands for "no flags", so a path that starts with `-`
                    // is not taken for flags.
                    ("", Some(path)) if path.starts_with('-') => write!(f, " - {path}"),
                    ("", Some(path)) => write!(f, " {path}"),
                    (flags, None) => write!(f, " -{flags}"),
                    (flags, Some(path)) => write!(f, " -{flags} {path}"),
                }
            }
            Self::Mlsd(arg) | Self::Mlst(arg) | Self::Stat(arg) | Self::Help(arg) => match arg {
                Some(arg) => write!(f, "{verb} {arg}"),
                None => f.write_str(verb),
            },
            Self::Opts { option, args } if args.is_empty() => write!(f, "OPTS {option}"),
            Self::Opts { option, args } => write!(f, "OPTS {option} {args}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command as C;
    use ParseError::*;

    fn p(line: &str) -> Result<Command, ParseError> {
        parse(line.as_bytes())
    }

    fn s(x: &str) -> String {
        x.to_owned()
    }

    fn v4(a: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((a, port))
    }

    fn list(flags: &str, path: Option<&str>) -> ListArgs {
        ListArgs {
            flags: s(flags),
            path: path.map(s),
        }
    }

    fn opts(option: &str, args: &str) -> Result<Command, ParseError> {
        Ok(C::Opts {
            option: s(option),
            args: s(args),
        })
    }

    /// Checks `VERB arg` for each space-separated `arg` in `args`.
    fn each(verb: &str, args: &str, want: Result<Command, ParseError>) {
        for arg in args.split(' ') {
            assert_eq!(p(&format!("{verb} {arg}")), want, "{verb} {arg}");
        }
    }

    #[test]
    fn every_verb_with_its_argument() {
        let cases = [
            ("USER bob", C::User(s("bob")), "USER"),
            ("PASS secret", C::Pass(s("secret")), "PASS"),
            ("ACCT acc", C::Acct(s("acc")), "ACCT"),
            ("REIN", C::Rein, "REIN"),
            ("QUIT", C::Quit, "QUIT"),
            ("PWD", C::Pwd, "PWD"),
            ("XPWD", C::Pwd, "PWD"),
            ("CWD /a", C::Cwd(s("/a")), "CWD"),
            ("XCWD /a", C::Cwd(s("/a")), "CWD"),
            ("CDUP", C::Cdup, "CDUP"),
            ("XCUP", C::Cdup, "CDUP"),
            ("MKD d", C::Mkd(s("d")), "MKD"),
            ("XMKD d", C::Mkd(s("d")), "MKD"),
            ("RMD d", C::Rmd(s("d")), "RMD"),
            ("XRMD d", C::Rmd(s("d")), "RMD"),
            ("DELE f", C::Dele(s("f")), "DELE"),
            ("RNFR f", C::Rnfr(s("f")), "RNFR"),
            ("RNTO g", C::Rnto(s("g")), "RNTO"),
            ("SIZE f", C::Size(s("f")), "SIZE"),
            ("MDTM f", C::Mdtm(s("f")), "MDTM"),
            ("TYPE I", C::Type(TransferType::Image), "TYPE"),
            ("MODE S", C::Mode, "MODE"),
            ("STRU F", C::Stru, "STRU"),
            ("ALLO 100", C::Allo, "ALLO"),
            ("ALLO", C::Allo, "ALLO"),
            ("REST 42", C::Rest(42), "REST"),
            ("RETR f", C::Retr(s("f")), "RETR"),
            ("STOR f", C::Stor(s("f")), "STOR"),
            ("APPE f", C::Appe(s("f")), "APPE"),
            ("STOU", C::Stou, "STOU"),
            ("STOU whatever", C::Stou, "STOU"),
            ("PASV", C::Pasv, "PASV"),
            ("EPSV", C::Epsv(EpsvArg::Default), "EPSV"),
            ("PORT 1,2,3,4,5,6", C::Port(v4([1, 2, 3, 4], 1286)), "PORT"),
            ("EPRT |1|1.2.3.4|21|", C::Eprt(v4([1, 2, 3, 4], 21)), "EPRT"),
            ("ABOR", C::Abor, "ABOR"),
            ("LIST", C::List(ListArgs::default()), "LIST"),
            ("NLST", C::Nlst(ListArgs::default()), "NLST"),
            ("MLSD", C::Mlsd(None), "MLSD"),
            ("MLSD d", C::Mlsd(Some(s("d"))), "MLSD"),
            ("MLST", C::Mlst(None), "MLST"),
            ("MLST f", C::Mlst(Some(s("f"))), "MLST"),
            ("FEAT", C::Feat, "FEAT"),
            ("SYST", C::Syst, "SYST"),
            ("STAT", C::Stat(None), "STAT"),
            ("STAT f", C::Stat(Some(s("f"))), "STAT"),
            ("HELP", C::Help(None), "HELP"),
            ("HELP retr", C::Help(Some(s("retr"))), "HELP"),
            ("NOOP", C::Noop, "NOOP"),
            ("SITE CHMOD 755 f", C::Site(s("CHMOD 755 f")), "SITE"),
        ];
        for (line, want, verb) in cases {
            assert_eq!(p(line), Ok(want.clone()), "{line}");
            assert_eq!(want.verb(), verb, "{line}");
        }
        assert_eq!(p("OPTS UTF8 ON"), opts("UTF8", "ON"));
        assert_eq!(p("OPTS UTF8 ON").unwrap().verb(), "OPTS");
    }

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(p("user bob"), Ok(C::User(s("bob"))));
        assert_eq!(p("uSeR Bob"), Ok(C::User(s("Bob"))));
        assert_eq!(p("xpwd"), Ok(C::Pwd));
        assert_eq!(p("Noop"), Ok(C::Noop));
        assert_eq!(p("type a"), Ok(C::Type(TransferType::Ascii)));
        assert_eq!(p("epsv all"), Ok(C::Epsv(EpsvArg::All)));
        assert_eq!(p("mode s"), Ok(C::Mode));
        assert_eq!(p("stru f"), Ok(C::Stru));
        assert_eq!(p("smnt x"), Err(NotImplemented("SMNT")));
    }

    #[test]
    fn argument_is_kept_exactly() {
        assert_eq!(p("RETR my file.txt"), Ok(C::Retr(s("my file.txt"))));
        assert_eq!(p("STOR  lead"), Ok(C::Stor(s(" lead"))));
        assert_eq!(p("STOR trail  "), Ok(C::Stor(s("trail  "))));
        assert_eq!(p("CWD a  b"), Ok(C::Cwd(s("a  b"))));
        assert_eq!(p("DELE \u{e9}t\u{e9}"), Ok(C::Dele(s("\u{e9}t\u{e9}"))));
        assert_eq!(p("MLSD  "), Ok(C::Mlsd(Some(s(" ")))));
        assert_eq!(p("SITE  x "), Ok(C::Site(s(" x "))));
        // Argument-less commands are lenient, like vsftpd.
        assert_eq!(p("PWD extra words"), Ok(C::Pwd));
        assert_eq!(p("QUIT now"), Ok(C::Quit));
        assert_eq!(parse(b"PASV \xff"), Ok(C::Pasv));
    }

    #[test]
    fn unknown_verbs() {
        let lines = [
            "",
            " ",
            " USER bob",
            "FOO",
            "FOO bar",
            "USERX bob",
            "US3R",
            "ÜSER x",
            "USER\tbob",
            "PWD\r",
            "\u{0}",
            "LISTING",
            "X",
        ];
        for line in lines {
            assert_eq!(p(line), Err(Unknown), "{line:?}");
        }
        assert_eq!(parse(b"\xff\xfe"), Err(Unknown));
        assert_eq!(parse(b"\xffOO bar"), Err(Unknown));
    }

    #[test]
    fn not_implemented_verbs() {
        for verb in NOT_IMPLEMENTED {
            assert_eq!(p(verb), Err(NotImplemented(verb)));
            assert_eq!(
                p(&format!("{} arg", verb.to_lowercase())),
                Err(NotImplemented(verb))
            );
        }
        assert_eq!(p("AUTH TLS"), Err(NotImplemented("AUTH")));
    }

    #[test]
    fn missing_arguments_are_syntax_errors() {
        let verbs = "USER CWD MKD RMD DELE RNFR RNTO SIZE MDTM RETR STOR APPE TYPE MODE STRU REST \
            PORT EPRT SITE ACCT OPTS";
        for verb in verbs.split(' ') {
            assert_eq!(p(verb), Err(Syntax(verb)), "{verb}");
            assert_eq!(p(&format!("{verb} ")), Err(Syntax(verb)), "{verb} + space");
        }
        for alias in ["XCWD", "XMKD", "XRMD"] {
            assert_eq!(p(alias), Err(Syntax(&alias[1..])), "{alias}");
        }
        assert_eq!(p("PASS"), Ok(C::Pass(String::new())));
        assert_eq!(p("PASS "), Ok(C::Pass(String::new())));
        assert_eq!(p("PASS  "), Ok(C::Pass(s(" "))));
    }

    #[test]
    fn arguments_must_be_utf8() {
        assert_eq!(parse(b"RETR caf\xe9"), Err(Syntax("RETR")));
        assert_eq!(parse(b"xcwd \xc3"), Err(Syntax("CWD")));
        assert_eq!(parse(b"PASS \xff"), Err(Syntax("PASS")));
        assert_eq!(parse(b"LIST \xff"), Err(Syntax("LIST")));
        assert_eq!(parse(b"MLST \x80"), Err(Syntax("MLST")));
        assert_eq!(parse(b"EPSV \xff"), Err(Syntax("EPSV")));
        assert_eq!(parse(b"RETR caf\xc3\xa9"), Ok(C::Retr(s("caf\u{e9}"))));
    }

    #[test]
    fn type_mode_stru() {
        for arg in ["A", "a", "A N", "a n", " A  N "] {
            assert_eq!(
                p(&format!("TYPE {arg}")),
                Ok(C::Type(TransferType::Ascii)),
                "{arg}"
            );
        }
        for arg in ["I", "i", "L 8", "l 8", "L8", "L 008"] {
            assert_eq!(
                p(&format!("TYPE {arg}")),
                Ok(C::Type(TransferType::Image)),
                "{arg}"
            );
        }
        let unsupported = [
            "A T",
            "a c",
            "E",
            "E N",
            "e t",
            "L 7",
            "L 16",
            "L 99999999999999999999",
        ];
        for arg in unsupported {
            assert_eq!(
                p(&format!("TYPE {arg}")),
                Err(UnsupportedParameter("TYPE")),
                "{arg}"
            );
        }
        for arg in [
            "X", "A X", "A N N", "I N", "L", "L x", "L -8", "L +8", "AN", "II", "E X",
        ] {
            assert_eq!(p(&format!("TYPE {arg}")), Err(Syntax("TYPE")), "{arg}");
        }
        each("MODE", "S s", Ok(C::Mode));
        each("MODE", "B b C", Err(UnsupportedParameter("MODE")));
        each("MODE", "X SS", Err(Syntax("MODE")));
        each("STRU", "F f", Ok(C::Stru));
        each("STRU", "R p", Err(UnsupportedParameter("STRU")));
        each("STRU", "S FF", Err(Syntax("STRU")));
    }

    #[test]
    fn rest_offsets() {
        assert_eq!(p("REST 0"), Ok(C::Rest(0)));
        assert_eq!(p("REST 18446744073709551615"), Ok(C::Rest(u64::MAX)));
        assert_eq!(p("REST  7 "), Ok(C::Rest(7)));
        each(
            "REST",
            "18446744073709551616 -1 +1 1.5 x 0x10",
            Err(Syntax("REST")),
        );
        assert_eq!(p("REST 1 2"), Err(Syntax("REST")));
    }

    #[test]
    fn port_edge_cases() {
        assert_eq!(
            p("PORT 127,0,0,1,0,21"),
            Ok(C::Port(v4([127, 0, 0, 1], 21)))
        );
        assert_eq!(
            p("PORT 255,255,255,255,255,255"),
            Ok(C::Port(v4([255; 4], 65535)))
        );
        assert_eq!(p("PORT 0,0,0,0,0,0"), Ok(C::Port(v4([0; 4], 0))));
        assert_eq!(
            p("PORT  10, 0 ,0,1 ,4, 1 "),
            Ok(C::Port(v4([10, 0, 0, 1], 1025)))
        );
        assert_eq!(p("PORT 010,0,0,1,0,1"), Ok(C::Port(v4([10, 0, 0, 1], 1))));
        let bad = "1,2,3,4,5 1,2,3,4,5,6,7 1,2,3,4,5,256 1,2,3,4,5,-1 1,2,3,4,5,+1 1,2,3,4,,6 \
            1.2.3.4.5.6 a,b,c,d,e,f 1,2,3,4,5,6, ,1,2,3,4,5 1,2,3,4,5,6\t7";
        each("PORT", bad, Err(Syntax("PORT")));
    }

    #[test]
    fn eprt_edge_cases() {
        assert_eq!(
            p("EPRT |1|132.235.1.2|6275|"),
            Ok(C::Eprt(v4([132, 235, 1, 2], 6275)))
        );
        let v6: SocketAddr = "[1080::8:800:200c:417a]:5282".parse().unwrap();
        assert_eq!(p("EPRT |2|1080::8:800:200C:417A|5282|"), Ok(C::Eprt(v6)));
        // Any delimiter character, even a multi-byte one.
        assert_eq!(p("EPRT !1!1.2.3.4!80!"), Ok(C::Eprt(v4([1, 2, 3, 4], 80))));
        assert_eq!(p("EPRT é1é1.2.3.4é80é"), Ok(C::Eprt(v4([1, 2, 3, 4], 80))));
        assert_eq!(p("EPRT  1 1.2.3.4 80 "), Ok(C::Eprt(v4([1, 2, 3, 4], 80))));
        assert_eq!(p("EPRT |2|::|0|"), Ok(C::Eprt("[::]:0".parse().unwrap())));
        let mapped: SocketAddr = "[::ffff:1.2.3.4]:9".parse().unwrap();
        assert_eq!(p("EPRT |2|::ffff:1.2.3.4|9|"), Ok(C::Eprt(mapped)));
        let unsupported = "|3|1.2.3.4|80| |0|x|y| |99999999999999999999|::|1|";
        each("EPRT", unsupported, Err(UnsupportedProtocol("EPRT")));
        let bad = "|1|::1|80| |2|1.2.3.4|80| |1|1.2.3.4|80 |1|1.2.3.4|80|| |1|1.2.3.4|65536| \
            |1|1.2.3.4|| |1|1.2.3.4|-1| ||1.2.3.4|80| |x|1.2.3.4|80| |1|\t1.2.3.4|80| \
            |2|fe80::1%eth0|80| :2:::1:80: | 1.2.3.4 |1|1.2.3.4|+80|";
        each("EPRT", bad, Err(Syntax("EPRT")));
    }

    #[test]
    fn epsv_edge_cases() {
        assert_eq!(p("EPSV"), Ok(C::Epsv(EpsvArg::Default)));
        assert_eq!(p("EPSV "), Ok(C::Epsv(EpsvArg::Default)));
        assert_eq!(p("EPSV 1"), Ok(C::Epsv(EpsvArg::Protocol(1))));
        assert_eq!(p("EPSV 2"), Ok(C::Epsv(EpsvArg::Protocol(2))));
        assert_eq!(p("EPSV aLl"), Ok(C::Epsv(EpsvArg::All)));
        each(
            "EPSV",
            "3 0 123456789012345678901234",
            Err(UnsupportedProtocol("EPSV")),
        );
        each("EPSV", "x ALLX -1 |1| 1,2", Err(Syntax("EPSV")));
    }

    #[test]
    fn list_flags_and_paths() {
        let cases = [
            ("LIST", list("", None)),
            ("LIST ", list("", None)),
            ("LIST -la", list("la", None)),
            ("LIST -la ", list("la", None)),
            ("LIST -la /tmp", list("la", Some("/tmp"))),
            ("LIST -la my dir", list("la", Some("my dir"))),
            ("LIST -la  x", list("la", Some(" x"))),
            ("LIST my dir", list("", Some("my dir"))),
            ("LIST  x", list("", Some(" x"))),
            ("LIST -", list("", None)),
            ("LIST - -odd", list("", Some("-odd"))),
            ("LIST --all", list("-all", None)),
        ];
        for (line, want) in cases {
            assert_eq!(p(line), Ok(C::List(want.clone())), "{line}");
            let nlst = line.replacen("LIST", "nlst", 1);
            assert_eq!(p(&nlst), Ok(C::Nlst(want)), "{nlst}");
        }
    }

    #[test]
    fn opts_and_site() {
        assert_eq!(p("OPTS utf8 on"), opts("UTF8", "on"));
        assert_eq!(p("OPTS UTF8"), opts("UTF8", ""));
        assert_eq!(p("OPTS UTF8 "), opts("UTF8", ""));
        assert_eq!(p("OPTS MLST type;size;"), opts("MLST", "type;size;"));
        assert_eq!(p("OPTS a b  c"), opts("A", "b  c"));
        assert_eq!(p("OPTS  UTF8"), Err(Syntax("OPTS")));
        assert_eq!(p("SITE HELP"), Ok(C::Site(s("HELP"))));
    }

    #[test]
    fn parse_error_verb() {
        assert_eq!(Unknown.verb(), None);
        assert_eq!(p("REST x").unwrap_err().verb(), Some("REST"));
        assert_eq!(p("LPRT x").unwrap_err().verb(), Some("LPRT"));
    }

    /// Every line that parses re-encodes to a line that parses to the same command (the fuzzer's
    /// property), over every verb crossed with awkward arguments.
    #[test]
    fn display_round_trips() {
        let verbs = "USER PASS ACCT REIN QUIT PWD XPWD CWD XCWD CDUP XCUP MKD XMKD RMD XRMD DELE \
            RNFR RNTO SIZE MDTM TYPE MODE STRU ALLO REST RETR STOR APPE STOU PASV EPSV PORT EPRT \
            ABOR LIST NLST MLSD MLST FEAT OPTS SYST STAT HELP NOOP SITE";
        // One argument per line of this literal.
        let args: &[u8] = b"\n \n  \nx\n x \n-\n- \n- -x\n-la\n-la \n-la  my file \n--\n-- x\n\
            my file.txt\n\xc3\xa9t\xc3\xa9\n\xff\na N\nL 008\ni\ns\nf\n007\n 1 \nall\n\
            1,2,3,4,5,6\n 01, 2,3 ,4,255,0\n|1|10.0.0.1|21|\n|2|::ffff:10.0.0.1|21|\n\
            #2#fe80::1#00021#\n|01|1.2.3.4|1|\nutf8 on\nmlst type; size;\nUTF8 \na\rb";
        let mut parsed = 0;
        for verb in verbs.split(' ') {
            for arg in args.split(|&b| b == b'\n') {
                for line in [
                    verb.as_bytes().to_vec(),
                    [verb.as_bytes(), b" ", arg].concat(),
                ] {
                    let Ok(cmd) = parse(&line) else { continue };
                    parsed += 1;
                    let text = cmd.to_string();
                    assert_eq!(
                        parse(text.as_bytes()),
                        Ok(cmd.clone()),
                        "{line:?} -> {text:?}"
                    );
                    assert!(text.starts_with(cmd.verb()), "{text:?}");
                }
            }
        }
        // Guards the loop itself: most combinations must parse for the property to mean much.
        assert!(parsed > 600, "only {parsed} lines parsed");
    }

    #[test]
    fn display_is_canonical() {
        let cases = [
            ("xmkd d", "MKD d"),
            ("type l 8", "TYPE I"),
            ("PORT 10,0,0,1,4,1", "PORT 10,0,0,1,4,1"),
            ("EPRT #2#::1#80#", "EPRT |2|::1|80|"),
            ("LIST - -x", "LIST - -x"),
            ("LIST -", "LIST"),
            ("PASS ", "PASS"),
            ("opts utf8 ", "OPTS UTF8"),
            ("epsv all", "EPSV ALL"),
        ];
        for (line, text) in cases {
            assert_eq!(p(line).unwrap().to_string(), text, "{line}");
        }
    }
}
