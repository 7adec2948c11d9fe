//! A transfer job run by the real code: [`Job::run`] on a thread of its own, as a runtime runs
//! it, over a simulated data connection, in lockstep with the simulation (see `data.rs`): the
//! simulation waits while the thread runs, and the thread waits at each read and write until a
//! [`step`](Running::step) grants it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::data::{PipeRef, SimData};
use crate::driver::{Completion, Job};
use crate::Host;

/// A transfer job under way on its thread.
pub(super) struct Running {
    conn: PipeRef,
    thread: Option<JoinHandle<()>>,
    /// The job's completion (or the panic that ended it) once it returns.
    done: Receiver<Result<Completion<SimData>, String>>,
}

/// What a step of a transfer came to.
pub(super) enum Step {
    /// Waiting for its next grant; whether this one moved a byte.
    Waits { progressed: bool },
    /// The job returned this.
    Done(Completion<SimData>),
}

impl Running {
    /// Starts `job`, whose data connection is `conn`, at simulated time `now`, and runs it up
    /// to its first read or write.
    pub(super) fn start(
        job: Job<SimData>,
        conn: PipeRef,
        host: Arc<Host>,
        now: Duration,
    ) -> Result<Running, String> {
        {
            let mut pipe = conn.lock();
            pipe.turn.transfer_runs = true;
            pipe.turn.now = now;
            pipe.turn.last_progress = now;
        }
        let (report, done) = mpsc::channel();
        let ended = Arc::clone(&conn);
        let thread = thread::Builder::new()
            .name("sim-transfer".into())
            .spawn(move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| job.run(&host)));
                let _ = report.send(outcome.map_err(|panic| {
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default()
                }));
                let mut pipe = ended.lock();
                pipe.turn.ended = true;
                pipe.turn.transfer_runs = false;
                ended.signal.notify_all();
            })
            .map_err(|e| format!("no thread for a transfer: {e}"))?;
        let running = Running {
            conn,
            thread: Some(thread),
            done,
        };
        running.wait_for_turn();
        Ok(running)
    }

    /// Grants the transfer's waiting call up to `chunk` bytes at simulated time `now`, and
    /// waits until it waits again or its job returned.
    pub(super) fn step(&mut self, chunk: usize, now: Duration) -> Result<Step, String> {
        {
            let mut pipe = self.conn.lock();
            if !pipe.turn.ended {
                pipe.turn.grant = chunk;
                pipe.turn.now = now;
                pipe.turn.progressed = false;
                pipe.turn.transfer_runs = true;
                self.conn.signal.notify_all();
            }
        }
        let progressed = self.wait_for_turn();
        match self.done.try_recv() {
            Ok(Ok(completion)) => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
                Ok(Step::Done(completion))
            }
            Ok(Err(panic)) => Err(format!("the transfer job panicked: {panic}")),
            Err(_) => Ok(Step::Waits { progressed }),
        }
    }

    /// Waits while the thread runs; whether its call moved a byte.
    fn wait_for_turn(&self) -> bool {
        let mut pipe = self.conn.lock();
        while pipe.turn.transfer_runs {
            pipe = self.conn.wait(pipe);
        }
        pipe.turn.progressed
    }
}

impl Drop for Running {
    /// The simulation ends (a failed check) with the transfer waiting: every call of its stream
    /// fails from now on, so its job returns, and its thread is joined.
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.conn.lock().turn.teardown = true;
            self.conn.signal.notify_all();
            let _ = thread.join();
        }
    }
}
