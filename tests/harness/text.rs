//! Text helpers shared by the script parser and the transcript: escapes, durations, dates.

use std::fmt::Write as _;
use std::time::Duration;

/// Decodes the escapes of a script string: `\r`, `\n`, `\t`, `\0`, `\\`, `\"`, `\xHH`.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'0') => out.push(0),
            Some(b'\\') => out.push(b'\\'),
            Some(b'"') => out.push(b'"'),
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let hex = std::str::from_utf8(&hex).map_err(|_| "bad \\x escape".to_owned())?;
                let v = u8::from_str_radix(hex, 16).map_err(|_| format!("bad \\x{hex}"))?;
                out.push(v);
            }
            other => return Err(format!("unknown escape \\{:?}", other.map(char::from))),
        }
    }
    Ok(out)
}

/// Shows bytes as a quoted string with every control byte, quote, backslash and non-ASCII byte
/// escaped, so CR, LF and trailing spaces are visible. Runs of 24 or more equal bytes are shown
/// as `"A"*9000` so that over-long lines stay readable.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let run = bytes[i..].iter().take_while(|&&c| c == b).count();
        if run >= 24 {
            if !literal.is_empty() {
                push_part(&mut out, &format!("\"{literal}\""));
                literal.clear();
            }
            let mut one = String::new();
            escape_byte(&mut one, b);
            push_part(&mut out, &format!("\"{one}\"*{run}"));
            i += run;
        } else {
            escape_byte(&mut literal, b);
            i += 1;
        }
    }
    if !literal.is_empty() || out.is_empty() {
        push_part(&mut out, &format!("\"{literal}\""));
    }
    out
}

fn push_part(out: &mut String, part: &str) {
    if !out.is_empty() {
        out.push('+');
    }
    out.push_str(part);
}

fn escape_byte(out: &mut String, b: u8) {
    match b {
        b'\r' => out.push_str("\\r"),
        b'\n' => out.push_str("\\n"),
        b'\t' => out.push_str("\\t"),
        b'\\' => out.push_str("\\\\"),
        b'"' => out.push_str("\\\""),
        0x20..=0x7e => out.push(char::from(b)),
        _ => {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
}

/// Splits bytes after each LF, so that every wire line gets its own transcript line.
pub fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    if out.is_empty() {
        out.push(b"");
    }
    out
}

/// Parses `2s`, `1500ms`, `5m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text == "max" {
        return Ok(Duration::MAX);
    }
    let (num, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| text.split_at(i))
        .ok_or_else(|| format!("duration {text:?} needs a unit (ms, s, m, h)"))?;
    let n: u64 = num.parse().map_err(|_| format!("bad duration {text:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("unknown unit in {text:?}")),
    }
}

/// Shows a duration since the start of the script as `t+1.500s`.
pub fn offset(d: Duration) -> String {
    format!("t+{}.{:03}s", d.as_secs(), d.subsec_millis())
}

/// Parses a UTC time `2024-06-15T12:00:00` (or a date alone, or seconds since the epoch).
pub fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs);
    }
    let bad = || format!("bad time {text:?} (want YYYY-MM-DDTHH:MM:SS)");
    let text = text.trim_end_matches('Z');
    let (date, time) = text.split_once('T').unwrap_or((text, "00:00:00"));
    let d: Vec<i64> = date
        .split('-')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let t: Vec<i64> = time
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    match (d.as_slice(), t.as_slice()) {
        ([y, m, dd], [hh, mm, ss]) => {
            Ok(days_from_civil(*y, *m, *dd) * 86400 + hh * 3600 + mm * 60 + ss)
        }
        _ => Err(bad()),
    }
}

/// Shows seconds since the epoch as `2024-06-15T12:00:00Z`.
pub fn show_time(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[test]
fn time_round_trip() {
    assert_eq!(parse_time("1970-01-01T00:00:00"), Ok(0));
    assert_eq!(parse_time("2024-06-15T12:00:00Z"), Ok(1_718_452_800));
    assert_eq!(show_time(1_718_452_800), "2024-06-15T12:00:00Z");
    assert_eq!(show_time(951_782_400), "2000-02-29T00:00:00Z");
}

#[test]
fn quoting_and_escapes() {
    assert_eq!(quote(b"USER a b \r\n"), "\"USER a b \\r\\n\"");
    assert_eq!(unescape("a\\r\\n\\xFF\\\\").unwrap(), b"a\r\n\xff\\");
    let long = [b"X".as_slice(), &[b'A'; 30], b"\r\n"].concat();
    assert_eq!(quote(&long), "\"X\"+\"A\"*30+\"\\r\\n\"");
}

/// RFC 959 4.2: `DDD text\r\n`, or `DDD-text\r\n` ... `DDD text\r\n`; no CR or LF inside a line.
pub fn check_reply(reply: &thinftp::Reply) -> Result<(), String> {
    let wire = reply.as_bytes();
    if !wire.ends_with(b"\r\n") {
        return Err("not CRLF-terminated".into());
    }
    let lines: Vec<&[u8]> = wire.split_inclusive(|&b| b == b'\n').collect();
    for line in &lines {
        let body = &line[..line.len() - 2];
        if !line.ends_with(b"\r\n") || body.contains(&b'\r') || body.contains(&b'\n') {
            return Err(format!("bad line end in {}", quote(line)));
        }
    }
    let code = format!("{:03}", reply.code());
    let first = lines[0];
    if !first.starts_with(code.as_bytes()) || !first[..3].iter().all(u8::is_ascii_digit) {
        return Err(format!("first line does not start with the code {code}"));
    }
    let last = lines[lines.len() - 1];
    let inner = lines.get(1..lines.len() - 1).unwrap_or_default();
    if inner
        .iter()
        .any(|l| l.starts_with(format!("{code} ").as_bytes()))
    {
        return Err("an inner line would end the multi-line reply early".into());
    }
    match first.get(3) {
        Some(b' ') if lines.len() == 1 => Ok(()),
        Some(b'-') if lines.len() > 1 && last.starts_with(format!("{code} ").as_bytes()) => Ok(()),
        _ => Err("bad single- or multi-line form".into()),
    }
}
