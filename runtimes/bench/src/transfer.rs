//! Bulk transfers (RETR, STOR of the big file) and `--prepare`, which uploads the data set.

use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::data::{Sink, Source};
use crate::ftp::{Control, Error, Result};
use crate::Settings;

/// MB as in the figures: 10^6 bytes.
pub const MB: f64 = 1e6;

fn session(s: &Settings) -> Result<Control> {
    let mut c = Control::login(s.addr, s.io_timeout, s.pasv, &s.user, &s.password)?;
    c.cmd_class("TYPE I", 2)?;
    Ok(c)
}

/// RETR of the big file; the clock runs from EPSV/PASV to the 226, like ftpbench.py's.
pub fn retr(s: &Settings) -> Result<Map<String, Value>> {
    let mut c = session(s)?;
    let expected = c.size(&s.big_file).ok();
    let mut sink = Sink::new(s.recv, s.buf_size);
    let cmd = format!("RETR {}", s.big_file);
    let t0 = Instant::now();
    let mut data = c.open_data(&cmd)?;
    let setup = t0.elapsed();
    let n = sink.drain(&mut data)?;
    drop(data);
    c.finish_data(&cmd)?;
    let secs = t0.elapsed().as_secs_f64();
    if let Some(e) = expected.filter(|&e| e != n) {
        return Err(Error::Protocol(format!(
            "RETR gave {n} bytes, SIZE said {e}"
        )));
    }
    c.quit()?;
    Ok(figures(
        n,
        secs,
        setup.as_secs_f64(),
        [("recv", json!(sink.mode_name()))],
    ))
}

/// STOR of `stor_bytes` from one reused buffer; the file is checked with SIZE and deleted.
pub fn stor(s: &Settings) -> Result<Map<String, Value>> {
    let mut c = session(s)?;
    let src = Source::new(s.buf_size);
    let cmd = format!("STOR {}", s.stor_file);
    let t0 = Instant::now();
    let mut data = c.open_data(&cmd)?;
    let setup = t0.elapsed();
    let n = src.send(&mut data, s.stor_bytes)?;
    // FIN tells the server the file is complete; the 226 comes once it has written it all.
    data.shutdown_write()?;
    drop(data);
    c.finish_data(&cmd)?;
    let secs = t0.elapsed().as_secs_f64();
    let stored = c.size(&s.stor_file);
    let _ = c.cmd(&format!("DELE {}", s.stor_file));
    c.quit()?;
    match stored {
        Ok(m) if m == n => {}
        Ok(m) => return Err(Error::Protocol(format!("stored {m} bytes of {n}"))),
        Err(e) => return Err(e),
    }
    Ok(figures(n, secs, setup.as_secs_f64(), []))
}

fn figures<const K: usize>(
    bytes: u64,
    secs: f64,
    setup: f64,
    extra: [(&str, Value); K],
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("mb_s".into(), json!(bytes as f64 / MB / secs));
    m.insert("bytes".into(), json!(bytes));
    m.insert("seconds".into(), json!(secs));
    m.insert("setup_ms".into(), json!(setup * 1e3));
    for (k, v) in extra {
        m.insert(k.into(), v);
    }
    m
}

/// Uploads whatever part of the data set is missing: the big file, the small file, and the
/// listing directory with `list_files` empty files. Never overwrites an existing file: the peer
/// lab's data files are hard links shared by every server's root.
pub fn prepare(s: &Settings) -> Result<Vec<String>> {
    let mut c = session(s)?;
    let mut did = Vec::new();
    let src = Source::new(s.buf_size);
    for (path, size) in [(&s.big_file, s.big_size), (&s.small_file, s.small_size)] {
        match c.size(path) {
            Ok(have) if have != size => {
                did.push(format!("{path}: exists with {have} bytes, left as is"))
            }
            Ok(_) => {}
            Err(_) => {
                upload(&mut c, path, &src, size)?;
                did.push(format!("{path}: uploaded {size} bytes"));
            }
        }
    }
    // MKD fails if the directory exists: fine either way, CWD tells.
    let _ = c.cmd(&format!("MKD {}", s.list_dir));
    c.cmd_class(&format!("CWD {}", s.list_dir), 2)?;
    let mut data = c.open_data("NLST")?;
    let (_, have) = crate::data::drain_lines(&mut data, &mut [0u8; 65536])?;
    drop(data);
    c.finish_data("NLST")?;
    if have < s.list_files as u64 {
        for i in 0..s.list_files {
            upload(&mut c, &format!("file{i:05}.dat"), &src, 0)?;
        }
        did.push(format!("{}: {} empty files", s.list_dir, s.list_files));
    }
    c.cmd_class("CDUP", 2)?;
    c.quit()?;
    Ok(did)
}

fn upload(c: &mut Control, path: &str, src: &Source, size: u64) -> Result<()> {
    let cmd = format!("STOR {path}");
    let mut data = c.open_data(&cmd)?;
    src.send(&mut data, size)?;
    data.shutdown_write()?;
    drop(data);
    c.finish_data(&cmd)
}
