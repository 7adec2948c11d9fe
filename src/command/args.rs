//! Arguments shared by the commands that change a file's attributes: the `YYYYMMDDHHMMSS`
//! timestamps of `MFMT` and `SITE UTIME`, and the forms of `SITE UTIME` and `SITE CHMOD`.

use crate::listing::mdtm_time;

/// A `YYYYMMDDHHMMSS` time in UTC (RFC 3659 `time-val`, optionally with `.sss` fractions,
/// which are dropped) as seconds since the Unix epoch. `None` for anything else, including
/// dates that do not exist (`20230230...`, hour 24, a leap second).
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(f) = fraction {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let field = |range: core::ops::Range<usize>| whole[range].parse::<i64>().ok();
    let (year, month, day) = (field(0..4)?, field(4..6)?, field(6..8)?);
    let (hour, minute, second) = (field(8..10)?, field(10..12)?, field(12..14)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 59 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    // A day past the month's end (Feb 30) lands in the next month: written back, it differs.
    (mdtm_time(secs) == whole).then_some(secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm, the inverse
/// of the listing's `civil_from_days`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12; // March-based month
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `SITE UTIME` in the forms clients send: `path YYYYMMDDHHMMSS`, `YYYYMMDDHHMMSS path`, and
/// ncftp's `path atime mtime ctime UTC` (of which the modification time is used). The path may
/// hold spaces. Returns the path and the time, or `None` for anything else.
pub(crate) fn parse_site_utime(args: &str) -> Option<(&str, i64)> {
    let words: Vec<&str> = args.rsplitn(5, ' ').collect();
    // rsplitn gives the last words first.
    if let [utc, _ctime, mtime, _atime, path] = words.as_slice() {
        if utc.eq_ignore_ascii_case("UTC") && !path.is_empty() {
            if let Some(secs) = parse_timestamp(mtime) {
                return Some((path, secs));
            }
        }
    }
    if let Some((first, rest)) = args.split_once(' ') {
        if let (Some(secs), false) = (parse_timestamp(first), rest.is_empty()) {
            return Some((rest, secs));
        }
    }
    let (path, last) = args.rsplit_once(' ')?;
    let secs = parse_timestamp(last)?;
    (!path.is_empty()).then_some((path, secs))
}

/// `SITE CHMOD mode path`: an octal mode of at most four digits, and the path (spaces allowed).
/// The mode is returned as given; the caller masks it.
pub(crate) fn parse_site_chmod(args: &str) -> Option<(u32, &str)> {
    let (mode, path) = args.split_once(' ')?;
    let octal =
        !mode.is_empty() && mode.len() <= 4 && mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
    if !octal || path.is_empty() {
        return None;
    }
    Some((u32::from_str_radix(mode, 8).ok()?, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("19700101000000"), Some(0));
        assert_eq!(parse_timestamp("20240229123456"), Some(1_709_210_096));
        assert_eq!(parse_timestamp("20240229123456.789"), Some(1_709_210_096));
        assert_eq!(parse_timestamp("19691231235959"), Some(-1));
        assert_eq!(parse_timestamp("20230229000000"), None);
        assert_eq!(parse_timestamp("20240230000000"), None);
        assert_eq!(parse_timestamp("20241301000000"), None);
        assert_eq!(parse_timestamp("20240101240000"), None);
        assert_eq!(parse_timestamp("20240101000060"), None);
        assert_eq!(parse_timestamp("2024010100000"), None);
        assert_eq!(parse_timestamp("2024010100000x"), None);
        assert_eq!(parse_timestamp("20240101000000."), None);
        assert_eq!(parse_timestamp("+2024010100000"), None);
    }

    #[test]
    fn site_utime_forms() {
        let t = parse_timestamp("20200102030405");
        assert_eq!(
            parse_site_utime("a b.txt 20200102030405"),
            Some(("a b.txt", t.unwrap()))
        );
        assert_eq!(
            parse_site_utime("20200102030405 a b.txt"),
            Some(("a b.txt", t.unwrap()))
        );
        assert_eq!(
            parse_site_utime("a b.txt 20010101000000 20200102030405 20010101000000 UTC"),
            Some(("a b.txt", t.unwrap()))
        );
        assert_eq!(parse_site_utime("a.txt"), None);
        assert_eq!(parse_site_utime("20200102030405"), None);
        assert_eq!(parse_site_utime("a.txt 2020"), None);
    }

    #[test]
    fn site_chmod_forms() {
        assert_eq!(parse_site_chmod("644 a b"), Some((0o644, "a b")));
        assert_eq!(parse_site_chmod("4755 x"), Some((0o4755, "x")));
        assert_eq!(parse_site_chmod("648 x"), None);
        assert_eq!(parse_site_chmod("77777 x"), None);
        assert_eq!(parse_site_chmod("644"), None);
        assert_eq!(parse_site_chmod("u+x f"), None);
    }
}
