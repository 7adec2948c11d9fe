//! The world of one seed: a host on a [`MemoryStorage`], its sessions' drivers and clients, the
//! simulated network between them, and the events that move them, in the order of a fake
//! clock. Events run one at a time; a transfer job runs on a thread of its own but only while
//! the simulation waits for it (`lockstep.rs`), so the same seed gives the same run.
//!
//! The world is built in `setup.rs`; the server's side of an event is in `server.rs`, the
//! client's in `traffic.rs`, jobs and transfers in `jobs.rs`, the checks at the end in
//! `finish.rs`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fastrand::Rng;
use thinftp::{DataId, Input, TransferId};

use super::client::Client;
use super::data::{PipeRef, SimData};
use super::lockstep::Running;
use super::net::{ControlIn, End, SimWaiter};
use crate::driver::{Completion, Driver, Job};
use crate::storage::MemoryStorage;
use crate::Host;

/// 2023-11-14T22:13:20Z, when every simulation starts.
pub(super) const EPOCH: i64 = 1_700_000_000;
/// Bytes of replies a client that stops reading leaves in the connection before the server's
/// writes wait.
pub(super) const CONTROL_BUFFER: usize = 8 * 1024;
/// The idle timeout, also how long a transfer may stall and a reply write may wait.
pub(super) const IDLE: u64 = 60;
/// By then every session must have ended.
const HORIZON: Duration = Duration::from_secs(3600);
/// Events of one seed at most: a livelock ends here.
const MAX_EVENTS: usize = 5_000_000;
/// Lines of the trace shown when a seed fails.
pub(super) const TRACE: usize = 60;

pub(super) type SimDriver = Driver<SimData, SimWaiter>;

#[derive(Debug)]
pub(super) enum Event {
    /// Client bytes arrive at the server.
    Arrive(usize, Vec<u8>),
    /// The client's end of the control connection arrives.
    Ends(usize, End),
    /// The server's loop runs.
    Run(usize),
    Timer(usize, Instant),
    /// A job's completion is due: it runs now.
    Job(usize, Box<Job<SimData>>),
    /// A running transfer's next read or write may go on.
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

/// One session: the server's driver, the client, and the network between them.
pub(super) struct Sim {
    pub(super) driver: Option<SimDriver>,
    pub(super) client: Client,
    pub(super) ip: IpAddr,
    pub(super) input: ControlIn,
    /// The latest instant the driver asked its timer for.
    pub(super) armed: Option<Instant>,
    /// In a reply write that waits for the client to read.
    pub(super) blocked: bool,
    pub(super) unread: usize,
    /// The last passive listener: its id and whether it still accepts.
    pub(super) listener: Option<(DataId, Rc<std::cell::Cell<bool>>)>,
    /// Transfer jobs under way, each on its thread.
    pub(super) running: HashMap<TransferId, Running>,
    /// When the client's next bytes may arrive at the earliest (bytes keep their order).
    pub(super) arrive_after: Duration,
    pub(super) closed: bool,
}

pub(super) struct World {
    pub(super) rng: Rng,
    pub(super) host: Arc<Host>,
    pub(super) storage: MemoryStorage,
    pub(super) base: Instant,
    pub(super) now: Duration,
    /// How far the server's clock is ahead of the simulation's after jumps.
    pub(super) skew: Duration,
    pub(super) shutting_down: bool,
    pub(super) seq: u64,
    pub(super) events: BTreeMap<(Duration, u64), Event>,
    pub(super) sims: Vec<Sim>,
    pub(super) trace: VecDeque<String>,
    /// Lines of the trace kept: [`TRACE`], or `THINFTP_SIM_TRACE` for a replay.
    pub(super) trace_len: usize,
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
    /// Checks of the client's model that passed, by kind.
    pub(super) checks: BTreeMap<&'static str, usize>,
}

/// A failed check, with the trace that led to it.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) message: String,
    pub(super) trace: Vec<String>,
}

impl World {
    pub(super) fn at(&mut self, at: Duration, event: Event) {
        self.seq += 1;
        self.events.insert((at.max(self.now), self.seq), event);
    }

    pub(super) fn after_ms(&mut self, max_ms: u64, event: Event) {
        let delay = Duration::from_millis(self.rng.u64(0..=max_ms));
        self.at(self.now + delay, event);
    }

    pub(super) fn instant(&self) -> Instant {
        self.base + self.now + self.skew
    }

    pub(super) fn note(&mut self, line: String) {
        while self.trace.len() >= self.trace_len.max(1) {
            self.trace.pop_front();
        }
        self.trace
            .push_back(format!("{:>9.3}s {line}", self.now.as_secs_f64()));
    }

    pub(super) fn fail(&self, message: String) -> Failure {
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

    pub(super) fn event(&mut self, event: Event) -> Result<(), String> {
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
}
