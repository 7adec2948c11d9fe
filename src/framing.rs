//! Control-connection framing: bytes in any chunking, command lines out.
//!
//! Lines end with CRLF or a bare LF. Telnet commands (RFC 854) are stripped on the way: clients
//! send `IAC IP IAC DM` before `ABOR` (RFC 959 4.1.3), and a few negotiate options. Everything is
//! a byte-at-a-time state machine, so a line or a Telnet sequence may be split anywhere.
// The session is written alongside this file and does not call it yet.

/// Telnet "interpret as command".
const IAC: u8 = 255;
/// Telnet subnegotiation begin and end.
const SB: u8 = 250;
const SE: u8 = 240;
/// Telnet WILL, WONT, DO, DONT: each is followed by one option byte.
const WILL: u8 = 251;
const DONT: u8 = 254;

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// One framed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line without its line end and Telnet commands.
    Complete(Vec<u8>),
    /// A line longer than the limit; its bytes were discarded.
    TooLong,
}

/// Where we are in the Telnet byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    /// Plain data.
    Data,
    /// After IAC.
    Iac,
    /// After IAC WILL/WONT/DO/DONT: the option byte comes next.
    Option,
    /// Inside IAC SB ... IAC SE.
    Sub,
    /// After IAC inside a subnegotiation.
    SubIac,
}

/// Splits the control stream into lines, stripping Telnet commands.
#[derive(Debug)]
pub(crate) struct LineReader {
    max_len: usize,
    /// The unfinished line, never longer than `max_len`.
    buf: Vec<u8>,
    /// A CR was seen last. It is held back because it is dropped if LF follows.
    pending_cr: bool,
    /// The unfinished line went over `max_len`; its bytes are being discarded.
    too_long: bool,
    telnet: Telnet,
}

impl LineReader {
    /// A reader whose lines may hold up to `max_len` bytes (line end excluded).
    pub(crate) fn new(max_len: usize) -> Self {
        Self {
            max_len,
            buf: Vec::new(),
            pending_cr: false,
            too_long: false,
            telnet: Telnet::Data,
        }
    }

    /// Feeds bytes; each finished line goes to `out`, in order.
    pub(crate) fn push(&mut self, data: &[u8], out: &mut impl FnMut(Line)) {
        let mut rest = data;
        while let Some((&byte, tail)) = rest.split_first() {
            match self.telnet {
                Telnet::Data => {
                    // Copy a run of ordinary bytes at once: this is nearly all traffic.
                    let run = rest
                        .iter()
                        .position(|&b| matches!(b, IAC | CR | LF))
                        .unwrap_or(rest.len());
                    if run > 0 {
                        let (plain, after) = rest.split_at(run);
                        self.flush_cr();
                        self.append(plain);
                        rest = after;
                        continue;
                    }
                    match byte {
                        IAC => self.telnet = Telnet::Iac,
                        CR => {
                            // Only the CR right before LF is the line end; an earlier one is data.
                            self.flush_cr();
                            self.pending_cr = true;
                        }
                        // LF, the only other byte the run stops at.
                        _ => self.finish(out),
                    }
                }
                Telnet::Iac => {
                    self.telnet = match byte {
                        // IAC IAC is an escaped 0xFF data byte.
                        IAC => {
                            self.flush_cr();
                            self.append(&[IAC]);
                            Telnet::Data
                        }
                        WILL..=DONT => Telnet::Option,
                        SB => Telnet::Sub,
                        // IP, DM, AYT, NOP, ...: a lone command, dropped.
                        _ => Telnet::Data,
                    };
                }
                Telnet::Option => self.telnet = Telnet::Data,
                Telnet::Sub => {
                    if byte == IAC {
                        self.telnet = Telnet::SubIac;
                    }
                }
                Telnet::SubIac => {
                    // IAC SE ends it; IAC IAC (escaped data) or anything else stays inside.
                    self.telnet = if byte == SE {
                        Telnet::Data
                    } else {
                        Telnet::Sub
                    };
                }
            }
            rest = tail;
        }
    }

    /// Bytes held for the unfinished line: at most `max_len`, plus one held-back CR.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() + usize::from(self.pending_cr)
    }

    /// A held-back CR turned out not to end the line: it is data.
    fn flush_cr(&mut self) {
        if self.pending_cr {
            self.pending_cr = false;
            self.append(&[CR]);
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.too_long {
            return;
        }
        let room = self.max_len.saturating_sub(self.buf.len());
        if bytes.len() > room {
            self.too_long = true;
            self.buf.clear();
            return;
        }
        if self.buf.capacity() - self.buf.len() < bytes.len() {
            // Grow by doubling as usual, but never past max_len: a near-limit line must not
            // make us hold twice the limit.
            let want = self
                .buf
                .capacity()
                .saturating_mul(2)
                .max(self.buf.len() + bytes.len())
                .min(self.max_len);
            self.buf.reserve_exact(want - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }

    /// LF arrived: hand out the line (a CR right before it is dropped) and start the next.
    fn finish(&mut self, out: &mut impl FnMut(Line)) {
        self.pending_cr = false;
        if self.too_long {
            self.too_long = false;
            out(Line::TooLong);
        } else {
            // A copy of exactly the line's size; our buffer keeps its capacity for the next one.
            out(Line::Complete(self.buf.clone()));
            self.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(reader: &mut LineReader, data: &[u8]) -> Vec<Line> {
        let mut got = Vec::new();
        reader.push(data, &mut |line| got.push(line));
        got
    }

    fn all(max_len: usize, data: &[u8]) -> Vec<Line> {
        lines(&mut LineReader::new(max_len), data)
    }

    fn ok(s: &[u8]) -> Line {
        Line::Complete(s.to_vec())
    }

    /// Feeds `data` in pieces cut at `cuts` and collects every line.
    fn chunked(max_len: usize, data: &[u8], cuts: &[usize]) -> Vec<Line> {
        let mut reader = LineReader::new(max_len);
        let mut got = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain([&data.len()]) {
            got.extend(lines(&mut reader, &data[start..cut]));
            start = cut;
        }
        got
    }

    #[test]
    fn crlf_and_bare_lf() {
        assert_eq!(
            all(100, b"USER a\r\nPASS b\nNOOP\r\n"),
            [ok(b"USER a"), ok(b"PASS b"), ok(b"NOOP")]
        );
        assert_eq!(all(100, b"\r\n\n"), [ok(b""), ok(b"")]);
        // No line end yet: nothing.
        assert_eq!(all(100, b"NOOP\r"), []);
    }

    #[test]
    fn cr_elsewhere_is_data() {
        assert_eq!(all(100, b"a\rb\r\n"), [ok(b"a\rb")]);
        assert_eq!(all(100, b"a\r\r\n"), [ok(b"a\r")]);
        assert_eq!(all(100, b"\r\r\r\n"), [ok(b"\r\r")]);
        assert_eq!(all(100, b"a\r\xff\xffb\n"), [ok(b"a\r\xffb")]);
    }

    #[test]
    fn telnet_sequences_are_stripped() {
        // RFC 959's abort: IAC IP, IAC DM (sent urgent), then ABOR.
        assert_eq!(all(100, b"\xff\xf4\xff\xf2ABOR\r\n"), [ok(b"ABOR")]);
        assert_eq!(all(100, b"RETR a\xff\xffb\r\n"), [ok(b"RETR a\xffb")]);
        assert_eq!(all(100, b"NO\xff\xfb\x01OP\r\n"), [ok(b"NOOP")]);
        assert_eq!(all(100, b"NO\xff\xfe\xffOP\r\n"), [ok(b"NOOP")]);
        assert_eq!(all(100, b"\xff\xfd\nNOOP\n"), [ok(b"NOOP")]);
        // Subnegotiation, with an escaped IAC and line ends inside: all dropped.
        assert_eq!(
            all(100, b"NO\xff\xfa\x18\x00a\xff\xff\r\nb\xff\xf0OP\n"),
            [ok(b"NOOP")]
        );
        // A Telnet command between CR and LF: the CR still ends the line.
        assert_eq!(all(100, b"NOOP\r\xff\xf1\n"), [ok(b"NOOP")]);
        assert_eq!(all(100, b"\xff\xf6\xff\xf1NOOP\n"), [ok(b"NOOP")]);
    }

    #[test]
    fn every_split_gives_the_same_lines() {
        let input: &[u8] =
            b"USER anon\r\nPASS x y \n\xff\xf4\xff\xf2ABOR\r\nRETR a\xff\xffb\rc\r\n\
            NO\xff\xfb\x01OP\r\nSITE\xff\xfa\x01\xff\xff\xff\xf0 X\r\n\r\n";
        let want = [
            ok(b"USER anon"),
            ok(b"PASS x y "),
            ok(b"ABOR"),
            ok(b"RETR a\xffb\rc"),
            ok(b"NOOP"),
            ok(b"SITE X"),
            ok(b""),
        ];
        assert_eq!(all(64, input), want);
        for i in 0..=input.len() {
            assert_eq!(chunked(64, input, &[i]), want, "cut at {i}");
            for j in i..=input.len() {
                assert_eq!(chunked(64, input, &[i, j]), want, "cuts at {i}, {j}");
            }
        }
        let bytewise: Vec<usize> = (0..input.len()).collect();
        assert_eq!(chunked(64, input, &bytewise), want);
    }

    #[test]
    fn overlong_line_then_normal() {
        let mut reader = LineReader::new(8);
        assert_eq!(lines(&mut reader, b"12345678\r\n"), [ok(b"12345678")]);
        assert_eq!(
            lines(&mut reader, b"123456789\r\nNOOP\r\n"),
            [Line::TooLong, ok(b"NOOP")]
        );
        // Split over pushes, and reported once when the line end comes.
        assert_eq!(lines(&mut reader, b"12345"), []);
        assert_eq!(lines(&mut reader, b"6789abc"), []);
        assert_eq!(lines(&mut reader, b"def\r"), []);
        assert_eq!(
            lines(&mut reader, b"\nQUIT\n"),
            [Line::TooLong, ok(b"QUIT")]
        );
        // The limit counts bytes after Telnet stripping: 8 data bytes plus commands fit.
        assert_eq!(
            lines(&mut reader, b"1234\xff\xf1\xff\xfb\x015678\r\n"),
            [ok(b"12345678")]
        );
        // A CR inside the line counts; the one ending it does not.
        assert_eq!(lines(&mut reader, b"1234567\r\r\n"), [ok(b"1234567\r")]);
        assert_eq!(lines(&mut reader, b"12345678\r\r\n"), [Line::TooLong]);
        assert_eq!(lines(&mut reader, b"12345678\xff\xff\n"), [Line::TooLong]);
        assert_eq!(LineReader::new(0).buffered(), 0);
        assert_eq!(all(0, b"\nx\n"), [ok(b""), Line::TooLong]);
    }

    #[test]
    fn memory_stays_bounded() {
        let max_len = 1024;
        let mut reader = LineReader::new(max_len);
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..160 {
            assert_eq!(lines(&mut reader, &chunk), []);
            assert!(reader.buffered() <= max_len, "{}", reader.buffered());
            assert!(
                reader.buf.capacity() <= max_len,
                "{}",
                reader.buf.capacity()
            );
        }
        assert_eq!(
            lines(&mut reader, b"\r\nNOOP\r\n"),
            [Line::TooLong, ok(b"NOOP")]
        );
        assert_eq!(reader.buffered(), 0);

        // Growth near the limit does not overshoot it either.
        let mut reader = LineReader::new(1000);
        for _ in 0..999 {
            reader.push(b"x", &mut |_| panic!("no line end was sent"));
            assert!(reader.buf.capacity() <= 1000);
        }
        assert_eq!(reader.buffered(), 999);
        reader.push(b"\r", &mut |_| panic!("no line end was sent"));
        assert_eq!(reader.buffered(), 1000);
    }
}
