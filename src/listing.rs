//! Directory listings rendered from the runtime's entries: `LIST`, `NLST`, `MLSD`/`MLST` facts
//! and `MDTM` times.
//!
//! Everything here is a pure function of its arguments. The current time comes in as
//! [`Listing::now`] (Unix seconds, UTC); nothing reads a clock. Bodies are in wire form, each
//! line ended by CRLF. A runtime sending a
//! [`TransferKind::SendListing`](crate::TransferKind::SendListing) renders it entry by entry
//! with [`render_entry`], a bounded chunk at a time, so that a directory of a million entries
//! never becomes one buffer.

use crate::fs::{DirEntry, FileKind, Listing, Metadata};
use std::fmt::Write as _;

/// GNU `ls` calls a time recent when it lies within half an average Gregorian year
/// (365.2425 days / 2) before now.
const SIX_MONTHS: i64 = 31_556_952 / 2;
/// A time up to an hour ahead (a clock slightly off) still counts as recent.
const FUTURE_SLACK: i64 = 60 * 60;
/// 9999-12-31 23:59:59 UTC: the last second a four-digit year can show.
const MAX_TIME: i64 = 253_402_300_799;
/// 0000-01-01 00:00:00 UTC: the earliest time with a four-digit year.
const MIN_TIME: i64 = -62_167_219_200;

/// A [`Listing::now`] for a listing that came without the wall-clock time (the `Stat` fallback
/// for `LIST file`): no time counts as recent, so every date shows its year.
pub const NOW_UNKNOWN: i64 = i64::MIN;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One `ls -l` line for `LIST`, without line end, in vsftpd's form:
/// `drwxr-xr-x    2 ftp      ftp          4096 Jan  5 12:00 name`.
///
/// `now` is [`Listing::now`]: entries modified in the six months before it (and at most an hour
/// after it) show the time of day, others the year (`Jan 15  2020`); with [`NOW_UNKNOWN`] every
/// entry shows the year. An unknown time shows as
/// the epoch. A symlink with a known target shows as `name -> target`. CR and LF in names show
/// as `?` so that a name cannot start a new line.
#[must_use]
pub fn list_line(entry: &DirEntry, now: i64) -> String {
    let meta = &entry.metadata;
    let perms = mode_string(meta.kind, meta.mode);
    let date = list_date(meta.modified.unwrap_or(0), now);
    let mut line = format!(
        "{perms} {nlink:>4} ftp      ftp      {size:>8} {date} {name}",
        nlink = meta.nlink,
        size = meta.size,
        name = sanitize(&entry.name),
    );
    if let Some(target) = &meta.symlink_target {
        line.push_str(" -> ");
        line.push_str(&sanitize(target));
    }
    line
}

/// A whole `LIST` body: one [`list_line`] per entry, sorted by name (byte order), each ended by
/// CRLF.
#[must_use]
pub fn render_list(listing: &Listing) -> Vec<u8> {
    let mut body = String::new();
    for entry in sorted(listing) {
        body.push_str(&list_line(entry, listing.now));
        body.push_str("\r\n");
    }
    body.into_bytes()
}

/// Most entries `STAT path` shows over the control connection: a bigger directory is cut
/// there, with a last line that says so and points to `LIST`. Storage answering the
/// [`FsOp::ListDir`](crate::FsOp::ListDir) of a `STAT` may stop reading after one more entry
/// than this (which tells the core there are more).
pub const STAT_MAX_ENTRIES: usize = 1000;

/// What a listing sent on the data connection looks like: the format of
/// [`TransferKind::SendListing`](crate::TransferKind::SendListing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListFormat {
    /// `LIST`: one [`list_line`] per entry.
    List,
    /// `NLST`: names only.
    Nlst,
    /// `MLSD`: the enabled facts and the name.
    Mlsd {
        /// The facts enabled with `OPTS MLST`.
        facts: Facts,
        /// Whether the user may write (the `perm` fact).
        writable: bool,
    },
}

impl ListFormat {
    /// Whether the format shows more than names: each entry's metadata is needed. Without it
    /// (`NLST`) storage can skip reading it.
    #[must_use]
    pub fn needs_metadata(self) -> bool {
        !matches!(self, Self::Nlst)
    }
}

/// Appends one entry's line, CRLF included, in `format` to `out`: the per-entry renderer for
/// listings streamed in chunks. `now` is the wall-clock time as in [`Listing::now`]. The whole
/// bodies ([`render_list`], [`render_nlst`], [`render_mlsd`]) are these lines, sorted by name.
pub fn render_entry(format: ListFormat, entry: &DirEntry, now: i64, out: &mut String) {
    match format {
        ListFormat::List => out.push_str(&list_line(entry, now)),
        ListFormat::Nlst => out.push_str(&sanitize(&entry.name)),
        ListFormat::Mlsd { facts, writable } => {
            out.push_str(&mlsx_facts(&entry.metadata, facts, writable));
            out.push_str(&sanitize(&entry.name));
        }
    }
    out.push_str("\r\n");
}

/// An `NLST` body: the entries' names only (not paths), sorted by name, each ended by CRLF.
#[must_use]
pub fn render_nlst(listing: &Listing) -> Vec<u8> {
    let mut body = String::new();
    for entry in sorted(listing) {
        body.push_str(&sanitize(&entry.name));
        body.push_str("\r\n");
    }
    body.into_bytes()
}

/// Which MLSx facts are enabled (RFC 3659, 7.8: `OPTS MLST`). The default is all of them:
/// `type`, `size`, `modify`, `perm`, `unique`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    kind: bool,
    size: bool,
    modify: bool,
    perm: bool,
    unique: bool,
}

/// The fact names in the fixed order they are listed, advertised and rendered in.
const FACT_NAMES: [&str; 5] = ["type", "size", "modify", "perm", "unique"];

impl Facts {
    /// Every fact this server supports.
    #[must_use]
    pub fn all() -> Self {
        Self {
            kind: true,
            size: true,
            modify: true,
            perm: true,
            unique: true,
        }
    }

    /// No fact at all (what `OPTS MLST` with an empty list selects).
    fn none() -> Self {
        Self {
            kind: false,
            size: false,
            modify: false,
            perm: false,
            unique: false,
        }
    }

    /// The facts selected by the argument of `OPTS MLST`, e.g. `type;size;`. Names are
    /// case-insensitive, unknown names are ignored, and an empty list selects none.
    #[must_use]
    pub fn parse_opts(arg: &str) -> Self {
        let mut facts = Self::none();
        for name in arg.split(';').map(str::trim) {
            if let Some(flag) = FACT_NAMES
                .iter()
                .position(|known| known.eq_ignore_ascii_case(name))
                .and_then(|i| facts.flag_mut(i))
            {
                *flag = true;
            }
        }
        facts
    }

    /// The `FEAT` line for MLST: `MLST type*;size*;modify*;perm*;unique*;`, with `*` on the
    /// facts enabled now.
    #[must_use]
    pub fn feat_line(&self) -> String {
        let mut line = String::from("MLST ");
        for (name, enabled) in FACT_NAMES.iter().zip(self.flags()) {
            line.push_str(name);
            if enabled {
                line.push('*');
            }
            line.push(';');
        }
        line
    }

    /// The enabled facts as `type;size;`, for the reply `200 MLST OPTS type;size;`. Empty
    /// when none is enabled.
    #[must_use]
    pub fn opts_reply_list(&self) -> String {
        let mut list = String::new();
        for (name, enabled) in FACT_NAMES.iter().zip(self.flags()) {
            if enabled {
                list.push_str(name);
                list.push(';');
            }
        }
        list
    }

    /// The enabled flags, in the order of [`FACT_NAMES`].
    fn flags(self) -> [bool; 5] {
        [self.kind, self.size, self.modify, self.perm, self.unique]
    }

    /// The flag of the fact at position `i` of [`FACT_NAMES`].
    fn flag_mut(&mut self, i: usize) -> Option<&mut bool> {
        match i {
            0 => Some(&mut self.kind),
            1 => Some(&mut self.size),
            2 => Some(&mut self.modify),
            3 => Some(&mut self.perm),
            4 => Some(&mut self.unique),
            _ => None,
        }
    }
}

impl Default for Facts {
    fn default() -> Self {
        Self::all()
    }
}

/// The facts part of an MLSx entry (RFC 3659, 7.2), ending in the space that separates it from
/// the name, which is not included: `type=file;size=12;modify=20240102030405;perm=radfw;unique=801g2a; `.
///
/// Facts come in the fixed order `type;size;modify;perm;unique;`, and only those enabled in
/// `facts`; a fact whose value is unknown (no modification time, no identity) is left out.
/// `size` is given for files only. `writable` says whether the user may modify the entry: it
/// decides the `perm` letters beyond reading and listing.
#[must_use]
pub fn mlsx_facts(meta: &Metadata, facts: Facts, writable: bool) -> String {
    let mut out = String::new();
    if facts.kind {
        let kind = match meta.kind {
            FileKind::File => "file",
            FileKind::Dir => "dir",
            FileKind::Symlink => "OS.unix=symlink",
            FileKind::Other => "OS.unix=special",
        };
        let _ = write!(out, "type={kind};");
    }
    if facts.size && meta.kind == FileKind::File {
        let _ = write!(out, "size={};", meta.size);
    }
    if facts.modify {
        if let Some(modified) = meta.modified {
            let _ = write!(out, "modify={};", mdtm_time(modified));
        }
    }
    if facts.perm {
        // RFC 3659, 7.5.5: a file may be read (r), appended to (a), deleted (d), renamed (f)
        // and written (w); a directory entered (e), listed (l), created in (c), deleted (d),
        // renamed (f), made directories in (m) and purged (p).
        let perm = match (meta.kind, writable) {
            (FileKind::Dir, true) => "elcdfmp",
            (FileKind::Dir, false) => "el",
            // A link is retrieved through like a file; what it leads to decides the rest.
            (FileKind::File | FileKind::Symlink, true) => "radfw",
            (FileKind::File | FileKind::Symlink, false) => "r",
            // A device or socket cannot be transferred, only removed or renamed.
            (FileKind::Other, true) => "df",
            (FileKind::Other, false) => "",
        };
        let _ = write!(out, "perm={perm};");
    }
    if facts.unique {
        if let Some((dev, ino)) = meta.unique {
            let _ = write!(out, "unique={dev:x}g{ino:x};");
        }
    }
    out.push(' ');
    out
}

/// An `MLSD` body: for each entry, sorted by name, its [`mlsx_facts`], its name and CRLF.
#[must_use]
pub fn render_mlsd(listing: &Listing, facts: Facts, writable: bool) -> Vec<u8> {
    let mut body = String::new();
    for entry in sorted(listing) {
        body.push_str(&mlsx_facts(&entry.metadata, facts, writable));
        body.push_str(&sanitize(&entry.name));
        body.push_str("\r\n");
    }
    body.into_bytes()
}

/// `YYYYMMDDHHMMSS` in UTC, for `MDTM` replies and the `modify` fact (RFC 3659, 2.3).
///
/// The form has room for years 0000 to 9999 only: earlier times show as the first second of
/// year 0, later ones as the last second of 9999.
#[must_use]
pub fn mdtm_time(unix_secs: i64) -> String {
    let t = Civil::from_unix(unix_secs);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// The entries of `listing` sorted by name, in byte order.
fn sorted(listing: &Listing) -> Vec<&DirEntry> {
    let mut entries: Vec<&DirEntry> = listing.entries.iter().collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

/// `name` with CR and LF replaced by `?`: listings are line-based, and a line end inside a
/// name would let it forge entries.
fn sanitize(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains(['\r', '\n']) {
        name.replace(['\r', '\n'], "?").into()
    } else {
        name.into()
    }
}

/// The ten-character `ls -l` mode: the kind, then read/write/execute for owner, group and
/// others, with setuid, setgid and sticky shown in the execute places (`s`/`S`, `t`/`T`).
fn mode_string(kind: FileKind, mode: u32) -> String {
    let bit = |mask: u32, c: char| if mode & mask != 0 { c } else { '-' };
    // Lower case when the execute bit is also set, upper case when only the special one is.
    let exec =
        |x: u32, special: u32, lower: char, upper: char| match (mode & x != 0, mode & special != 0)
        {
            (true, true) => lower,
            (false, true) => upper,
            (true, false) => 'x',
            (false, false) => '-',
        };
    let kind = match kind {
        FileKind::Dir => 'd',
        FileKind::File => '-',
        FileKind::Symlink => 'l',
        FileKind::Other => '?',
    };
    [
        kind,
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        exec(0o100, 0o4000, 's', 'S'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        exec(0o010, 0o2000, 's', 'S'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        exec(0o001, 0o1000, 't', 'T'),
    ]
    .iter()
    .collect()
}

/// The date column of a `LIST` line: `Mon DD HH:MM` for recent times, `Mon DD  YYYY` for others,
/// the day padded with a space (`%b %e`).
fn list_date(modified: i64, now: i64) -> String {
    let modified = modified.clamp(MIN_TIME, MAX_TIME);
    let t = Civil::from_unix(modified);
    let month = MONTHS
        .get(usize::from(t.month).wrapping_sub(1))
        .copied()
        .unwrap_or("???");
    let recent = now != NOW_UNKNOWN
        && modified > now.saturating_sub(SIX_MONTHS)
        && modified <= now.saturating_add(FUTURE_SLACK);
    if recent {
        format!("{month} {:>2} {:02}:{:02}", t.day, t.hour, t.minute)
    } else {
        format!("{month} {:>2}  {:04}", t.day, t.year)
    }
}

/// A UTC calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl Civil {
    /// The date of `unix_secs`, clamped to 0000-01-01 00:00:00 ..= 9999-12-31 23:59:59.
    fn from_unix(unix_secs: i64) -> Self {
        let secs = unix_secs.clamp(MIN_TIME, MAX_TIME);
        let days = secs.div_euclid(86_400);
        let of_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        // Each value is below 60 (or 24) by construction, so the narrowing cannot truncate.
        Self {
            year,
            month,
            day,
            hour: (of_day / 3600) as u8,
            minute: (of_day / 60 % 60) as u8,
            second: (of_day % 60) as u8,
        }
    }
}

/// Howard Hinnant's `civil_from_days`: the proleptic Gregorian (year, month, day) of a count of
/// days since 1970-01-01. It counts in 400-year eras (146097 days each) that start on March 1st,
/// so that the leap day falls at the end of the era's year.
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year, 0..=365
    let mp = (5 * doy + 2) / 153; // March-based month, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1; // 1..=31
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // 1..=12
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u8, day as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-02 03:04:05 UTC.
    const T_2024: i64 = 1_704_164_645;
    const DAY: i64 = 86_400;

    fn entry(name: &str, metadata: Metadata) -> DirEntry {
        DirEntry {
            name: name.to_string(),
            metadata,
        }
    }

    fn text(body: Vec<u8>) -> String {
        String::from_utf8(body).expect("listings are UTF-8")
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(59), (1970, 3, 1)); // 1970 is not a leap year
        assert_eq!(civil_from_days(951_782_400 / DAY), (2000, 2, 29));
        assert_eq!(civil_from_days(951_782_400 / DAY + 1), (2000, 3, 1));
        assert_eq!(civil_from_days(1_709_164_800 / DAY), (2024, 2, 29));
        // 2100 is not a leap year (divisible by 100, not by 400).
        assert_eq!(civil_from_days(4_107_456_000 / DAY), (2100, 2, 28));
        assert_eq!(civil_from_days(4_107_456_000 / DAY + 1), (2100, 3, 1));
        assert_eq!(civil_from_days(MAX_TIME / DAY), (9999, 12, 31));
    }

    #[test]
    fn mdtm_times() {
        assert_eq!(mdtm_time(0), "19700101000000");
        assert_eq!(mdtm_time(T_2024), "20240102030405");
        assert_eq!(mdtm_time(951_782_400 + 86_399), "20000229235959");
        assert_eq!(mdtm_time(1_709_164_800 + 3_600), "20240229010000");
        assert_eq!(mdtm_time(1_709_251_200), "20240301000000");
        // Before the epoch is fine; out of the range of four-digit years is clamped, never
        // malformed.
        assert_eq!(mdtm_time(-1), "19691231235959");
        assert_eq!(mdtm_time(-310_435_200), "19600301000000");
        assert_eq!(mdtm_time(MIN_TIME), "00000101000000");
        assert_eq!(mdtm_time(i64::MIN), "00000101000000");
        assert_eq!(mdtm_time(MAX_TIME), "99991231235959");
        assert_eq!(mdtm_time(MAX_TIME + 1), "99991231235959");
        assert_eq!(mdtm_time(i64::MAX), "99991231235959");
    }

    #[test]
    fn mode_strings() {
        assert_eq!(mode_string(FileKind::File, 0o644), "-rw-r--r--");
        assert_eq!(mode_string(FileKind::Dir, 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(FileKind::Symlink, 0o777), "lrwxrwxrwx");
        assert_eq!(mode_string(FileKind::Other, 0o000), "?---------");
        assert_eq!(mode_string(FileKind::File, 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(FileKind::File, 0o4644), "-rwSr--r--");
        assert_eq!(mode_string(FileKind::Dir, 0o2775), "drwxrwsr-x");
        assert_eq!(mode_string(FileKind::Dir, 0o2765), "drwxrwSr-x");
        assert_eq!(mode_string(FileKind::Dir, 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(FileKind::Dir, 0o1776), "drwxrwxrwT");
        assert_eq!(mode_string(FileKind::File, 0o7000), "---S--S--T");
        assert_eq!(mode_string(FileKind::File, 0o0421), "-r---w---x");
    }

    #[test]
    fn list_line_recent_and_old() {
        let recent = entry("notes.txt", Metadata::file(1234, Some(T_2024)));
        assert_eq!(
            list_line(&recent, T_2024 + 10 * DAY),
            "-rw-r--r--    1 ftp      ftp          1234 Jan  2 03:04 notes.txt"
        );
        // 2020-01-15 12:00:00 UTC, four years before: the year replaces the time.
        let old = entry("src", Metadata::dir(Some(1_579_089_600)));
        assert_eq!(
            list_line(&old, T_2024),
            "drwxr-xr-x    2 ftp      ftp          4096 Jan 15  2020 src"
        );
    }

    #[test]
    fn list_date_six_month_boundary() {
        let now = T_2024;
        assert_eq!(list_date(now, now), "Jan  2 03:04");
        // 2023-07-03 12:09:29 UTC is exactly six months before: no longer recent.
        assert_eq!(list_date(now - SIX_MONTHS, now), "Jul  3  2023");
        assert_eq!(list_date(now - SIX_MONTHS + 1, now), "Jul  3 12:09");
    }

    #[test]
    fn list_date_future() {
        let now = T_2024;
        assert_eq!(list_date(now + FUTURE_SLACK, now), "Jan  2 04:04");
        assert_eq!(list_date(now + FUTURE_SLACK + 1, now), "Jan  2  2024");
        assert_eq!(list_date(now + 400 * DAY, now), "Feb  5  2025");
    }

    #[test]
    fn list_date_leap_days_and_epoch() {
        assert_eq!(list_date(951_782_400, T_2024), "Feb 29  2000");
        assert_eq!(
            list_date(1_709_164_800 + 45_000, 1_709_164_800 + DAY),
            "Feb 29 12:30"
        );
        assert_eq!(list_date(0, T_2024), "Jan  1  1970");
        assert_eq!(list_date(0, 0), "Jan  1 00:00");
        // Extreme clocks neither panic nor print a malformed year.
        assert_eq!(list_date(i64::MIN, i64::MAX), "Jan  1  0000");
        assert_eq!(list_date(-310_435_200, T_2024), "Mar  1  1960");
        assert_eq!(list_date(i64::MAX, i64::MIN), "Dec 31  9999");
    }

    #[test]
    fn list_line_unknown_time_is_the_epoch() {
        let e = entry("x", Metadata::file(0, None));
        assert_eq!(
            list_line(&e, T_2024),
            "-rw-r--r--    1 ftp      ftp             0 Jan  1  1970 x"
        );
    }

    #[test]
    fn list_line_symlink() {
        let mut meta = Metadata::file(11, Some(T_2024));
        meta.kind = FileKind::Symlink;
        meta.mode = 0o777;
        meta.symlink_target = Some("../target".into());
        assert_eq!(
            list_line(&entry("link", meta), T_2024),
            "lrwxrwxrwx    1 ftp      ftp            11 Jan  2 03:04 link -> ../target"
        );
    }

    #[test]
    fn list_line_wide_numbers_are_not_cut() {
        let mut meta = Metadata::file(12_345_678_901, Some(T_2024));
        meta.nlink = 123_456;
        assert_eq!(
            list_line(&entry("big", meta), T_2024),
            "-rw-r--r-- 123456 ftp      ftp      12345678901 Jan  2 03:04 big"
        );
    }

    #[test]
    fn line_ends_in_names_are_replaced() {
        let mut meta = Metadata::file(1, Some(T_2024));
        meta.kind = FileKind::Symlink;
        meta.symlink_target = Some("t\r\nx".into());
        let listing = Listing {
            entries: vec![entry("a\r\nfake", meta.clone()), entry("b\n", meta)],
            now: T_2024,
        };
        let list = text(render_list(&listing));
        assert_eq!(list.matches("\r\n").count(), 2, "{list:?}");
        assert!(list.contains(" a??fake -> t??x\r\n"), "{list:?}");
        assert_eq!(text(render_nlst(&listing)), "a??fake\r\nb?\r\n");
        let mlsd = text(render_mlsd(&listing, Facts::parse_opts("type;"), false));
        assert_eq!(
            mlsd,
            "type=OS.unix=symlink; a??fake\r\ntype=OS.unix=symlink; b?\r\n"
        );
    }

    fn sample_listing() -> Listing {
        Listing {
            entries: vec![
                entry("b.txt", Metadata::file(2, Some(T_2024))),
                entry("Z", Metadata::dir(Some(T_2024))),
                entry("a", Metadata::file(1, None)),
                entry("é", Metadata::file(3, Some(T_2024))),
                entry("_", Metadata::file(4, Some(T_2024))),
            ],
            now: T_2024,
        }
    }

    #[test]
    fn bodies_are_sorted_by_name_bytes() {
        let listing = sample_listing();
        // Byte order: upper case before '_' before lower case before non-ASCII.
        assert_eq!(text(render_nlst(&listing)), "Z\r\n_\r\na\r\nb.txt\r\né\r\n");
        let list = text(render_list(&listing));
        let names: Vec<&str> = list
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| l.rsplit(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(names, ["Z", "_", "a", "b.txt", "é"]);
        assert!(list.ends_with("\r\n"));
        assert!(list.starts_with("drwxr-xr-x    2 ftp      ftp          4096 Jan  2 03:04 Z\r\n"));
    }

    #[test]
    fn empty_listing_is_an_empty_body() {
        let listing = Listing::default();
        assert!(render_list(&listing).is_empty());
        assert!(render_nlst(&listing).is_empty());
        assert!(render_mlsd(&listing, Facts::all(), true).is_empty());
    }

    #[test]
    fn facts_of_a_file() {
        let mut meta = Metadata::file(12, Some(T_2024));
        meta.unique = Some((0x801, 0x2a));
        assert_eq!(
            mlsx_facts(&meta, Facts::all(), true),
            "type=file;size=12;modify=20240102030405;perm=radfw;unique=801g2a; "
        );
        assert_eq!(
            mlsx_facts(&meta, Facts::all(), false),
            "type=file;size=12;modify=20240102030405;perm=r;unique=801g2a; "
        );
    }

    #[test]
    fn facts_of_a_dir_and_others() {
        let dir = Metadata::dir(None);
        // No size for directories; unknown time and identity are left out.
        assert_eq!(
            mlsx_facts(&dir, Facts::all(), true),
            "type=dir;perm=elcdfmp; "
        );
        assert_eq!(mlsx_facts(&dir, Facts::all(), false), "type=dir;perm=el; ");
        let mut link = Metadata::file(5, Some(0));
        link.kind = FileKind::Symlink;
        assert_eq!(
            mlsx_facts(&link, Facts::all(), false),
            "type=OS.unix=symlink;modify=19700101000000;perm=r; "
        );
        let mut other = Metadata::file(0, None);
        other.kind = FileKind::Other;
        other.unique = Some((0, u64::MAX));
        assert_eq!(
            mlsx_facts(&other, Facts::all(), true),
            "type=OS.unix=special;perm=df;unique=0gffffffffffffffff; "
        );
    }

    #[test]
    fn facts_follow_opts_subsets() {
        let mut meta = Metadata::file(7, Some(T_2024));
        meta.unique = Some((1, 2));
        let only = |arg: &str| mlsx_facts(&meta, Facts::parse_opts(arg), true);
        assert_eq!(only("size;type;"), "type=file;size=7; ");
        assert_eq!(only("UNIQUE;Modify"), "modify=20240102030405;unique=1g2; ");
        assert_eq!(only("perm;bogus;;"), "perm=radfw; ");
        assert_eq!(only(""), " ");
    }

    #[test]
    fn facts_opts_parsing_and_feat() {
        assert_eq!(Facts::default(), Facts::all());
        assert_eq!(
            Facts::all().feat_line(),
            "MLST type*;size*;modify*;perm*;unique*;"
        );
        assert_eq!(
            Facts::all().opts_reply_list(),
            "type;size;modify;perm;unique;"
        );

        let some = Facts::parse_opts("modify;type;lang;");
        assert_eq!(some.feat_line(), "MLST type*;size;modify*;perm;unique;");
        assert_eq!(some.opts_reply_list(), "type;modify;");

        let none = Facts::parse_opts("");
        assert_eq!(none.feat_line(), "MLST type;size;modify;perm;unique;");
        assert_eq!(none.opts_reply_list(), "");
        assert_eq!(Facts::parse_opts("nothing;known"), none);
        assert_eq!(
            Facts::parse_opts("type;size;modify;perm;unique;"),
            Facts::all()
        );
    }

    #[test]
    fn mlsd_body() {
        let listing = sample_listing();
        let body = text(render_mlsd(
            &listing,
            Facts::parse_opts("type;size;"),
            false,
        ));
        assert_eq!(
            body,
            "type=dir; Z\r\ntype=file;size=4; _\r\ntype=file;size=1; a\r\n\
             type=file;size=2; b.txt\r\ntype=file;size=3; é\r\n"
        );
    }
}
