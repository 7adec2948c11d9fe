//! Bandwidth limits: rates in bytes per second (`--max-rate`, `--max-rate-per-session`, a
//! user's `max_rate`), and the token buckets that pace transfers to them.
//!
//! A transfer keeps moving bytes with `sendfile`/`splice` (see the `copy` module): before each
//! chunk it asks its [`Pacer`] how many bytes to move at most (a slice of the rate), and after
//! it the pacer charges what was really moved and waits until every bucket it draws on (the
//! server's, the session's or the user's) has paid for it. Paying after the move means a call
//! that moves less than it asked (the socket had less) never waits for bytes it did not move. Buckets
//! are shared: the server's by every transfer of its direction, so that two downloads under
//! `--max-rate 20M` get 20 MB/s together.
//!
//! A bucket is kept as the instant at which the bytes taken so far are paid for (one `Instant`
//! under a lock): taking `n` bytes moves it on by `n / rate`, and the taker sleeps until then.
//! An idle bucket lends at most [`BURST`] worth of bytes at once, so a limit holds to within
//! that (and one slice) over any stretch of time. A late wake-up costs nothing: the next chunk
//! is due at once.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::transfer::AbortHandle;

/// How far ahead of its rate an idle bucket lets a transfer go (at 10 MB/s, 1 MB: 1% over ten
/// seconds).
const BURST: Duration = Duration::from_millis(100);

/// Bytes asked for at once: about this much of the slowest rate, so that the bytes flow
/// smoothly and an abort is noticed soon.
const SLICE_DIVISOR: u64 = 20;

/// The smallest chunk a pacer hands out (slow rates would otherwise mean tiny system calls).
const MIN_CHUNK: u64 = 1024;

/// Longest sleep between two looks at the abort flag.
const ABORT_POLL: Duration = Duration::from_millis(20);

/// A rate limit for each direction, in bytes per second (`None`: no limit), as
/// `--max-rate` takes it: `20M` (both directions), `down=20M,up=5M`, `up=1M` (downloads
/// unlimited). Suffixes are decimal: `K` is 1,000, `M` 1,000,000, `G` 1,000,000,000; `0`
/// means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Downloads (RETR): server to client.
    pub down: Option<u64>,
    /// Uploads (STOR, APPE, STOU): client to server.
    pub up: Option<u64>,
}

impl RateLimit {
    /// No limit either way.
    pub const NONE: RateLimit = RateLimit {
        down: None,
        up: None,
    };

    /// Parses `20M`, `down=20M,up=5M`, `down=1G` or `up=500K` (see the type's docs).
    pub fn parse(text: &str) -> Result<RateLimit, String> {
        let text = text.trim();
        if !text.contains('=') {
            let rate = parse_rate(text)?;
            return Ok(RateLimit {
                down: rate,
                up: rate,
            });
        }
        let mut limit = RateLimit::NONE;
        for part in text.split(',') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("expected down=RATE or up=RATE, got {part:?}"))?;
            let rate = parse_rate(value)?;
            match key.trim() {
                "down" => limit.down = rate,
                "up" => limit.up = rate,
                other => return Err(format!("unknown direction {other:?} (expected down or up)")),
            }
        }
        Ok(limit)
    }

    /// The limit of one direction.
    pub fn get(&self, direction: Direction) -> Option<u64> {
        match direction {
            Direction::Down => self.down,
            Direction::Up => self.up,
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |r: Option<u64>| r.map_or_else(|| "unlimited".to_owned(), |r| format!("{r}"));
        write!(f, "down={},up={}", show(self.down), show(self.up))
    }
}

/// Which way a transfer's bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Server to client.
    Down,
    /// Client to server.
    Up,
}

/// One rate: digits with an optional decimal suffix `K`, `M` or `G` (either case); `0` is no
/// limit.
fn parse_rate(text: &str) -> Result<Option<u64>, String> {
    parse_size(text).map(|n| (n > 0).then_some(n))
}

/// A byte count with an optional decimal suffix `K`, `M` or `G` (either case): `20M` is
/// 20,000,000. Also what a users file's `quota_bytes` takes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, factor) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 1_000),
        Some((i, 'm' | 'M')) => (&text[..i], 1_000_000),
        Some((i, 'g' | 'G')) => (&text[..i], 1_000_000_000),
        _ => (text, 1),
    };
    let bad = || format!("expected bytes per second such as 500000, 500K, 20M or 1G, got {text:?}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(bad)
}

/// A token bucket: `rate` bytes per second, shared by every transfer that draws on it.
#[derive(Debug)]
pub struct Bucket {
    rate: u64,
    /// The instant at which the bytes taken so far are paid for.
    paid: Mutex<Instant>,
}

impl Bucket {
    /// A bucket of `rate` bytes per second (at least 1).
    pub fn new(rate: u64) -> Arc<Bucket> {
        Arc::new(Bucket {
            rate: rate.max(1),
            paid: Mutex::new(Instant::now()),
        })
    }

    /// Its rate, in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    fn time_for(&self, bytes: u64) -> Duration {
        #[allow(clippy::cast_precision_loss)] // nanoseconds of a byte count: f64 is plenty
        Duration::from_secs_f64(bytes as f64 / self.rate as f64)
    }

    /// Takes `bytes`: returns when they are paid for (the taker waits until then).
    fn take(&self, bytes: u64, now: Instant) -> Instant {
        let mut paid = self.paid.lock().unwrap_or_else(|e| e.into_inner());
        let earliest = now.checked_sub(BURST).unwrap_or(now);
        let start = (*paid).max(earliest);
        *paid = start + self.time_for(bytes);
        *paid
    }
}

/// What paces one transfer: the buckets it draws on (none: unlimited), and the transfer's
/// abort handle, so that a wait ends at once when the transfer is aborted.
#[derive(Debug, Default)]
pub struct Pacer {
    buckets: Vec<Arc<Bucket>>,
    abort: Option<AbortHandle>,
}

impl Pacer {
    /// A pacer that never waits.
    pub fn unlimited() -> Pacer {
        Pacer::default()
    }

    /// A pacer drawing on each of `buckets`.
    pub fn new(buckets: impl IntoIterator<Item = Arc<Bucket>>) -> Pacer {
        Pacer {
            buckets: buckets.into_iter().collect(),
            abort: None,
        }
    }

    /// Whether it limits anything.
    pub fn is_unlimited(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Ends waits early once `abort` is aborted.
    pub(crate) fn watch(&mut self, abort: &AbortHandle) {
        self.abort = Some(abort.clone());
    }

    /// How many bytes (at most `want`) the transfer should move next: a slice of the slowest
    /// rate. Report what was moved with [`moved`](Self::moved), which waits.
    pub fn grant(&mut self, want: usize) -> usize {
        let Some(slowest) = self.buckets.iter().map(|b| b.rate).min() else {
            return want;
        };
        let slice = (slowest / SLICE_DIVISOR).max(MIN_CHUNK);
        want.min(usize::try_from(slice).unwrap_or(usize::MAX))
    }

    /// `moved` of the `granted` bytes were moved: charges them to every bucket and waits until
    /// they are paid for (or until the transfer is aborted).
    pub fn moved(&mut self, granted: usize, moved: usize) {
        let _ = granted;
        if moved == 0 || self.buckets.is_empty() {
            return;
        }
        let now = Instant::now();
        let due = self
            .buckets
            .iter()
            .map(|b| b.take(moved as u64, now))
            .max()
            .unwrap_or(now);
        self.wait_until(due);
    }

    fn wait_until(&self, due: Instant) {
        loop {
            if self.abort.as_ref().is_some_and(AbortHandle::is_aborted) {
                return;
            }
            let now = Instant::now();
            let Some(left) = due.checked_duration_since(now).filter(|d| !d.is_zero()) else {
                return;
            };
            std::thread::sleep(left.min(ABORT_POLL));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_take_decimal_suffixes_and_directions() {
        let both = |r| RateLimit {
            down: Some(r),
            up: Some(r),
        };
        assert_eq!(RateLimit::parse("20M"), Ok(both(20_000_000)));
        assert_eq!(RateLimit::parse("500k"), Ok(both(500_000)));
        assert_eq!(RateLimit::parse("1G"), Ok(both(1_000_000_000)));
        assert_eq!(RateLimit::parse("12345"), Ok(both(12_345)));
        assert_eq!(RateLimit::parse("0"), Ok(RateLimit::NONE));
        assert_eq!(
            RateLimit::parse("down=20M,up=5M"),
            Ok(RateLimit {
                down: Some(20_000_000),
                up: Some(5_000_000)
            })
        );
        assert_eq!(
            RateLimit::parse("up=1K"),
            Ok(RateLimit {
                down: None,
                up: Some(1_000)
            })
        );
        for bad in [
            "",
            "M",
            "20X",
            "-5",
            "1.5M",
            "down=",
            "sideways=1M",
            "20M,up=1M",
        ] {
            assert!(RateLimit::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn a_bucket_charges_each_byte_and_lends_at_most_the_burst() {
        let bucket = Bucket::new(1_000_000);
        let now = Instant::now() + Duration::from_secs(10);
        // Idle for long: the first take may start up to BURST in the past.
        let due = bucket.take(1_000_000, now);
        assert_eq!(due, now - BURST + Duration::from_secs(1));
        // The next take queues behind the first.
        let due2 = bucket.take(500_000, now);
        assert_eq!(due2, due + Duration::from_millis(500));
    }

    #[test]
    fn a_pacer_hands_out_slices_of_the_slowest_rate() {
        let mut pacer = Pacer::new([Bucket::new(1_000_000_000), Bucket::new(2_000_000)]);
        assert_eq!(pacer.grant(1 << 20), 100_000);
        assert_eq!(Pacer::unlimited().grant(1 << 20), 1 << 20);
    }
}
