//! What the server writes on a control connection, checked as it is written: every line ends
//! in CRLF, every reply is a 3-digit code and a space (or a hyphen and more lines up to the
//! same code and a space), and a batch of replies ends at the end of a reply.

/// One reply: its code and its last line (without CRLF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply {
    pub(super) code: u16,
    pub(super) text: String,
    /// The lines of a multi-line reply between its first and its last.
    pub(super) body: Vec<String>,
}

impl Reply {
    /// A preliminary reply (`1xx`): the command's final reply follows.
    pub(super) fn is_preliminary(&self) -> bool {
        (100..200).contains(&self.code)
    }
}

/// The replies in one batch written to the control connection, or what is wrong with it.
pub(super) fn parse_batch(bytes: &[u8]) -> Result<Vec<Reply>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| format!("reply not UTF-8: {bytes:?}"))?;
    if !text.ends_with("\r\n") {
        return Err(format!("batch does not end with CRLF: {text:?}"));
    }
    let mut replies = Vec::new();
    // The code of a multi-line reply under way.
    let mut open: Option<u16> = None;
    let mut body = Vec::new();
    for line in text[..text.len() - 2].split("\r\n") {
        if line.contains(['\r', '\n']) {
            return Err(format!("bare CR or LF in reply line {line:?}"));
        }
        let code = line
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (100..600).contains(c));
        let sep = line.as_bytes().get(3).copied();
        match (open, code, sep) {
            (Some(first), Some(code), Some(b' ')) if code == first => {
                open = None;
                replies.push(Reply {
                    code,
                    text: line.to_owned(),
                    body: std::mem::take(&mut body),
                });
            }
            // Lines inside a multi-line reply may say anything.
            (Some(_), _, _) => body.push(line.to_owned()),
            (None, Some(code), Some(b' ')) => replies.push(Reply {
                code,
                text: line.to_owned(),
                body: Vec::new(),
            }),
            (None, Some(code), Some(b'-')) => open = Some(code),
            (None, _, _) => return Err(format!("malformed reply line {line:?}")),
        }
    }
    if let Some(code) = open {
        return Err(format!(
            "multi-line reply {code} not ended in its batch: {text:?}"
        ));
    }
    Ok(replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_parsed_and_bad_ones_named() {
        let ok = parse_batch(b"150 Opening.\r\n211-Features:\r\n SIZE\r\n211 End\r\n").unwrap();
        assert_eq!(
            ok.iter().map(|r| r.code).collect::<Vec<_>>(),
            vec![150, 211]
        );
        assert!(ok[0].is_preliminary() && !ok[1].is_preliminary());
        for bad in [
            &b"200 no end"[..],
            b"20 short\r\n",
            b"2000 long\r\n",
            b"211-open\r\n",
            b"200 a\nb\r\n",
            b"700 code\r\n",
        ] {
            assert!(parse_batch(bad).is_err(), "{bad:?}");
        }
    }
}
