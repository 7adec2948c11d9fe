//! The command line shared by every thinftp server binary.

use std::ffi::OsString;
use std::fmt;
use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, ValueEnum};

/// The longest any duration option may be (a year, in seconds): far beyond any useful timeout,
/// and far from where adding it to the clock could overflow.
pub const MAX_DURATION_SECS: u64 = 365 * 24 * 60 * 60;

const AFTER_HELP: &str = "\
With no --user, --users-file or --anonymous, the server serves the root read-only to anonymous
users (names `anonymous` or `ftp`, any password). RUST_LOG (e.g. RUST_LOG=debug) overrides -v/-q.";

/// The options of a thinftp server.
#[derive(Parser, Debug, Clone)]
#[command(
    version,
    about = "An FTP server that serves one directory tree, and nothing outside it.",
    after_help = AFTER_HELP
)]
pub struct Options {
    /// TOML file of options: each key is an option's long name (`passive-ports = "50000-50100"`,
    /// `anonymous = true`; a repeatable option takes an array: `user = ["alice:secret"]`).
    /// Options on the command line win over the file's.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address and port to accept control connections on (repeatable: one listener each).
    /// `[::]:PORT` takes IPv6 and IPv4 clients both. Under systemd socket activation the
    /// sockets systemd passes are used instead.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:2121")]
    pub listen: Vec<SocketAddr>,

    /// Directory to serve; nothing outside it is reachable, not even through symlinks.
    /// Default: the current directory.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// A user who may log in with this password, read-write at the root (repeatable). The
    /// password shows in the process list: prefer --users-file outside of tests.
    #[arg(long = "user", value_name = "NAME:PASSWORD", value_parser = parse_user)]
    pub users: Vec<UserArg>,

    /// TOML file of users with argon2 password hashes, home directories and write access
    /// (`[[user]]` tables: name, password_hash, home, write; and limits: max_rate as --max-rate
    /// takes it, quota_bytes such as "5G", quota_files). Make a hash with --hash-password.
    /// A user may have a storage of its own instead of the server's: `storage =
    /// "s3://BUCKET/PREFIX"` (reached with --s3-endpoint, --s3-region, --s3-path-style and the
    /// AWS_* credentials, as --storage) or `storage = "/srv/ftp/alice"` (a local directory);
    /// its home is then inside that storage. Storages are opened at start and by SIGHUP: one
    /// that cannot be opened stops the start (or the reload), naming the user.
    #[arg(long, value_name = "FILE")]
    pub users_file: Option<PathBuf>,

    /// Also let `anonymous` and `ftp` log in with any password, read-only.
    #[arg(long)]
    pub anonymous: bool,

    /// Let anonymous users upload, delete and rename too (implies --anonymous).
    #[arg(long)]
    pub anonymous_write: bool,

    /// Nobody may change anything, whatever the users file says.
    #[arg(long)]
    pub read_only: bool,

    /// Permission bits (octal) that files and directories the server creates do not get: with
    /// the default 022, new files are rw-r--r-- and new directories rwxr-xr-x. Uploads never
    /// set the setuid, setgid or sticky bits.
    #[arg(long, value_name = "OCTAL", default_value = "022", value_parser = parse_umask)]
    pub umask: u32,

    /// Ports for passive data connections, as FIRST-LAST (default: any free port).
    #[arg(long, value_name = "FIRST-LAST", value_parser = parse_port_range)]
    pub passive_ports: Option<PortRange>,

    /// Most passive listeners one client address (IPv6: its /64) holds at once (PASV/EPSV
    /// beyond it get 425).
    /// Default, and never more than: half of --passive-ports; without a range, no limit beyond
    /// --max-sessions-per-ip. Passive ports are picked at random.
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65536))]
    pub max_passive_per_ip: Option<usize>,

    /// Address to advertise in PASV replies instead of the server's own (behind NAT).
    #[arg(long, value_name = "IP")]
    pub passive_address: Option<IpAddr>,

    /// Most sessions at once; more get "421 Too many connections".
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_sessions: usize,

    /// Most sessions at once from one client address (IPv6: its /64).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_sessions_per_ip: usize,

    /// Seconds without a command before a session is closed; also how long a running transfer
    /// may go without moving a byte (1 to 31536000, a year).
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=MAX_DURATION_SECS))]
    pub idle_timeout: u64,

    /// Microseconds a session keeps polling for the client's next command after it answered,
    /// before its thread sleeps (at most one session per CPU beyond the first polls at once,
    /// and none while a transfer runs): a round trip costs a third as much when the server is
    /// still awake. 0 turns it off.
    #[arg(long, value_name = "MICROS", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub busy_poll: u64,

    /// Seconds to wait for a data connection (PASV accept or PORT connect; 1 to 31536000).
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=MAX_DURATION_SECS))]
    pub data_timeout: u64,

    /// Seconds a session has to log in after it connects, whatever it sends meanwhile (no
    /// command pushes it back); then `421` and close (1 to 31536000).
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=MAX_DURATION_SECS))]
    pub login_timeout: u64,

    /// Failed logins after which a session is closed.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_login_failures: u32,

    // Login defences (auth branch): bans after failed logins, the queue of password checks,
    // and the cap on sessions that have not logged in.
    /// Failed logins from one client address (IPv6: its /64) within --ban-window after which
    /// the address is banned for --ban-time: its logins are refused (421) without checking the
    /// password, a correct one too. 0 turns address bans off.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub ban_after: u32,

    /// Failed logins for one user name, from any address, within --ban-window after which the
    /// name is banned for --ban-time (anyone can ban a name this way, and lock its owner out
    /// meanwhile: keep it above --ban-after). 0 turns name bans off.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub ban_user_after: u32,

    /// Seconds over which failed logins count towards a ban.
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub ban_window: u64,

    /// Seconds a ban lasts.
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub ban_time: u64,

    /// Most password checks (argon2: one per CPU at a time, at most 8) waiting or running at
    /// once; past it, PASS gets 421 at once, without a check.
    #[arg(long, value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_pending_logins: u64,

    /// Most password checks waiting or running at once for one client address (IPv6: its /64).
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_pending_logins_per_ip: u64,

    /// Most sessions at once that have not logged in yet; more get "421 Too many connections",
    /// so that a quarter of --max-sessions stays for those who have. Default: three quarters of
    /// --max-sessions.
    #[arg(long, value_name = "N")]
    pub max_unauthenticated_sessions: Option<usize>,

    /// Bandwidth of the whole server, in bytes per second, shared by all its transfers:
    /// `20M` for each direction, or `down=20M,up=5M` (either part may be left out: no limit
    /// that way). Decimal suffixes K, M, G (20M = 20,000,000); 0 means no limit. Transfers keep
    /// using sendfile/splice, paced chunk by chunk. Listings are not limited.
    #[arg(long, value_name = "RATE", default_value = "0", value_parser = crate::rate::RateLimit::parse)]
    pub max_rate: crate::rate::RateLimit,

    /// Bandwidth of each session, as --max-rate takes it (`10M`, `down=10M,up=1M`). A user's
    /// `max_rate` in the users file replaces it for that user, shared by all of the user's
    /// sessions (`"0"`: unlimited); --max-rate still applies on top.
    #[arg(long, value_name = "RATE", default_value = "0", value_parser = crate::rate::RateLimit::parse)]
    pub max_rate_per_session: crate::rate::RateLimit,

    /// Text of the 220 greeting.
    #[arg(long, value_name = "TEXT")]
    pub banner: Option<String>,

    /// Seconds that running transfers get to finish after SIGINT/SIGTERM (0 to 31536000).
    /// Then every open session gets 421 (a transfer still running is aborted first: 426), and
    /// the exit status is 1 if a transfer was cut short, 0 if all finished in time.
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=MAX_DURATION_SECS))]
    pub shutdown_grace: u64,

    // FTPS (RFC 4217): see the `tls` module and the README, "FTPS".
    /// Offer explicit FTPS: `AUTH TLS` on the control port (needs --tls-cert and --tls-key, or
    /// --tls-self-signed).
    #[arg(long)]
    pub ftps: bool,

    /// Address and port for implicit FTPS (repeatable): TLS first, then the `220`; usually port
    /// 990. Needs a certificate, as --ftps does.
    #[arg(long, value_name = "IP:PORT")]
    pub implicit_listen: Vec<SocketAddr>,

    /// The server's certificate chain (PEM, its own certificate first); read again on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1); read again on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// Generate a self-signed certificate for localhost at start (its SHA-256 fingerprint is
    /// logged), for trying FTPS out; clients must be told not to verify it.
    #[arg(long)]
    pub tls_self_signed: bool,

    /// Ask clients for a certificate signed by a CA of this PEM file (optional for them; the
    /// one given is logged with the handshake).
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,

    /// Who must secure the control connection before logging in (530 otherwise): none,
    /// accounts (everyone but anonymous) or all. A user's `require-tls` in the users file wins.
    #[arg(long, value_name = "WHO", value_enum, default_value = "none")]
    pub tls_required_control: TlsRequired,

    /// Who must protect data connections with `PROT P` (522 otherwise): none, accounts or all.
    #[arg(long, value_name = "WHO", value_enum, default_value = "none")]
    pub tls_required_data: TlsRequired,

    /// Accept `CCC` (back to a clear control connection after login, for NAT helpers). curl's
    /// default `--ftp-ssl-ccc-mode passive` leaves its TLS session unresumable, so its data
    /// connections need `--tls-no-session-reuse-required` (or curl's active mode).
    #[arg(long)]
    pub tls_allow_ccc: bool,

    /// Take `PROT P` data connections that do not resume the control connection's TLS session.
    /// By default they are refused (522), as vsftpd's `require_ssl_reuse`, so that nobody else
    /// can connect in the client's place. Needed for clients that cannot resume: Python
    /// ftplib's plain `FTP_TLS`, `curl --no-sessionid`, and some older FileZilla and WinSCP
    /// settings (rclone with more than one connection: --tls-reuse-same-user is enough).
    #[arg(long)]
    pub tls_no_session_reuse_required: bool,

    /// A PROT P data connection may also resume the TLS session of another open control
    /// connection of the same user from the same address: for rclone with more than one
    /// connection (it shares one session cache among them), safer than
    /// --tls-no-session-reuse-required.
    #[arg(long)]
    pub tls_reuse_same_user: bool,

    /// Log more (-v: debug, -vv: trace).
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,

    /// Log less (-q: warnings and errors, -qq: errors only).
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    /// Read a password from standard input, print its argon2 hash for a users file, and exit.
    #[arg(long)]
    pub hash_password: bool,

    // Object storage (s3 branch): serve a bucket instead of --root.
    /// Serve the S3 bucket BUCKET (only the keys under PREFIX, if given) instead of the local
    /// directory --root. Credentials come from the environment only: AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), never from the command line. Directories
    /// are key prefixes with an empty marker object; STOR is a multipart upload that appears
    /// only once complete; RNFR/RNTO copies then deletes (a non-empty directory is refused);
    /// APPE, REST+STOR, MFMT, SITE CHMOD and AVBL get 502. Default: --root.
    #[arg(long, value_name = "s3://BUCKET/PREFIX", value_parser = crate::object_store::S3Location::parse)]
    pub storage: Option<crate::object_store::S3Location>,

    /// With --storage (and for users-file storages on s3://): URL of the S3 service, for
    /// S3-compatible servers (`http://127.0.0.1:9000`). Default: AWS, from the region.
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// With --storage (and users-file storages on s3://): the S3 region. Default: AWS_REGION,
    /// else us-east-1.
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,

    /// With --storage (and users-file storages on s3://): path-style S3 requests
    /// (ENDPOINT/BUCKET/KEY) if true, virtual-hosted ones
    /// (BUCKET.ENDPOINT/KEY) if false. Default: path-style with --s3-endpoint (what
    /// S3-compatible servers expect), virtual-hosted on AWS.
    #[arg(long, value_name = "BOOL")]
    pub s3_path_style: Option<bool>,

    /// Load balancers (HAProxy with send-proxy or send-proxy-v2) in front of this server, as
    /// networks or addresses (10.0.0.0/8,192.0.2.7): a control or passive data connection from
    /// one must start with a PROXY protocol header (v1 or v2, within 5 s), and the client it
    /// names is the one limits, bans, logs and the data-connection check see. From any other
    /// address a PROXY header is not understood (it is a bad command). Behind one, give every
    /// node the shared public address (--passive-address) and a passive range of its own
    /// (--passive-ports), and forward those ports with PROXY headers too.
    #[arg(long, value_name = "CIDR,...", value_delimiter = ',',
          value_parser = crate::proxy_protocol::parse_net)]
    pub proxy_protocol_from: Vec<ipnet::IpNet>,
    // Observability (metrics branch): Prometheus metrics and the transfer log.
    /// Serve Prometheus metrics (text format) at http://IP:PORT/metrics: sessions, logins,
    /// commands, transfers, data connections, storage errors. Bind it where only the scraper
    /// reaches it (127.0.0.1, or a private network): it has no authentication.
    #[arg(long, value_name = "IP:PORT")]
    pub metrics_listen: Option<SocketAddr>,

    /// Append one line per finished upload and download to FILE (xferlog or JSON: see
    /// --transfer-log-format), written in the background. SIGHUP reopens it (for logrotate).
    #[arg(long, value_name = "FILE")]
    pub transfer_log: Option<PathBuf>,

    /// Format of --transfer-log: `xferlog` (wu-ftpd/vsftpd, what log analysers and fail2ban
    /// read; times in UTC) or `json` (one object per line: time, session, client, user, path,
    /// direction, type, bytes, seconds, status).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = crate::observe::transfer_log::Format::Xferlog)]
    pub transfer_log_format: crate::observe::transfer_log::Format,

    // Several nodes on one local directory (s3nodes branch).
    /// This node's name in its temporary upload files (`.thinftp-part.ID.*`): at start-up a
    /// node removes only its own that a crash left, never the running uploads of other nodes
    /// serving the same directory (a shared file system behind a load balancer). Give every
    /// node on a shared directory its own ID, also two on one machine. Letters, digits, `-`, `_`.
    /// Default: the host name.
    #[arg(long, value_name = "ID", value_parser = crate::storage::parse_node_id)]
    pub node_id: Option<String>,

    /// Local directories: STOR of a new file also writes a temporary file and renames it when
    /// the upload ends cleanly, so that a broken upload, or a node killed mid-upload, leaves
    /// nothing at the name (as on an object store). The price: a broken upload of a new file
    /// keeps none of its bytes, so a client cannot resume it with REST+STOR or APPE and must
    /// start again (APPE and REST+STOR of a file that exists are not changed by this). Default:
    /// a new file is written in place and a broken upload keeps what arrived, to be resumed.
    #[arg(long)]
    pub atomic_uploads: bool,
}

impl Options {
    /// Parses the process's arguments, with `bin` as the program name in `--help`; prints help or
    /// an error and exits when asked or when they are invalid.
    pub fn parse_for(bin: &'static str) -> Options {
        Options::parse_with_config(bin, std::env::args_os().collect()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `args` (the first is the program name) and, when they name one, the `--config`
    /// file: its keys count as if given before the command line, except for the options the
    /// command line gives itself (a repeatable one given there replaces the file's list).
    pub fn parse_with_config(
        bin: &'static str,
        args: Vec<OsString>,
    ) -> Result<Options, OptionsError> {
        let command = Options::command().name(bin).bin_name(bin);
        let matches = crate::config::merge::matches(&command, &args)?;
        Ok(Options::from_arg_matches(&matches)?)
    }

    /// Parses `args` (the first is the program name), for tests.
    pub fn try_parse_args<I, T>(args: I) -> Result<Options, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Options::try_parse_from(args)
    }

    /// The session settings these options ask for.
    pub fn config(&self) -> thinftp::Config {
        let mut config = thinftp::Config::default();
        if let Some(banner) = &self.banner {
            config.banner = banner.clone();
        }
        config.idle_timeout = Duration::from_secs(self.idle_timeout);
        config.data_timeout = Duration::from_secs(self.data_timeout);
        config.login_timeout = Duration::from_secs(self.login_timeout);
        config.max_login_failures = self.max_login_failures;
        config.passive_address = self.passive_address;
        config.tls.control = self.tls_required_control.requirement();
        config.tls.data = self.tls_required_data.requirement();
        config.tls.allow_ccc = self.tls_allow_ccc;
        config
    }

    /// The bucket to serve, with --s3-endpoint, --s3-region and --s3-path-style; `None`: the
    /// local directory.
    pub fn s3_location(&self) -> Option<crate::object_store::S3Location> {
        let mut location = self.storage.clone()?;
        location.endpoint.clone_from(&self.s3_endpoint);
        location.region.clone_from(&self.s3_region);
        location.path_style = self.s3_path_style;
        Some(location)
    }

    /// How local directories are written: --umask, --node-id, --atomic-uploads.
    pub fn local_settings(&self) -> crate::storage::LocalSettings {
        crate::storage::LocalSettings {
            umask: self.umask,
            node_id: self
                .node_id
                .clone()
                .unwrap_or_else(crate::storage::default_node_id),
            atomic_uploads: self.atomic_uploads,
        }
    }

    /// The ban policy these options ask for (auth branch).
    pub fn ban_policy(&self) -> crate::bans::BanPolicy {
        crate::bans::BanPolicy {
            per_address: self.ban_after,
            per_user: self.ban_user_after,
            window: Duration::from_secs(self.ban_window),
            ban_for: Duration::from_secs(self.ban_time),
        }
    }

    /// The cap on sessions that have not logged in (auth branch).
    pub fn unauthenticated_cap(&self) -> usize {
        self.max_unauthenticated_sessions
            .unwrap_or(self.max_sessions - self.max_sessions / 4)
            .max(1)
    }

    /// The log level asked for: 0 is the default (info), positive is more, negative less.
    pub fn verbosity(&self) -> i8 {
        i8::try_from(i16::from(self.verbose) - i16::from(self.quiet)).unwrap_or(0)
    }

    /// Carries out an option that does something other than serving (`--hash-password`) and
    /// returns the exit code; `None` when the server should start.
    pub fn run_utility(&self) -> Option<ExitCode> {
        if !self.hash_password {
            return None;
        }
        let mut line = String::new();
        if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
            eprintln!("cannot read the password from standard input: {e}");
            return Some(ExitCode::FAILURE);
        }
        let password = line.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            eprintln!("no password given on standard input");
            return Some(ExitCode::FAILURE);
        }
        match crate::auth::hash_password(password) {
            Ok(hash) => {
                println!("{hash}");
                Some(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("cannot hash the password: {e}");
                Some(ExitCode::FAILURE)
            }
        }
    }
}

/// Why the options could not be read: the command line, or the config file it names.
#[derive(Debug)]
pub enum OptionsError {
    /// The command line is wrong, or asks for help or the version.
    Cli(clap::Error),
    /// The config file cannot be read or holds a bad key or value.
    Config(crate::config::ConfigError),
}

impl OptionsError {
    /// Prints the error (or the help asked for) and exits: status 0 for help and version, 2 for
    /// an error, as clap does.
    pub fn exit(self) -> ! {
        match self {
            OptionsError::Cli(e) => e.exit(),
            OptionsError::Config(e) => {
                eprintln!("error: {e}");
                std::process::exit(2)
            }
        }
    }
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionsError::Cli(e) => write!(f, "{}", crate::config::file::clap_message(e)),
            OptionsError::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for OptionsError {}

impl From<clap::Error> for OptionsError {
    fn from(e: clap::Error) -> Self {
        OptionsError::Cli(e)
    }
}

impl From<crate::config::ConfigError> for OptionsError {
    fn from(e: crate::config::ConfigError) -> Self {
        OptionsError::Config(e)
    }
}

/// A `--user NAME:PASSWORD` argument. Its `Debug` hides the password.
#[derive(Clone)]
pub struct UserArg {
    /// The user name.
    pub name: String,
    /// The clear-text password.
    pub password: String,
}

impl fmt::Debug for UserArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserArg")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn parse_user(arg: &str) -> Result<UserArg, String> {
    match arg.split_once(':') {
        Some((name, password)) if !name.is_empty() => Ok(UserArg {
            name: name.to_owned(),
            password: password.to_owned(),
        }),
        _ => Err("expected NAME:PASSWORD".to_owned()),
    }
}

fn parse_umask(arg: &str) -> Result<u32, String> {
    match u32::from_str_radix(arg, 8) {
        Ok(mask) if mask <= 0o777 => Ok(mask),
        _ => Err("expected an octal mask from 000 to 777, such as 022".to_owned()),
    }
}

/// A `--passive-ports FIRST-LAST` range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (inclusive).
    pub last: u16,
}

impl PortRange {
    /// The ports as a range.
    pub fn range(&self) -> RangeInclusive<u16> {
        self.first..=self.last
    }
}

fn parse_port_range(arg: &str) -> Result<PortRange, String> {
    let (first, last) = arg.split_once('-').unwrap_or((arg, arg));
    let port = |s: &str| {
        s.trim()
            .parse::<u16>()
            .map_err(|_| format!("invalid port {s:?}"))
    };
    let (first, last) = (port(first)?, port(last)?);
    if first == 0 || first > last {
        return Err("expected FIRST-LAST with 0 < FIRST <= LAST".to_owned());
    }
    Ok(PortRange { first, last })
}

impl TlsRequired {
    /// The core's name for it.
    pub fn requirement(self) -> thinftp::TlsRequirement {
        match self {
            TlsRequired::None => thinftp::TlsRequirement::Optional,
            TlsRequired::Accounts => thinftp::TlsRequirement::Accounts,
            TlsRequired::All => thinftp::TlsRequirement::Everyone,
        }
    }
}

/// Who a TLS requirement applies to (`--tls-required-control`, `--tls-required-data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsRequired {
    /// Nobody: TLS is offered, not required.
    None,
    /// Every user but the anonymous ones.
    Accounts,
    /// Everyone, anonymous users too.
    All,
}
