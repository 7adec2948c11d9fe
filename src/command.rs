//! The command parser: one command line (without its line end) in, one [`Command`] out.
//!
//! Verbs are case-insensitive. The argument is everything after the first space, kept exactly:
//! inner and trailing spaces belong to file names.

use core::fmt;
use std::net::SocketAddr;

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
        todo!()
    }
}

/// Parses one command line, without its line end. Telnet sequences were already stripped.
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let _ = line;
    todo!()
}

/// Re-encodes a command as a line (without line end) that [`parse`] turns back into an equal
/// command.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        todo!()
    }
}
