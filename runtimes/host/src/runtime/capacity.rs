//! How many threads sessions need, for a runtime to size itself by.
//!
//! A session has at most two threads' worth of work at once: its loop (a thread of its own in a
//! thread-per-session runtime) or one filesystem or password request, and one helper (a transfer,
//! a passive accept or an active connect; the core runs one of them at a time).

use std::num::NonZeroUsize;

/// Threads one session may need at once: see the module docs.
const THREADS_PER_SESSION: usize = 2;
/// Memory mappings one thread costs: its stack and guard page, its signal stack and guard page.
const MAPS_PER_THREAD: usize = 4;
/// Mappings kept back for everything else (the binary, libraries, the heap's arenas).
const MAPS_RESERVED: usize = 4096;

/// For a thread-per-session runtime: how many sessions this process can run before starting a
/// thread would fail, from the kernel's per-process limit on memory mappings
/// (`vm.max_map_count`, 65,530 by default) and its limit on threads. Past it a failed thread
/// start can take the whole process down (an allocation that cannot map memory aborts), so the
/// server refuses sessions before that ([`Acceptor`](super::Acceptor)). Warns when that is below
/// `max_sessions` (`--max-sessions`).
pub fn sessions_on_threads(max_sessions: usize) -> usize {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok())
    };
    let maps = read("/proc/sys/vm/max_map_count").unwrap_or(65_530);
    let threads = read("/proc/sys/kernel/threads-max");
    let budget = thread_budget(maps, threads);
    if budget < max_sessions {
        tracing::warn!(
            "at most {budget} sessions on threads here (vm.max_map_count, kernel.threads-max), \
             below --max-sessions {max_sessions}; thinftp-smol has no such limit"
        );
    }
    budget
}

fn thread_budget(max_map_count: usize, threads_max: Option<usize>) -> usize {
    let by_maps =
        max_map_count.saturating_sub(MAPS_RESERVED) / (MAPS_PER_THREAD * THREADS_PER_SESSION);
    let by_threads = threads_max.map_or(usize::MAX, |t| t / THREADS_PER_SESSION);
    by_maps.min(by_threads).max(1)
}

/// For a task-per-session runtime: the threads its blocking pool may start, so that each of
/// `max_sessions` sessions can have its transfer and one request running (beyond a pool of 500,
/// short requests would queue behind long transfers), within 500 to 10,000.
pub fn blocking_pool(max_sessions: usize) -> NonZeroUsize {
    let threads = max_sessions
        .saturating_mul(THREADS_PER_SESSION)
        .saturating_add(16)
        .clamp(500, 10_000);
    NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_budget_follows_the_tighter_kernel_limit() {
        // 65,530 mappings: (65,530 - 4,096) / 8 sessions.
        assert_eq!(thread_budget(65_530, None), 7_679);
        assert_eq!(thread_budget(65_530, Some(1_000)), 500);
        assert_eq!(thread_budget(100, Some(1_000)), 1, "never zero");
    }

    #[test]
    fn the_blocking_pool_has_two_threads_a_session_within_bounds() {
        assert_eq!(blocking_pool(10).get(), 500);
        assert_eq!(blocking_pool(1_000).get(), 2_016);
        assert_eq!(blocking_pool(usize::MAX).get(), 10_000);
    }
}
