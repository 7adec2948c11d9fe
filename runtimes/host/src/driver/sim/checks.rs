//! What the client's model says a reply or a transfer's data must be, computed on its own
//! (never with the server's code): `TYPE A` conversion, `HASH` digests, `MLST` facts and
//! `MLSD` listings.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::model::Node;

/// A file sent in `TYPE A` from byte `from`: every LF not right after a CR (the byte before
/// `from` included) goes out as CRLF.
pub(super) fn ascii_sent(file: &[u8], from: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in from.min(file.len())..file.len() {
        if file[i] == b'\n' && (i == 0 || file[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(file[i]);
    }
    out
}

/// What an upload in `TYPE A` of `sent` stores: each CRLF becomes LF, a lone CR stays.
pub(super) fn ascii_stored(sent: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sent.len());
    let mut i = 0;
    while i < sent.len() {
        if sent[i] == b'\r' && sent.get(i + 1) == Some(&b'\n') {
            i += 1;
        }
        out.push(sent[i]);
        i += 1;
    }
    out
}

/// A `213` to `HASH` (after `RANG first last` if `range`) of the file `file` is right:
/// `SHA-256 <first>-<end> <hex> <name>`, of the whole file (`0-<size>`) or of the bytes of
/// the range the file has (`<first>-<last byte hashed>`).
pub(super) fn check_hash(
    text: &str,
    file: Option<&[u8]>,
    range: Option<(u64, u64)>,
) -> Result<(), String> {
    let Some(file) = file else {
        return Err(format!("{text:?} for no file"));
    };
    let len = file.len();
    let (bytes, span) = match range {
        None => (file, format!("0-{len}")),
        Some((first, last)) => {
            let start = usize::try_from(first).unwrap_or(usize::MAX).min(len);
            let end = usize::try_from(last)
                .unwrap_or(usize::MAX)
                .saturating_add(1)
                .min(len)
                .max(start);
            if start == end {
                return Err(format!("{text:?} for a range the file does not have"));
            }
            (&file[start..end], format!("{start}-{}", end - 1))
        }
    };
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut words = text.split(' ').skip(1);
    let got = (words.next(), words.next(), words.next());
    if got != (Some("SHA-256"), Some(span.as_str()), Some(hex.as_str())) {
        return Err(format!(
            "{text:?}, but the file's {span} hashes to {hex} ({len} bytes)"
        ));
    }
    Ok(())
}

/// The facts of one `MLST`/`MLSD` entry line (`type=file;size=3;...; name`): its type, its
/// size if given, and its name.
fn facts(line: &str) -> Result<(String, Option<usize>, String), String> {
    let (facts, name) = line
        .split_once("; ")
        .ok_or_else(|| format!("no facts in {line:?}"))?;
    let mut kind = None;
    let mut size = None;
    for fact in facts.split(';') {
        match fact.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_owned()),
            Some(("size", v)) => size = Some(v.parse().map_err(|_| format!("size in {line:?}"))?),
            _ => {}
        }
    }
    let kind = kind.ok_or_else(|| format!("no type in {line:?}"))?;
    Ok((kind, size, name.to_owned()))
}

/// An entry's facts say what the model holds.
fn same(kind: &str, size: Option<usize>, node: &Node) -> bool {
    match node {
        Node::Dir => kind == "dir",
        Node::File(data) => kind == "file" && size == Some(data.len()),
    }
}

/// A `250` to `MLST` of what the model holds as `node`: its one entry line (in the reply's
/// body, after a space) says the same.
pub(super) fn check_mlst(body: &[String], node: Option<&Node>) -> Result<(), String> {
    let Some(node) = node else {
        return Err(format!("MLST showed {body:?} for nothing"));
    };
    let [line] = body else {
        return Err(format!("MLST showed {body:?}, not one entry"));
    };
    let entry = line
        .strip_prefix(' ')
        .ok_or_else(|| format!("MLST entry {line:?} does not start with a space"))?;
    let (kind, size, _) = facts(entry)?;
    if !same(&kind, size, node) {
        return Err(format!("MLST showed {entry:?} for {node:?}"));
    }
    Ok(())
}

/// An `MLSD` listing (received in full, after a `226`) shows each of the directory's
/// `children` once, with its type and size, and nothing else.
pub(super) fn check_mlsd(received: &[u8], children: &BTreeMap<String, Node>) -> Result<(), String> {
    let text = std::str::from_utf8(received).map_err(|_| "MLSD not UTF-8".to_owned())?;
    let mut seen = BTreeMap::new();
    for line in text.split_terminator("\r\n") {
        let (kind, size, name) = facts(line)?;
        let Some(node) = children.get(&name) else {
            return Err(format!(
                "MLSD showed {line:?}, the directory holds {children:?}"
            ));
        };
        if !same(&kind, size, node) || seen.insert(name, ()).is_some() {
            return Err(format!("MLSD showed {line:?} for {node:?}"));
        }
    }
    if seen.len() != children.len() || !text.is_empty() && !text.ends_with("\r\n") {
        return Err(format!(
            "MLSD gave {text:?}, the directory holds {:?}",
            children.keys().collect::<Vec<_>>()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_models_ascii_rules() {
        assert_eq!(ascii_sent(b"a\nb\r\nc\n", 0), b"a\r\nb\r\nc\r\n");
        // From the LF of a CRLF: the client has the CR already.
        assert_eq!(ascii_sent(b"a\r\nb", 2), b"\nb");
        assert_eq!(ascii_sent(b"a\nb", 1), b"\r\nb");
        assert_eq!(ascii_stored(b"a\r\nb\rc\r\r\n\r"), b"a\nb\rc\r\n\r");
    }

    #[test]
    fn the_models_hash_rules() {
        let hex = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let whole = format!("213 SHA-256 0-5 {hex} a");
        assert!(check_hash(&whole, Some(b"hello"), None).is_ok());
        assert!(check_hash(&whole, Some(b"hellO"), None).is_err());
        assert!(check_hash(&whole, None, None).is_err());
        let ell = Sha256::digest(b"ell")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let text = format!("213 SHA-256 1-3 {ell} a");
        assert!(check_hash(&text, Some(b"hello"), Some((1, 3))).is_ok());
        // Past the end: as far as the file goes.
        let text = format!("213 SHA-256 1-3 {ell} a");
        assert!(check_hash(&text, Some(b"hell"), Some((1, 9))).is_ok());
        assert!(check_hash(&text, Some(b"hello"), Some((1, 4))).is_err());
    }
}
