//! The session's deadlines: a small table, earliest first for `poll_timeout`.

use std::time::{Duration, Instant};

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// No command for too long.
    Idle,
    /// A passive listener or an active connect waiting for the data connection.
    Data,
    /// The delayed `530` after a failed `PASS`.
    LoginDelay,
    /// The deadline for logging in.
    Login,
}

const ALL: [Timer; 4] = [Timer::Idle, Timer::Data, Timer::LoginDelay, Timer::Login];

/// One optional deadline per [`Timer`].
#[derive(Debug, Default)]
pub(crate) struct Timers {
    deadlines: [Option<Instant>; 4],
}

impl Timers {
    #[cfg(test)]
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    /// Sets `timer` to `after` from `now`. A duration too long to add to `now` means no
    /// deadline (the timer is cleared): returns whether one was set.
    pub(crate) fn set_after(&mut self, timer: Timer, now: Instant, after: Duration) -> bool {
        let at = now.checked_add(after);
        self.deadlines[timer as usize] = at;
        at.is_some()
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

    #[test]
    #[allow(clippy::disallowed_methods)] // any instant will do as the origin
    fn a_duration_past_the_clock_is_no_deadline() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        for timer in ALL {
            assert!(timers.set_after(timer, t0, Duration::from_secs(1)));
            assert!(!timers.set_after(timer, t0, Duration::MAX), "{timer:?}");
            assert_eq!(timers.earliest(), None, "{timer:?}");
        }
    }
}
