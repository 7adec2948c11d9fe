//! What the session fuzzer feeds: a setup and a list of actions, built by `arbitrary` from the
//! fuzzer's bytes. Their `Debug` output is what `cargo fuzz fmt session <artifact>` prints, so
//! control bytes show as escaped text, not as lists of numbers.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::Arbitrary;
use thinftp::{
    Config, FsError, FsReply, Listing, Metadata, TlsRequirement, TransferError, VirtualPath,
};

/// Bytes that print as an escaped byte string.
#[derive(Clone, PartialEq, Eq, Arbitrary)]
pub struct Wire(pub Vec<u8>);

impl fmt::Debug for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

/// One fuzz case.
#[derive(Debug, Arbitrary)]
pub struct Scenario {
    /// How the session is created.
    pub setup: Setup,
    /// What happens to it, in order.
    pub actions: Vec<Action>,
}

/// The session's addresses and configuration.
#[derive(Debug, Arbitrary)]
pub struct Setup {
    /// Client and server on IPv6 instead of IPv4.
    pub ipv6: bool,
    /// The home directory that logins are accepted with.
    pub home: Home,
    /// `Some(n)`: a `max_line_len` of `8 + n`, so over-long lines are cheap to reach.
    pub max_line_len: Option<u8>,
    /// `Some(n)`: a `max_pending_input` of `32 + 8 n`.
    pub max_pending_input: Option<u8>,
    /// `max_login_failures` is `1 + n % 4`.
    pub max_login_failures: u8,
    /// The address advertised in `227` replies.
    pub passive_address: Option<[u8; 4]>,
    /// FTPS offered (and how), or not (the default `Config`).
    pub tls: Option<TlsSetup>,
}

/// An FTPS setup: the policy, and whether the session is implicit FTPS.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct TlsSetup {
    /// `Session::new_implicit_tls` instead of `Session::new`.
    pub implicit: bool,
    /// `TlsPolicy::control`.
    pub control: TlsRequirement,
    /// `TlsPolicy::data`.
    pub data: TlsRequirement,
    /// `TlsPolicy::allow_ccc`.
    pub allow_ccc: bool,
    /// A users-file override for the name `u` (the one [`Action::Login`] uses).
    pub override_u: Option<bool>,
}

impl Setup {
    /// The client's and the server's addresses of the control connection.
    pub fn addresses(&self) -> (SocketAddr, SocketAddr) {
        let (client, server): (IpAddr, IpAddr) = if self.ipv6 {
            let client = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
            (
                client.into(),
                Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into(),
            )
        } else {
            (
                Ipv4Addr::new(192, 0, 2, 10).into(),
                Ipv4Addr::new(192, 0, 2, 1).into(),
            )
        };
        (SocketAddr::new(client, 50000), SocketAddr::new(server, 21))
    }

    /// The session's configuration: the defaults, with the knobs the fuzzer picked.
    pub fn config(&self) -> Config {
        let mut config = Config::default();
        if let Some(n) = self.max_line_len {
            config.max_line_len = 8 + usize::from(n);
        }
        if let Some(n) = self.max_pending_input {
            config.max_pending_input = 32 + 8 * usize::from(n);
        }
        config.max_login_failures = 1 + u32::from(self.max_login_failures % 4);
        config.passive_address = self.passive_address.map(IpAddr::from);
        if let Some(tls) = self.tls {
            config.tls.available = true;
            config.tls.control = tls.control;
            config.tls.data = tls.data;
            config.tls.allow_ccc = tls.allow_ccc;
            if let Some(required) = tls.override_u {
                config.tls.user_overrides.insert("u".to_owned(), required);
            }
        }
        config
    }
}

/// Homes given to accepted logins. The fuzzer asserts every path stays beneath the home.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Home {
    /// `/home/u` (so `/home/user2` must not pass as beneath it).
    User,
    /// A home with a space in it.
    Spaced,
    /// The server's root (anonymous FTP).
    Root,
}

impl Home {
    /// The home as a virtual path.
    pub fn path(self) -> VirtualPath {
        let text = match self {
            Self::User => "/home/u",
            Self::Spaced => "/srv/ftp/a b",
            Self::Root => "/",
        };
        VirtualPath::root()
            .resolve(text)
            .unwrap_or_else(|_| VirtualPath::root())
    }
}

/// One step of a scenario.
#[derive(Debug, Arbitrary)]
pub enum Action {
    /// Command lines, sent in one chunk.
    Lines(Vec<Line>),
    /// Command lines, sent in two chunks cut at byte `at` (modulo their length).
    Split {
        /// The lines.
        lines: Vec<Line>,
        /// Where to cut.
        at: u16,
    },
    /// Any bytes at all.
    Raw(Wire),
    /// `len` copies of `byte` and a line end: an over-long line without a huge fuzz input.
    Long {
        /// How many bytes.
        len: u16,
        /// Which byte.
        byte: u8,
        /// Its line end.
        end: LineEnd,
    },
    /// The client closes the control connection.
    Eof,
    /// The clock moves, then `Input::Timeout` is fed.
    Timeout(Jump),
    /// `USER`/`PASS` lines, and an accepting answer if the session asks.
    Login {
        /// Whether the user may write.
        write: bool,
    },
    /// Play a well-behaved runtime: answer every outstanding request plausibly until the
    /// session waits for nothing more.
    Pump(Flavor),
    /// A shortcut to deep states: set up a data channel (or not), send command lines in one
    /// chunk (`REST` + `RETR`, `RNFR` + `RNTO`), and play a well-behaved runtime after each.
    Command {
        /// The data channel to set up first.
        setup: DataSetup,
        /// The commands.
        lines: Vec<Line>,
        /// How the runtime answers.
        flavor: Flavor,
    },
    /// Answer an outstanding filesystem request (the `pick`-th, modulo how many).
    Fs {
        /// Which request.
        pick: u8,
        /// The answer.
        answer: FsAnswer,
    },
    /// Answer an outstanding authentication request.
    Auth {
        /// Which request.
        pick: u8,
        /// The answer.
        answer: AuthAnswer,
    },
    /// Answer an outstanding passive listener request.
    Passive {
        /// Which request.
        pick: u8,
        /// The answer.
        answer: PassiveAnswer,
    },
    /// A data connection arrives on a listening passive channel or a pending connect.
    DataConnected {
        /// Which channel.
        pick: u8,
        /// Where it comes from (a connect always comes from where it went).
        from: DataPeer,
    },
    /// A pending active connect fails.
    ConnectFailed {
        /// Which connect.
        pick: u8,
    },
    /// The runtime reports a started transfer's file open.
    TransferOpened {
        /// Which transfer.
        pick: u8,
    },
    /// A running transfer ends.
    TransferDone {
        /// Which transfer.
        pick: u8,
        /// Bytes moved, or why it failed.
        result: Result<u64, TransferError>,
    },
    /// An answer with an id the session may never have handed out.
    Forged(Forged),
    /// An answer fed before is fed again (the `pick`-th of the last ones).
    Replay {
        /// Which one.
        pick: u8,
    },
    /// The server shuts down: `Input::Shutdown`.
    Shutdown,
    /// The runtime reports the control connection's handshake: `ControlSecured` when `ok`,
    /// else `ControlTlsFailed` (whether one was asked for or not).
    Handshake {
        /// Whether it succeeded.
        ok: bool,
    },
    /// A shortcut to FTPS states: `AUTH TLS` with `injected` lines in the same chunk (which
    /// must never run), the handshake (if asked for), then `PBSZ 0` and `PROT P` or `PROT C`,
    /// pumping after each.
    Secure {
        /// Lines sent in clear text right behind `AUTH TLS`.
        injected: Vec<Line>,
        /// `PROT P` rather than `PROT C`.
        private: bool,
        /// How the runtime answers.
        flavor: Flavor,
    },
}

/// How far the clock moves before a timeout.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Jump {
    /// Not at all (a timeout fed early must do nothing).
    None,
    /// Exactly to the session's deadline.
    ToDeadline,
    /// To the deadline and this many seconds past it.
    PastDeadline(u16),
    /// This many milliseconds.
    Millis(u16),
    /// This many seconds.
    Secs(u16),
}

/// Choices for the well-behaved runtime of [`Action::Pump`].
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct Flavor {
    /// `Stat` says directory rather than file.
    pub dirs: bool,
    /// `Stat` says not found.
    pub missing: bool,
    /// Logins get write access.
    pub write: bool,
    /// File sizes and transfer byte counts.
    pub size: u16,
    /// Transfers finish (else they keep running, for `ABOR`, `STAT` and timeouts mid-transfer).
    pub finish_transfers: bool,
}

/// How [`Action::Command`] sets up a data channel before its command.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum DataSetup {
    /// It does not.
    None,
    /// `PASV`.
    Pasv,
    /// `EPSV`.
    Epsv,
    /// `PORT` to the client (`EPRT` on IPv6).
    Port,
    /// `EPRT` to the client.
    Eprt,
}

/// An answer to a filesystem request.
#[derive(Debug, Arbitrary)]
pub enum FsAnswer {
    /// The kind of reply the operation calls for, with arbitrary content.
    Fitting {
        /// For `Stat`.
        metadata: Metadata,
        /// For `ListDir` and `ListNames`.
        listing: Listing,
        /// For `CreateUnique`: the new file's name (made one valid component).
        name: String,
    },
    /// A failure.
    Error(FsError),
    /// Anything, fitting the operation or not.
    Any(Result<FsReply, FsError>),
}

/// An answer to an authentication request.
#[derive(Debug, Arbitrary)]
pub enum AuthAnswer {
    /// Accepted with the scenario's home.
    Accept {
        /// Whether the user may write.
        write: bool,
    },
    /// Accepted with another home (the assertions follow the latest home).
    AcceptHome {
        /// The home.
        home: VirtualPath,
        /// Whether the user may write.
        write: bool,
    },
    /// Refused.
    Refuse,
}

/// An answer to an `OpenPassive`.
#[derive(Debug, Arbitrary)]
pub enum PassiveAnswer {
    /// Listening on the control connection's local address, on `port`.
    Listening(u16),
    /// Listening on some other address (the reply must still be well formed).
    ListeningElsewhere {
        /// An IPv4 address, or else an IPv6 one.
        v4: Option<[u8; 4]>,
        /// The port.
        port: u16,
    },
    /// No listener could be opened.
    Failed,
}

/// Where a data connection comes from.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum DataPeer {
    /// The client's address (any port).
    Client(u16),
    /// Another host: the session must refuse it.
    Stranger(u8),
}

/// An answer with an id of the fuzzer's choosing.
#[derive(Debug, Arbitrary)]
pub struct Forged {
    /// The raw id.
    pub raw: u64,
    /// Set a high bit in the id so the session surely never handed it out.
    pub unheard_of: bool,
    /// Which kind of answer.
    pub kind: ForgedKind,
}

/// The kinds of answer that carry an id.
#[derive(Debug, Arbitrary)]
pub enum ForgedKind {
    /// `Input::Fs`.
    Fs(Result<FsReply, FsError>),
    /// `Input::Auth`.
    Auth(bool),
    /// `Input::PassiveListening`.
    PassiveListening(u16),
    /// `Input::PassiveFailed`.
    PassiveFailed,
    /// `Input::DataConnected` from the client.
    DataConnected(u16),
    /// `Input::ConnectFailed`.
    ConnectFailed,
    /// `Input::TransferDone`.
    TransferDone(Result<u64, TransferError>),
    /// `Input::TransferOpened`.
    TransferOpened,
}

/// How a command line ends.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum LineEnd {
    /// `\r\n`.
    CrLf,
    /// `\n`.
    Lf,
    /// A bare `\r`.
    Cr,
    /// Nothing: the next line continues this one.
    None,
}

impl LineEnd {
    fn bytes(self) -> &'static [u8] {
        match self {
            Self::CrLf => b"\r\n",
            Self::Lf => b"\n",
            Self::Cr => b"\r",
            Self::None => b"",
        }
    }

    /// Appends the line end.
    pub fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.bytes());
    }
}

/// Verbs the session knows, some it knows but does not implement, and a few it does not know.
const VERBS: &[&str] = &[
    "USER", "PASS", "ACCT", "REIN", "QUIT", "PWD", "XPWD", "CWD", "XCWD", "CDUP", "XCUP", "MKD",
    "XMKD", "RMD", "XRMD", "DELE", "RNFR", "RNTO", "SIZE", "MDTM", "TYPE", "MODE", "STRU", "ALLO",
    "REST", "RETR", "STOR", "APPE", "STOU", "PASV", "EPSV", "PORT", "EPRT", "ABOR", "LIST", "NLST",
    "MLSD", "MLST", "FEAT", "OPTS", "SYST", "STAT", "HELP", "NOOP", "SITE", "SMNT", "LPRT", "LPSV",
    "AUTH", "PBSZ", "PROT", "FOO", "", "MFMT", "HASH", "XSHA256", "XSHA1", "XMD5", "XCRC", "AVBL",
    "CCC",
];

/// Arguments worth trying: paths (escapes included), parameters of TYPE/MODE/STRU/REST,
/// PORT/EPRT addresses (the client's, a low port, a third party's), OPTS and SITE words.
const ARGS: &[&str] = &[
    "a",
    "20200102030405 a",
    "20200230000000 a",
    "UTIME a 20200102030405",
    "UTIME 20200102030405 ../..",
    "CHMOD 4777 a",
    "HASH SHA-1",
    "a b ",
    "dir",
    "dir/sub",
    "/",
    ".",
    "..",
    "../..",
    "/../../etc/passwd",
    "dir/../a",
    "~",
    "*",
    "dir/*",
    "../[ab]?*",
    "-x*",
    "-la",
    "-l dir",
    "-a",
    "A",
    "A N",
    "I",
    "L 8",
    "E",
    "S",
    "B",
    "F",
    "R",
    "0",
    "10",
    "-1",
    "18446744073709551616",
    "192,0,2,10,4,1",
    "192,0,2,10,0,21",
    "198,51,100,7,4,1",
    "1,2,3",
    "|1|192.0.2.10|2000|",
    "|2|2001:db8::10|2000|",
    "|1|198.51.100.7|2000|",
    "|2|2001:db8::10|21|",
    "|3|x|1|",
    "ALL",
    "1",
    "2",
    "UTF8 ON",
    "UTF8 OFF",
    "MLST type;size;modify;",
    "MLST",
    "HELP",
    "CHMOD 644 a",
    "a\"b",
    "u",
    "anonymous",
    "x\0y",
    "TLS",
    "ssl",
    "TLS-C",
    "P",
    "C",
    "TLS\r\nUSER u\r\nPASS p",
];

/// One command line.
#[derive(Clone, Arbitrary)]
pub struct Line {
    verb: u8,
    case: u8,
    arg: Arg,
    end: LineEnd,
    /// Precede the line with Telnet `IAC IP IAC DM` (how clients send `ABOR`).
    telnet: bool,
}

/// A command's argument.
#[derive(Clone, Arbitrary)]
enum Arg {
    None,
    Word(u8),
    Text(String),
    Bytes(Vec<u8>),
}

impl Line {
    /// Appends the line's bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        if self.telnet {
            out.extend_from_slice(&[0xff, 0xf4, 0xff, 0xf2]);
        }
        let verb = VERBS[usize::from(self.verb) % VERBS.len()];
        for (i, b) in verb.bytes().enumerate() {
            // 0: upper case; 1: lower case; else a mixed pattern from the bits.
            let lower = match self.case {
                0 => false,
                1 => true,
                bits => bits >> (i % 8) & 1 == 1,
            };
            out.push(if lower { b.to_ascii_lowercase() } else { b });
        }
        let arg: &[u8] = match &self.arg {
            Arg::None => b"",
            Arg::Word(i) => ARGS[usize::from(*i) % ARGS.len()].as_bytes(),
            Arg::Text(s) => s.as_bytes(),
            Arg::Bytes(b) => b,
        };
        if !matches!(self.arg, Arg::None) {
            out.push(b' ');
            out.extend_from_slice(arg);
        }
        self.end.encode(out);
    }
}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wire = Vec::new();
        self.encode(&mut wire);
        fmt::Debug::fmt(&Wire(wire), f)
    }
}

/// Encodes lines into one buffer.
pub fn encode_lines(lines: &[Line]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        line.encode(&mut out);
    }
    out
}
