//! The session state machine: one client's control connection.
//!
//! `mod.rs` holds the state, the public surface and the command pump (framing, queueing, who may
//! run when; which verbs may run before login or during a transfer is in the verb table,
//! `command/verbs.rs`). Each group of commands lives in its own file: `access` (login), `files`
//! (navigation and file management), `data` (passive and active data channels), `transfer`
//! (RETR, STOR, listings, ABOR), `info` (FEAT, HELP, STAT, OPTS, ...), `tls` (AUTH, PBSZ, PROT,
//! CCC and the TLS policy); `fs_answers` holds what each does with its filesystem answer.

mod access;
mod attributes;
mod data;
mod files;
mod fs_answers;
mod info;
mod timers;
mod tls;
mod transfer;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use crate::auth::Permissions;
use crate::command::verbs::{self, DuringTransfer};
use crate::command::{self, Command, ParseError, TransferType};
use crate::config::Config;
use crate::error::{DriveError, RequestKind};
use crate::events::{Input, Output};
use crate::framing::{Line, LineReader};
use crate::fs::{FsError, FsOp, HashAlgorithm};
use crate::ids::{AuthId, FsId, IdSource};
use crate::listing::Facts;
use crate::path::VirtualPath;
use crate::reply::Reply;

use self::data::DataChannel;
use self::fs_answers::FsThen;
use self::timers::{Timer, Timers};
use self::tls::TlsState;
use self::transfer::PendingTransfer;

/// One client's control connection, as a pure state machine. See the [crate docs](crate) for
/// the run loop.
#[derive(Debug)]
pub struct Session {
    config: Config,
    peer: SocketAddr,
    local: SocketAddr,
    ids: IdSource,
    reader: LineReader,
    /// Complete lines waiting for their turn, and their total size (bounded by
    /// `Config::max_pending_input`).
    lines: VecDeque<Line>,
    pending_bytes: usize,
    outputs: VecDeque<Output>,
    closed: bool,
    now: Instant,
    timers: Timers,
    login: Login,
    failed_logins: u32,
    /// The current directory in the user's view (`/` is the user's home).
    cwd: VirtualPath,
    transfer_type: TransferType,
    /// `REST` offset for the next transfer command.
    rest: Option<u64>,
    /// `RNFR` source (server view), valid for the very next command only.
    rename_from: Option<VirtualPath>,
    data: DataChannel,
    /// After `EPSV ALL`, only `EPSV` may set up data connections (RFC 2428).
    epsv_all: bool,
    facts: Facts,
    /// The algorithm of `HASH`, chosen with `OPTS HASH`.
    hash_algorithm: HashAlgorithm,
    busy: Busy,
    /// `QUIT` arrived during a transfer: close once it ends.
    quit_after_transfer: bool,
    /// [`Input::Shutdown`] came: nothing more runs, and the session closes with `421` as soon
    /// as its transfer (if one runs) has ended.
    shutting_down: bool,
    /// Refused command lines in a row (see `Config::max_bad_commands`).
    bad_commands: u32,
    /// FTPS: the control connection's TLS, `PBSZ` and `PROT`.
    tls: TlsState,
}

/// Where the login stands.
#[derive(Debug, Clone)]
enum Login {
    /// No `USER` yet (or the last `PASS` failed).
    Anonymous,
    /// `USER` given; `PASS` expected.
    UserGiven(String),
    /// Logged in.
    LoggedIn { user: String, perms: Permissions },
}

/// What the session waits for before it runs the next queued command.
#[derive(Debug)]
enum Busy {
    Idle,
    Fs {
        id: FsId,
        then: FsThen,
    },
    Auth {
        id: AuthId,
        user: String,
    },
    /// A failed `PASS` whose `530` waits for [`Timer::LoginDelay`].
    LoginDelay,
    /// [`Output::SecureControl`] went out: nothing runs, and control bytes are dropped, until
    /// the runtime reports the handshake.
    Securing,
    /// `PASV`/`EPSV` waiting for the listener.
    PassiveOpening {
        extended: bool,
    },
    /// A transfer command: waiting for the data connection, or the transfer running.
    Transfer(PendingTransfer),
}

/// Whether a command may run while a transfer is under way: the verb table's rule. `line` is
/// the command line, for the rule that depends on an argument being there.
fn allowed_during_transfer(cmd: &Command, line: &[u8]) -> bool {
    let has_argument = line
        .splitn(2, |&b| b == b' ')
        .nth(1)
        .is_some_and(|arg| !arg.is_empty());
    match verbs::lookup(cmd.verb().as_bytes()).map(|v| v.during_transfer) {
        Some(DuringTransfer::Runs) => true,
        Some(DuringTransfer::RunsWithoutArgument) => !has_argument,
        Some(DuringTransfer::Waits) | None => false,
    }
}

/// Commands that leave a pending `REST` offset for the transfer command after them: the
/// transfer commands themselves, `REST` (which replaces it), and setting up the data connection,
/// which clients (ftplib, tnftp, FileZilla) may do between `REST` and `RETR`. Every other
/// command, and every refused line, clears it.
fn keeps_rest(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Rest(_)
            | Command::Retr(_)
            | Command::Stor(_)
            | Command::Appe(_)
            | Command::Pasv
            | Command::Epsv(_)
            | Command::Port(_)
            | Command::Eprt(_)
    )
}

/// Verbs accepted before login, by the verb table (everything else gets `530`).
fn allowed_before_login(verb: &str) -> bool {
    verbs::lookup(verb.as_bytes()).is_some_and(|v| v.before_login)
}

impl Session {
    /// Starts a session for a client at `peer` that connected to `local`. The `220` greeting is
    /// queued: drain [`poll_output`](Self::poll_output) next.
    pub fn new(config: Config, peer: SocketAddr, local: SocketAddr, now: Instant) -> Self {
        let mut session = Self::start(config, peer, local, now, false);
        let banner = session.config.banner.clone();
        session.reply(220, &banner);
        session
    }

    /// Starts an implicit FTPS session (a listener where TLS comes first, usually port 990):
    /// the first output is [`Output::SecureControl`], with no reply before it; the `220`
    /// greeting follows [`Input::ControlSecured`] (and [`Input::ControlTlsFailed`] closes the
    /// session). Data connections default to `PROT P` ([`DataProtection::Private`]); `PBSZ`
    /// and `PROT` are accepted as in explicit FTPS, and `AUTH` is refused with `503`.
    ///
    /// [`DataProtection::Private`]: crate::DataProtection::Private
    pub fn new_implicit_tls(
        config: Config,
        peer: SocketAddr,
        local: SocketAddr,
        now: Instant,
    ) -> Self {
        let mut session = Self::start(config, peer, local, now, true);
        session.begin_securing();
        session
    }

    /// A session with no greeting yet, its deadlines armed.
    fn start(
        config: Config,
        peer: SocketAddr,
        local: SocketAddr,
        now: Instant,
        implicit_tls: bool,
    ) -> Self {
        let reader = LineReader::new(config.max_line_len);
        let mut session = Self {
            peer,
            local,
            ids: IdSource::default(),
            reader,
            lines: VecDeque::new(),
            pending_bytes: 0,
            outputs: VecDeque::new(),
            closed: false,
            now,
            timers: Timers::default(),
            login: Login::Anonymous,
            failed_logins: 0,
            cwd: VirtualPath::root(),
            transfer_type: TransferType::Ascii,
            rest: None,
            rename_from: None,
            data: DataChannel::None,
            epsv_all: false,
            facts: Facts::default(),
            hash_algorithm: HashAlgorithm::Sha256,
            busy: Busy::Idle,
            quit_after_transfer: false,
            shutting_down: false,
            bad_commands: 0,
            tls: TlsState::new(implicit_tls),
            config,
        };
        session.arm_idle();
        session.arm_login_deadline();
        session
    }

    /// Feeds one event. Drain [`poll_output`](Self::poll_output) afterwards.
    ///
    /// An error says how the runtime misused the session (see [`DriveError`]): never the
    /// client's doing. A [stale](DriveError::is_stale) answer is a harmless race. For every
    /// error but [`DriveError::WrongShape`] the session is unchanged and the runtime should drop
    /// whatever the input carried (e.g. close a data connection reported for a listener that
    /// was already closed); a wrong-shaped answer was taken (the client got a `451`), so drain
    /// the outputs as after `Ok`.
    pub fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), DriveError> {
        if self.closed {
            return Err(DriveError::Closed);
        }
        // Time passes whatever the input: taking it is no change of state.
        self.advance_clock(now);
        let result = match input {
            Input::ControlBytes(bytes) => {
                self.on_control_bytes(&bytes);
                Ok(())
            }
            Input::ControlEof => {
                self.on_control_eof();
                Ok(())
            }
            Input::Timeout => {
                self.on_timeout();
                Ok(())
            }
            Input::Shutdown => {
                self.on_shutdown();
                Ok(())
            }
            Input::ControlSecured(info) => self.on_control_secured(info),
            Input::ControlTlsFailed => self.on_control_tls_failed(),
            Input::Fs { id, result } => self.on_fs(id, result),
            Input::Auth { id, result } => self.on_auth(id, result),
            Input::PassiveListening { id, addr } => self.on_passive_listening(id, addr),
            Input::PassiveFailed { id } => self.on_passive_failed(id),
            Input::DataConnected { id, peer } => self.on_data_connected(id, peer),
            Input::ConnectFailed { id } => self.on_connect_failed(id),
            Input::TransferOpened { id } => self.on_transfer_opened(id),
            Input::TransferDone { id, result } => self.on_transfer_done(id, result),
        };
        if matches!(&result, Err(e) if !matches!(e, DriveError::WrongShape { .. })) {
            return result;
        }
        self.pump();
        self.check_pending_input();
        result
    }

    /// The session's clock never goes back.
    fn advance_clock(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    /// The next thing for the runtime to do, or `None` when there is nothing more until the next
    /// input. Carry the outputs out in the order they come.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest deadline: feed [`Input::Timeout`] once it has passed. `None` when nothing is
    /// timed (or the session is closed).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            None
        } else {
            self.timers.earliest()
        }
    }

    /// Whether the session has ended ([`Output::CloseSession`] was emitted). Drain
    /// [`poll_output`](Self::poll_output) one last time, then drop the session.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The control connection's TLS, if it is TLS now (for the runtime's logs).
    pub fn control_tls(&self) -> Option<&crate::tls::TlsInfo> {
        match &self.tls.control {
            tls::ControlTls::Secured(info) => Some(info),
            _ => None,
        }
    }

    /// The name of the logged-in user, for the runtime's logs.
    pub fn user(&self) -> Option<&str> {
        match &self.login {
            Login::LoggedIn { user, .. } => Some(user),
            _ => None,
        }
    }

    // ---- control input and the command pump ----

    fn on_control_bytes(&mut self, bytes: &[u8]) {
        if self.shutting_down || self.securing() {
            // Nothing more runs: what the client sends while its transfer stops is dropped.
            // While a TLS handshake is asked for, the runtime feeds no control bytes; any that
            // come anyway were sent in clear text after AUTH and are dropped too.
            return;
        }
        let mut finished = Vec::new();
        self.reader.push(bytes, &mut |line| finished.push(line));
        for line in finished {
            self.pending_bytes += line_cost(&line);
            self.lines.push_back(line);
        }
    }

    /// Lines that keep waiting are bounded: a client that pipelines more than
    /// `max_pending_input` behind an outstanding request is closed.
    fn check_pending_input(&mut self) {
        if !self.closed && self.pending_bytes > self.config.max_pending_input {
            self.lines.clear();
            self.pending_bytes = 0;
            self.reply(
                421,
                "Too much input while busy; closing control connection.",
            );
            self.close();
        }
    }

    fn on_control_eof(&mut self) {
        if let Busy::Transfer(pending) = &self.busy {
            if let Some(id) = pending.running() {
                self.outputs.push_back(Output::AbortTransfer { id });
            }
        }
        self.close();
    }

    /// The server shuts down: a running transfer is stopped first (its `426` and the `421`
    /// follow when it has ended, in `on_transfer_done`); otherwise the `421` goes out now.
    fn on_shutdown(&mut self) {
        if std::mem::replace(&mut self.shutting_down, true) {
            return;
        }
        self.lines.clear();
        self.pending_bytes = 0;
        if self.securing() {
            // Half-way through a handshake the connection carries no reply.
            return self.close();
        }
        if let Busy::Transfer(pending) = &self.busy {
            match pending.running() {
                // After ABOR the transfer is being stopped already.
                Some(id) if !pending.abort_pending() => {
                    self.outputs.push_back(Output::AbortTransfer { id });
                    return;
                }
                Some(_) => return,
                None => {
                    // Still waiting for its data connection: the command gets its final reply.
                    self.busy = Busy::Idle;
                    self.close_data_channel();
                    self.reply(426, "Connection closed; transfer aborted.");
                }
            }
        }
        self.reply_shutting_down();
    }

    fn reply_shutting_down(&mut self) {
        self.reply(421, "Server shutting down; closing control connection.");
        self.close();
    }

    fn on_timeout(&mut self) {
        for timer in self.timers.take_expired(self.now) {
            if self.closed {
                return;
            }
            match timer {
                // A handshake that does not finish in time: the connection carries no reply.
                Timer::Idle | Timer::Login if self.securing() => self.close(),
                Timer::Idle if !matches!(self.busy, Busy::Idle) => {
                    // The client waits for us (a request of ours is outstanding): not idle.
                    self.arm_idle();
                }
                Timer::Idle => {
                    self.reply(
                        421,
                        "Timeout: no command for too long; closing control connection.",
                    );
                    self.close();
                }
                Timer::Login if self.logged_in() => {}
                Timer::Login => {
                    // Whatever is outstanding (a password being checked): the deadline holds.
                    self.reply(421, "Login timeout; closing control connection.");
                    self.close();
                }
                Timer::Data => self.on_data_timeout(),
                Timer::LoginDelay => self.on_login_delay_over(),
            }
        }
    }

    /// Runs queued command lines for as long as nothing is outstanding.
    fn pump(&mut self) {
        while !self.closed {
            let Some(line) = self.lines.front() else {
                break;
            };
            let (parsed, raw) = match line {
                Line::Complete(bytes) => (Some(command::parse(bytes)), &bytes[..]),
                Line::TooLong => (None, &[][..]),
            };
            let runnable = match &self.busy {
                Busy::Idle => true,
                Busy::Transfer(_) => {
                    matches!(&parsed, Some(Ok(cmd)) if allowed_during_transfer(cmd, raw))
                }
                _ => false,
            };
            if !runnable {
                break;
            }
            if let Some(line) = self.lines.pop_front() {
                self.pending_bytes = self.pending_bytes.saturating_sub(line_cost(&line));
            }
            if !matches!(self.busy, Busy::Transfer(_)) {
                self.arm_idle();
            }
            if !matches!(&parsed, Some(Ok(cmd)) if keeps_rest(cmd)) {
                // REST is for the RETR/STOR/APPE right after it (RFC 959 4.1.3).
                self.rest = None;
            }
            let refused = match parsed {
                None => {
                    self.rename_from = None;
                    self.reply(500, "Command line too long.");
                    true
                }
                Some(Ok(cmd)) => self.run(cmd),
                Some(Err(err)) => {
                    self.refuse(err);
                    true
                }
            };
            self.count_bad_command(refused);
        }
    }

    /// Repeated abuse (a stream of refused lines) ends the session. Before login the count is
    /// never reset (only a login does) and has its own, lower limit.
    fn count_bad_command(&mut self, refused: bool) {
        let logged_in = self.logged_in();
        if !refused {
            if logged_in {
                self.bad_commands = 0;
            }
            return;
        }
        self.bad_commands = self.bad_commands.saturating_add(1);
        let limit = if logged_in {
            self.config.max_bad_commands
        } else {
            self.config
                .max_bad_commands
                .min(self.config.max_bad_commands_before_login)
        };
        if self.bad_commands >= limit && !self.closed {
            self.reply(421, "Too many bad commands; closing control connection.");
            self.close();
        }
    }

    fn refuse(&mut self, err: ParseError) {
        // A refused line is still "another command" between RNFR and RNTO.
        self.rename_from = None;
        if let Some(verb) = err.verb() {
            if !self.logged_in() && !allowed_before_login(verb) {
                return self.reply(530, "Please login with USER and PASS.");
            }
            if verbs::is_tls(verb) && !self.tls_offered() {
                return self.reply(502, &format!("{verb} not implemented."));
            }
        }
        match err {
            ParseError::Unknown => self.reply(500, "Unknown command."),
            ParseError::NotImplemented(verb) => {
                self.reply(502, &format!("{verb} not implemented."))
            }
            ParseError::Syntax(verb) => self.reply(
                501,
                &format!("Syntax error in parameters or arguments to {verb}."),
            ),
            ParseError::UnsupportedParameter("AUTH") => {
                self.reply(504, "AUTH mechanism not supported; use AUTH TLS.")
            }
            ParseError::UnsupportedParameter(verb) => {
                self.reply(504, &format!("{verb} not implemented for that parameter."))
            }
            ParseError::UnsupportedProtocol(_) => {
                self.reply(522, "Network protocol not supported, use (1,2).")
            }
        }
    }

    /// Runs one command. The session is idle here, or a transfer runs and `cmd` is one of
    /// [`allowed_during_transfer`]. Returns true if it was refused for want of a login.
    fn run(&mut self, cmd: Command) -> bool {
        if !self.logged_in() && !allowed_before_login(cmd.verb()) {
            self.rename_from = None;
            self.reply(530, "Please login with USER and PASS.");
            return true;
        }
        if verbs::is_tls(cmd.verb()) && !self.tls_offered() {
            // A server without FTPS, as before it existed.
            self.rename_from = None;
            self.reply(502, &format!("{} not implemented.", cmd.verb()));
            return true;
        }
        // RNFR's source is good for the very next command only.
        let rename_from = self.rename_from.take();
        match cmd {
            // A USER refused for want of TLS counts as a refused line.
            Command::User(name) => return self.cmd_user(name),
            Command::Pass(password) => self.cmd_pass(password),
            Command::Acct(_) => self.reply(202, "ACCT not needed."),
            Command::Rein => self.cmd_rein(),
            Command::Quit => self.cmd_quit(),
            Command::Pwd => self.cmd_pwd(),
            Command::Cwd(path) => self.cmd_cwd(&path),
            Command::Cdup => self.cmd_cwd(".."),
            Command::Mkd(path) => self.cmd_mkd(&path),
            Command::Rmd(path) => self.cmd_rmd(&path),
            Command::Dele(path) => self.cmd_dele(&path),
            Command::Rnfr(path) => self.cmd_rnfr(&path),
            Command::Rnto(path) => self.cmd_rnto(&path, rename_from),
            Command::Size(path) => self.cmd_size(&path),
            Command::Mdtm(path) => self.cmd_mdtm(&path),
            Command::Type(t) => self.cmd_type(t),
            Command::Mode => self.reply(200, "Mode set to S."),
            Command::Stru => self.reply(200, "Structure set to F."),
            Command::Allo => self.reply(202, "ALLO command ignored."),
            Command::Rest(offset) => self.cmd_rest(offset),
            Command::Retr(path) => self.cmd_retr(&path),
            Command::Stor(path) => self.cmd_stor(&path, false),
            Command::Appe(path) => self.cmd_stor(&path, true),
            Command::Stou => self.cmd_stou(),
            Command::Pasv => self.cmd_pasv(),
            Command::Epsv(arg) => self.cmd_epsv(arg),
            Command::Port(addr) => self.cmd_port(addr, false),
            Command::Eprt(addr) => self.cmd_port(addr, true),
            Command::Abor => self.cmd_abor(),
            Command::List(args) => self.cmd_list(fs_answers::ListKind::List, args.path),
            Command::Nlst(args) => self.cmd_list(fs_answers::ListKind::Nlst, args.path),
            Command::Mlsd(path) => self.cmd_list(fs_answers::ListKind::Mlsd, path),
            Command::Mlst(path) => self.cmd_mlst(path.as_deref()),
            Command::Feat => self.cmd_feat(),
            Command::Opts { option, args } => self.cmd_opts(&option, &args),
            Command::Syst => self.reply(215, "UNIX Type: L8"),
            Command::Stat(path) => self.cmd_stat(path.as_deref()),
            Command::Help(topic) => self.cmd_help(topic.as_deref()),
            Command::Noop => self.reply(200, "NOOP ok."),
            Command::Site(args) => self.cmd_site(&args),
            Command::Clnt(_) => self.reply(200, "Noted."),
            Command::Mfmt {
                time,
                unix_secs,
                path,
            } => self.cmd_mfmt(&time, unix_secs, &path),
            Command::Hash(path) => self.cmd_hash(None, &path),
            Command::LegacyHash { algorithm, path } => self.cmd_hash(Some(algorithm), &path),
            Command::Avbl(path) => self.cmd_avbl(path.as_deref()),
            Command::Auth(mechanism) => self.cmd_auth(mechanism),
            Command::Pbsz(size) => self.cmd_pbsz(size),
            Command::Prot(level) => self.cmd_prot(level),
            Command::Ccc => self.cmd_ccc(),
            #[allow(unreachable_patterns)]
            _ => self.reply(502, "Command not implemented."),
        }
        false
    }

    // ---- helpers shared by the command files ----

    fn reply(&mut self, code: u16, text: &str) {
        self.outputs
            .push_back(Output::Reply(Reply::new(code, text)));
    }

    fn send(&mut self, reply: Reply) {
        self.outputs.push_back(Output::Reply(reply));
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.lines.clear();
            self.pending_bytes = 0;
            self.outputs.push_back(Output::CloseSession);
        }
    }

    fn arm_idle(&mut self) {
        self.timers
            .set_after(Timer::Idle, self.now, self.config.idle_timeout);
    }

    /// Starts the login deadline (at the greeting, and whenever the session is logged out).
    fn arm_login_deadline(&mut self) {
        self.timers
            .set_after(Timer::Login, self.now, self.config.login_timeout);
    }

    fn logged_in(&self) -> bool {
        matches!(self.login, Login::LoggedIn { .. })
    }

    fn permissions(&self) -> Option<&Permissions> {
        match &self.login {
            Login::LoggedIn { perms, .. } => Some(perms),
            _ => None,
        }
    }

    fn may_write(&self) -> bool {
        self.permissions().is_some_and(|p| p.write)
    }

    /// Resolves a client's path: the user's view (for replies) and the server's view (for
    /// requests). A forbidden character gets `501` and `None`.
    fn resolve(&mut self, arg: &str) -> Option<(VirtualPath, VirtualPath)> {
        match self.cwd.resolve(arg) {
            Ok(user_path) => {
                let home = self
                    .permissions()
                    .map_or_else(VirtualPath::root, |p| p.home.clone());
                let server_path = home.join(&user_path);
                Some((user_path, server_path))
            }
            Err(_) => {
                self.reply(501, "Invalid character in file name.");
                None
            }
        }
    }

    /// Read-only users get `550` before any request is made.
    fn require_write(&mut self) -> bool {
        if self.may_write() {
            true
        } else {
            self.reply(550, "Permission denied.");
            false
        }
    }

    fn request_fs(&mut self, op: FsOp, then: FsThen) {
        let id = FsId::from_raw(self.ids.next(RequestKind::Filesystem));
        self.outputs.push_back(Output::Fs { id, op });
        self.busy = Busy::Fs { id, then };
    }

    /// The reply for a failed filesystem operation.
    fn fs_error_reply(&mut self, err: FsError) {
        let (code, text) = fs_error_text(err);
        self.reply(code, text);
    }
}

/// Reply code and text for a filesystem error. `NotFound` covers paths outside the root too, so
/// the client cannot tell them apart.
fn fs_error_text(err: FsError) -> (u16, &'static str) {
    match err {
        FsError::NotFound => (550, "No such file or directory."),
        FsError::PermissionDenied => (550, "Permission denied."),
        FsError::AlreadyExists => (550, "File exists."),
        FsError::NotADirectory => (550, "Not a directory."),
        FsError::IsADirectory => (550, "Is a directory."),
        FsError::DirectoryNotEmpty => (550, "Directory not empty."),
        FsError::NoSpace => (452, "Insufficient storage space."),
        FsError::InvalidName => (553, "File name not allowed."),
        FsError::Other => (451, "Local error in processing."),
        FsError::Unsupported => (502, "Not supported by this storage."),
        FsError::QuotaExceeded => (552, "Exceeded storage allocation (quota)."),
    }
}

/// What a queued line counts against `max_pending_input`: what it costs in memory, not on the
/// wire. Its slot in the queue, and for a non-empty line its heap block as the allocator hands
/// it out (glibc: 8 bytes of header, 16-byte steps, 32 bytes at least): 56 bytes for `a`, so a
/// flood of tiny lines cannot hold 20 times the limit.
fn line_cost(line: &Line) -> usize {
    let slot = std::mem::size_of::<Line>();
    match line {
        Line::Complete(bytes) if bytes.is_empty() => slot,
        Line::Complete(bytes) => {
            let block = bytes.len().saturating_add(8 + 15) / 16 * 16;
            slot.saturating_add(block.max(32))
        }
        Line::TooLong => slot,
    }
}

#[cfg(test)]
mod tests;
