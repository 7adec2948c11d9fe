//! The command parser: one command line (without its line end) in, one [`Command`] out.
//!
//! Verbs are case-insensitive. The argument is everything after the first space, kept exactly:
//! inner and trailing spaces belong to file names.

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use self::verbs::MAX_VERB;
use crate::fs::HashAlgorithm;

pub(crate) mod args;
pub(crate) mod verbs;

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
    /// `CLNT [client name]` (draft-ietf-ftpext-clnt, sent by WinSCP and FileZilla): the name as
    /// given (bytes that are not UTF-8 replaced), possibly empty. Accepted and ignored.
    Clnt(String),
    /// `MFMT YYYYMMDDHHMMSS path` (draft-somers-ftp-mfxx): set a modification time.
    Mfmt {
        /// The time as given (UTC, fractions allowed).
        time: String,
        /// The same time in seconds since the Unix epoch.
        unix_secs: i64,
        /// The path.
        path: String,
    },
    /// `HASH path` (draft-bryan-ftpext-hash-02), with the algorithm `OPTS HASH` selected.
    Hash(String),
    /// `XSHA256`, `XSHA1`, `XMD5` or `XCRC path`: the legacy one-algorithm forms.
    LegacyHash {
        /// Which digest the verb names.
        algorithm: HashAlgorithm,
        /// The path.
        path: String,
    },
    /// `AVBL [path]` (draft-peterson-streamlined-ftp-command-extensions): free space.
    Avbl(Option<String>),
    /// `AUTH TLS`, `AUTH SSL`, `AUTH TLS-C` (RFC 4217 section 4): secure the control
    /// connection.
    Auth(AuthMechanism),
    /// `PBSZ n` (RFC 4217 section 8): the protection buffer size, always 0 for TLS.
    Pbsz(u64),
    /// `PROT C|S|E|P` (RFC 4217 section 9): the data connections' protection level.
    Prot(ProtectionLevel),
    /// `CCC` (RFC 4217 section 6): the control connection back to clear text.
    Ccc,
}

/// The mechanism named by `AUTH`. All of them mean TLS here (RFC 4217 section 4; `SSL` is
/// what older clients send, `TLS-C` an old draft's name for the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMechanism {
    /// `AUTH TLS`
    Tls,
    /// `AUTH SSL`
    Ssl,
    /// `AUTH TLS-C`
    TlsC,
}

impl AuthMechanism {
    /// The name as `AUTH` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tls => "TLS",
            Self::Ssl => "SSL",
            Self::TlsC => "TLS-C",
        }
    }
}

/// The level named by `PROT` (RFC 2228). Only `C` and `P` exist with TLS (RFC 4217 section
/// 9); the session refuses `S` and `E` with `536`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectionLevel {
    /// `PROT C`: clear.
    Clear,
    /// `PROT S`: safe (integrity only).
    Safe,
    /// `PROT E`: confidential.
    Confidential,
    /// `PROT P`: private (integrity and confidentiality).
    Private,
}

impl ProtectionLevel {
    /// The letter `PROT` takes.
    pub fn letter(self) -> char {
        match self {
            Self::Clear => 'C',
            Self::Safe => 'S',
            Self::Confidential => 'E',
            Self::Private => 'P',
        }
    }
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
#[non_exhaustive]
pub struct ListArgs {
    /// A leading `-word` of [`LIST_FLAGS`] (such as `-la`), without the `-`; empty if none was
    /// given.
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
            Self::Clnt(_) => "CLNT",
            Self::Mfmt { .. } => "MFMT",
            Self::Hash(_) => "HASH",
            Self::LegacyHash { algorithm, .. } => match algorithm {
                HashAlgorithm::Sha256 => "XSHA256",
                HashAlgorithm::Sha1 => "XSHA1",
                HashAlgorithm::Md5 => "XMD5",
                HashAlgorithm::Crc32 => "XCRC",
            },
            Self::Avbl(_) => "AVBL",
            Self::Auth(_) => "AUTH",
            Self::Pbsz(_) => "PBSZ",
            Self::Prot(_) => "PROT",
            Self::Ccc => "CCC",
        }
    }
}

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
    // Letters, and digits after the first (`XSHA256`).
    let well_formed = verb.first().is_some_and(u8::is_ascii_alphabetic)
        && verb.len() <= MAX_VERB
        && verb.iter().all(u8::is_ascii_alphanumeric);
    if !well_formed {
        return Err(ParseError::Unknown);
    }
    let mut upper = [0u8; MAX_VERB];
    let upper = &mut upper[..verb.len()];
    upper.copy_from_slice(verb);
    upper.make_ascii_uppercase();

    let arg = Arg(arg);
    let Some(known) = verbs::lookup(upper) else {
        return Err(ParseError::Unknown);
    };
    if !known.implemented {
        return Err(ParseError::NotImplemented(known.name));
    }
    let cmd = match known.name {
        "USER" => Command::User(arg.owned("USER")?),
        "PASS" => Command::Pass(arg.optional("PASS")?.unwrap_or_default().to_owned()),
        "ACCT" => Command::Acct(arg.owned("ACCT")?),
        "REIN" => Command::Rein,
        "QUIT" => Command::Quit,
        "PWD" => Command::Pwd,
        "CWD" => Command::Cwd(arg.owned("CWD")?),
        "CDUP" => Command::Cdup,
        "MKD" => Command::Mkd(arg.owned("MKD")?),
        "RMD" => Command::Rmd(arg.owned("RMD")?),
        "DELE" => Command::Dele(arg.owned("DELE")?),
        "RNFR" => Command::Rnfr(arg.owned("RNFR")?),
        "RNTO" => Command::Rnto(arg.owned("RNTO")?),
        "SIZE" => Command::Size(arg.owned("SIZE")?),
        "MDTM" => Command::Mdtm(arg.owned("MDTM")?),
        "TYPE" => Command::Type(parse_type(arg.required("TYPE")?)?),
        "MODE" => {
            one_letter(arg.required("MODE")?, "MODE", b'S', b"BC")?;
            Command::Mode
        }
        "STRU" => {
            one_letter(arg.required("STRU")?, "STRU", b'F', b"RP")?;
            Command::Stru
        }
        // ALLO reserves space on systems that need it; ours do not, so its argument is moot.
        "ALLO" => Command::Allo,
        "REST" => Command::Rest(decimal(arg.required("REST")?.trim_ascii()).ok_or(SYNTAX_REST)?),
        "RETR" => Command::Retr(arg.owned("RETR")?),
        "STOR" => Command::Stor(arg.owned("STOR")?),
        "APPE" => Command::Appe(arg.owned("APPE")?),
        "STOU" => Command::Stou,
        "PASV" => Command::Pasv,
        "EPSV" => Command::Epsv(parse_epsv(arg.optional("EPSV")?)?),
        "PORT" => Command::Port(parse_port(arg.required("PORT")?)?),
        "EPRT" => Command::Eprt(parse_eprt(arg.required("EPRT")?)?),
        "ABOR" => Command::Abor,
        "LIST" => Command::List(parse_list(arg.optional("LIST")?)),
        "NLST" => Command::Nlst(parse_list(arg.optional("NLST")?)),
        "MLSD" => Command::Mlsd(arg.optional("MLSD")?.map(str::to_owned)),
        "MLST" => Command::Mlst(arg.optional("MLST")?.map(str::to_owned)),
        "FEAT" => Command::Feat,
        "OPTS" => parse_opts(arg.required("OPTS")?)?,
        "SYST" => Command::Syst,
        "STAT" => Command::Stat(arg.optional("STAT")?.map(str::to_owned)),
        "HELP" => Command::Help(arg.optional("HELP")?.map(str::to_owned)),
        "NOOP" => Command::Noop,
        "SITE" => Command::Site(arg.owned("SITE")?),
        // Only informative: any text will do, UTF-8 or not.
        "CLNT" => Command::Clnt(String::from_utf8_lossy(arg.0.unwrap_or_default()).into_owned()),
        "MFMT" => parse_mfmt(arg.required("MFMT")?)?,
        "HASH" => Command::Hash(arg.owned("HASH")?),
        "XSHA256" => legacy_hash(HashAlgorithm::Sha256, arg.owned("XSHA256")?),
        "XSHA1" => legacy_hash(HashAlgorithm::Sha1, arg.owned("XSHA1")?),
        "XMD5" => legacy_hash(HashAlgorithm::Md5, arg.owned("XMD5")?),
        "XCRC" => legacy_hash(HashAlgorithm::Crc32, arg.owned("XCRC")?),
        "AVBL" => Command::Avbl(arg.optional("AVBL")?.map(str::to_owned)),
        "AUTH" => Command::Auth(parse_auth(arg.required("AUTH")?)?),
        "PBSZ" => Command::Pbsz(
            decimal(arg.required("PBSZ")?.trim_ascii()).ok_or(ParseError::Syntax("PBSZ"))?,
        ),
        "PROT" => Command::Prot(parse_prot(arg.required("PROT")?)?),
        "CCC" => Command::Ccc,
        // A row in the table with no arm here: known, not carried out.
        name => return Err(ParseError::NotImplemented(name)),
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

/// The `ls` flags thinftp understands in `LIST`/`NLST` (and ignores: the listing is always the
/// long or the names-only form). A leading `-word` is flags only when every character after the
/// `-` is one of these, as vsftpd decides; `-la`, `-al`, `-R`, `-ltr`, `-1` are flags, while
/// `-notes.txt` or `-leading*` is a path. A lone `-` stands for "no flags", so `NLST - -la` lists
/// a file named `-la`.
pub const LIST_FLAGS: &str = "aAlLRrt1F";

/// `LIST`/`NLST` arguments: a leading `-word` made only of [`LIST_FLAGS`] is flags, the rest
/// after its space the path; any other argument is the path, whole.
fn parse_list(arg: Option<&str>) -> ListArgs {
    let Some(arg) = arg else {
        return ListArgs::default();
    };
    if let Some(flagged) = arg.strip_prefix('-') {
        let (flags, path) = flagged.split_once(' ').unwrap_or((flagged, ""));
        if flags.chars().all(|c| LIST_FLAGS.contains(c)) {
            return ListArgs {
                flags: flags.to_owned(),
                path: (!path.is_empty()).then(|| path.to_owned()),
            };
        }
    }
    ListArgs {
        flags: String::new(),
        path: Some(arg.to_owned()),
    }
}

/// `MFMT YYYYMMDDHHMMSS path`: a valid UTC time, one space, a path.
fn parse_mfmt(arg: &str) -> Result<Command, ParseError> {
    const SYNTAX: ParseError = ParseError::Syntax("MFMT");
    let (time, path) = arg.split_once(' ').ok_or(SYNTAX)?;
    let unix_secs = args::parse_timestamp(time).ok_or(SYNTAX)?;
    if path.is_empty() {
        return Err(SYNTAX);
    }
    Ok(Command::Mfmt {
        time: time.to_owned(),
        unix_secs,
        path: path.to_owned(),
    })
}

/// `AUTH TLS|SSL|TLS-C`, any case. Another mechanism (`GSSAPI`, `KERBEROS_V4`, ...) gets `504`
/// (RFC 2228: "unrecognized security mechanism").
fn parse_auth(arg: &str) -> Result<AuthMechanism, ParseError> {
    let mechanism = arg.trim_ascii();
    [AuthMechanism::Tls, AuthMechanism::Ssl, AuthMechanism::TlsC]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(mechanism))
        .ok_or(ParseError::UnsupportedParameter("AUTH"))
}

/// `PROT C|S|E|P`, any case; another letter or word gets `504`.
fn parse_prot(arg: &str) -> Result<ProtectionLevel, ParseError> {
    [
        ProtectionLevel::Clear,
        ProtectionLevel::Safe,
        ProtectionLevel::Confidential,
        ProtectionLevel::Private,
    ]
    .into_iter()
    .find(|level| {
        let mut letter = [0u8; 4];
        level
            .letter()
            .encode_utf8(&mut letter)
            .eq_ignore_ascii_case(arg.trim_ascii())
    })
    .ok_or(ParseError::UnsupportedParameter("PROT"))
}

fn legacy_hash(algorithm: HashAlgorithm, path: String) -> Command {
    Command::LegacyHash { algorithm, path }
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
            | Self::Site(s)
            | Self::Hash(s)
            | Self::LegacyHash { path: s, .. } => write!(f, "{verb} {s}"),
            Self::Mfmt { time, path, .. } => write!(f, "{verb} {time} {path}"),
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
            | Self::Noop
            | Self::Ccc => f.write_str(verb),
            Self::Auth(mechanism) => write!(f, "AUTH {}", mechanism.name()),
            Self::Pbsz(size) => write!(f, "PBSZ {size}"),
            Self::Prot(level) => write!(f, "PROT {}", level.letter()),
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
            Self::Mlsd(arg)
            | Self::Mlst(arg)
            | Self::Stat(arg)
            | Self::Help(arg)
            | Self::Avbl(arg) => match arg {
                Some(arg) => write!(f, "{verb} {arg}"),
                None => f.write_str(verb),
            },
            Self::Clnt(name) if name.is_empty() => f.write_str(verb),
            Self::Clnt(name) => write!(f, "{verb} {name}"),
            Self::Opts { option, args } if args.is_empty() => write!(f, "OPTS {option}"),
            Self::Opts { option, args } => write!(f, "OPTS {option} {args}"),
        }
    }
}

#[cfg(test)]
mod tests;
