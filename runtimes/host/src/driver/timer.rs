//! When the runtime's timer must fire: no later than the core's deadline, re-armed as rarely as
//! possible.
//!
//! Most commands push the idle deadline later. The timer is then left where it is: it fires
//! early, and the early [`Input::Timeout`](thinftp::Input::Timeout) does nothing but make the
//! driver arm it again for the later deadline. Re-arming on every command would register a
//! timer with the reactor (and wake its thread) once per command.

use std::time::Instant;

/// The deadline the runtime's timer is armed for.
#[derive(Debug, Default)]
pub(super) struct Timer {
    armed: Option<Instant>,
}

impl Timer {
    /// Given the core's deadline, the instant to arm the timer for, if it must move: only when
    /// the deadline comes before the armed one (or nothing is armed).
    pub(super) fn arm(&mut self, deadline: Option<Instant>) -> Option<Instant> {
        let deadline = deadline?;
        if self.armed.is_some_and(|at| at <= deadline) {
            return None;
        }
        self.armed = Some(deadline);
        Some(deadline)
    }

    /// The timer fired: it is not armed any more.
    pub(super) fn fired(&mut self) {
        self.armed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_timer_moves_only_to_an_earlier_deadline() {
        let mut timer = Timer::default();
        let now = Instant::now();
        let later = now + Duration::from_secs(300);
        assert_eq!(timer.arm(None), None);
        assert_eq!(timer.arm(Some(later)), Some(later));
        assert_eq!(timer.arm(Some(later)), None, "armed already");
        assert_eq!(timer.arm(Some(later + Duration::from_secs(1))), None);
        let sooner = now + Duration::from_secs(30);
        assert_eq!(timer.arm(Some(sooner)), Some(sooner));
        timer.fired();
        assert_eq!(timer.arm(Some(later)), Some(later), "re-armed after firing");
    }
}
