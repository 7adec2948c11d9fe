//! The deterministic simulator: the [`Driver`](super::Driver) of many sessions at once over a
//! simulated network, an in-memory storage and a fake clock, every choice drawn from one seed.
//!
//! A seed makes a [`World`](world::World): a host serving a [`MemoryStorage`] (sometimes with
//! fewer capabilities, sometimes nearly full), one user per session with a home of its own
//! holding a secret, and a client per session with a plan (see `plan.rs`): logins good and
//! bad (and guessing until the address is banned), MKD/RMD/DELE/RNFR+RNTO/CWD/SIZE/STAT/MLST/
//! HASH/RANG+HASH/..., `TYPE A` and `TYPE I`, pipelined groups, STOR/APPE/STOU/REST+STOR/RETR/
//! REST+RETR/NLST/LIST/MLSD over PASV, EPSV or EPRT, floods from a client that never reads, and
//! an end (QUIT, a hang-up or a reset). Half the sessions run as on a thread per session
//! ([`Blocking::Allowed`](crate::driver::Blocking): requests on the loop), half as tasks
//! (`Blocking::Never`: jobs). Faults come from the seed too: commands split at random points
//! and delayed, partial reads, slow jobs, storage errors, a passive listener that cannot be
//! opened, data connections reset, aborted, stalled, never made or never read.
//!
//! Checked at every step: every batch of replies is well formed; every final reply answers a
//! command (each command gets one); every change a reply reports is in the storage and a
//! failed one changed nothing (a failed or aborted upload keeps the old file; a completed one
//! holds exactly the bytes sent, converted as `TYPE A` says; a failed STOU leaves no file);
//! downloads (converted in `TYPE A`), NLST, MLSD, MLST and HASH digests show what the replies
//! made, computed by the model on its own (`checks.rs`); a banned address cannot log in; no
//! reply or
//! data shows another home's secret; a session closes only with its commands answered (or its
//! client gone). At the end: every session closed by the [`HORIZON`](world) of simulated time,
//! no transfer left, and the whole tree is what the replies said.
//!
//! Every job runs through the real [`Job::run`](crate::driver::Job::run), transfers too: a
//! data connection is a [`DataStream`](crate::DataStream) over an in-memory pipe (`data.rs`),
//! and a transfer job runs on a thread of its own in lockstep with the simulation
//! (`lockstep.rs`), each read or write waiting for a step that grants it a chunk of random
//! size. So the real copy, ASCII conversion, listing, abort, stall and commit code moves every
//! byte, and a seed still gives one run.
//!
//! Run: `cargo test -p thinftp-host sim` runs [`SEEDS`] seeds of [`SESSIONS`] sessions.
//! `THINFTP_SIM_SEED=n` replays seed `n` alone, event for event,
//! `THINFTP_SIM_SEEDS=k` runs k seeds, `THINFTP_SIM_SESSIONS=m` sets the sessions per seed. A
//! failing seed prints itself, the replay command and the last events (`THINFTP_SIM_TRACE=n`:
//! the last n).

mod answers;
mod checks;
mod client;
mod client_data;
mod data;
mod finish;
mod jobs;
mod lockstep;
mod model;
mod net;
mod plan;
mod replies;
mod server;
mod setup;
mod traffic;
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
                for (check, n) in stats.checks {
                    *total.checks.entry(check).or_default() += n;
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
    println!("sim: model checks passed by kind: {:?}", total.checks);
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
