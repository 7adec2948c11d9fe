//! ASCII type (`TYPE A`) line-end conversion, as pure functions that runtimes call per buffer.
//!
//! FTP's ASCII type sends lines ended by CRLF (RFC 959, 3.1.1.1); the server stores them with the
//! local line end, LF. A runtime moving a `TYPE A` file runs every buffer through an
//! [`AsciiEncoder`] (`RETR`: LF → CRLF) or an [`AsciiDecoder`] (`STOR`: CRLF → LF). Both keep
//! the little state needed so that a CR and its LF may arrive in different buffers: the output
//! does not depend on how the bytes were split.

/// Converts a file's LF line ends to CRLF for sending (`RETR` in `TYPE A`).
///
/// Every LF not already preceded by a CR becomes CRLF; an existing CRLF is left alone rather
/// than doubled, so a file that already has CRLF line ends goes out unchanged. Create one per
/// transfer and call [`encode`](Self::encode) on each buffer in order.
#[derive(Debug, Clone, Default)]
pub struct AsciiEncoder {
    /// Whether the last byte of the previous buffer was a CR: an LF at the start of the next
    /// buffer then completes a CRLF and must not get another CR.
    last_was_cr: bool,
}

impl AsciiEncoder {
    /// An encoder at the start of a file.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An encoder for a file sent from an offset (`REST` + `RETR`): `previous` is the file's
    /// byte just before the offset. If that is a CR, an LF at the offset completes the CRLF the
    /// client already has and goes out alone, not as another CRLF.
    #[must_use]
    pub fn resuming_after(previous: u8) -> Self {
        Self {
            last_was_cr: previous == b'\r',
        }
    }

    /// Appends the converted form of `input` (the next buffer of the file) to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        // Most text has long runs without LF: copy those runs whole instead of byte by byte.
        out.reserve(input.len() + input.len() / 32 + 1);
        let mut rest = input;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (before, from_lf) = rest.split_at(pos);
            out.extend_from_slice(before);
            let preceded_by_cr = match before.last() {
                Some(&b) => b == b'\r',
                None => self.last_was_cr,
            };
            if !preceded_by_cr {
                out.push(b'\r');
            }
            out.push(b'\n');
            self.last_was_cr = false;
            rest = from_lf.get(1..).unwrap_or_default();
        }
        out.extend_from_slice(rest);
        if let Some(&b) = rest.last() {
            self.last_was_cr = b == b'\r';
        }
    }
}

/// Converts received CRLF line ends to LF for storing (`STOR` in `TYPE A`).
///
/// Each CRLF becomes LF; a CR not followed by LF is kept. A CR at the end of a buffer is held
/// back until the next buffer shows whether an LF follows it, so call
/// [`finish`](Self::finish) after the last buffer to write out a CR still held.
#[derive(Debug, Clone, Default)]
pub struct AsciiDecoder {
    /// A CR ended the previous buffer and has not been written yet.
    held_cr: bool,
}

impl AsciiDecoder {
    /// A decoder at the start of an upload.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the converted form of `input` (the next buffer received) to `out`. A CR at the
    /// end of `input` is held until the next call or [`finish`](Self::finish).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + 1);
        let mut rest = input;
        if self.held_cr {
            match rest.first() {
                // Nothing new: still undecided.
                None => return,
                Some(b'\n') => {
                    out.push(b'\n');
                    rest = rest.get(1..).unwrap_or_default();
                }
                Some(_) => out.push(b'\r'),
            }
            self.held_cr = false;
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\r') {
            let (before, from_cr) = rest.split_at(pos);
            out.extend_from_slice(before);
            match from_cr.get(1) {
                None => {
                    self.held_cr = true;
                    return;
                }
                Some(b'\n') => {
                    out.push(b'\n');
                    rest = from_cr.get(2..).unwrap_or_default();
                }
                Some(_) => {
                    out.push(b'\r');
                    rest = from_cr.get(1..).unwrap_or_default();
                }
            }
        }
        out.extend_from_slice(rest);
    }

    /// Ends the upload: appends a CR still held from the last buffer (a file ending in a bare
    /// CR keeps it). The decoder is then ready for a new upload.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.held_cr {
            out.push(b'\r');
            self.held_cr = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_chunks(chunks: &[&[u8]]) -> Vec<u8> {
        let mut enc = AsciiEncoder::new();
        let mut out = Vec::new();
        for chunk in chunks {
            enc.encode(chunk, &mut out);
        }
        out
    }

    fn decode_chunks(chunks: &[&[u8]]) -> Vec<u8> {
        let mut dec = AsciiDecoder::new();
        let mut out = Vec::new();
        for chunk in chunks {
            dec.decode(chunk, &mut out);
        }
        dec.finish(&mut out);
        out
    }

    #[test]
    fn encode_basic() {
        assert_eq!(encode_chunks(&[b""]), b"");
        assert_eq!(encode_chunks(&[b"abc"]), b"abc");
        assert_eq!(encode_chunks(&[b"a\nb\n"]), b"a\r\nb\r\n");
        assert_eq!(encode_chunks(&[b"\n\n"]), b"\r\n\r\n");
        // An existing CRLF is not doubled; a bare CR is kept.
        assert_eq!(encode_chunks(&[b"a\r\nb\rc\n"]), b"a\r\nb\rc\r\n");
        assert_eq!(encode_chunks(&[b"\r\r\n"]), b"\r\r\n");
    }

    #[test]
    fn encode_cr_and_lf_in_different_buffers() {
        assert_eq!(encode_chunks(&[b"a\r", b"\nb"]), b"a\r\nb");
        assert_eq!(encode_chunks(&[b"a\r", b"", b"\nb"]), b"a\r\nb");
        // An LF at the start of a buffer after a non-CR still gets its CR.
        assert_eq!(encode_chunks(&[b"a", b"\nb"]), b"a\r\nb");
        // A CRLF in one buffer must not make the next buffer's leading LF look preceded by CR.
        assert_eq!(encode_chunks(&[b"a\r\n", b"\n"]), b"a\r\n\r\n");
    }

    #[test]
    fn decode_basic() {
        assert_eq!(decode_chunks(&[b""]), b"");
        assert_eq!(decode_chunks(&[b"a\r\nb\r\n"]), b"a\nb\n");
        // Bare CR and bare LF are kept as they are.
        assert_eq!(decode_chunks(&[b"a\rb\nc"]), b"a\rb\nc");
        assert_eq!(decode_chunks(&[b"\r\r\n"]), b"\r\n");
        assert_eq!(decode_chunks(&[b"a\r"]), b"a\r");
        assert_eq!(decode_chunks(&[b"\r\r"]), b"\r\r");
    }

    #[test]
    fn decode_holds_a_trailing_cr_until_the_next_buffer() {
        let mut dec = AsciiDecoder::new();
        let mut out = Vec::new();
        dec.decode(b"ab\r", &mut out);
        assert_eq!(out, b"ab");
        dec.decode(b"", &mut out);
        assert_eq!(out, b"ab", "an empty buffer decides nothing");
        dec.decode(b"\ncd\r", &mut out);
        assert_eq!(out, b"ab\ncd");
        dec.decode(b"x", &mut out);
        assert_eq!(out, b"ab\ncd\rx");
        dec.decode(b"\r", &mut out);
        dec.finish(&mut out);
        assert_eq!(out, b"ab\ncd\rx\r");
        // finish() leaves nothing held behind.
        dec.finish(&mut out);
        dec.decode(b"\n", &mut out);
        assert_eq!(out, b"ab\ncd\rx\r\n");
    }

    const SAMPLE: &[u8] = b"\r\nab\r\n\ncd\r\re\n\r\r\nf\r";

    #[test]
    fn encode_every_split_position() {
        let expected: &[u8] = b"\r\nab\r\n\r\ncd\r\re\r\n\r\r\nf\r";
        assert_eq!(encode_chunks(&[SAMPLE]), expected);
        for i in 0..=SAMPLE.len() {
            let (a, b) = SAMPLE.split_at(i);
            assert_eq!(encode_chunks(&[a, b]), expected, "split at {i}");
            for j in i..=SAMPLE.len() {
                let (b1, b2) = SAMPLE[i..].split_at(j - i);
                assert_eq!(encode_chunks(&[a, b1, b2]), expected, "split at {i}, {j}");
            }
        }
    }

    #[test]
    fn decode_every_split_position() {
        let expected: &[u8] = b"\nab\n\ncd\r\re\n\r\nf\r";
        assert_eq!(decode_chunks(&[SAMPLE]), expected);
        for i in 0..=SAMPLE.len() {
            let (a, b) = SAMPLE.split_at(i);
            assert_eq!(decode_chunks(&[a, b]), expected, "split at {i}");
            for j in i..=SAMPLE.len() {
                let (b1, b2) = SAMPLE[i..].split_at(j - i);
                assert_eq!(decode_chunks(&[a, b1, b2]), expected, "split at {i}, {j}");
            }
        }
    }

    /// xorshift64*: a tiny deterministic generator, so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn bytes(&mut self, alphabet: &[u8], max_len: usize) -> Vec<u8> {
            let len = self.below(max_len + 1);
            (0..len)
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect()
        }

        /// Cuts `data` into random pieces, empty ones included.
        fn split<'a>(&mut self, mut data: &'a [u8]) -> Vec<&'a [u8]> {
            let mut chunks = Vec::new();
            while !data.is_empty() {
                let (chunk, rest) = data.split_at(self.below(data.len().min(5) + 1));
                chunks.push(chunk);
                data = rest;
            }
            chunks.push(data);
            chunks
        }
    }

    #[test]
    fn property_roundtrip_of_lf_text() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..2000 {
            let text = rng.bytes(b"ab \n\n\xff", 40);
            let wire = encode_chunks(&rng.split(&text));
            // On the wire every LF is part of a CRLF.
            for (i, &b) in wire.iter().enumerate() {
                if b == b'\n' {
                    assert!(i > 0 && wire[i - 1] == b'\r', "case {case}: {wire:?}");
                }
            }
            assert_eq!(decode_chunks(&rng.split(&wire)), text, "case {case}");
        }
    }

    #[test]
    fn property_roundtrip_keeps_bare_crs() {
        // Text with CRs that are not followed by LF (no CRLF in the file) survives too.
        let mut rng = Rng(42);
        let mut tested = 0;
        for case in 0..3000 {
            let text = rng.bytes(b"a\r\n", 30);
            if text.windows(2).any(|w| w == b"\r\n") {
                continue;
            }
            tested += 1;
            let wire = encode_chunks(&rng.split(&text));
            assert_eq!(decode_chunks(&rng.split(&wire)), text, "case {case}");
        }
        assert!(tested > 500, "the generator should produce enough cases");
    }

    #[test]
    fn property_split_does_not_change_the_result() {
        let mut rng = Rng(7);
        for case in 0..2000 {
            let data = rng.bytes(b"x\r\n\r\n\0", 48);
            let whole_dec = decode_chunks(&[&data]);
            let whole_enc = encode_chunks(&[&data]);
            for _ in 0..4 {
                let chunks = rng.split(&data);
                assert_eq!(decode_chunks(&chunks), whole_dec, "case {case}: {chunks:?}");
                assert_eq!(encode_chunks(&chunks), whole_enc, "case {case}: {chunks:?}");
            }
        }
    }

    #[test]
    fn resuming_between_cr_and_lf_sends_no_extra_cr() {
        let file = b"dos\r\nline\r\nunix\n";
        for offset in 1..file.len() {
            let mut enc = AsciiEncoder::resuming_after(file[offset - 1]);
            let mut resumed = Vec::new();
            enc.encode(&file[offset..], &mut resumed);
            // The encoder never looks ahead, so the wire form of the first `offset` bytes is a
            // prefix of the whole file's: resuming must send exactly the rest of it.
            let whole = encode_chunks(&[file]);
            let head = encode_chunks(&[&file[..offset]]);
            let expected = &whole[head.len()..];
            assert_eq!(resumed, expected, "offset {offset}");
        }
        let mut out = Vec::new();
        AsciiEncoder::resuming_after(b'\r').encode(b"\nx\n", &mut out);
        assert_eq!(out, b"\nx\r\n");
        out.clear();
        AsciiEncoder::resuming_after(b'a').encode(b"\nx", &mut out);
        assert_eq!(out, b"\r\nx");
    }
}
