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
use crate::busy_poll::{BusyPoll, Polling};
use crate::cli::Options;
use crate::limits::{self, Limits, SessionGuard};
use crate::passive::PassivePorts;
use crate::shutdown::{ActiveTransfers, Shutdown, TransferGuard};
use crate::storage::Storage;
use crate::transfer::{run_transfer, AbortHandle};

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
        let storage = Storage::open_with_umask(&root, options.umask)
            .map_err(|e| StartupError::Root(root.clone(), e))?;
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
            users.allow_anonymous(Permissions {
                home: thinftp::VirtualPath::root(),
                write,
            });
        }
        if options.read_only {
            users.make_read_only();
        }
        let range = options.passive_ports.map(|r| r.range());
        Ok(Host {
            storage,
            users,
            limits: Limits::new(options.max_sessions, options.max_sessions_per_ip),
            passive: PassivePorts::new(range, options.max_passive_per_ip),
            config: options.config(),
            shutdown: Shutdown::new(),
            transfers: ActiveTransfers::default(),
            shutdown_grace: Duration::from_secs(options.shutdown_grace),
            next_session: AtomicU64::new(1),
            default_anonymous,
            busy_poll: BusyPoll::new(Duration::from_micros(options.busy_poll)),
        })
    }

    /// The server's first log line: `bin` listens on `addr`, and what it serves to whom. (Tests
    /// read the address from it: it follows "listening on " and ends with ": ".)
    pub fn startup_line(&self, bin: &str, addr: SocketAddr) -> String {
        format!("{bin} listening on {addr}: {}", self.describe())
    }

    /// Warns about each user whose home directory is missing now (such a login is refused, see
    /// [`SessionStorage`](crate::SessionStorage)). Called after the first log line, which
    /// tests read the address from.
    pub fn warn_missing_homes(&self) {
        for (name, permissions) in self.users.named() {
            if self.storage.for_home(&permissions.home).is_err() {
                tracing::warn!(user = ?name, home = %permissions.home, "home directory is missing: this user cannot log in");
            }
        }
    }

    /// Removes the temporary upload files a crash left beneath the root (bounded: see
    /// [`Storage::remove_stale_temp_files`]) and logs how many. Call it at start-up, after the
    /// first log line and before any session runs.
    pub fn remove_stale_uploads(&self) {
        let cleanup = self
            .storage
            .remove_stale_temp_files(crate::upload::STALE_SCAN_ENTRIES);
        if cleanup.removed > 0 {
            tracing::info!(
                removed = cleanup.removed,
                "removed temporary files of uploads a previous run left"
            );
        }
        if !cleanup.complete {
            tracing::warn!(
                entries = crate::upload::STALE_SCAN_ENTRIES,
                "stopped looking for stale temporary upload files: the tree is too big"
            );
        }
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

    /// The storage beneath the root (a session works beneath its user's home instead: see
    /// [`SessionStorage`](crate::SessionStorage)).
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
            // The process exits with these uploads still running: their temporary files would
            // stay behind (no upload's own cleanup runs after `main` returns).
            let removed = self.storage.remove_unfinished_uploads();
            tracing::warn!(
                running = self.transfers.count(),
                removed_temp_files = removed,
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

    /// Carries out a filesystem request beneath `storage` (the session's, see
    /// [`SessionStorage`](crate::SessionStorage)), blocking.
    pub fn fs(&self, storage: &Storage, op: &FsOp) -> Result<FsReply, FsError> {
        let result = storage.execute(op);
        tracing::debug!(?op, ok = result.is_ok(), "fs");
        result
    }

    /// Checks a login (blocking, slow on purpose) and logs the outcome, never the password. Call
    /// it inside the session's span: on success the user is recorded in it.
    pub fn authenticate(&self, user: &str, password: &str) -> AuthResult {
        let result = self.users.check(user, password);
        match &result {
            AuthResult::Accepted(p) => {
                tracing::Span::current().record("user", user);
                tracing::info!(user = ?user, home = %p.home, write = p.write, "login accepted");
            }
            AuthResult::Refused => tracing::warn!(user = ?user, "login refused"),
        }
        result
    }

    /// Whether [`authenticate`](Self::authenticate) of `user` is quick enough to run on an event
    /// loop (see [`Users::check_is_quick`](crate::auth::Users::check_is_quick)).
    pub fn authenticate_is_quick(&self, user: &str) -> bool {
        self.users.check_is_quick(user)
    }

    /// Binds a passive data listener on `ip` for a session of the client at `client`, at a random
    /// port of the range (blocking, quick), and returns it with its address (for
    /// [`Input::PassiveListening`](thinftp::Input)). Fails when `client` already holds
    /// `--max-passive-per-ip` listeners (they count until the session drops them).
    pub fn open_passive(
        &self,
        client: IpAddr,
        ip: IpAddr,
    ) -> io::Result<(TcpListener, SocketAddr)> {
        let listener = self.passive.bind(client, ip)?;
        let addr = listener.local_addr()?;
        Ok((listener, addr))
    }

    /// Connects to a client's active-mode address, waiting at most the data timeout (blocking).
    pub fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_timeout(&addr, self.config.data_timeout)
    }

    /// Runs a transfer beneath `storage` (the session's) to its end (blocking) and logs it: see
    /// [`run_transfer`]. A transfer that
    /// moves no byte for the idle timeout fails with
    /// [`ConnectionLost`](TransferError::ConnectionLost). [`drain`](Self::drain) waits for it
    /// only under a guard from [`enter_transfer`](Self::enter_transfer) (which
    /// [`work::Transfers`](crate::work::Transfers) takes).
    pub fn run_transfer(
        &self,
        storage: &Storage,
        kind: &TransferKind,
        stream: TcpStream,
        abort: &AbortHandle,
    ) -> Result<u64, TransferError> {
        let stall = Some(self.config.idle_timeout);
        let _ = stream.set_read_timeout(stall);
        let _ = stream.set_write_timeout(stall);
        let started = Instant::now();
        let result = run_transfer(storage, kind, stream, abort);
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
