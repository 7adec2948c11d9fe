//! Wall-clock times as the transfer log writes them, in UTC (as vsftpd does by default). The
//! calendar arithmetic is the `time` crate's (already built for rcgen's certificate dates); only
//! the two textual forms are written here, which keeps `time`'s formatting feature out of the build.

use std::time::SystemTime;

use time::OffsetDateTime;

/// The broken-down UTC time of `time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utc(OffsetDateTime);

impl Utc {
    /// Times before 1970 (a clock set wrong) are written as the epoch.
    pub(crate) fn of(time: SystemTime) -> Utc {
        let at = if time < SystemTime::UNIX_EPOCH {
            OffsetDateTime::UNIX_EPOCH
        } else {
            OffsetDateTime::from(time)
        };
        Utc(at)
    }

    /// `Tue Dec  1 11:51:23 2026`: C's `ctime`, the date field of xferlog.
    pub(crate) fn ctime(&self) -> String {
        let t = self.0;
        let weekday = t.weekday().to_string();
        let month = t.month().to_string();
        format!(
            "{} {} {:>2} {:02}:{:02}:{:02} {}",
            &weekday[..3],
            &month[..3],
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.year()
        )
    }

    /// `2026-12-01T11:51:23.123Z` (RFC 3339).
    pub(crate) fn rfc3339(&self) -> String {
        let t = self.0;
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

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
        // A clock set before the epoch writes the epoch, never a malformed date.
        let before = Utc::of(UNIX_EPOCH - Duration::from_secs(5));
        assert_eq!(before.ctime(), "Thu Jan  1 00:00:00 1970");
    }
}
