//! Replies on the control connection, encoded once into their exact wire bytes.

use core::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// One complete reply: a three-digit code and one or more CRLF-terminated lines.
///
/// Text never contains a bare CR or LF: they are replaced by spaces, so a hostile file name cannot
/// forge a reply line.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    wire: Bytes,
}

impl Reply {
    /// A single-line reply: `CODE text\r\n`.
    pub fn new(code: u16, text: &str) -> Self {
        debug_assert!((100..600).contains(&code));
        let mut wire = BytesMut::with_capacity(text.len() + 6);
        push_line(&mut wire, code, ' ', text);
        Self {
            code,
            wire: wire.freeze(),
        }
    }

    /// A multi-line reply (RFC 959 4.2): `CODE-first`, then each of `lines` indented by one space,
    /// then `CODE last`.
    pub fn multiline<I, S>(code: u16, first: &str, lines: I, last: &str) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut wire = BytesMut::with_capacity(64);
        push_line(&mut wire, code, '-', first);
        for line in lines {
            wire.put_u8(b' ');
            push_text(&mut wire, line.as_ref());
            wire.put_slice(b"\r\n");
        }
        push_line(&mut wire, code, ' ', last);
        Self {
            code,
            wire: wire.freeze(),
        }
    }

    /// The reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The exact bytes to write to the control connection.
    pub fn as_bytes(&self) -> &[u8] {
        &self.wire
    }

    /// The wire bytes, cheaply cloned.
    pub fn to_bytes(&self) -> Bytes {
        self.wire.clone()
    }
}

fn push_line(wire: &mut BytesMut, code: u16, sep: char, text: &str) {
    wire.put_slice(format!("{code:03}{sep}").as_bytes());
    push_text(wire, text);
    wire.put_slice(b"\r\n");
}

fn push_text(wire: &mut BytesMut, text: &str) {
    for &b in text.as_bytes() {
        wire.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
}

/// Quotes a path for a `257` reply: in double quotes, embedded quotes doubled (RFC 959 appendix II).
pub fn quote_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    out.push('"');
    for c in path.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reply({:?})", String::from_utf8_lossy(&self.wire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line() {
        let r = Reply::new(200, "Command okay.");
        assert_eq!(r.as_bytes(), b"200 Command okay.\r\n");
        assert_eq!(r.code(), 200);
    }

    #[test]
    fn multi_line() {
        let r = Reply::multiline(211, "Features:", ["EPSV", "PASV"], "End");
        assert_eq!(
            r.as_bytes(),
            b"211-Features:\r\n EPSV\r\n PASV\r\n211 End\r\n"
        );
    }

    #[test]
    fn line_ends_in_text_cannot_forge_lines() {
        let r = Reply::new(550, "a\r\n200 b");
        assert_eq!(r.as_bytes(), b"550 a  200 b\r\n");
        let r = Reply::multiline(213, "x", ["e\nvil"], "y");
        assert_eq!(r.as_bytes(), b"213-x\r\n e vil\r\n213 y\r\n");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_path("/a\"b"), "\"/a\"\"b\"");
        assert_eq!(quote_path("/"), "\"/\"");
    }
}
