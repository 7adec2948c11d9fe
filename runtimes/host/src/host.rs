//! [`Host`]: everything a runtime needs outside its event loop, built once from the options.

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use thinftp::{
    AuthResult, Config, FsError, FsOp, FsReply, Permissions, Session, TransferError, TransferKind,
};
use tracing::Span;

use crate::auth::{Users, UsersError};
use crate::bans::{Banned, Bans};
use crate::busy_poll::{BusyPoll, Polling};
use crate::cli::Options;
use crate::limits::{self, Limits, SessionGuard};
use crate::passive::PassivePorts;
use crate::shutdown::{ActiveTransfers, Shutdown, TransferGuard};
use crate::storage::Storage;
use crate::throttle::Throttle;
use crate::transfer::{run_transfer, AbortHandle};

/// At most one "login refused" (or "login queue full") warning per this long; the next one
/// says how many were left out.
const LOGIN_WARN_EVERY: Duration = Duration::from_secs(5);

/// How long to pause after a failed `accept` before the next one, so that a lasting error (out
/// of file descriptors) does not make the accept loop spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// The storage, users, limits and settings shared by every session of a server. Runtimes keep
/// one in an `Arc` and call its blocking methods off their event loop.
#[derive(Debug)]
pub struct Host {
    storage: Storage,
    users: Users,
    limits: Limits,
    passive: PassivePorts,
    config: Config,
    shutdown: Shutdown,
    transfers: ActiveTransfers,
    shutdown_grace: Duration,
    next_session: AtomicU64,
    default_anonymous: bool,
    busy_poll: BusyPoll,
    bans: Bans,
    refused_log: Throttle,
    queue_full_log: Throttle,
}

/// Why a server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartupError {
    /// The root directory could not be opened.
    Root(PathBuf, io::Error),
    /// The users could not be loaded.
    Users(UsersError),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::Root(path, e) => write!(f, "cannot open root {}: {e}", path.display()),
            StartupError::Users(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StartupError {}

/// A control connection let in by [`Host::admit`]: keep it for as long as the session runs.
#[derive(Debug)]
#[must_use = "the session's place is freed when the admission is dropped"]
pub struct Admission {
    /// The session's id, for logs and thread names.
    pub id: u64,
    /// The session's span ([`logging::session_span`](crate::logging::session_span)): run the
    /// session inside it, and enter it on every thread that works for the session.
    pub span: Span,
    /// The session's place within the limits, freed when dropped.
    pub guard: SessionGuard,
}

impl From<UsersError> for StartupError {
    fn from(e: UsersError) -> Self {
        StartupError::Users(e)
    }
}

impl Host {
    /// Opens the root and loads the users the options name. With no user options at all, anonymous
    /// users get read-only access.
    pub fn from_options(options: &Options) -> Result<Host, StartupError> {
        let root = match &options.root {
            Some(root) => root.clone(),
            None => std::env::current_dir().map_err(|e| StartupError::Root(".".into(), e))?,
        };
        let storage = Storage::open(&root).map_err(|e| StartupError::Root(root.clone(), e))?;
        let mut users = Users::new();
        for user in &options.users {
            users.add_plain(&user.name, &user.password, Permissions::read_write())?;
        }
        if let Some(path) = &options.users_file {
            users.load_file(path)?;
        }
        let default_anonymous = users.named_count() == 0 && !options.anonymous;
        if options.anonymous || options.anonymous_write || default_anonymous {
            let write = options.anonymous_write;
            users.allow_anonymous(Permissions::new(thinftp::VirtualPath::root(), write));
        }
        if options.read_only {
            users.make_read_only();
        }
        let bound = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        users.set_queue_bounds(
            bound(options.max_pending_logins),
            bound(options.max_pending_logins_per_ip),
        );
        users.reserve_hash_memory();
        for (name, permissions) in users.named() {
            if !matches!(storage.stat(&permissions.home), Ok(m) if m.is_dir()) {
                tracing::warn!(user = ?name, home = %permissions.home, "home directory is missing");
            }
        }
        let range = options.passive_ports.map(|r| r.range());
        Ok(Host {
            storage,
            users,
            limits: Limits::with_max_unauthenticated(
                options.max_sessions,
                options.max_sessions_per_ip,
                options.unauthenticated_cap(),
            ),
            passive: PassivePorts::new(range),
            config: options.config(),
            shutdown: Shutdown::new(),
            transfers: ActiveTransfers::default(),
            shutdown_grace: Duration::from_secs(options.shutdown_grace),
            next_session: AtomicU64::new(1),
            default_anonymous,
            busy_poll: BusyPoll::new(Duration::from_micros(options.busy_poll)),
            bans: Bans::new(options.ban_policy()),
            refused_log: Throttle::new(LOGIN_WARN_EVERY),
            queue_full_log: Throttle::new(LOGIN_WARN_EVERY),
        })
    }

    /// The server's first log line: `bin` listens on `addr`, and what it serves to whom. (Tests
    /// read the address from it: it follows "listening on " and ends with ": ".)
    pub fn startup_line(&self, bin: &str, addr: SocketAddr) -> String {
        format!("{bin} listening on {addr}: {}", self.describe())
    }

    /// One line on what is served to whom, for the first log line.
    pub fn describe(&self) -> String {
        let root = self.storage.root().display();
        if self.default_anonymous {
            return format!(
                "serving {root} read-only to anonymous users (no --user, --users-file or \
                 --anonymous given)"
            );
        }
        let named = self.users.named_count();
        let writers = self.users.named().filter(|(_, p)| p.write).count();
        let anonymous = match self.users.anonymous() {
            None => "no anonymous access",
            Some(p) if p.write => "anonymous read-write",
            Some(_) => "anonymous read-only",
        };
        format!("serving {root} to {named} user(s) ({writers} read-write), {anonymous}")
    }

    /// The storage beneath the root.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The settings for each new [`Session`](thinftp::Session).
    pub fn session_config(&self) -> Config {
        self.config.clone()
    }

    /// A new session id, for logs.
    pub fn next_session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Admits a session from `ip`, or `None` when a limit is reached: then send
    /// [`limits::reject`](crate::limits::reject) and close the connection at once.
    /// [`admit`](Self::admit) does all of that.
    pub fn try_admit(&self, ip: IpAddr) -> Option<SessionGuard> {
        let guard = self.limits.try_acquire(ip);
        if guard.is_none() {
            tracing::warn!(%ip, "too many sessions: refused with 421");
        }
        guard
    }

    /// Sessions admitted and not yet ended.
    pub fn active_sessions(&self) -> usize {
        self.limits.active()
    }

    /// Lets the control connection `conn` from `peer` in, or turns it away: over a limit it is
    /// sent `421` ([`limits::reject`]) and `None` is returned; the caller then drops the
    /// connection at once. Once admitted, the connection's socket options are set
    /// ([`socket::prepare_control`](crate::socket::prepare_control)) and the session gets an id
    /// and a span. A non-blocking `conn` is fine: the `421` fits an empty send buffer.
    pub fn admit<C: Write + AsFd>(&self, peer: SocketAddr, conn: &mut C) -> Option<Admission> {
        let Some(guard) = self.try_admit(peer.ip()) else {
            limits::reject(conn);
            return None;
        };
        crate::socket::prepare_control(conn);
        let id = self.next_session_id();
        let span = crate::logging::session_span(id, peer);
        Some(Admission { id, span, guard })
    }

    /// The session of the admitted control connection `control` from `peer`, with its `220`
    /// greeting queued; `None` (logged) when the connection is already gone. Call it inside the
    /// session's span.
    pub fn new_session(&self, control: &TcpStream, peer: SocketAddr) -> Option<Session> {
        let local = match control.local_addr() {
            Ok(local) => local,
            Err(e) => {
                tracing::debug!("control connection gone: {e}");
                return None;
            }
        };
        tracing::debug!("connected");
        Some(Session::new(
            self.session_config(),
            peer,
            local,
            Instant::now(),
        ))
    }

    /// Starts a session's busy-polling window after it answered, if polling is on, no transfer
    /// is running in the process and a place is free (see [`busy_poll`](crate::busy_poll)).
    pub fn busy_poll(&self) -> Option<Polling> {
        // While data moves, the CPUs are busy moving it: a polling thread would take a CPU from
        // the transfers (measured: bursts of 200 sessions downloading at once).
        if self.transfers.count() > 0 {
            return None;
        }
        self.busy_poll.start()
    }

    /// How long writing a reply may take: a client that does not read its replies for the idle
    /// timeout is gone, and its session ends.
    pub fn reply_timeout(&self) -> Duration {
        self.config.idle_timeout
    }

    /// Logs a failed `accept` of a control connection and returns how long to pause before the
    /// next one. Such errors (out of file descriptors, a connection reset before it was
    /// accepted) do not stop the server.
    pub fn accept_failed(&self, e: &io::Error) -> Duration {
        tracing::warn!("accept failed: {e}");
        ACCEPT_PAUSE
    }

    /// The shutdown flag: raised by SIGINT/SIGTERM once
    /// [`install_signal_handler`](Shutdown::install_signal_handler) was called.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// After shutdown was asked for and accepting stopped (it logs so): blocks until every
    /// transfer has finished and its final reply is written, or the grace period
    /// (`--shutdown-grace`) has passed. Sessions must keep running meanwhile, so that they can
    /// write those replies. Returns whether everything finished in time.
    ///
    /// A transfer counts from [`enter_transfer`](Self::enter_transfer) (which
    /// [`Transfers::start`](crate::work::Transfers::start) calls) until every clone of its guard
    /// is dropped: the one in the [`Work`](crate::work::Work) once the bytes are moved, the one
    /// the session keeps once the final reply is written.
    pub fn drain(&self) -> bool {
        tracing::info!("no longer accepting connections");
        let running = self.transfers.count();
        if running > 0 {
            tracing::info!(running, grace = ?self.shutdown_grace, "waiting for transfers");
        }
        let finished = self.transfers.wait_idle(self.shutdown_grace);
        if !finished {
            tracing::warn!(
                running = self.transfers.count(),
                "grace period over: exiting anyway"
            );
        }
        finished
    }

    /// Counts a transfer for [`drain`](Self::drain) until the guard (and every clone of it) is
    /// dropped. Take it when the transfer starts and hold it until its final reply (`226`,
    /// `426`, ...) is written.
    pub fn enter_transfer(&self) -> TransferGuard {
        self.transfers.enter()
    }

    /// Carries out a filesystem request (blocking).
    pub fn fs(&self, op: &FsOp) -> Result<FsReply, FsError> {
        let result = self.storage.execute(op);
        tracing::debug!(?op, ok = result.is_ok(), "fs");
        result
    }

    /// Checks a login (blocking, slow on purpose) and logs the outcome, never the password. Call
    /// it inside the session's span: on success the user is recorded in it. Without a session
    /// (see [`authenticate_session`](Self::authenticate_session)) only name bans apply and the
    /// queue of checks is bounded in total only.
    pub fn authenticate(&self, user: &str, password: &str) -> AuthResult {
        self.check_login(None, user, password)
    }

    /// [`authenticate`](Self::authenticate) for the admitted session `session` (a clone of its
    /// guard is held by the work, so the session keeps its place until the check ends): its
    /// address counts for bans and for the queue of password checks. A banned address or name,
    /// or a full queue, gets [`AuthResult::Unavailable`] at once, without a check. Success
    /// marks the session as logged in (see [`SessionGuard::logged_in`]).
    pub fn authenticate_session(
        &self,
        session: &SessionGuard,
        user: &str,
        password: &str,
    ) -> AuthResult {
        let result = self.check_login(Some(session.ip_group()), user, password);
        if matches!(result, AuthResult::Accepted(_)) {
            session.logged_in();
        }
        result
    }

    fn check_login(&self, ip: Option<IpAddr>, user: &str, password: &str) -> AuthResult {
        let now = Instant::now();
        if let Some(banned) = self.bans.banned(now, ip, user) {
            // Logged when the ban started; each refusal only at debug level.
            tracing::debug!(user = ?user, ?banned, "login refused: banned");
            return AuthResult::Unavailable;
        }
        let result = self.users.check_queued(ip, user, password);
        match &result {
            AuthResult::Accepted(p) => {
                tracing::Span::current().record("user", user);
                tracing::info!(user = ?user, home = %p.home, write = p.write, "login accepted");
            }
            AuthResult::Refused => {
                if let Some(suppressed) = self.refused_log.admit(now) {
                    tracing::warn!(user = ?user, suppressed, "login refused");
                }
                for banned in self.bans.failed(now, ip, user) {
                    let secs = self.bans_time().as_secs();
                    match banned {
                        Banned::Address(ip) => tracing::warn!(
                            %ip, "too many failed logins from this address: banned for {secs} s"
                        ),
                        Banned::User(name) => tracing::warn!(
                            user = ?name, "too many failed logins for this user: banned for {secs} s"
                        ),
                    }
                }
            }
            AuthResult::Unavailable => {
                if let Some(suppressed) = self.queue_full_log.admit(now) {
                    tracing::warn!(user = ?user, suppressed, "too many password checks waiting: 421");
                }
            }
            other => tracing::warn!(?other, "unknown answer to a login"),
        }
        result
    }

    fn bans_time(&self) -> Duration {
        self.bans.ban_time()
    }

    /// Whether [`authenticate`](Self::authenticate) of `user` is quick enough to run on an event
    /// loop (see [`Users::check_is_quick`](crate::auth::Users::check_is_quick)).
    pub fn authenticate_is_quick(&self, user: &str) -> bool {
        self.users.check_is_quick(user)
    }

    /// Binds a passive data listener on `ip` within the port range (blocking, quick), and
    /// returns it with its address (for [`Input::PassiveListening`](thinftp::Input)).
    pub fn open_passive(&self, ip: IpAddr) -> io::Result<(TcpListener, SocketAddr)> {
        let listener = self.passive.bind(ip)?;
        let addr = listener.local_addr()?;
        Ok((listener, addr))
    }

    /// Connects to a client's active-mode address, waiting at most the data timeout (blocking).
    pub fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_timeout(&addr, self.config.data_timeout)
    }

    /// Runs a transfer to its end (blocking) and logs it: see [`run_transfer`]. A transfer that
    /// moves no byte for the idle timeout fails with
    /// [`ConnectionLost`](TransferError::ConnectionLost). [`drain`](Self::drain) waits for it
    /// only under a guard from [`enter_transfer`](Self::enter_transfer) (which
    /// [`work::Transfers`](crate::work::Transfers) takes).
    pub fn run_transfer(
        &self,
        kind: &TransferKind,
        stream: TcpStream,
        abort: &AbortHandle,
    ) -> Result<u64, TransferError> {
        let stall = Some(self.config.idle_timeout);
        let _ = stream.set_read_timeout(stall);
        let _ = stream.set_write_timeout(stall);
        let started = Instant::now();
        let result = run_transfer(&self.storage, kind, stream, abort);
        log_transfer(kind, &result, started.elapsed());
        result
    }
}

fn log_transfer(kind: &TransferKind, result: &Result<u64, TransferError>, took: Duration) {
    let (what, path) = match kind {
        TransferKind::SendFile { path, .. } => ("sent", path.as_str()),
        TransferKind::ReceiveFile { path, .. } => ("received", path.as_str()),
        _ => {
            tracing::debug!(?result, ?took, "listing sent");
            return;
        }
    };
    let secs = took.as_secs_f64();
    match result {
        Ok(bytes) => {
            #[allow(clippy::cast_precision_loss)] // a rate for people to read
            let rate = if secs > 0.0 {
                *bytes as f64 / secs / 1e6
            } else {
                0.0
            };
            tracing::info!(
                path,
                bytes,
                ?took,
                rate = format_args!("{rate:.1} MB/s"),
                "{what}"
            );
        }
        Err(e) => tracing::info!(path, error = ?e, ?took, "{what}: failed"),
    }
}
