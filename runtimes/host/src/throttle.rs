//! A log line that may come at most once per interval, for events an attacker can repeat at will
//! (failed logins, a full queue of password checks): the line says how many were left out.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Lets one log line through per interval and counts the ones it holds back.
#[derive(Debug)]
pub(crate) struct Throttle {
    every: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// At most one line per `every`. `const`, so that a process-wide one can be a `static`.
    pub(crate) const fn new(every: Duration) -> Self {
        Throttle {
            every,
            state: Mutex::new(State {
                last: None,
                suppressed: 0,
            }),
        }
    }

    /// `Some(n)` if a line may be logged at `now`, `n` being how many were held back since the
    /// last one; `None` if this one is held back (and counted).
    pub(crate) fn admit(&self, now: Instant) -> Option<u64> {
        let mut state = self.lock();
        if state
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.every)
        {
            state.suppressed += 1;
            return None;
        }
        state.last = Some(now);
        Some(std::mem::take(&mut state.suppressed))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_left_out() {
        let throttle = Throttle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(throttle.admit(t0), Some(0));
        for i in 1..=5 {
            assert_eq!(throttle.admit(t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(throttle.admit(t0 + Duration::from_secs(10)), Some(5));
        assert_eq!(throttle.admit(t0 + Duration::from_secs(11)), None);
        assert_eq!(throttle.admit(t0 + Duration::from_secs(25)), Some(1));
    }
}
