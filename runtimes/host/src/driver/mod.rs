//! The driver: one session's loop, written once for every runtime.
//!
//! A [`Driver`] owns a [`thinftp::Session`] and everything beside it: reply batching (one write
//! per batch of replies), data channels (listeners, connects, accepted connections), running
//! transfers, requests in flight, the busy-poll decision, what to do with a
//! [`DriveError`](thinftp::DriveError) and how a session closes. It performs no I/O of its own
//! on sockets: the runtime tells it what happened and asks it what to do.
//!
//! - In: control bytes ([`read_control`](Driver::read_control)), what work and waiters
//!   reported ([`complete`](Driver::complete), [`listening`](Driver::listening),
//!   [`connecting`](Driver::connecting)), a failed reply write
//!   ([`write_failed`](Driver::write_failed)) and time ([`timer_fired`](Driver::timer_fired),
//!   and `now` in [`poll_action`](Driver::poll_action)).
//! - Out: [`Action`]s, from [`poll_action`](Driver::poll_action) until it returns `None`:
//!   write bytes, run a [`Job`], listen, connect, arm the timer, close.
//!
//! A runtime's session loop is then:
//!
//! ```text
//! loop {
//!     while let Some(action) = driver.poll_action(Instant::now()) {
//!         carry it out (Close: shut down the control connection's write half and return)
//!     }
//!     if let Some(window) = driver.busy_poll() { look for the next event without sleeping }
//!     wait for the first of: a completion (driver.complete), the control connection readable
//!     (driver.read_control), the timer (driver.timer_fired)
//! }
//! ```
//!
//! The driver is generic over the runtime's data connection `S` and its [`Waiter`] `W`, so a
//! simulated network plugs in the same way as real sockets. [`Job::run`] (the real storage and
//! transfers) needs `S = std::net::TcpStream`.
//!
//! State that comes with a login is set where an accepted [`Input::Auth`] passes through the
//! driver, before the core hears of it: the user's home is opened there
//! ([`SessionStorage::fed`]), and every job made afterwards works beneath it. Every job keeps
//! the session's place within the limits while it runs (a password hash that runs on after its
//! client hung up still counts), given to it where a request becomes a [`Job`].

mod action;
mod channels;
mod control_tls;
mod proxied;
mod replies;
mod timer;
mod transfers;
mod work;

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thinftp::{FsOp, Input, Output, Session};
use tracing::Span;

pub use action::{Action, Blocking, Waiter};
pub use channels::Completion;
pub use work::Job;

use crate::busy_poll::Polling;
use crate::observe::SessionObserver;
use crate::session_limits::SessionLimits;
use crate::shutdown::{SessionWatch, TransferGuard};
use crate::{limits, socket, Admission, Host, SessionStorage};
use channels::DataChannels;
use control_tls::ControlChannel;
use proxied::{HeaderWait, Step};
use replies::Replies;
use timer::Timer;
use transfers::{Protection, Setup, Transfers};
use work::Task;

/// One session and everything beside it: see the [module docs](self).
pub struct Driver<S, W> {
    host: Arc<Host>,
    /// The session's place within the limits, its id and span: held until the driver drops.
    admission: Admission,
    session: Session,
    /// Where this session's filesystem requests and transfers go: the root before login, the
    /// user's home after.
    storage: SessionStorage,
    /// Rates and quota of this session's transfers (the user's, once logged in).
    limits: SessionLimits,
    /// The client's address.
    peer: SocketAddr,
    blocking: Blocking,
    /// How long an active connect may take.
    data_timeout: Duration,
    channels: DataChannels<S, W>,
    transfers: Transfers<S>,
    replies: Replies,
    timer: Timer,
    /// What is to be fed, in order: what the runtime reported, and answers known on the loop
    /// (a listener bound, work done in place). Completions become inputs only when fed, so a
    /// data connection is offered to the core exactly while the outputs of its input run.
    queue: VecDeque<Completion<S>>,
    /// An output held back until the replies before it are written.
    held: Option<Output>,
    /// A finished transfer counts for shutdown until its final reply is written.
    ended: Option<TransferGuard>,
    /// The control connection has ended (or a write failed): nothing more is read from it.
    control_ended: bool,
    /// [`Action::Close`] was given.
    closed: bool,
    /// Tells the session to stop when the server shuts down (see
    /// [`on_shutdown`](Self::on_shutdown)); dropped with the driver, once the session closed.
    watch: Option<SessionWatch>,
    /// The control connection's TLS, once `AUTH TLS` (or an implicit listener) asked for it:
    /// socket bytes pass through it both ways.
    control: ControlChannel,
    /// A connection from a trusted proxy whose PROXY header is being read: until it is, there
    /// is no session yet (`session` is a stand-in, never polled). See [`proxied`].
    header: Option<HeaderWait>,
    /// On an implicit-TLS listener behind a proxy: the bytes that came right after the PROXY
    /// header (the start of the client's TLS handshake), kept for the TLS layer, which the
    /// session asks for with its first output.
    early: Option<bytes::Bytes>,
    /// Sees every input fed and every output taken: metrics, transfer log, audit lines.
    observer: SessionObserver,
    /// Shared with the session's filesystem jobs and set when the driver goes: a digest of a
    /// huge file that nobody waits for any more stops at its next read.
    fs_cancel: Arc<AtomicBool>,
}

impl<S, W> Drop for Driver<S, W> {
    fn drop(&mut self) {
        self.fs_cancel.store(true, Ordering::Relaxed);
    }
}

impl<S, W: Waiter> Driver<S, W> {
    /// The driver of the admitted control connection from `peer` to the local address `local`,
    /// with the `220` greeting queued. Run the session inside `admission.span`.
    ///
    /// A connection from a trusted proxy ([`Admission::proxied`]) first has its PROXY header
    /// read from the control bytes, within a deadline (the timer): the session, its `220` and
    /// its peer are the client's the header names.
    pub fn new(
        host: Arc<Host>,
        admission: Admission,
        peer: SocketAddr,
        local: SocketAddr,
        now: Instant,
        blocking: Blocking,
    ) -> Self {
        let session = host.new_session(peer, local, now);
        let header = admission.proxied.then(|| HeaderWait::new(local, now));
        let observer = SessionObserver::new(host.observe().clone(), admission.id, peer);
        Driver {
            observer,
            data_timeout: host.data_timeout(),
            storage: SessionStorage::new(&host),
            limits: SessionLimits::new(&host),
            peer,
            host,
            admission,
            session,
            blocking,
            channels: DataChannels::new(),
            transfers: Transfers::default(),
            replies: Replies::default(),
            timer: Timer::default(),
            queue: VecDeque::new(),
            held: None,
            ended: None,
            control_ended: false,
            closed: false,
            watch: None,
            control: ControlChannel::default(),
            fs_cancel: Arc::new(AtomicBool::new(false)),
            header,
            early: None,
        }
    }

    /// Lets the server's shutdown reach this session: once the grace period is over (see
    /// [`Lifecycle::drain`](crate::shutdown::Lifecycle::drain)), `wake` is called, once, from
    /// another thread; it must hand [`Completion::Input`] of [`Input::Shutdown`] to
    /// [`complete`](Self::complete) without blocking (send it on the channel the session loop
    /// waits on). The session then aborts its transfer, replies `426` and `421` (or just `421`)
    /// and closes. Call it right after [`new`](Self::new); shutdown waits (briefly) for this
    /// driver to be dropped, so drop it once [`Action::Close`] is carried out.
    pub fn on_shutdown(&mut self, wake: impl Fn() + Send + 'static) {
        self.watch = Some(self.host.lifecycle().watch_session(wake));
    }

    /// The session's span: enter it on every thread and task that works for the session.
    pub fn span(&self) -> &Span {
        &self.admission.span
    }

    /// The session's id, for logs and thread names.
    pub fn id(&self) -> u64 {
        self.admission.id
    }

    /// How long writing a batch of replies may take before the client counts as gone.
    pub fn write_timeout(&self) -> Duration {
        self.host.reply_timeout()
    }

    /// Whether the control connection is still to be read (and waited on).
    pub fn wants_control(&self) -> bool {
        !self.control_ended
    }

    /// Reads what the control connection has now from `reader` (non-blocking: `WouldBlock` and
    /// `Interrupted` mean nothing came) into a buffer on this function's stack, so that a
    /// waiting session holds none. True if something came (bytes, or the end).
    pub fn read_control(&mut self, reader: &mut impl Read) -> bool {
        if self.control_ended {
            return false;
        }
        let Some(input) = socket::read_control(reader) else {
            return false;
        };
        let inputs = match input {
            Input::ControlBytes(bytes) => self.control.received(&bytes),
            other => vec![other],
        };
        for input in inputs {
            if input == Input::ControlEof {
                self.control_ended = true;
            }
            self.queue.push_back(Completion::Input(input));
        }
        true
    }

    /// Takes what some work or waiter reported. It is fed by the next
    /// [`poll_action`](Self::poll_action).
    pub fn complete(&mut self, completion: Completion<S>) {
        self.queue.push_back(completion);
    }

    /// For [`Action::Listen`]: the waiter accepting on the new listener and its address, or why
    /// there is none.
    pub fn listening(&mut self, id: thinftp::DataId, opened: io::Result<(W, SocketAddr)>) {
        let answer = self.channels.listening(id, opened);
        self.queue.push_back(Completion::Input(answer));
    }

    /// For [`Action::Connect`]: the waiter of the connect under way.
    pub fn connecting(&mut self, id: thinftp::DataId, waiter: W) {
        self.channels.connecting(id, waiter);
    }

    /// The timer armed by [`Action::ArmTimer`] fired.
    pub fn timer_fired(&mut self) {
        self.timer.fired();
        self.queue.push_back(Completion::Input(Input::Timeout));
    }

    /// Writing an [`Action::Write`] failed or timed out: the client is gone, as if it had
    /// closed the connection. Later replies are dropped.
    pub fn write_failed(&mut self, e: &io::Error) {
        if !self.replies.fail() {
            return;
        }
        tracing::debug!("cannot write to the control connection: {e}");
        if !self.control_ended {
            self.control_ended = true;
            self.queue.push_back(Completion::Input(Input::ControlEof));
        }
    }

    /// Starts a busy-polling window after the session answered, if one is free (see
    /// [`busy_poll`](crate::busy_poll)): until it is over, look for completions and control
    /// bytes without sleeping.
    pub fn busy_poll(&self) -> Option<Polling> {
        self.host.busy_poll()
    }

    /// The next thing to do, or `None` when there is nothing more until the runtime reports
    /// something. Feeds what was reported, one input at a time, and carries out every output
    /// of an input before the next is fed.
    pub fn poll_action(&mut self, now: Instant) -> Option<Action<S>> {
        if self.header.is_some() {
            let action = self.poll_header(now);
            if action.is_some() || self.header.is_some() {
                return action;
            }
        }
        loop {
            // TLS records of the control connection's own (handshake, alerts, close_notify)
            // leave before anything else.
            if let Some(bytes) = self.control.outgoing() {
                if !self.replies.has_failed() {
                    return Some(Action::Write(bytes));
                }
            }
            if let Some(output) = self.held.take() {
                if let Some(action) = self.carry_out(output) {
                    return Some(action);
                }
            }
            while let Some(output) = self.session.poll_output() {
                self.observer.output(&output);
                if let Output::Reply(reply) = &output {
                    self.replies.push(reply.as_bytes());
                    if self.replies.is_full() {
                        return self
                            .replies
                            .take()
                            .map(|b| Action::Write(self.control.seal(b)));
                    }
                    continue;
                }
                // Anything else happens after the replies before it have left, but for a
                // request answered here at once: a pipelined run of SIZE makes one write, not
                // one each, and a slow request never holds back the replies before it.
                if !self.answers_at_once(&output) {
                    if let Some(batch) = self.replies.take() {
                        self.held = Some(output);
                        return Some(Action::Write(self.control.seal(batch)));
                    }
                }
                if let Some(action) = self.carry_out(output) {
                    return Some(action);
                }
            }
            // Every output of the last input is carried out.
            self.channels.settle();
            // Its replies are written now, unless more input is already here (the answer to a
            // pipelined request run on the loop): their replies join the batch. A transfer
            // that ended counts for shutdown until its final reply is written, and a session
            // that closed writes its last replies before it goes.
            if self.queue.is_empty() || self.ended.is_some() || self.session.is_closed() {
                if let Some(batch) = self.replies.take() {
                    return Some(Action::Write(self.control.seal(batch)));
                }
            }
            self.ended = None;
            if self.session.is_closed() {
                return self.close();
            }
            if let Some(completion) = self.queue.pop_front() {
                let input = match completion {
                    Completion::TransferOpened { id, opened } => self.transfers.opened(id, opened),
                    // From a trusted proxy: its PROXY header names the client the core checks.
                    Completion::Accepted { id, stream, peer }
                        if self.host.admission().from_proxy(peer.ip()) =>
                    {
                        let proxy = peer;
                        match self.request(Task::DataHeader { id, stream, proxy }) {
                            Some(action) => return Some(action),
                            None => continue,
                        }
                    }
                    Completion::HeaderRead { id, result } => match result {
                        Some((stream, peer)) => {
                            let accepted = Completion::Accepted { id, stream, peer };
                            self.channels.input(accepted)
                        }
                        None => {
                            if let Some(waiter) = self.channels.waiting(id) {
                                waiter.accept_again();
                            }
                            None
                        }
                    },
                    other => self.channels.input(other),
                };
                if let Some(input) = input {
                    self.feed(now, input);
                }
                continue;
            }
            return self
                .timer
                .arm(self.session.poll_timeout())
                .map(Action::ArmTimer);
        }
    }

    fn feed(&mut self, now: Instant, input: Input) {
        self.ended = self.transfers.ended(&input);
        // What comes with a login is set before the core hears of it: an accepted login opens
        // the user's home (or becomes a refusal if it cannot be opened), and every job made
        // from now on works beneath it. Kept only if the core takes the answer.
        let before = matches!(input, Input::Auth { .. }).then(|| self.storage.clone());
        let input = self.storage.fed(input);
        self.observer.input(&input);
        let accepted = matches!(
            input,
            Input::Auth {
                result: thinftp::AuthResult::Accepted(_),
                ..
            }
        );
        let user = accepted.then(|| self.limits.user_logging_in().map(str::to_owned));
        let fed = self.session.handle_input(now, input);
        if accepted && fed.is_ok() {
            if let Some(user) = user.flatten() {
                self.control.logged_in(&user);
            }
            self.limits.logged_in(&self.host, &**self.storage.storage());
        }
        if let Err(e) = fed {
            // A late answer racing an ABOR or a close is normal (stale); anything else is a bug
            // in the driver or the storage (an answer of the wrong shape, which the core still
            // answered the client for), never the client's doing.
            if e.is_stale() {
                tracing::debug!("late answer ignored by the session: {e}");
            } else {
                tracing::error!("input refused by the session: {e}");
            }
            if let Some(before) = before {
                self.storage = before;
            }
        }
    }

    /// Carries out one output that is not a reply; the action for the runtime, if it needs
    /// one.
    fn carry_out(&mut self, output: Output) -> Option<Action<S>> {
        match output {
            Output::Reply(reply) => self.replies.push(reply.as_bytes()),
            Output::Fs { id, op } => {
                let storage = Arc::clone(self.storage.storage());
                let cancel = Arc::clone(&self.fs_cancel);
                let limits = self.limits.clone();
                return self.request(Task::Fs {
                    id,
                    op: Box::new(op),
                    storage,
                    cancel,
                    limits,
                });
            }
            Output::Authenticate { id, user, password } => {
                self.limits.logging_in(&user);
                self.storage.logging_in(&self.host, &user);
                return self.request(Task::Auth { id, user, password });
            }
            Output::OpenPassive { id, ip } => {
                // The client's address: the host caps the listeners one client holds.
                let client = self.peer.ip();
                return Some(Action::Listen { id, ip, client });
            }
            Output::Connect { id, addr } => {
                let timeout = self.data_timeout;
                return Some(Action::Connect { id, addr, timeout });
            }
            Output::RefuseDataConnection { id } => {
                if let Some(waiter) = self.channels.refuse(id) {
                    waiter.accept_again();
                }
            }
            // Dropping a channel closes its connection or listener and stops its waiter.
            Output::CloseData { id } => self.channels.close(id),
            // The transfer's file is opened first; its `150` follows once it is.
            Output::StartTransfer {
                id,
                data,
                kind,
                protection,
            } => {
                let stream = self.channels.take_stream(data);
                let protection = match protection {
                    thinftp::DataProtection::Private => {
                        Protection::Private(self.control.session_tls(&self.host, self.peer.ip()))
                    }
                    _ => Protection::Clear,
                };
                let setup = setup(&self.host, &self.storage, &self.admission, &self.limits);
                let opening = self.transfers.start(&setup, id, kind, stream, protection);
                if let Some(progress) = self.transfers.progress(id) {
                    self.observer.count(id, progress);
                }
                match opening {
                    Ok(job) => return self.request(job.task),
                    Err(answer) => self.queue.push_back(Completion::Input(answer)),
                }
            }
            // Carried out once the `150` before it is written: now the bytes move.
            Output::MoveBytes { id } => {
                let setup = setup(&self.host, &self.storage, &self.admission, &self.limits);
                match self.transfers.move_bytes(&setup, id) {
                    Ok(job) => return Some(Action::Run(job)),
                    Err(answer) => self.queue.push_back(Completion::Input(answer)),
                }
            }
            Output::AbortTransfer { id } => self.transfers.abort(id),
            // The `234` is written: the handshake reads what comes next.
            Output::SecureControl => {
                if let Some(failed) = self.control.secure(&self.host, self.peer.ip()) {
                    self.queue.push_back(Completion::Input(failed));
                } else if let Some(early) = self.early.take() {
                    for input in self.control.received(&early) {
                        self.queue.push_back(Completion::Input(input));
                    }
                }
            }
            // The `200` to `CCC` is written through TLS: close_notify, at once (the client
            // waits for it), then clear text.
            Output::ClearControl => return self.control.clear().map(Action::Write),
            // One filesystem request runs at a time: the flag stops it, and the next gets a
            // fresh one.
            Output::CancelFs { .. } => {
                self.fs_cancel.store(true, Ordering::Relaxed);
                self.fs_cancel = Arc::new(AtomicBool::new(false));
            }
            // Closing follows once every output before it is carried out.
            Output::CloseSession => {}
            other => tracing::warn!(?other, "output not known to this driver: ignored"),
        }
        None
    }

    /// A filesystem request, password check or transfer open: run here if it takes no time worth a thread
    /// (its answer is fed after the outputs being carried out now, as if it came back from
    /// one), else a job for the runtime.
    fn request(&mut self, task: Task<S>) -> Option<Action<S>> {
        if self.runs_here(&task) {
            let answer = match &task {
                Task::Fs {
                    id,
                    op,
                    storage,
                    cancel,
                    limits,
                } => work::fs(&**storage, *id, op, cancel, limits),
                Task::Auth { id, user, password } => {
                    let session = &self.admission.guard;
                    work::auth(&self.host, session, *id, user, password)
                }
                Task::Open {
                    id,
                    kind,
                    storage,
                    limits,
                } => {
                    self.queue.push_back(work::open(storage, *id, kind, limits));
                    return None;
                }
                Task::Transfer { .. } | Task::DataHeader { .. } => return None,
            };
            self.queue.push_back(Completion::Input(answer));
            return None;
        }
        // The one place a request becomes a job: it keeps the session's place while it runs.
        Some(Action::Run(Job {
            task,
            span: self.admission.span.clone(),
            session: self.admission.guard.clone(),
        }))
    }

    /// Whether `output` is a request that [`request`](Self::request) answers on the loop at
    /// once: a quick password check, or a filesystem request on local disk that runs here.
    fn answers_at_once(&self, output: &Output) -> bool {
        match output {
            Output::Authenticate { user, .. } => self.host.authenticate_is_quick(user),
            Output::Fs { op, .. } => self.fs_is_quick(op, &**self.storage.storage()),
            _ => false,
        }
    }

    /// Whether the filesystem request `op` on `storage` takes no time worth a thread: on local
    /// disk, a `stat` (SIZE, MDTM, CWD, MLST and the check before RETR: one system call, cheaper
    /// than the trip to a pool thread and back), or anything on a loop of its own. The
    /// session's own storage decides (a user's may differ from the root's).
    fn fs_is_quick(&self, op: &FsOp, storage: &dyn crate::storage::Storage) -> bool {
        let cheap = match self.blocking {
            Blocking::Allowed => true,
            Blocking::Never => matches!(op, FsOp::Stat(_)),
        };
        cheap && storage.capabilities().local
    }

    /// Whether `task` runs on the loop (see [`Blocking`]).
    fn runs_here(&self, task: &Task<S>) -> bool {
        match (self.blocking, task) {
            (_, Task::Transfer { .. } | Task::DataHeader { .. }) => false,
            (Blocking::Allowed, _) => true,
            (Blocking::Never, Task::Auth { user, .. }) => self.host.authenticate_is_quick(user),
            (Blocking::Never, Task::Fs { op, storage, .. }) => self.fs_is_quick(op, &**storage),
            // Opening a file on local disk is as quick (an upload over an existing file makes
            // its temporary file, one more call).
            (Blocking::Never, Task::Open { storage, .. }) => storage.capabilities().local,
        }
    }

    /// Before a proxied connection's session starts ([`proxied`]): gathers its PROXY header,
    /// then starts the session of the client it names (and returns `None` with `header`
    /// cleared: the session's own actions follow), or closes.
    fn poll_header(&mut self, now: Instant) -> Option<Action<S>> {
        loop {
            let wait = self.header.as_mut()?;
            if wait.closing {
                return self.close();
            }
            let next = self.queue.pop_front();
            let nothing_more = next.is_none();
            match wait.step(now, next) {
                Step::Wait(deadline) if nothing_more => {
                    return self.timer.arm(Some(deadline)).map(Action::ArmTimer);
                }
                Step::Wait(_) => {}
                Step::Close => {
                    wait.closing = true;
                    return self.close();
                }
                Step::Start { client, rest } => {
                    let local = wait.local;
                    let client = client.unwrap_or(self.peer);
                    // The per-address limit, bans and everything after count the client.
                    if !self
                        .host
                        .admission()
                        .place_client(&self.admission.guard, client)
                    {
                        wait.closing = true;
                        return Some(Action::Write(limits::TOO_MANY.to_vec()));
                    }
                    self.header = None;
                    let span = &self.admission.span;
                    span.record("peer", tracing::field::display(client));
                    tracing::debug!(proxy = %self.peer, "PROXY header read");
                    self.peer = client;
                    self.session = self.host.new_session(client, local, now);
                    let observe = self.host.observe().clone();
                    self.observer = SessionObserver::new(observe, self.admission.id, client);
                    if !rest.is_empty() {
                        if self.host.is_implicit(local) {
                            self.early = Some(rest);
                        } else {
                            let first = Completion::Input(Input::ControlBytes(rest));
                            self.queue.push_front(first);
                        }
                    }
                    return None;
                }
            }
        }
    }

    /// The session has closed: stop every transfer and drop every channel, then
    /// [`Action::Close`] once.
    fn close(&mut self) -> Option<Action<S>> {
        if self.closed {
            return None;
        }
        // close_notify before the FIN, on a control connection that is still there.
        if !self.replies.has_failed() {
            if let Some(bytes) = self.control.close_notify() {
                return Some(Action::Write(bytes));
            }
        }
        self.closed = true;
        self.queue.clear();
        self.transfers.abort_all();
        self.channels.clear();
        tracing::debug!("closed");
        Some(Action::Close)
    }
}
/// What a transfer job needs of the session.
fn setup<'a>(
    host: &'a Host,
    storage: &'a SessionStorage,
    admission: &'a Admission,
    limits: &'a SessionLimits,
) -> Setup<'a> {
    Setup {
        host,
        storage: storage.storage(),
        limits,
        span: &admission.span,
        session: &admission.guard,
        stall: host.reply_timeout(),
    }
}

#[cfg(test)]
mod memory_tests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
