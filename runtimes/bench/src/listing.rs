//! LIST, NLST and MLSD of the big directory: milliseconds per listing, from EPSV/PASV to 226.

use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::data::drain_lines;
use crate::ftp::{Control, Error, Result};
use crate::{median, Deadline, Settings};

/// The listing commands measured.
pub const COMMANDS: [&str; 3] = ["LIST", "NLST", "MLSD"];

/// Each command `list_reps` times in the directory; per command: median and min ms, lines, bytes.
pub fn list(s: &Settings) -> Result<Map<String, Value>> {
    let mut c = Control::login(s.addr, s.io_timeout, s.pasv, &s.user, &s.password)?;
    c.cmd_class(&format!("CWD {}", s.list_dir), 2)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut out = Map::new();
    let dl = Deadline::after(s.test_timeout);
    for cmd in COMMANDS {
        let mut times = Vec::new();
        let mut r = Map::new();
        for _ in 0..s.list_reps.max(1) {
            if dl.expired() {
                r.insert("partial".into(), json!(true));
                break;
            }
            let t0 = Instant::now();
            let mut data = match c.open_data(cmd) {
                Ok(d) => d,
                // A server without MLSD (or NLST) says so with 500/502: record, go on.
                Err(Error::Reply { reply, .. }) if reply.starts_with('5') => {
                    r.insert("unsupported".into(), json!(reply));
                    break;
                }
                Err(e) => return Err(e),
            };
            let (bytes, lines) = drain_lines(&mut data, &mut buf)?;
            drop(data);
            c.finish_data(cmd)?;
            times.push(t0.elapsed().as_secs_f64() * 1e3);
            r.insert("lines".into(), json!(lines));
            r.insert("bytes".into(), json!(bytes));
        }
        if !times.is_empty() {
            r.insert("ms".into(), json!(median(&mut times)));
            r.insert(
                "min_ms".into(),
                json!(times.first().copied().unwrap_or(0.0)),
            );
            r.insert("reps".into(), json!(times.len()));
        }
        out.insert(cmd.into(), Value::Object(r));
    }
    c.quit()?;
    Ok(out)
}
