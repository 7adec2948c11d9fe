//! The world of one seed: a host on a [`MemoryStorage`], its sessions' drivers and clients, the
//! simulated network between them, and the events that move them, in the order of a fake
//! clock. Single-threaded: a job runs when its completion is due, a transfer moves a chunk per
//! step, so the same seed gives the same run.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fastrand::Rng;
use thinftp::{
    render_entry, DataId, FsError, Input, Permissions, TransferError, TransferId, TransferKind,
    VirtualPath,
};
use tracing::Span;

use super::client::{Act, Client};
use super::model::{Model, Node};
use super::net::{ControlIn, End, Pipe, PipeRef, SimData, SimWaiter, DATA_BUFFER};
use super::plan::plan;
use super::replies::parse_batch;
use crate::auth::Users;
use crate::driver::work::{self, Task};
use crate::driver::{Action, Blocking, Completion, Driver, Job};
use crate::limits::SessionGuard;
use crate::shutdown::TransferGuard;
use crate::storage::{Capabilities, MemoryStorage, Storage, WriteStream};
use crate::transfer::AbortHandle;
use crate::{Admission, Host};

/// 2023-11-14T22:13:20Z, when every simulation starts.
const EPOCH: i64 = 1_700_000_000;
/// Bytes of replies a client that stops reading leaves in the connection before the server's
/// writes wait.
const CONTROL_BUFFER: usize = 8 * 1024;
/// The idle timeout, also how long a transfer may stall and a reply write may wait.
const IDLE: u64 = 60;
/// By then every session must have ended.
const HORIZON: Duration = Duration::from_secs(3600);
/// Events of one seed at most: a livelock ends here.
const MAX_EVENTS: usize = 5_000_000;
/// Lines of the trace shown when a seed fails.
const TRACE: usize = 60;

type SimDriver = Driver<SimData, SimWaiter>;

#[derive(Debug)]
enum Event {
    /// Client bytes arrive at the server.
    Arrive(usize, Vec<u8>),
    /// The client's end of the control connection arrives.
    Ends(usize, End),
    /// The server's loop runs.
    Run(usize),
    Timer(usize, Instant),
    /// A job's completion is due: it runs now.
    Job(usize, Box<Job<SimData>>),
    Step(usize, TransferId),
    WriteFailed(usize),
    /// The client starts its next operation.
    Wake(usize),
    /// The client connects to its server's last passive listener.
    Connect(usize),
    /// The client moves its transfer's data.
    Data(usize),
    /// The server's connect to the client ends.
    Connected(usize, DataId, SocketAddr, Option<PipeRef>),
    /// The clock the server sees jumps ahead (a suspended machine, a stalled VM).
    Jump(Duration),
    /// The server shuts down: every session is told to stop, no new one starts.
    Shutdown,
}

/// The sim's own stream of an opened transfer (the driver holds the `Opened` of the real code,
/// which only a `TcpStream` can move; see the module docs).
enum Source {
    Send(Vec<u8>, usize),
    Receive(Box<dyn WriteStream>, u64),
}

struct Moving {
    source: Source,
    pipe: PipeRef,
    /// Dropped at the end: the client sees the connection close.
    stream: Option<SimData>,
    abort: AbortHandle,
    counted: Option<TransferGuard>,
    _session: SessionGuard,
    stall: Duration,
    last_progress: Duration,
}

struct Sim {
    driver: Option<SimDriver>,
    client: Client,
    ip: IpAddr,
    input: ControlIn,
    /// The latest instant the driver asked its timer for.
    armed: Option<Instant>,
    /// In a reply write that waits for the client to read.
    blocked: bool,
    unread: usize,
    /// The last passive listener: its id and whether it still accepts.
    listener: Option<(DataId, Rc<std::cell::Cell<bool>>)>,
    opened: HashMap<TransferId, Source>,
    moving: HashMap<TransferId, Moving>,
    /// When the client's next bytes may arrive at the earliest (bytes keep their order).
    arrive_after: Duration,
    closed: bool,
}

pub(super) struct World {
    rng: Rng,
    host: Arc<Host>,
    storage: MemoryStorage,
    base: Instant,
    now: Duration,
    /// How far the server's clock is ahead of the simulation's after jumps.
    skew: Duration,
    shutting_down: bool,
    seq: u64,
    events: BTreeMap<(Duration, u64), Event>,
    sims: Vec<Sim>,
    trace: VecDeque<String>,
    pub(super) stats: Stats,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Stats {
    /// Final replies by code.
    pub(super) codes: BTreeMap<u16, usize>,
    pub(super) events: usize,
    pub(super) replies: usize,
    pub(super) transfers: usize,
    pub(super) sim_time: Duration,
}

/// A failed check, with the trace that led to it.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) message: String,
    pub(super) trace: Vec<String>,
}

impl World {
    pub(super) fn new(seed: u64, sessions: usize) -> World {
        let mut rng = Rng::with_seed(seed);
        let mut caps = Capabilities::all();
        // Every filesystem request and open is a job, so that it can be slow and interleave.
        caps.local = false;
        if rng.u8(..4) == 0 {
            caps.append = false;
            caps.write_at_offset = rng.bool();
            caps.rename_dir = rng.bool();
        }
        let storage = MemoryStorage::with_capabilities(caps);
        storage.set_now(EPOCH);
        storage.set_capacity(if rng.u8(..3) == 0 {
            rng.u64(5_000..60_000)
        } else {
            1 << 30
        });
        storage.put_file("/outside", b"SECRET-root");
        let idle = IDLE.to_string();
        let options = crate::Options::try_parse_args([
            "thinftp-sim",
            "--busy-poll",
            "0",
            "--idle-timeout",
            &idle,
            "--data-timeout",
            "10",
            "--login-timeout",
            "30",
            "--max-sessions",
            "100000",
            "--max-sessions-per-ip",
            "100000",
        ])
        .expect("the simulator's options");
        let host = Arc::new(
            Host::with_storage(&options, Arc::new(storage.clone())).expect("a host on memory"),
        );
        let mut users = Users::new();
        let base = Instant::now();
        let mut sims = Vec::new();
        for i in 0..sessions {
            let home = format!("/h{i}");
            storage.put_dir(&home);
            storage.put_file(
                &format!("{home}/secret"),
                format!("<SECRET-h{i}>").as_bytes(),
            );
            let mut model = Model::new();
            let root = VirtualPath::root();
            model.put(
                &root.resolve("secret").unwrap(),
                Node::File(format!("<SECRET-h{i}>").into_bytes()),
            );
            if rng.bool() {
                storage.put_file(&format!("{home}/a"), b"old a\n");
                model.put(&root.resolve("a").unwrap(), Node::File(b"old a\n".to_vec()));
            }
            if rng.bool() {
                storage.put_file(&format!("{home}/d/e"), b"old e\n");
                model.put(&root.resolve("d").unwrap(), Node::Dir);
                model.put(
                    &root.resolve("d/e").unwrap(),
                    Node::File(b"old e\n".to_vec()),
                );
            }
            let user = format!("u{i}");
            let password = format!("p{i}");
            let write = rng.u8(..8) != 0;
            let home_path = root.resolve(&home).unwrap();
            users
                .add_plain(&user, &password, Permissions::new(home_path.clone(), write))
                .unwrap();
            let ops = plan(&mut rng, &user, &password, sessions);
            let mut client = Client::new(user, home_path, model, ops);
            client.own_secret = format!("<SECRET-h{i}>");
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32 + 1));
            client.ip = ip.to_string();
            sims.push(Sim {
                driver: None,
                client,
                ip,
                input: ControlIn::default(),
                armed: None,
                blocked: false,
                unread: 0,
                listener: None,
                opened: HashMap::new(),
                moving: HashMap::new(),
                arrive_after: Duration::ZERO,
                closed: false,
            });
        }
        host.set_users(users);
        let mut world = World {
            rng,
            host,
            storage,
            base,
            now: Duration::ZERO,
            skew: Duration::ZERO,
            shutting_down: false,
            seq: 0,
            events: BTreeMap::new(),
            sims,
            trace: VecDeque::new(),
            stats: Stats::default(),
        };
        for i in 0..sessions {
            let at = Duration::from_millis(world.rng.u64(0..2_000));
            world.at(at, Event::Run(i));
        }
        if world.rng.u8(..5) == 0 {
            let at = Duration::from_millis(world.rng.u64(0..60_000));
            let by = Duration::from_secs(world.rng.u64(1..200));
            world.at(at, Event::Jump(by));
        }
        if world.rng.u8(..6) == 0 {
            let at = Duration::from_millis(world.rng.u64(0..30_000));
            world.at(at, Event::Shutdown);
        }
        world
    }

    fn at(&mut self, at: Duration, event: Event) {
        self.seq += 1;
        self.events.insert((at.max(self.now), self.seq), event);
    }

    fn after_ms(&mut self, max_ms: u64, event: Event) {
        let delay = Duration::from_millis(self.rng.u64(0..=max_ms));
        self.at(self.now + delay, event);
    }

    fn instant(&self) -> Instant {
        self.base + self.now + self.skew
    }

    fn note(&mut self, line: String) {
        if self.trace.len() == TRACE {
            self.trace.pop_front();
        }
        self.trace
            .push_back(format!("{:>9.3}s {line}", self.now.as_secs_f64()));
    }

    fn fail(&self, message: String) -> Failure {
        Failure {
            message,
            trace: self.trace.iter().cloned().collect(),
        }
    }

    /// Runs every event, checking as it goes; at the end every session must have closed and
    /// the storage must hold what every client's replies say.
    pub(super) fn run(&mut self) -> Result<(), Failure> {
        while let Some(((at, _), event)) = self.events.pop_first() {
            self.now = at;
            self.stats.events += 1;
            if at > HORIZON || self.stats.events > MAX_EVENTS {
                return Err(self.fail(format!("still running at {at:?}: a hang or a livelock")));
            }
            let wall = i64::try_from((at + self.skew).as_secs()).unwrap_or(i64::MAX);
            self.storage.set_now(EPOCH.saturating_add(wall));
            self.event(event).map_err(|e| self.fail(e))?;
        }
        self.stats.sim_time = self.now;
        self.finish().map_err(|e| self.fail(e))
    }

    fn event(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Run(i) => self.run_server(i),
            Event::Arrive(i, bytes) => {
                let sim = &mut self.sims[i];
                sim.input.bytes.extend(bytes);
                self.read(i)
            }
            Event::Ends(i, end) => {
                self.note(format!("#{i} client ends: {end:?}"));
                self.sims[i].input.end = Some(end);
                self.read(i)
            }
            Event::Timer(i, at) => {
                let sim = &mut self.sims[i];
                if sim.armed == Some(at) {
                    if let Some(driver) = &mut sim.driver {
                        driver.timer_fired();
                    }
                    sim.armed = None;
                }
                self.run_server(i)
            }
            Event::Job(i, job) => self.job(i, *job),
            Event::Step(i, id) => self.step(i, id),
            Event::WriteFailed(i) => {
                let sim = &mut self.sims[i];
                sim.blocked = false;
                if let Some(driver) = &mut sim.driver {
                    driver.write_failed(&io::ErrorKind::TimedOut.into());
                }
                self.note(format!("#{i} reply write timed out"));
                self.run_server(i)
            }
            Event::Wake(i) => {
                let acts = self.sims[i].client.wake();
                self.acts(i, acts)
            }
            Event::Connect(i) => self.connect(i),
            Event::Connected(i, id, addr, pipe) => {
                let result = pipe
                    .map(SimData)
                    .ok_or_else(|| io::ErrorKind::TimedOut.into());
                if let Some(driver) = &mut self.sims[i].driver {
                    driver.complete(Completion::Connected { id, result, addr });
                }
                self.run_server(i)
            }
            Event::Jump(by) => {
                self.note(format!("the server's clock jumps {by:?} ahead"));
                self.skew += by;
                for i in 0..self.sims.len() {
                    self.run_server(i)?;
                }
                Ok(())
            }
            Event::Shutdown => {
                self.note("the server shuts down".to_owned());
                self.shutting_down = true;
                for i in 0..self.sims.len() {
                    if let Some(driver) = &mut self.sims[i].driver {
                        driver.complete(Completion::Input(Input::Shutdown));
                    }
                    self.run_server(i)?;
                }
                Ok(())
            }
            Event::Data(i) => {
                let chunk = self.rng.usize(1..=8192);
                let (acts, more) = self.sims[i]
                    .client
                    .data_step(chunk)
                    .map_err(|e| format!("#{i}: {e}"))?;
                if more {
                    self.after_ms(20, Event::Data(i));
                }
                self.acts(i, acts)
            }
        }
    }

    /// The server reads what has arrived, in reads of random size; what is left is read soon.
    fn read(&mut self, i: usize) -> Result<(), String> {
        let next = if self.rng.bool() {
            self.rng.usize(1..=64)
        } else {
            usize::MAX
        };
        let sim = &mut self.sims[i];
        let Some(driver) = &mut sim.driver else {
            return Ok(());
        };
        sim.input.next_read = next;
        if driver.read_control(&mut sim.input)
            && driver.wants_control()
            && (!sim.input.bytes.is_empty() || sim.input.end.is_some())
        {
            self.after_ms(5, Event::Arrive(i, Vec::new()));
        }
        self.run_server(i)
    }

    fn run_server(&mut self, i: usize) -> Result<(), String> {
        if self.sims[i].driver.is_none() && !self.sims[i].closed {
            if self.shutting_down {
                // Not accepted any more: the client is never greeted.
                let sim = &mut self.sims[i];
                sim.closed = true;
                sim.client.gone = true;
                return Ok(());
            }
            self.start(i);
        }
        loop {
            let now = self.instant();
            let sim = &mut self.sims[i];
            if sim.blocked {
                return Ok(());
            }
            let Some(driver) = &mut sim.driver else {
                return Ok(());
            };
            let Some(action) = driver.poll_action(now) else {
                return Ok(());
            };
            self.action(i, action)?;
        }
    }

    fn start(&mut self, i: usize) {
        let sim = &mut self.sims[i];
        let guard = self
            .host
            .admission()
            .try_admit(sim.ip)
            .expect("the simulator's limits admit every session");
        let admission = Admission {
            id: i as u64,
            span: Span::none(),
            guard,
            proxied: false,
        };
        let peer = SocketAddr::new(sim.ip, 40_000);
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1)), 21);
        sim.driver = Some(Driver::new(
            Arc::clone(&self.host),
            admission,
            peer,
            local,
            self.base + self.now + self.skew,
            Blocking::Never,
        ));
    }

    fn action(&mut self, i: usize, action: Action<SimData>) -> Result<(), String> {
        match action {
            Action::Write(bytes) => self.write(i, &bytes),
            Action::Run(job) => {
                let slow = self.rng.u8(..20) == 0;
                let max = if slow { 3_000 } else { 30 };
                self.after_ms(max, Event::Job(i, Box::new(job)));
                Ok(())
            }
            Action::Listen { id, .. } => {
                let port = 20_000 + self.rng.u16(..10_000);
                let sim = &mut self.sims[i];
                let driver = sim.driver.as_mut().expect("a driver gives actions");
                if self.rng.u8(..30) == 0 {
                    driver.listening(id, Err(io::ErrorKind::AddrInUse.into()));
                    return Ok(());
                }
                let (waiter, open) = SimWaiter::new();
                sim.listener = Some((id, open));
                let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1)), port);
                driver.listening(id, Ok((waiter, addr)));
                Ok(())
            }
            Action::Connect { id, addr, timeout } => {
                let (waiter, _open) = SimWaiter::new();
                let sim = &mut self.sims[i];
                sim.driver
                    .as_mut()
                    .expect("a driver gives actions")
                    .connecting(id, waiter);
                let ours = addr.ip() == sim.ip && addr.port() == 40_002;
                match sim.client.accepts_connect().filter(|_| ours) {
                    Some(true) => {
                        let pipe: PipeRef = Rc::new(RefCell::new(Pipe::default()));
                        sim.client.set_pipe(Some(Rc::clone(&pipe)));
                        self.after_ms(50, Event::Connected(i, id, addr, Some(pipe)));
                        self.after_ms(20, Event::Data(i));
                    }
                    // Nobody answers: the connect times out.
                    Some(false) => self.at(self.now + timeout, Event::Connected(i, id, addr, None)),
                    None => self.after_ms(5, Event::Connected(i, id, addr, None)),
                }
                Ok(())
            }
            Action::ArmTimer(at) => {
                self.sims[i].armed = Some(at);
                let when = at.saturating_duration_since(self.base + self.skew);
                self.at(when, Event::Timer(i, at));
                Ok(())
            }
            Action::Close => {
                self.note(format!("#{i} server closes"));
                let sim = &mut self.sims[i];
                sim.driver = None;
                sim.closed = true;
                sim.listener = None;
                let c = &sim.client;
                let excused =
                    c.gone || !c.reads || c.quit_sent || matches!(c.last_final, Some(421 | 221));
                if c.unanswered() > 0 && !excused {
                    return Err(format!(
                        "#{i} closed with {} commands unanswered (last final reply {:?})",
                        c.unanswered(),
                        c.last_final
                    ));
                }
                if !excused && !c.finished() {
                    return Err(format!("#{i} closed before its client was done"));
                }
                Ok(())
            }
        }
    }

    /// A batch of replies: checked, then read by the client (or left unread).
    fn write(&mut self, i: usize, bytes: &[u8]) -> Result<(), String> {
        let replies = parse_batch(bytes).map_err(|e| format!("#{i}: {e}"))?;
        self.stats.replies += replies.len();
        for reply in &replies {
            *self.stats.codes.entry(reply.code).or_default() += 1;
        }
        let text = String::from_utf8_lossy(bytes)
            .trim_end()
            .replace("\r\n", " | ");
        self.note(format!("#{i} <- {text}"));
        let sim = &mut self.sims[i];
        if sim.client.gone && sim.input.end == Some(End::Reset) {
            if let Some(driver) = &mut sim.driver {
                driver.write_failed(&io::ErrorKind::ConnectionReset.into());
            }
            return Ok(());
        }
        if !sim.client.reads {
            sim.unread += bytes.len();
            if sim.unread > CONTROL_BUFFER {
                sim.blocked = true;
                let timeout = sim
                    .driver
                    .as_ref()
                    .map_or(Duration::ZERO, |d| d.write_timeout());
                self.at(self.now + timeout, Event::WriteFailed(i));
                return Ok(());
            }
        }
        for reply in &replies {
            let acts = self.sims[i]
                .client
                .on_reply(reply, &self.storage)
                .map_err(|e| format!("#{i} ({}): {e}", self.sims[i].client.user))?;
            self.acts(i, acts)?;
        }
        Ok(())
    }

    fn acts(&mut self, i: usize, acts: Vec<Act>) -> Result<(), String> {
        for act in acts {
            match act {
                Act::Send(bytes) => self.send(i, bytes),
                Act::Connect => self.after_ms(50, Event::Connect(i)),
                Act::Hang(end) => {
                    let at = self.sims[i].arrive_after.max(self.now);
                    self.at(at, Event::Ends(i, end));
                }
                Act::Next => {
                    let pause = if self.rng.u8(..10) == 0 { 5_000 } else { 50 };
                    self.after_ms(pause, Event::Wake(i));
                }
            }
        }
        Ok(())
    }

    /// Client bytes on their way, split at random points, each piece delayed, in order.
    fn send(&mut self, i: usize, bytes: Vec<u8>) {
        let text = String::from_utf8_lossy(&bytes)
            .trim_end()
            .replace("\r\n", " | ");
        let shown: String = text.chars().take(200).collect();
        self.note(format!("#{i} -> {shown}"));
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let cut = if self.rng.bool() {
                rest.len()
            } else {
                self.rng.usize(1..=rest.len())
            };
            let (piece, tail) = rest.split_at(cut);
            rest = tail;
            let delay = Duration::from_millis(self.rng.u64(0..40));
            let at = self.sims[i].arrive_after.max(self.now + delay);
            self.sims[i].arrive_after = at;
            self.at(at, Event::Arrive(i, piece.to_vec()));
        }
    }

    fn connect(&mut self, i: usize) -> Result<(), String> {
        let sim = &mut self.sims[i];
        let open = sim
            .listener
            .as_ref()
            .filter(|(_, open)| open.get())
            .map(|(id, _)| *id);
        let Some(id) = open else {
            sim.client.set_pipe(None);
            self.note(format!("#{i} data connection refused"));
            return Ok(());
        };
        let pipe: PipeRef = Rc::new(RefCell::new(Pipe::default()));
        sim.client.set_pipe(Some(Rc::clone(&pipe)));
        let peer = SocketAddr::new(sim.ip, 40_001);
        if let Some(driver) = &mut sim.driver {
            driver.complete(Completion::Accepted {
                id,
                stream: SimData(pipe),
                peer,
            });
        }
        self.note(format!("#{i} data connected"));
        self.after_ms(20, Event::Data(i));
        self.run_server(i)
    }

    fn job(&mut self, i: usize, job: Job<SimData>) -> Result<(), String> {
        let fault = self.rng.u8(..40) == 0;
        let completion = match job.task {
            Task::Fs {
                id,
                op,
                storage,
                limits,
                cancel,
            } => {
                let input = if fault {
                    Input::Fs {
                        id,
                        result: Err(FsError::Other),
                    }
                } else {
                    work::fs(&*storage, id, &op, &cancel, &limits)
                };
                Completion::Input(input)
            }
            Task::Auth { id, user, password } => {
                Completion::Input(work::auth(&self.host, &job.session, id, &user, &password))
            }
            Task::Open {
                id,
                kind,
                storage,
                limits,
            } => {
                if fault {
                    Completion::Input(Input::TransferDone {
                        id,
                        result: Err(TransferError::Fs(FsError::Other)),
                    })
                } else {
                    let completion = work::open(&storage, id, &kind, &limits);
                    if matches!(completion, Completion::TransferOpened { .. }) {
                        let source = open_source(&*storage, &kind)?;
                        self.sims[i].opened.insert(id, source);
                    }
                    completion
                }
            }
            // The simulated host trusts no proxy, so no data connection waits for a header.
            Task::DataHeader { id, .. } => {
                return Err(format!(
                    "#{i}: data connection {id} waits for a PROXY header"
                ));
            }
            Task::Transfer {
                id,
                opened,
                stream,
                // The simulated sessions have no TLS: their data is always PROT C.
                tls: _,
                stall,
                abort,
                counted,
            } => {
                drop(opened);
                let source = self.sims[i]
                    .opened
                    .remove(&id)
                    .ok_or_else(|| format!("#{i}: transfer {id} moves without being opened"))?;
                let pipe = Rc::clone(&stream.0);
                self.sims[i].moving.insert(
                    id,
                    Moving {
                        source,
                        pipe,
                        stream: Some(stream),
                        abort,
                        counted: Some(counted),
                        _session: job.session,
                        stall,
                        last_progress: self.now,
                    },
                );
                self.stats.transfers += 1;
                self.after_ms(10, Event::Step(i, id));
                return Ok(());
            }
        };
        if let Some(driver) = &mut self.sims[i].driver {
            driver.complete(completion);
        }
        self.run_server(i)
    }

    /// A transfer moves a chunk, or ends.
    fn step(&mut self, i: usize, id: TransferId) -> Result<(), String> {
        let chunk = self.rng.usize(1..=8192);
        let now = self.now;
        let Some(moving) = self.sims[i].moving.get_mut(&id) else {
            return Ok(());
        };
        let mut progressed = false;
        let result: Option<Result<u64, TransferError>> = if moving.abort.is_aborted() {
            Some(Err(TransferError::Aborted))
        } else {
            let mut pipe = moving.pipe.borrow_mut();
            if pipe.client_reset {
                Some(Err(TransferError::ConnectionLost))
            } else {
                match &mut moving.source {
                    Source::Send(data, pos) => {
                        let room = DATA_BUFFER.saturating_sub(pipe.to_client.len());
                        let n = chunk.min(room).min(data.len() - *pos);
                        pipe.to_client.extend(&data[*pos..*pos + n]);
                        *pos += n;
                        progressed = n > 0;
                        (*pos == data.len()).then_some(Ok(data.len() as u64))
                    }
                    Source::Receive(upload, received) => {
                        let n = chunk.min(pipe.to_server.len());
                        let bytes: Vec<u8> = pipe.to_server.drain(..n).collect();
                        upload
                            .write_all(&bytes)
                            .map_err(|e| format!("memory upload write: {e}"))?;
                        *received += n as u64;
                        progressed = n > 0;
                        (pipe.to_server.is_empty() && pipe.client_fin).then_some(Ok(*received))
                    }
                }
            }
        };
        if progressed {
            moving.last_progress = now;
        }
        let result = match result {
            Some(result) => Some(result),
            None if now.saturating_sub(moving.last_progress) >= moving.stall => {
                Some(Err(TransferError::ConnectionLost))
            }
            None => None,
        };
        let Some(result) = result else {
            let wait = if progressed { 10 } else { 200 };
            self.after_ms(wait, Event::Step(i, id));
            return Ok(());
        };
        let mut moving = self.sims[i].moving.remove(&id).expect("looked up above");
        let result = match (result, moving.source) {
            (Ok(received), Source::Receive(upload, _)) => {
                // As the real transfer does: an abort that came first wins over the end of data.
                if moving.abort.is_aborted() {
                    Err(TransferError::Aborted)
                } else {
                    upload
                        .commit()
                        .map(|()| received)
                        .map_err(TransferError::Fs)
                }
            }
            (result, _) => result,
        };
        drop(moving.stream.take());
        drop(moving.counted.take());
        self.note(format!("#{i} transfer {id} ends: {result:?}"));
        if let Some(driver) = &mut self.sims[i].driver {
            driver.complete(Completion::Input(Input::TransferDone { id, result }));
        }
        self.run_server(i)
    }

    /// After the last event: every session closed, the tree is what the replies made it.
    fn finish(&mut self) -> Result<(), String> {
        for (i, sim) in self.sims.iter().enumerate() {
            if !sim.closed {
                return Err(format!("#{i} never closed (a hang)"));
            }
            if !sim.moving.is_empty() {
                return Err(format!("#{i} has transfers left running"));
            }
        }
        if self.host.admission().active() != 0 {
            return Err(format!(
                "{} sessions still hold a place after every session closed",
                self.host.admission().active()
            ));
        }
        if self.host.lifecycle().transfers().count() != 0 {
            return Err("a transfer still counts after every session closed".into());
        }
        let mut expected: BTreeMap<String, Node> = BTreeMap::new();
        expected.insert("/".into(), Node::Dir);
        expected.insert("/outside".into(), Node::File(b"SECRET-root".to_vec()));
        for sim in &self.sims {
            let home = &sim.client.home;
            for (path, node) in sim.client.model.iter() {
                let path = VirtualPath::root().resolve(path).expect("a model path");
                expected.insert(home.join(&path).as_str().to_owned(), node.clone());
            }
        }
        let mut actual = BTreeMap::new();
        for path in self.storage.paths() {
            let node = match self.storage.file(&path) {
                Some(data) => Node::File(data),
                None => Node::Dir,
            };
            actual.insert(path, node);
        }
        for sim in &self.sims {
            for path in sim.client.unsettled() {
                let path = sim.client.home.join(&path);
                let below = format!("{}/", path.as_str());
                let settled = |k: &String| k != path.as_str() && !k.starts_with(&below);
                actual.retain(|k, _| settled(k));
                expected.retain(|k, _| settled(k));
            }
        }
        if actual != expected {
            let differ: Vec<String> = actual
                .keys()
                .chain(expected.keys())
                .filter(|k| actual.get(*k) != expected.get(*k))
                .take(5)
                .map(|k| format!("{k}: {:?} vs expected {:?}", actual.get(k), expected.get(k)))
                .collect();
            return Err(format!("the tree differs from the replies: {differ:?}"));
        }
        Ok(())
    }
}

/// The sim's own stream for an opened transfer: what the real `open_transfer` opened, read
/// the same way (a snapshot of the file from its offset, the listing rendered as the real
/// transfer renders it, the upload's stream).
fn open_source(storage: &dyn Storage, kind: &TransferKind) -> Result<Source, String> {
    let fail = |e: FsError| format!("the sim cannot reopen what the real open opened: {e:?}");
    Ok(match kind {
        TransferKind::SendFile {
            path,
            offset,
            ascii,
        } => {
            if *ascii {
                return Err("TYPE A transfers are not simulated".into());
            }
            let mut data = Vec::new();
            storage
                .open_read(path, *offset)
                .map_err(fail)?
                .read_to_end(&mut data)
                .map_err(|e| e.to_string())?;
            Source::Send(data, 0)
        }
        TransferKind::ReceiveFile { path, mode, ascii } => {
            if *ascii {
                return Err("TYPE A transfers are not simulated".into());
            }
            Source::Receive(storage.open_write(path, *mode).map_err(fail)?, 0)
        }
        TransferKind::SendBytes(bytes) => Source::Send(bytes.to_vec(), 0),
        TransferKind::SendListing {
            path,
            format,
            name,
            pattern,
        } => {
            let entries = match storage.list(path, format.needs_metadata()) {
                Ok(dir) => {
                    let mut all: Vec<_> = dir.collect::<Result<_, _>>().map_err(fail)?;
                    if let Some(pattern) = pattern {
                        all.retain(|entry| pattern.matches(&entry.name));
                        for entry in &mut all {
                            pattern.present(*format, entry);
                        }
                    }
                    all.sort_by(|a: &thinftp::DirEntry, b| a.name.cmp(&b.name));
                    all
                }
                Err(FsError::NotADirectory) => {
                    vec![thinftp::DirEntry::new(
                        name.clone(),
                        storage.stat(path).map_err(fail)?,
                    )]
                }
                Err(e) => return Err(fail(e)),
            };
            let mut out = String::new();
            for entry in &entries {
                render_entry(*format, entry, storage.now(), &mut out);
            }
            Source::Send(out.into_bytes(), 0)
        }
        other => return Err(format!("transfer kind {other:?} not simulated")),
    })
}
