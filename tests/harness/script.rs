//! The transcript script language: a setup (tree, users, config) and then steps.
//!
//! ```text
//! # a comment
//! file /pub/a.txt "hello\n" mtime=2024-06-01T10:00:00 mode=600   # mtime=none: unknown
//! file /big.iso "" size=12345678901234   # a size to report (the content stays as given)
//! dir /pub/empty
//! symlink /pub/link -> a.txt
//! user bob secret rw home=/home/bob      # or ro; home defaults to /
//! config idle_timeout 10s                # any Config field; durations take a unit (or `max`)
//! peer [2001:db8::10]:40000              # the client (default 192.0.2.10:40000)
//! local [2001:db8::1]:21                 # the server (default 192.0.2.1:21)
//! wallclock 2024-06-15T12:00:00          # wall-clock time at t+0 (listings, new files)
//! storage single-entry                   # ListDir/ListNames of a file: FsReply::Entry
//! implicit                               # Session::new_implicit_tls (TLS first, FTPS port 990)
//! config tls.available true              # TlsPolicy fields: available, allow_ccc (true|false),
//! config tls.control accounts            #   control, data (optional|accounts|everyone),
//! config tls.override bob=false          #   override NAME=BOOL (one per line),
//! config tls.anonymous_names guest,ftp   #   anonymous_names (comma-separated)
//!
//! > USER bob                             # a line, sent with "\r\n" (escapes work)
//! send "US" "ER bob\n"                   # raw writes, one per string; "A"*9000 repeats
//! sleep 2s                               # advance the clock, feeding each deadline passed
//! timeout                                # feed Input::Timeout now, due or not
//! eof                                    # the client closes the control connection
//! shutdown                               # feed Input::Shutdown (the server stops)
//! connect [from 203.0.113.9]             # the client connects to the newest passive listener
//! active ok|fail                         # the client accepts (or refuses) an active connect
//! upload "bytes" "more"                  # the client sends these on the running upload
//! done [ok|lost|aborted|fs KIND]         # the oldest running transfer ends
//! done tlsfailed|notresumed              # ...its data connection's TLS handshake failed
//! secured [VERSION CIPHER]               # the runtime reports ControlSecured (TLSv1.3 default)
//! tlsfail                                # the runtime reports ControlTlsFailed
//! hold fs|auth|passive|open              # leave the next such request unanswered...
//! release                                # ...until now (answers every held request)
//! fail fs KIND | fail passive            # answer the next such request with a failure
//! fail open KIND                         # the next transfer's file cannot be opened
//! fail auth                              # answer the next Authenticate with Unavailable
//! misanswer fs                           # answer the next Fs request Ok, of the wrong shape
//! forge fs|auth|passive|connected|connectfail|transfer|opened ID|last   # unasked answers
//! forge secured|tlsfailed                # a handshake report no SecureControl asked for
//! ```
//!
//! The fake runtime opens a transfer's file on `StartTransfer` as a real one would (a download
//! needs the file, an upload its directory, and a file to resume or a `STOU` file) and answers
//! `TransferOpened`, or `TransferDone` with the error; the bytes move on `MoveBytes`.
//!
//! ```text
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use thinftp::FsError;

use super::text::{parse_duration, parse_time, unescape};

/// One declared user.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password: String,
    pub write: bool,
    pub home: String,
}

/// One node declared in the tree.
#[derive(Debug, Clone)]
pub enum TreeDecl {
    File {
        path: String,
        data: Vec<u8>,
        size: Option<u64>,
        mtime: Option<i64>,
        mode: Option<u32>,
    },
    Dir {
        path: String,
        mtime: Option<i64>,
        mode: Option<u32>,
    },
    Symlink {
        path: String,
        target: String,
    },
}

/// Everything before the first step.
#[derive(Debug, Clone)]
pub struct Setup {
    pub tree: Vec<TreeDecl>,
    pub users: Vec<User>,
    pub config: thinftp::Config,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub wallclock: i64,
    /// `storage single-entry`: `ListDir`/`ListNames` of a file answer `FsReply::Entry` (the
    /// default answers `NotADirectory`, as a storage that knows only directories would).
    pub single_entry: bool,
    /// `implicit`: the session is made with `Session::new_implicit_tls`.
    pub implicit: bool,
    /// The setup lines as written, echoed at the top of the transcript.
    pub lines: Vec<String>,
}

/// Which kind of request a `hold`/`fail`/`forge` step is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqKind {
    Fs,
    Auth,
    Passive,
    /// Opening a transfer's file (the answer to `StartTransfer`).
    Open,
}

/// How a transfer ends in a `done` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Ok,
    Lost,
    Aborted,
    Fs(FsError),
    /// The data connection's TLS handshake failed.
    TlsFailed,
    /// The data connection's TLS handshake did not resume the control session.
    TlsNotResumed,
}

/// An answer forged by a `forge` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    Fs,
    Auth,
    Passive,
    Connected,
    ConnectFail,
    Transfer,
    Opened,
    /// `ControlSecured` (the id is ignored).
    Secured,
    /// `ControlTlsFailed` (the id is ignored).
    TlsFailed,
}

/// `forge`'s id: a number, or the newest id of that kind the session has used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeId {
    Raw(u64),
    Last,
}

/// One step of a script.
#[derive(Debug, Clone)]
pub enum Step {
    Send(Vec<Vec<u8>>),
    Sleep(Duration),
    Timeout,
    Eof,
    Shutdown,
    Connect(Option<std::net::IpAddr>),
    Active(bool),
    Upload(Vec<Vec<u8>>),
    Done(Ending),
    Hold(ReqKind),
    Release,
    FailFs(FsError),
    FailOpen(FsError),
    FailPassive,
    FailAuth,
    MisanswerFs,
    Forge(Forge, ForgeId),
    /// The control connection's handshake succeeded, with this version and cipher.
    Secured(String, String),
    /// The control connection's handshake failed.
    TlsFail,
}

/// A parsed script.
#[derive(Debug, Clone)]
pub struct Script {
    pub setup: Setup,
    /// Each step with its source text (for the transcript).
    pub steps: Vec<(String, Step)>,
}

/// 2024-06-15T12:00:00Z, a Saturday: the default wall clock at t+0.
pub const DEFAULT_WALLCLOCK: i64 = 1_718_452_800;

pub fn parse(source: &str) -> Result<Script, String> {
    let mut setup = Setup {
        tree: Vec::new(),
        users: Vec::new(),
        config: thinftp::Config::default(),
        peer: "192.0.2.10:40000".parse().expect("literal"),
        local: "192.0.2.1:21".parse().expect("literal"),
        wallclock: DEFAULT_WALLCLOCK,
        single_entry: false,
        implicit: false,
        lines: Vec::new(),
    };
    let mut steps = Vec::new();
    for (n, raw) in source.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {raw}", n + 1);
        if let Some(rest) = raw.strip_prefix('>') {
            // A client line: everything after "> " is sent as written, so trailing spaces count.
            let text = rest.strip_prefix(' ').unwrap_or(rest);
            let mut bytes = unescape(text).map_err(at)?;
            bytes.extend_from_slice(b"\r\n");
            steps.push((raw.to_owned(), Step::Send(vec![bytes])));
            continue;
        }
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let words = tokenize(line).map_err(at)?;
        let (verb, args) = words.split_first().ok_or_else(|| at("empty".into()))?;
        if let Some(step) = parse_step(verb, args).map_err(at)? {
            steps.push((line.to_owned(), step));
        } else if steps.is_empty() {
            parse_setup(&mut setup, verb, args).map_err(at)?;
            setup.lines.push(line.to_owned());
        } else {
            return Err(at("setup after the first step".into()));
        }
    }
    Ok(Script { setup, steps })
}

/// A `#` outside quotes starts a comment (not on `>` lines, which are sent whole).
fn strip_comment(line: &str) -> &str {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => in_quotes = !in_quotes,
            '#' if !in_quotes => return &line[..i],
            _ => {}
        }
    }
    line
}

/// A word is either bare text or a quoted string (kept with its quotes, decoded by `bytes_arg`).
fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        let mut in_quotes = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() && !in_quotes {
                break;
            }
            chars.next();
            word.push(c);
            if c == '\\' && in_quotes {
                word.push(chars.next().ok_or("dangling backslash")?);
            } else if c == '"' {
                in_quotes = !in_quotes;
            }
        }
        if in_quotes {
            return Err("unterminated string".into());
        }
        words.push(word);
    }
    Ok(words)
}

/// `"text"` or `"text"*N`.
fn bytes_arg(word: &str) -> Result<Vec<u8>, String> {
    let (body, times) = match word.rsplit_once("\"*") {
        Some((body, n)) => (
            format!("{body}\""),
            n.parse::<usize>().map_err(|_| "bad repeat")?,
        ),
        None => (word.to_owned(), 1),
    };
    let inner = body
        .strip_prefix('"')
        .and_then(|b| b.strip_suffix('"'))
        .ok_or_else(|| format!("expected a quoted string, got {word}"))?;
    Ok(unescape(inner)?.repeat(times))
}

fn parse_step(verb: &str, args: &[String]) -> Result<Option<Step>, String> {
    let arg = |i: usize| args.get(i).map(String::as_str);
    let step = match (verb, arg(0)) {
        ("send", _) => Step::Send(
            args.iter()
                .map(|a| bytes_arg(a))
                .collect::<Result<_, _>>()?,
        ),
        ("upload", _) => Step::Upload(
            args.iter()
                .map(|a| bytes_arg(a))
                .collect::<Result<_, _>>()?,
        ),
        ("sleep", Some(d)) => Step::Sleep(parse_duration(d)?),
        ("timeout", None) => Step::Timeout,
        ("eof", None) => Step::Eof,
        ("shutdown", None) => Step::Shutdown,
        ("connect", None) => Step::Connect(None),
        ("connect", Some("from")) => Step::Connect(Some(
            arg(1)
                .ok_or("connect from IP")?
                .parse()
                .map_err(|_| "bad IP")?,
        )),
        ("active", Some("ok")) => Step::Active(true),
        ("active", Some("fail")) => Step::Active(false),
        ("done", None | Some("ok")) => Step::Done(Ending::Ok),
        ("done", Some("lost")) => Step::Done(Ending::Lost),
        ("done", Some("aborted")) => Step::Done(Ending::Aborted),
        ("done", Some("tlsfailed")) => Step::Done(Ending::TlsFailed),
        ("done", Some("notresumed")) => Step::Done(Ending::TlsNotResumed),
        ("secured", None) => Step::Secured("TLSv1.3".into(), "TLS13_AES_128_GCM_SHA256".into()),
        ("secured", Some(version)) => Step::Secured(
            version.to_owned(),
            arg(1).ok_or("secured VERSION CIPHER")?.to_owned(),
        ),
        ("tlsfail", None) => Step::TlsFail,
        ("forge", Some("secured")) => Step::Forge(Forge::Secured, ForgeId::Last),
        ("forge", Some("tlsfailed")) => Step::Forge(Forge::TlsFailed, ForgeId::Last),
        ("done", Some("fs")) => Step::Done(Ending::Fs(fs_error(arg(1).unwrap_or(""))?)),
        ("hold", Some(kind)) => Step::Hold(req_kind(kind)?),
        ("release", None) => Step::Release,
        ("fail", Some("fs")) => Step::FailFs(fs_error(arg(1).unwrap_or(""))?),
        ("fail", Some("open")) => Step::FailOpen(fs_error(arg(1).unwrap_or(""))?),
        ("fail", Some("passive")) => Step::FailPassive,
        ("fail", Some("auth")) => Step::FailAuth,
        ("misanswer", Some("fs")) => Step::MisanswerFs,
        ("forge", Some(kind)) => {
            let kind = match kind {
                "fs" => Forge::Fs,
                "auth" => Forge::Auth,
                "passive" => Forge::Passive,
                "connected" => Forge::Connected,
                "connectfail" => Forge::ConnectFail,
                "transfer" => Forge::Transfer,
                "opened" => Forge::Opened,
                other => return Err(format!("unknown forge kind {other}")),
            };
            let id = match arg(1) {
                Some("last") => ForgeId::Last,
                Some(n) => ForgeId::Raw(n.parse().map_err(|_| "bad id")?),
                None => return Err("forge KIND ID".into()),
            };
            Step::Forge(kind, id)
        }
        _ => return Ok(None),
    };
    Ok(Some(step))
}

fn req_kind(word: &str) -> Result<ReqKind, String> {
    match word {
        "fs" => Ok(ReqKind::Fs),
        "auth" => Ok(ReqKind::Auth),
        "passive" => Ok(ReqKind::Passive),
        "open" => Ok(ReqKind::Open),
        _ => Err(format!("unknown request kind {word}")),
    }
}

pub fn fs_error(word: &str) -> Result<FsError, String> {
    Ok(match word {
        "NotFound" => FsError::NotFound,
        "PermissionDenied" => FsError::PermissionDenied,
        "AlreadyExists" => FsError::AlreadyExists,
        "NotADirectory" => FsError::NotADirectory,
        "IsADirectory" => FsError::IsADirectory,
        "DirectoryNotEmpty" => FsError::DirectoryNotEmpty,
        "NoSpace" => FsError::NoSpace,
        "InvalidName" => FsError::InvalidName,
        "Other" => FsError::Other,
        "Unsupported" => FsError::Unsupported,
        "QuotaExceeded" => FsError::QuotaExceeded,
        _ => return Err(format!("unknown FsError {word:?}")),
    })
}

fn parse_setup(setup: &mut Setup, verb: &str, args: &[String]) -> Result<(), String> {
    let arg = |i: usize| {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("{verb}: missing argument"))
    };
    // key=value options after the positional arguments.
    let opt = |key: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
    };
    // A path (or password) may be quoted, for spaces, quotes and empty text.
    let path = |i: usize| -> Result<String, String> {
        let word = arg(i)?;
        if word.starts_with('"') {
            String::from_utf8(bytes_arg(word)?).map_err(|_| "path is not UTF-8".to_owned())
        } else {
            Ok(word.to_owned())
        }
    };
    // `mtime=none`: the storage does not know it (i64::MIN stands for that in the tree).
    let mtime = || {
        opt("mtime")
            .map(|t| {
                if t == "none" {
                    Ok(i64::MIN)
                } else {
                    parse_time(t)
                }
            })
            .transpose()
    };
    let mode = || {
        opt("mode")
            .map(|m| u32::from_str_radix(m, 8).map_err(|_| format!("bad mode {m}")))
            .transpose()
    };
    match verb {
        "file" => setup.tree.push(TreeDecl::File {
            path: path(0)?,
            data: bytes_arg(arg(1)?)?,
            size: opt("size")
                .map(|n| n.parse().map_err(|_| format!("bad size {n}")))
                .transpose()?,
            mtime: mtime()?,
            mode: mode()?,
        }),
        "dir" => setup.tree.push(TreeDecl::Dir {
            path: path(0)?,
            mtime: mtime()?,
            mode: mode()?,
        }),
        "symlink" if arg(1)? == "->" => setup.tree.push(TreeDecl::Symlink {
            path: path(0)?,
            target: path(2)?,
        }),
        "user" => setup.users.push(User {
            name: arg(0)?.to_owned(),
            password: path(1)?,
            write: match arg(2)? {
                "rw" => true,
                "ro" => false,
                other => return Err(format!("user: rw or ro, not {other}")),
            },
            home: opt("home").unwrap_or("/").to_owned(),
        }),
        "config" => set_config(&mut setup.config, arg(0)?, arg(1)?)?,
        "peer" => setup.peer = arg(0)?.parse().map_err(|_| "bad address")?,
        "local" => setup.local = arg(0)?.parse().map_err(|_| "bad address")?,
        "wallclock" => setup.wallclock = parse_time(arg(0)?)?,
        "storage" if arg(0)? == "single-entry" => setup.single_entry = true,
        "implicit" => setup.implicit = true,
        _ => return Err(format!("unknown directive {verb}")),
    }
    Ok(())
}

fn set_config(config: &mut thinftp::Config, key: &str, value: &str) -> Result<(), String> {
    let num = || {
        value
            .parse::<usize>()
            .map_err(|_| format!("{key}: not a number"))
    };
    match key {
        "banner" => config.banner = String::from_utf8(bytes_arg(value)?).map_err(|_| "utf-8")?,
        "max_line_len" => config.max_line_len = num()?,
        "max_pending_input" => config.max_pending_input = num()?,
        "idle_timeout" => config.idle_timeout = parse_duration(value)?,
        "login_timeout" => config.login_timeout = parse_duration(value)?,
        "data_timeout" => config.data_timeout = parse_duration(value)?,
        "login_failure_delay" => config.login_failure_delay = parse_duration(value)?,
        "max_login_failures" => {
            config.max_login_failures = u32::try_from(num()?).map_err(|_| "too big")?
        }
        "max_bad_commands" => {
            config.max_bad_commands = u32::try_from(num()?).map_err(|_| "too big")?
        }
        "max_bad_commands_before_login" => {
            config.max_bad_commands_before_login = u32::try_from(num()?).map_err(|_| "too big")?
        }
        "max_glob_matches" => config.max_glob_matches = num()?,
        "passive_address" => config.passive_address = Some(value.parse().map_err(|_| "bad IP")?),
        "tls.available" => config.tls.available = boolean(value)?,
        "tls.allow_ccc" => config.tls.allow_ccc = boolean(value)?,
        "tls.control" => config.tls.control = requirement(value)?,
        "tls.data" => config.tls.data = requirement(value)?,
        "tls.override" => {
            let (name, required) = value.split_once('=').ok_or("tls.override NAME=BOOL")?;
            config
                .tls
                .user_overrides
                .insert(name.to_owned(), boolean(required)?);
        }
        "tls.anonymous_names" => {
            config.tls.anonymous_names = value.split(',').map(str::to_owned).collect()
        }
        _ => return Err(format!("unknown config key {key}")),
    }
    Ok(())
}

fn boolean(value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("true or false, not {value}")),
    }
}

fn requirement(value: &str) -> Result<thinftp::TlsRequirement, String> {
    match value {
        "optional" => Ok(thinftp::TlsRequirement::Optional),
        "accounts" => Ok(thinftp::TlsRequirement::Accounts),
        "everyone" => Ok(thinftp::TlsRequirement::Everyone),
        _ => Err(format!("optional, accounts or everyone, not {value}")),
    }
}
