//! File names that are not UTF-8, shown to clients and taken back without loss.
//!
//! FTP names are UTF-8 text (RFC 2640), but a Unix file name is any bytes. So that a client can
//! see such a file and name it back (RETR, RNFR/RNTO, DELE, ...), each byte of a name that is not
//! part of valid UTF-8 is shown as the private-use character U+F700 + byte: the bytes 0x80..=0xFF
//! (the only bytes that can be invalid) become U+F780..=U+F7FF. Every path the storage opens is
//! decoded the other way: each such character is the raw byte again.
//!
//! A name that really contains one of U+F780..=U+F7FF (valid UTF-8: `EF 9E 80` to `EF 9F BF`) is
//! escaped too, byte by byte (`EF 9E 80` is shown as U+F7EF U+F79E U+F780), so that decoding any
//! shown name gives the bytes on disk back: [`decode`]`(`[`encode`]`(b)) == b` for every name.
//! The one cost (the collision case): a client cannot create a name that literally holds a
//! character of U+F780..=U+F7FF, because what it sends is read as escaped bytes; the file it
//! makes instead lists under the very name it sent, so the round trip still holds.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// The first escape character: byte `b` (0x80..=0xFF) is shown as `ESCAPE_BASE + b`.
const ESCAPE_BASE: u32 = 0xF700;
/// The escape characters, U+F780..=U+F7FF.
const ESCAPES: std::ops::RangeInclusive<u32> = 0xF780..=0xF7FF;

fn is_escape(c: char) -> bool {
    ESCAPES.contains(&u32::from(c))
}

fn push_escaped(out: &mut String, byte: u8) {
    // 0xF700 + 0x80..=0xFF is a private-use scalar value, never a surrogate.
    if let Some(c) = char::from_u32(ESCAPE_BASE + u32::from(byte)) {
        out.push(c);
    }
}

/// The name a client sees for the file name `name` (as stored on disk).
pub fn encode(name: &OsStr) -> String {
    let bytes = name.as_bytes();
    if let Ok(text) = std::str::from_utf8(bytes) {
        if !text.chars().any(is_escape) {
            return text.to_owned();
        }
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_escape(c) {
                let mut buf = [0u8; 4];
                for &b in c.encode_utf8(&mut buf).as_bytes() {
                    push_escaped(&mut out, b);
                }
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            push_escaped(&mut out, b);
        }
    }
    out
}

/// The bytes on disk for a name (or a relative path) a client sent: the reverse of [`encode`].
pub fn decode(name: &str) -> OsString {
    if !name.chars().any(is_escape) {
        return OsString::from(name);
    }
    let mut out = Vec::with_capacity(name.len());
    for c in name.chars() {
        if is_escape(c) {
            // In ESCAPES, so the difference is 0x80..=0xFF.
            out.push(u8::try_from(u32::from(c) - ESCAPE_BASE).unwrap_or(b'?'));
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(bytes: &[u8]) -> String {
        let shown = encode(OsStr::from_bytes(bytes));
        assert_eq!(decode(&shown).as_bytes(), bytes, "shown as {shown:?}");
        shown
    }

    #[test]
    fn utf8_names_are_shown_as_they_are() {
        assert_eq!(round_trip("plain.txt".as_bytes()), "plain.txt");
        assert_eq!(round_trip("Grüße ✓".as_bytes()), "Grüße ✓");
    }

    #[test]
    fn invalid_bytes_become_private_use_characters_and_back() {
        assert_eq!(round_trip(b"caf\xe9.txt"), "caf\u{f7e9}.txt");
        assert_eq!(round_trip(b"\xff\xfe"), "\u{f7ff}\u{f7fe}");
        // A truncated sequence: each of its bytes is escaped.
        assert_eq!(round_trip(b"a\xe2\x82"), "a\u{f7e2}\u{f782}");
        round_trip(b"\x80\xbf\xc0\xc1\xf5");
    }

    #[test]
    fn a_real_escape_character_is_escaped_itself() {
        let shown = round_trip("x\u{f7a0}y".as_bytes());
        assert_eq!(shown, "x\u{f7ef}\u{f79e}\u{f7a0}y");
        // Characters just outside the range are left alone.
        assert_eq!(
            round_trip("\u{f77f}\u{f800}".as_bytes()),
            "\u{f77f}\u{f800}"
        );
    }
}
