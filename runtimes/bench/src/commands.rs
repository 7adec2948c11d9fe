//! Command rates on one session (NOOP, SIZE; sequential and pipelined) and login rates.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::ftp::{Control, Result};
use crate::{Deadline, Settings};

/// Pipelined window: far below what loopback socket buffers hold, so neither side can block
/// writing while the other is blocked writing too.
pub const MAX_DEPTH: usize = 4096;

/// NOOP rate: sequential and pipelined, on one logged-in session.
pub fn noop(s: &Settings) -> Result<Map<String, Value>> {
    rates(s, "NOOP", s.noop_count, |code| code / 100 == 2)
}

/// SIZE rate on the big file: sequential and pipelined, on one logged-in session.
pub fn size(s: &Settings) -> Result<Map<String, Value>> {
    rates(s, &format!("SIZE {}", s.big_file), s.size_count, |code| {
        code == 213
    })
}

fn rates(s: &Settings, cmd: &str, count: usize, ok: fn(u16) -> bool) -> Result<Map<String, Value>> {
    let mut c = Control::login(s.addr, s.io_timeout, s.pasv, &s.user, &s.password)?;
    c.cmd_class("TYPE I", 2)?;
    let line = format!("{cmd}\r\n").into_bytes();
    let mut out = Map::new();
    out.insert("command".into(), json!(cmd));

    // Sequential: one command, one reply; every 10th round trip timed for the latency figures.
    let dl = Deadline::after(s.test_timeout);
    let mut lat = Vec::with_capacity(count / 10 + 1);
    let (mut done, mut errors) = (0usize, 0usize);
    let t0 = Instant::now();
    for i in 0..count {
        let ts = Instant::now();
        c.write_raw(&line)?;
        if !ok(c.read_code()?) {
            errors += 1;
        }
        if i % 10 == 0 {
            lat.push(ts.elapsed());
        }
        done += 1;
        if i % 256 == 255 && dl.expired() {
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_unstable();
    out.insert("seq_ops_s".into(), json!(done as f64 / secs));
    out.insert("seq_p50_us".into(), json!(percentile(&lat, 0.5)));
    out.insert("seq_p99_us".into(), json!(percentile(&lat, 0.99)));
    out.insert("seq_done".into(), json!(done));
    out.insert("seq_errors".into(), json!(errors));

    // Pipelined: up to `depth` commands in flight, written in batches of several per write,
    // refilled when half the window is answered; replies are read from the buffer in bulk.
    let depth = s.pipeline_depth.clamp(1, MAX_DEPTH);
    let batch = line.repeat(depth);
    let dl = Deadline::after(s.test_timeout);
    let (mut sent, mut got, mut errors) = (0usize, 0usize, 0usize);
    let t0 = Instant::now();
    while got < sent || (sent < count && !dl.expired()) {
        let outstanding = sent - got;
        if outstanding <= depth / 2 && sent < count && !dl.expired() {
            let k = (depth - outstanding).min(count - sent);
            c.write_raw(batch.get(..k * line.len()).unwrap_or_default())?;
            sent += k;
        }
        if !ok(c.read_code()?) {
            errors += 1;
        }
        got += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    out.insert("pipe_ops_s".into(), json!(got as f64 / secs));
    out.insert("pipe_depth".into(), json!(depth));
    out.insert("pipe_done".into(), json!(got));
    out.insert("pipe_errors".into(), json!(errors));
    out.insert("partial".into(), json!(done < count || got < count));
    c.quit()?;
    Ok(out)
}

/// `p`-quantile of sorted durations, in microseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

/// One connect + USER + PASS + QUIT (221 read).
fn one_login(s: &Settings) -> Result<()> {
    Control::login(s.addr, s.io_timeout, s.pasv, &s.user, &s.password)?.quit()
}

/// Login rate: sequential, then with `login_parallel` clients at once.
pub fn login(s: &Settings) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    // Sequential.
    let dl = Deadline::after(s.test_timeout);
    let (mut ok, mut errors, mut first_err) = (0usize, 0usize, None);
    let mut lat = Vec::with_capacity(s.login_count);
    let t0 = Instant::now();
    for _ in 0..s.login_count {
        let ts = Instant::now();
        match one_login(s) {
            Ok(()) => {
                ok += 1;
                lat.push(ts.elapsed());
            }
            Err(e) => {
                errors += 1;
                first_err.get_or_insert_with(|| e.to_string());
            }
        }
        if dl.expired() {
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_unstable();
    out.insert("seq_per_s".into(), json!(ok as f64 / secs));
    out.insert("seq_p50_ms".into(), json!(percentile(&lat, 0.5) / 1e3));
    out.insert("seq_p99_ms".into(), json!(percentile(&lat, 0.99) / 1e3));
    out.insert("seq_ok".into(), json!(ok));
    out.insert("seq_errors".into(), json!(errors));

    // Parallel: the same number of logins shared by `login_parallel` threads taking turns from
    // one counter, so that a slow thread does not leave the others idle at the end.
    let next = AtomicUsize::new(0);
    let par_ok = AtomicUsize::new(0);
    let par_err = AtomicUsize::new(0);
    let dl = Deadline::after(s.test_timeout);
    let t0 = Instant::now();
    let first_par_err = thread::scope(|sc| {
        let hs: Vec<_> = (0..s.login_parallel.max(1))
            .map(|_| {
                sc.spawn(|| {
                    let mut first = None;
                    while next.fetch_add(1, Ordering::Relaxed) < s.login_count && !dl.expired() {
                        match one_login(s) {
                            Ok(()) => par_ok.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                first.get_or_insert_with(|| e.to_string());
                                par_err.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                    first
                })
            })
            .collect();
        hs.into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .next()
    });
    let secs = t0.elapsed().as_secs_f64();
    let pok = par_ok.load(Ordering::Relaxed);
    out.insert("par_clients".into(), json!(s.login_parallel.max(1)));
    out.insert("par_per_s".into(), json!(pok as f64 / secs));
    out.insert("par_ok".into(), json!(pok));
    out.insert("par_errors".into(), json!(par_err.load(Ordering::Relaxed)));
    if let Some(e) = first_err.or(first_par_err) {
        out.insert("first_error".into(), json!(e));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_sample() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 0.99), 100.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
