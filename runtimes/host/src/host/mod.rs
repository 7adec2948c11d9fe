//! [`Host`]: what every session of a server shares, built once from the options: the storage,
//! the users, [who gets in](Gate), [shutdown](crate::shutdown::Lifecycle), passive ports, busy polling and
//! the sessions' settings, each a part of its own.

mod admission;
mod logins;
mod user_storages;

pub use admission::{Admission, Gate};

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use thinftp::{AuthResult, Config, FsError, FsOp, FsReply, Permissions, Session};

use crate::auth::{Users, UsersError};
use crate::limits::SessionGuard;

use self::logins::Logins;
use self::user_storages::UserStorages;
use crate::busy_poll::{BusyPoll, Polling};
use crate::cli::Options;
use crate::observe::Observe;
use crate::passive::PassivePorts;
use crate::proxy_protocol::TrustedProxies;
use crate::quota::{Quotas, Usage};
use crate::rate::RateLimit;
use crate::session_limits::RateBuckets;
use crate::shutdown::Lifecycle;
use crate::storage::{execute_checked, LocalStorage, Storage, STALE_SCAN_ENTRIES};
use crate::tls::{SessionTls, Tls};
use crate::user_rates::UserRates;

/// The storage, users, limits and settings shared by every session of a server. Runtimes keep
/// one in an `Arc` and call its blocking methods off their event loop.
#[derive(Debug)]
pub struct Host {
    /// The files, beneath the root.
    storage: Arc<dyn Storage>,
    /// The storages of their own that users of the users file have.
    user_storages: UserStorages,
    /// Who may log in, and how; bans and the queue of password checks.
    logins: Logins,
    /// Anonymous read-only access because no user was named: said so in the first log line.
    default_anonymous: AtomicBool,
    /// Who gets in: session limits, ids and spans.
    admission: Gate,
    /// Shutdown: the flag, the transfers it waits for, the grace period.
    lifecycle: Lifecycle,
    /// Where passive listeners bind.
    passive: PassivePorts,
    /// How long sessions poll before they sleep.
    busy_poll: BusyPoll,
    /// The settings of each new session (replaced by a reload).
    config: RwLock<Config>,
    /// FTPS, when it is on: the certificate and each session's TLS configuration.
    tls: Option<Tls>,
    /// The local addresses of the implicit FTPS listeners (`--implicit-listen`), as bound.
    implicit: RwLock<Vec<SocketAddr>>,
    /// Bandwidth: the server's buckets (`--max-rate`) and the rate of each new session
    /// (`--max-rate-per-session`), replaced by a reload when they change.
    rates: RwLock<(RateBuckets, RateLimit)>,
    /// Every user's quota usage.
    quotas: Quotas,
    /// The rate buckets of the users logged in whose users-file entry has a `max_rate`.
    user_rates: UserRates,
    /// Metrics and the transfer log.
    observe: Observe,
}

/// What [`Host::reloadable_settings`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadableSettings {
    /// `--ban-after`, `--ban-user-after`, `--ban-window`, `--ban-time`.
    pub bans: crate::bans::BanPolicy,
    /// `--passive-ports`.
    pub passive_ports: Option<std::ops::RangeInclusive<u16>>,
    /// `--max-passive-per-ip`, as bounded by the range.
    pub max_passive_per_ip: usize,
    /// `--busy-poll`.
    pub busy_poll: Duration,
}

/// Why a server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartupError {
    /// The root directory could not be opened.
    Root(PathBuf, io::Error),
    /// The users could not be loaded.
    Users(UsersError),
    /// The TLS options or certificate cannot be used: why.
    Tls(String),
    /// The object store (`--storage`) cannot be used: why.
    Storage(String),
    /// A user's storage of its own (`storage` in the users file) cannot be used: whose, why.
    UserStorage(String),
    /// The transfer log could not be opened.
    TransferLog(PathBuf, io::Error),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::Root(path, e) => write!(f, "cannot open root {}: {e}", path.display()),
            StartupError::Users(e) => e.fmt(f),
            StartupError::Tls(e) => write!(f, "FTPS: {e}"),
            StartupError::Storage(e) => write!(f, "cannot serve the bucket: {e}"),
            StartupError::UserStorage(e) => write!(f, "users file: {e}"),
            StartupError::TransferLog(path, e) => {
                write!(f, "cannot open the transfer log {}: {e}", path.display())
            }
        }
    }
}

impl std::error::Error for StartupError {}

impl From<UsersError> for StartupError {
    fn from(e: UsersError) -> Self {
        StartupError::Users(e)
    }
}

impl Host {
    /// Opens the root (or the bucket of `--storage`) and loads the users the options name. With no user options at all, anonymous
    /// users get read-only access.
    pub fn from_options(options: &Options) -> Result<Host, StartupError> {
        if let Some(location) = options.s3_location() {
            let store = crate::object_store::ObjectStore::open_s3(&location)
                .map_err(StartupError::Storage)?;
            return Self::with_storage(options, Arc::new(store));
        }
        let root = match &options.root {
            Some(root) => root.clone(),
            None => std::env::current_dir().map_err(|e| StartupError::Root(".".into(), e))?,
        };
        let storage = LocalStorage::open_with(&root, &options.local_settings())
            .map_err(|e| StartupError::Root(root.clone(), e))?;
        Self::with_storage(options, Arc::new(storage))
    }

    /// Serves `storage` (instead of the root the options name; `--root` and `--umask` are not
    /// used) and loads the users the options name, as [`from_options`](Self::from_options)
    /// does.
    pub fn with_storage(
        options: &Options,
        storage: Arc<dyn Storage>,
    ) -> Result<Host, StartupError> {
        let (users, default_anonymous) = users_from_options(options)?;
        users.reserve_hash_memory();
        let user_storages = UserStorages::default();
        let range = options.passive_ports.map(|r| r.range());
        let grace = Duration::from_secs(options.shutdown_grace);
        let lifecycle = Lifecycle::new(grace, Arc::clone(&storage));
        for opened in user_storages
            .open_for(&users, options)
            .map_err(StartupError::UserStorage)?
        {
            lifecycle.clean_up_also(opened);
        }
        let window = Duration::from_micros(options.busy_poll);
        let tls = Tls::from_options(options).map_err(StartupError::Tls)?;
        let config = session_settings(options, &users, tls.is_some());
        let observe = Observe::from_options(options)?;
        let metrics = observe.metrics.clone();
        Ok(Host {
            storage,
            user_storages,
            logins: Logins::new(users, options.ban_policy(), metrics.clone()),
            default_anonymous: AtomicBool::new(default_anonymous),
            admission: Gate::new(
                options.max_sessions,
                options.max_sessions_per_ip,
                options.unauthenticated_cap(),
                metrics,
            )
            .behind(TrustedProxies::new(options.proxy_protocol_from.clone())),
            busy_poll: BusyPoll::new(window, lifecycle.transfers().clone()),
            lifecycle,
            passive: PassivePorts::new(range, options.max_passive_per_ip),
            config: RwLock::new(config),
            tls,
            implicit: RwLock::new(Vec::new()),
            rates: RwLock::new((
                RateBuckets::new(options.max_rate),
                options.max_rate_per_session,
            )),
            quotas: Quotas::default(),
            user_rates: UserRates::default(),
            observe,
        })
    }

    /// The server's rate buckets, shared by every transfer of their direction.
    pub fn rate_buckets(&self) -> RateBuckets {
        self.rates
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// The rate limit of each new session (`--max-rate-per-session`).
    pub fn rate_per_session(&self) -> RateLimit {
        self.rates.read().unwrap_or_else(|e| e.into_inner()).1
    }

    /// The shared rate buckets of users with a users-file `max_rate`.
    pub fn user_rates(&self) -> &UserRates {
        &self.user_rates
    }

    /// The users-file rate limit of `user`, and its quota usage if it has a quota (measured
    /// beneath `home` the first time: blocking, a bounded walk).
    pub fn user_limits(
        &self,
        user: &str,
        home: &dyn Storage,
    ) -> (Option<RateLimit>, Option<Arc<Usage>>) {
        let limits = self.logins.users().limits(user);
        let usage = self.quotas.for_user(user, limits.quota, home);
        (limits.rate, usage)
    }

    /// Measures the home of `user` for its quota, if it has one and it is not measured yet or
    /// its measurement is stale ([`Quotas::refresh`]; blocking): for a login's job, so that the
    /// session's loop later finds it done.
    pub fn user_usage(&self, user: &str, permissions: &Permissions) {
        if !self.logins.users().limits(user).quota.is_some() {
            return;
        }
        let Some(storage) = self.storage_for(user) else {
            return;
        };
        if let Ok(home) = storage.for_home(&permissions.home) {
            let quota = self.logins.users().limits(user).quota;
            let _ = self.quotas.refresh(user, quota, &*home);
        }
    }

    /// Metrics and the transfer log, for each session's
    /// [`SessionObserver`](crate::observe::SessionObserver).
    pub fn observe(&self) -> &Observe {
        &self.observe
    }

    /// The metrics in the Prometheus text format, for a scrape of `/metrics`.
    pub fn metrics_text(&self) -> String {
        self.observe.metrics.render(self.admission.active())
    }

    /// Puts the settings of `options` that can change while sessions run in force for what
    /// starts from now on: the users (`--user`, `--users-file`, `--anonymous`,
    /// `--anonymous-write`, `--read-only`; a session logged in keeps its permissions) and the
    /// settings of new sessions (`--banner`, `--idle-timeout`, `--data-timeout`,
    /// `--max-login-failures`, `--passive-address`), the session limits (`--max-sessions`,
    /// `--max-sessions-per-ip`, `--max-unauthenticated-sessions`: sessions past a lowered
    /// limit go on), the rates (`--max-rate`, `--max-rate-per-session`: for sessions that
    /// start afterwards), the bans (`--ban-after`, `--ban-user-after`, `--ban-window`,
    /// `--ban-time`: failures counted so far count on, bans under way keep their end), the
    /// passive listeners (`--passive-ports`, `--max-passive-per-ip`: listeners open keep their
    /// ports) and `--busy-poll`. On an error nothing changes.
    pub fn reload(&self, options: &Options) -> Result<(), StartupError> {
        let (users, default_anonymous) = users_from_options(options)?;
        if let Some(tls) = &self.tls {
            tls.reload().map_err(StartupError::Tls)?;
        }
        // Before the users that name them: a login finds its storage open.
        for opened in self
            .user_storages
            .open_for(&users, options)
            .map_err(StartupError::UserStorage)?
        {
            self.lifecycle.clean_up_also(opened);
        }
        let config = session_settings(options, &users, self.tls.is_some());
        self.logins.replace_users(users);
        self.admission.set_limits(
            options.max_sessions,
            options.max_sessions_per_ip,
            options.unauthenticated_cap(),
        );
        self.default_anonymous
            .store(default_anonymous, Ordering::Relaxed);
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
        let mut rates = self.rates.write().unwrap_or_else(|e| e.into_inner());
        // New buckets only for a changed rate: the transfers running keep sharing the old.
        if rates.0.limit() != options.max_rate {
            rates.0 = RateBuckets::new(options.max_rate);
        }
        rates.1 = options.max_rate_per_session;
        drop(rates);
        self.logins.set_ban_policy(options.ban_policy());
        self.passive.set_range(
            options.passive_ports.map(|r| r.range()),
            options.max_passive_per_ip,
        );
        self.busy_poll
            .set_window(Duration::from_micros(options.busy_poll));
        Ok(())
    }

    /// The settings a reload can change that are not session settings, as now in force: the
    /// ban policy, the passive port range, the passive cap per client and the busy-poll
    /// window (for tests and logs).
    pub fn reloadable_settings(&self) -> ReloadableSettings {
        ReloadableSettings {
            bans: self.logins.ban_policy(),
            passive_ports: self.passive.range(),
            max_passive_per_ip: self.passive.max_per_client(),
            busy_poll: self.busy_poll.window(),
        }
    }

    /// The server's first log line: `bin` listens on `addrs`, and what it serves to whom. (Tests
    /// read the addresses from it: they follow "listening on ", separated by ", ", and the last
    /// ends with ": ".)
    pub fn startup_line(&self, bin: &str, addrs: &[SocketAddr]) -> String {
        let addrs: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
        format!(
            "{bin} listening on {}: {}",
            addrs.join(", "),
            self.describe()
        )
    }

    /// Warns about each user whose home directory is missing now (such a login is refused, see
    /// [`SessionStorage`](crate::SessionStorage)). Called after the first log line, which
    /// tests read the address from.
    pub fn warn_missing_homes(&self) {
        for (name, permissions) in self.logins.users().named() {
            let home = self
                .storage_for(name)
                .map(|s| s.for_home(&permissions.home));
            if !matches!(home, Some(Ok(_))) {
                tracing::warn!(user = ?name, home = %permissions.home, "home directory is missing: this user cannot log in");
            }
        }
    }

    /// Removes what uploads of a crash left in the storage (bounded: see
    /// [`Storage::remove_stale_uploads`]) and logs how many. Call it at start-up, after the
    /// first log line and before any session runs.
    pub fn remove_stale_uploads(&self) {
        let users = self.user_storages.all();
        for storage in std::iter::once(&self.storage).chain(&users) {
            let cleanup = storage.remove_stale_uploads(STALE_SCAN_ENTRIES);
            if cleanup.removed > 0 {
                tracing::info!(
                    removed = cleanup.removed,
                    storage = %storage.describe(),
                    "removed temporary files of uploads a previous run left"
                );
            }
            if !cleanup.complete {
                tracing::warn!(
                    entries = STALE_SCAN_ENTRIES,
                    storage = %storage.describe(),
                    "stopped looking for stale temporary upload files: the tree is too big"
                );
            }
        }
    }

    /// One line on what is served to whom, for the first log line.
    pub fn describe(&self) -> String {
        let root = self.storage.describe();
        if self.default_anonymous.load(Ordering::Relaxed) {
            return format!(
                "serving {root} read-only to anonymous users (no --user, --users-file or \
                 --anonymous given)"
            );
        }
        let users = self.logins.users();
        let named = users.named_count();
        let writers = users.named().filter(|(_, p)| p.write).count();
        let anonymous = match users.anonymous() {
            None => "no anonymous access",
            Some(p) if p.write => "anonymous read-write",
            Some(_) => "anonymous read-only",
        };
        let own = users.storages().count();
        let own = if own > 0 {
            format!(", {own} on a storage of their own")
        } else {
            String::new()
        };
        format!("serving {root} to {named} user(s) ({writers} read-write{own}), {anonymous}")
    }

    /// Who gets in: session limits, ids and spans; what the accept loop asks.
    pub fn admission(&self) -> &Gate {
        &self.admission
    }

    /// Shutdown: the flag the accept loop watches, and the wait for running transfers.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// The storage beneath the root (a session works beneath its user's home instead: see
    /// [`SessionStorage`](crate::SessionStorage)).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The storage the user named `user` logs in to: its own (`storage` in the users file), or
    /// the server's. `None` if its own is not open (a reload that named it failed): the login
    /// must then be refused, never sent to the server's storage instead.
    pub fn storage_for(&self, user: &str) -> Option<Arc<dyn Storage>> {
        match self.logins.users().storage(user) {
            None => Some(Arc::clone(&self.storage)),
            Some(url) => self.user_storages.get(url),
        }
    }

    /// Whether the storage is local ([`Capabilities::local`](crate::storage::Capabilities::local)):
    /// a metadata request (a `stat`) is one system call and waits on no network, so that an
    /// event loop may run it in place. A network back-end (an object store) says no.
    pub fn storage_is_local(&self) -> bool {
        self.storage.capabilities().local
    }

    /// The settings for each new [`Session`].
    pub fn session_config(&self) -> Config {
        let mut config = self.config().clone();
        // FEAT does not promise MFMT where the storage cannot set times (an object store): FEAT
        // comes before the login, so every user's storage must be able to.
        config.can_set_modified =
            self.storage.capabilities().set_modified && self.user_storages.all_set_modified();
        config
    }

    fn config(&self) -> std::sync::RwLockReadGuard<'_, Config> {
        self.config.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session for the admitted control connection from `peer` to the local address
    /// `local`, with its `220` greeting queued. Call it inside the session's span.
    /// On an implicit FTPS listener ([`is_implicit`](Self::is_implicit)) TLS comes first, and
    /// the greeting after it.
    pub fn new_session(&self, peer: SocketAddr, local: SocketAddr, now: Instant) -> Session {
        if self.tls_available() && self.is_implicit(local) {
            tracing::debug!("connected (implicit FTPS)");
            return Session::new_implicit_tls(self.session_config(), peer, local, now);
        }
        tracing::debug!("connected");
        Session::new(self.session_config(), peer, local, now)
    }

    /// A new session's TLS configuration (its own resumption store), if FTPS is on. `None`
    /// also when it cannot be made (logged): the session then refuses `AUTH TLS`.
    pub fn session_tls(&self, ip: std::net::IpAddr) -> Option<SessionTls> {
        let tls = self.tls.as_ref()?;
        tls.session(ip)
            .map_err(|e| tracing::error!("no TLS for this session: {e}"))
            .ok()
    }

    /// Whether FTPS is on.
    pub fn tls_available(&self) -> bool {
        self.tls.is_some()
    }

    /// Records the addresses the implicit FTPS listeners are bound to, so that a session
    /// accepted on one of them starts with TLS ([`is_implicit`](Self::is_implicit)).
    pub fn set_implicit_listeners(&self, addrs: &[SocketAddr]) {
        *self.implicit.write().unwrap_or_else(|e| e.into_inner()) = addrs.to_vec();
    }

    /// Whether a control connection that came in on the local address `local` is implicit
    /// FTPS: one of the implicit listeners has its port and its address (or listens on every
    /// address).
    pub fn is_implicit(&self, local: SocketAddr) -> bool {
        let implicit = self.implicit.read().unwrap_or_else(|e| e.into_inner());
        implicit.iter().any(|addr| {
            addr.port() == local.port() && (addr.ip() == local.ip() || addr.ip().is_unspecified())
        })
    }

    /// Starts a session's busy-polling window after it answered, if polling is on, no transfer
    /// is running in the process and a place is free (see [`busy_poll`](crate::busy_poll)).
    pub fn busy_poll(&self) -> Option<Polling> {
        self.busy_poll.start()
    }

    /// How long an active-mode connect to the client may take.
    pub fn data_timeout(&self) -> Duration {
        self.config().data_timeout
    }

    /// How long writing a reply may take: a client that does not read its replies for the idle
    /// timeout is gone, and its session ends.
    pub fn reply_timeout(&self) -> Duration {
        self.config().idle_timeout
    }

    /// Carries out a filesystem request beneath `storage` (the session's, see
    /// [`SessionStorage`](crate::SessionStorage)), blocking.
    pub fn fs(&self, storage: &dyn Storage, op: &FsOp) -> Result<FsReply, FsError> {
        let result = execute_checked(storage, op);
        tracing::debug!(?op, ok = result.is_ok(), "fs");
        result
    }

    /// Checks a login (blocking, slow on purpose) and logs the outcome, never the password. Call
    /// it inside the session's span: on success the user is recorded in it. Without a session
    /// (see [`authenticate_session`](Self::authenticate_session)) only name bans apply and the
    /// queue of checks is bounded in total only.
    pub fn authenticate(&self, user: &str, password: &str) -> AuthResult {
        self.logins.check(None, user, password)
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
        self.logins.check_session(session, user, password)
    }

    /// Whether [`authenticate`](Self::authenticate) of `user` is quick enough to run on an event
    /// loop (see [`Users::check_is_quick`](crate::auth::Users::check_is_quick)).
    pub fn authenticate_is_quick(&self, user: &str) -> bool {
        self.logins.users().check_is_quick(user)
    }

    /// Puts `users` in force for logins from now on, as a reload does: for tests that need
    /// users the options cannot name (the simulator's plain passwords with homes of their own).
    #[cfg(test)]
    pub(crate) fn set_users(&self, users: Users) {
        self.logins.replace_users(users);
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
}

/// The settings of new sessions: the options', with FTPS offered if it is on, and the users
/// file's per-user TLS requirements.
fn session_settings(options: &Options, users: &Users, tls: bool) -> Config {
    let mut config = options.config();
    config.tls.available = tls;
    config.tls.user_overrides = users.tls_overrides().clone();
    config
}

/// The users the options name, and whether anonymous read-only access is on only because they
/// name none.
fn users_from_options(options: &Options) -> Result<(Users, bool), StartupError> {
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
    Ok((users, default_anonymous))
}
