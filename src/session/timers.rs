//! The session's deadlines: a small table, earliest first for `poll_timeout`.

use std::time::Instant;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// No command for too long.
    Idle,
    /// A passive listener or an active connect waiting for the data connection.
    Data,
    /// The delayed `530` after a failed `PASS`.
    LoginDelay,
}

const ALL: [Timer; 3] = [Timer::Idle, Timer::Data, Timer::LoginDelay];

/// One optional deadline per [`Timer`].
#[derive(Debug, Default)]
pub(crate) struct Timers {
    deadlines: [Option<Instant>; 3],
}

impl Timers {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    pub(crate) fn clear(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    pub(crate) fn earliest(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Removes and returns the timers due at `now`, in table order.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<Timer> {
        let mut due = Vec::new();
        for timer in ALL {
            if self.deadlines[timer as usize].is_some_and(|at| at <= now) {
                self.deadlines[timer as usize] = None;
                due.push(timer);
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    #[allow(clippy::disallowed_methods)] // any instant will do as the origin
    fn earliest_and_expiry() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        assert_eq!(timers.earliest(), None);
        timers.set(Timer::Idle, t0 + Duration::from_secs(300));
        timers.set(Timer::Data, t0 + Duration::from_secs(30));
        assert_eq!(timers.earliest(), Some(t0 + Duration::from_secs(30)));
        assert!(timers.take_expired(t0 + Duration::from_secs(29)).is_empty());
        assert_eq!(
            timers.take_expired(t0 + Duration::from_secs(30)),
            [Timer::Data]
        );
        assert_eq!(timers.earliest(), Some(t0 + Duration::from_secs(300)));
        timers.clear(Timer::Idle);
        assert_eq!(timers.earliest(), None);
    }
}
