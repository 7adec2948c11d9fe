//! Wall-clock times as the transfer log writes them, in UTC (as vsftpd does by default), without
//! a date crate: the proleptic Gregorian calendar from days since 1970 (Howard Hinnant's
//! `civil_from_days`).

use std::time::{SystemTime, UNIX_EPOCH};

/// The broken-down UTC time of `time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utc {
    year: i64,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    millis: u16,
    /// 0 is Sunday.
    weekday: u8,
}

impl Utc {
    pub(crate) fn of(time: SystemTime) -> Utc {
        let (secs, millis) = match time.duration_since(UNIX_EPOCH) {
            Ok(d) => (
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2),
                d.subsec_millis(),
            ),
            Err(_) => (0, 0),
        };
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Utc {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
            millis: millis as u16,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u8,
        }
    }

    /// `Tue Dec  1 11:51:23 2026`: C's `ctime`, the date field of xferlog.
    pub(crate) fn ctime(&self) -> String {
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{} {} {:>2} {:02}:{:02}:{:02} {}",
            DAYS[usize::from(self.weekday)],
            MONTHS[usize::from(self.month - 1)],
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.year
        )
    }

    /// `2026-12-01T11:51:23.123Z` (RFC 3339).
    pub(crate) fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }
}

fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        let at = |secs: u64, millis: u64| {
            Utc::of(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
        };
        // 2026-12-01 11:51:23 UTC was a Tuesday.
        let t = at(1_796_125_883, 45);
        assert_eq!(t.ctime(), "Tue Dec  1 11:51:23 2026");
        assert_eq!(t.rfc3339(), "2026-12-01T11:51:23.045Z");
        // A leap day, and the epoch.
        assert_eq!(at(951_782_400, 0).ctime(), "Tue Feb 29 00:00:00 2000");
        assert_eq!(at(0, 0).rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(0, 0).ctime(), "Thu Jan  1 00:00:00 1970");
    }
}
