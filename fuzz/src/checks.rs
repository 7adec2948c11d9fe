//! Pure checks on what a session emits.

use thinftp::{Reply, VirtualPath};

/// Checks that a reply is well formed per RFC 959 4.2: a three-digit code from 100 to 599, every
/// line CRLF-terminated with no bare CR or LF inside; a single line `CODE text`, or a multi-line
/// `CODE-text` ... `CODE text` whose inner lines cannot be taken for its last line.
pub fn check_reply(reply: &Reply) -> Result<(), String> {
    check_wire(reply.as_bytes(), reply.code())
}

/// [`check_reply`] on wire bytes and the code the reply claims.
fn check_wire(wire: &[u8], claimed: u16) -> Result<(), String> {
    let body = wire
        .strip_suffix(b"\r\n")
        .ok_or("the reply does not end with CRLF")?;
    let lines = split_crlf(body);
    for line in &lines {
        if line.contains(&b'\r') || line.contains(&b'\n') {
            return Err(format!(
                "bare CR or LF in line {:?}",
                line.escape_ascii().to_string()
            ));
        }
    }
    let first = lines.first().ok_or("empty reply")?;
    let code = line_code(first).ok_or("the first line does not start with a reply code")?;
    if !(100..600).contains(&code) {
        return Err(format!("reply code {code} out of range"));
    }
    if code != claimed {
        return Err(format!("wire code {code} but Reply::code() {claimed}"));
    }
    let last_prefix = format!("{code:03} ");
    match first.get(3) {
        Some(b' ') if lines.len() == 1 => Ok(()),
        Some(b' ') => Err("a single-line reply (CODE SP) with more lines after it".to_owned()),
        Some(b'-') => {
            let last = lines.last().filter(|_| lines.len() >= 2);
            let last = last.ok_or("a multi-line reply (CODE-) with no last line")?;
            if !last.starts_with(last_prefix.as_bytes()) {
                return Err(format!(
                    "multi-line reply must end with a line starting {last_prefix:?}"
                ));
            }
            let inner = &lines[1..lines.len() - 1];
            if inner.iter().any(|l| l.starts_with(last_prefix.as_bytes())) {
                return Err(format!(
                    "an inner line starts with {last_prefix:?} and ends the reply early"
                ));
            }
            Ok(())
        }
        _ => Err("the code is not followed by a space or a hyphen".to_owned()),
    }
}

fn line_code(line: &[u8]) -> Option<u16> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Splits on CRLF (the input has no trailing CRLF).
fn split_crlf(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    while let Some(at) = rest.windows(2).position(|w| w == b"\r\n") {
        lines.push(&rest[..at]);
        rest = &rest[at + 2..];
    }
    lines.push(rest);
    lines
}

/// Whether `path` is `home` or beneath it.
pub fn beneath(path: &VirtualPath, home: &VirtualPath) -> bool {
    path.strip_prefix(home).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_replies_pass() {
        assert_eq!(check_reply(&Reply::new(200, "ok")), Ok(()));
        assert_eq!(check_reply(&Reply::new(550, "a\r\nb")), Ok(()));
        let feat = Reply::multiline(211, "Features:", ["EPSV", "211 inner"], "End");
        assert_eq!(check_reply(&feat), Ok(()));
    }

    #[test]
    fn malformed_replies_fail() {
        let bad: [&[u8]; 10] = [
            b"200 ok\n",
            b"200 ok",
            b"200 a\rb\r\n",
            b"200 a\nb\r\n",
            b"099 low\r\n",
            b"2x0 no\r\n",
            b"200ok\r\n",
            b"200 a\r\n200 b\r\n",
            b"211-a\r\n b\r\n",
            b"211-a\r\n211 early\r\n211 end\r\n",
        ];
        for wire in bad {
            let code = line_code(wire).unwrap_or(200);
            assert!(
                check_wire(wire, code).is_err(),
                "{:?}",
                wire.escape_ascii().to_string()
            );
        }
        assert!(check_wire(b"200 ok\r\n", 201).is_err());
        assert_eq!(check_wire(b"211-a\r\n b\r\n211 end\r\n", 211), Ok(()));
    }

    #[test]
    fn beneath_means_at_or_below() {
        let root = VirtualPath::root();
        let home = root.resolve("/home/u").unwrap();
        assert!(beneath(&home, &home));
        assert!(beneath(&root.resolve("/home/u/x").unwrap(), &home));
        assert!(!beneath(&root.resolve("/home/user2").unwrap(), &home));
        assert!(!beneath(&root, &home));
        assert!(beneath(&home, &root));
    }
}
