//! Threads kept for reuse once their job ends, for a runtime whose sessions and helpers are
//! threads (thread per session: see [`sessions_on_threads`](super::capacity::sessions_on_threads)
//! for how many it can run).
//!
//! Such a runtime starts a thread for each session, each transfer, each passive accept and each
//! active connect. Starting and ending a thread costs tens of microseconds (a stack and a signal
//! stack mapped and unmapped, `clone`, the kernel's bookkeeping), more than a whole login
//! exchange on loopback. So a thread whose job is done waits, up to [`IDLE_FOR`], for the next
//! job instead of exiting; at most [`KEEP_IDLE`] wait at once.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Most threads waiting for a job at once; more exit when their job ends.
const KEEP_IDLE: usize = 256;
/// How long a thread waits for a job before it exits.
const IDLE_FOR: Duration = Duration::from_secs(10);

/// The waiting threads: an id each (to withdraw its offer) and where to send it a job.
static IDLE: Mutex<Vec<(u64, Sender<Job>)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn idle() -> MutexGuard<'static, Vec<(u64, Sender<Job>)>> {
    // The list stays consistent even if a holder panicked: every change is one push or remove.
    IDLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `job` on a waiting thread, or on a new one if none waits. Fails only if no thread could
/// be started (the job is then dropped unrun).
pub fn spawn(job: impl FnOnce() + Send + 'static) -> io::Result<()> {
    let mut job: Job = Box::new(job);
    loop {
        let Some((_, tx)) = idle().pop() else { break };
        match tx.send(job) {
            Ok(()) => return Ok(()),
            // That thread has gone meanwhile: try the next one.
            Err(mpsc::SendError(back)) => job = back,
        }
    }
    let (tx, rx) = mpsc::channel();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    thread::Builder::new()
        .name("thinftp".into())
        .spawn(move || work(job, id, &tx, &rx))
        .map(drop)
}

/// Runs jobs until none comes for [`IDLE_FOR`] or enough threads already wait.
fn work(first: Job, id: u64, tx: &Sender<Job>, rx: &Receiver<Job>) {
    let mut job = first;
    loop {
        job();
        {
            let mut idle = idle();
            if idle.len() >= KEEP_IDLE {
                return;
            }
            idle.push((id, tx.clone()));
        }
        job = match rx.recv_timeout(IDLE_FOR) {
            Ok(next) => next,
            Err(RecvTimeoutError::Timeout) => {
                let mut idle = idle();
                if let Some(at) = idle.iter().position(|(i, _)| *i == id) {
                    idle.swap_remove(at);
                    return;
                }
                drop(idle);
                // A caller of `spawn` took this thread's offer just now: its job is on the way.
                match rx.recv() {
                    Ok(next) => next,
                    Err(_) => return,
                }
            }
            // Never: `tx` is held here.
            Err(RecvTimeoutError::Disconnected) => return,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn jobs_run_and_threads_are_reused() {
        let (done, results) = mpsc::channel();
        let mut seen = Vec::new();
        for i in 0..3 {
            let done = done.clone();
            spawn(move || done.send((i, thread::current().id())).unwrap()).unwrap();
            // One job at a time: the next finds the thread of the last one waiting.
            let (n, worker) = results.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(n, i);
            seen.push(worker);
            while idle().is_empty() {
                thread::sleep(Duration::from_millis(1));
            }
        }
        assert!(seen.iter().all(|t| *t == seen[0]), "{seen:?}");
        // Jobs running at the same time get threads of their own.
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let mut ids = Vec::new();
        for i in 0..2 {
            let (done, gate) = (done.clone(), Arc::clone(&gate));
            spawn(move || {
                done.send((i, thread::current().id())).unwrap();
                let _ = gate.lock().unwrap().recv();
            })
            .unwrap();
            ids.push(results.recv_timeout(Duration::from_secs(5)).unwrap().1);
        }
        assert_ne!(ids[0], ids[1]);
        drop(release);
    }
}
