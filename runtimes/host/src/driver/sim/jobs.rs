//! The jobs a session's driver hands out, run by the real [`Job::run`]: filesystem requests,
//! password checks and opens right here when their completion is due (now and then failed
//! instead, as a job that could not start), transfers on a thread of their own in lockstep with
//! the simulation (`lockstep.rs`), a step per event.

use std::sync::Arc;

use thinftp::{FsOp, TransferId};

use super::data::SimData;
use super::lockstep::{Running, Step};
use super::world::{Event, World};
use crate::driver::work::Task;
use crate::driver::{Completion, Job};

impl World {
    pub(super) fn job(&mut self, i: usize, job: Job<SimData>) -> Result<(), String> {
        let completion = match &job.task {
            Task::Transfer { id, stream, .. } => {
                let (id, conn) = (*id, Arc::clone(&stream.0));
                let running = Running::start(job, conn, Arc::clone(&self.host), self.now)?;
                self.sims[i].running.insert(id, running);
                self.stats.transfers += 1;
                self.after_ms(10, Event::Step(i, id));
                return Ok(());
            }
            // The simulated host trusts no proxy, so no data connection waits for a header.
            Task::DataHeader { id, .. } => {
                return Err(format!(
                    "#{i}: data connection {id} waits for a PROXY header"
                ));
            }
            // A password check does not fail of itself.
            Task::Auth { .. } => job.run(&self.host),
            Task::Fs { .. } | Task::Open { .. } if self.rng.u8(..40) == 0 => {
                if let Task::Fs { op, .. } = &job.task {
                    if let FsOp::RemoveFile(path) = &**op {
                        self.sims[i].client.removal_failed(path, &self.storage);
                    }
                }
                Completion::Input(job.not_started())
            }
            Task::Fs { .. } | Task::Open { .. } => job.run(&self.host),
        };
        if let Some(driver) = &mut self.sims[i].driver {
            driver.complete(completion);
        }
        self.run_server(i)
    }

    /// The transfer's waiting read or write goes on with a chunk of random size, or its job
    /// returns.
    pub(super) fn step(&mut self, i: usize, id: TransferId) -> Result<(), String> {
        let chunk = self.rng.usize(1..=8192);
        let now = self.now;
        let Some(running) = self.sims[i].running.get_mut(&id) else {
            return Ok(());
        };
        let completion = match running.step(chunk, now)? {
            Step::Waits { progressed } => {
                let wait = if progressed { 10 } else { 200 };
                self.after_ms(wait, Event::Step(i, id));
                return Ok(());
            }
            Step::Done(completion) => completion,
        };
        self.sims[i].running.remove(&id);
        if let Completion::Input(input) = &completion {
            self.note(format!("#{i} transfer {id} ends: {input:?}"));
        }
        if let Some(driver) = &mut self.sims[i].driver {
            driver.complete(completion);
        }
        self.run_server(i)
    }
}
