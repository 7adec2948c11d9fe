//! The deterministic simulator: the [`Driver`](super::Driver) of many sessions at once over a
//! simulated network, an in-memory storage and a fake clock, every choice drawn from one seed.
//!
//! A seed makes a [`World`](world::World): a host serving a [`MemoryStorage`] (sometimes with
//! fewer capabilities, sometimes nearly full), one user per session with a home of its own
//! holding a secret, and a client per session with a plan (see `plan.rs`): logins good and
//! bad, MKD/RMD/DELE/RNFR+RNTO/CWD/SIZE/STAT/..., pipelined groups, STOR/APPE/REST+STOR/RETR/
//! REST+RETR/NLST/LIST over PASV or EPSV, floods from a client that never reads, and an end
//! (QUIT, a hang-up or a reset). Faults come from the seed too: commands split at random points
//! and delayed, partial reads, slow jobs, storage errors, a passive listener that cannot be
//! opened, data connections reset, aborted, stalled, never made or never read.
//!
//! Checked at every step: every batch of replies is well formed; every final reply answers a
//! command (each command gets one); every change a reply reports is in the storage and a
//! failed one changed nothing (a failed or aborted upload keeps the old file; a completed one
//! holds exactly the bytes sent); downloads and NLST show what the replies made; no reply or
//! data shows another home's secret; a session closes only with its commands answered (or its
//! client gone). At the end: every session closed by the [`HORIZON`](world) of simulated time,
//! no transfer left, and the whole tree is what the replies said.
//!
//! Jobs run in the simulator, through the functions the driver uses (`work::fs`,
//! `work::auth`, `work::open`). Moving a transfer's bytes is the one thing the real code cannot
//! do here: `Job::run` and `move_bytes` need a `TcpStream` (sendfile, splice, the abort
//! handle's shutdown). So the simulator keeps its own stream of each opened transfer, opened
//! the same way right after the real open succeeded, and moves it through an in-memory pipe
//! a random chunk at a time, with the real code's rules (an abort wins over the end of data;
//! a stall of the idle timeout is a lost connection; commit only at a clean end).
//!
//! Run: `cargo test -p thinftp-host sim` runs [`SEEDS`] seeds of [`SESSIONS`] sessions.
//! `THINFTP_SIM_SEED=n` replays seed `n` alone, event for event,
//! `THINFTP_SIM_SEEDS=k` runs k seeds, `THINFTP_SIM_SESSIONS=m` sets the sessions per seed. A
//! failing seed prints itself, the replay command and the last events.

mod client;
mod model;
mod net;
mod plan;
mod replies;
mod world;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use world::World;

/// Seeds of the default run.
const SEEDS: u64 = 150;
/// Sessions per seed by default.
const SESSIONS: usize = 20;

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// Runs one seed; `Err` with what to print if a check failed or something panicked.
fn run_seed(seed: u64, sessions: usize) -> Result<world::Stats, String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut world = World::new(seed, sessions);
        world.run().map(|()| world.stats.clone())
    }));
    let replay = format!("replay: THINFTP_SIM_SEED={seed} THINFTP_SIM_SESSIONS={sessions} cargo test -p thinftp-host sim::");
    match outcome {
        Ok(Ok(stats)) => Ok(stats),
        Ok(Err(failure)) => Err(format!(
            "seed {seed} failed: {}\n{replay}\nlast events:\n{}",
            failure.message,
            failure.trace.join("\n")
        )),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(format!("seed {seed} panicked: {message}\n{replay}"))
        }
    }
}

#[test]
fn many_sessions_with_faults_keep_every_invariant() {
    let sessions = env("THINFTP_SIM_SESSIONS").map_or(SESSIONS, |n| n as usize);
    let seeds: Vec<u64> = match env("THINFTP_SIM_SEED") {
        Some(seed) => vec![seed],
        None => (0..env("THINFTP_SIM_SEEDS").unwrap_or(SEEDS)).collect(),
    };
    let started = Instant::now();
    let mut total = world::Stats::default();
    let mut failures = Vec::new();
    for &seed in &seeds {
        match run_seed(seed, sessions) {
            Ok(stats) => {
                total.events += stats.events;
                total.replies += stats.replies;
                total.transfers += stats.transfers;
                for (code, n) in stats.codes {
                    *total.codes.entry(code).or_default() += n;
                }
            }
            Err(e) => failures.push(e),
        }
    }
    println!(
        "sim: {} seeds x {sessions} sessions: {} events, {} replies, {} transfers in {:?}",
        seeds.len(),
        total.events,
        total.replies,
        total.transfers,
        started.elapsed()
    );
    println!(
        "sim: final and preliminary replies by code: {:?}",
        total.codes
    );
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed; the first:\n{}",
        failures.len(),
        seeds.len(),
        failures[0]
    );
}

#[test]
fn a_seed_replays_exactly() {
    let run = |seed| {
        let mut world = World::new(seed, 10);
        let ok = world.run().is_ok();
        (ok, world.stats)
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8), "another seed, another run");
}
