//! Many sessions: N concurrent downloaders released in the same instant, and N idle logged-in
//! sessions held open while the server's memory is read.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::data::Sink;
use crate::ftp::{Control, Error, Result};
use crate::procfs::{self, Sampler};
use crate::transfer::MB;
use crate::{median, Deadline, Settings};

/// Stack of each client thread: they only run the blocking client, whose buffers are on the heap.
const STACK: usize = 256 * 1024;

/// A start line every client waits at; `go` releases them all at once and tells them the
/// common start time.
struct Gate {
    start: Mutex<Option<Instant>>,
    cv: Condvar,
    waiting: AtomicUsize,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            start: Mutex::new(None),
            cv: Condvar::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Blocks until released; returns the start time.
    fn wait(&self) -> Instant {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut start = self.start.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(t) = *start {
                return t;
            }
            start = self.cv.wait(start).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Waits until `n` clients are at the line (they may not all be asleep yet, but they will
    /// see the start under the lock), then releases them; returns the start time.
    fn go(&self, n: usize) -> Instant {
        while self.waiting.load(Ordering::SeqCst) < n {
            thread::sleep(Duration::from_millis(1));
        }
        let now = Instant::now();
        *self.start.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
        self.cv.notify_all();
        now
    }
}

/// What one concurrent client did.
struct Outcome {
    downloads: usize,
    bytes: u64,
    login: Option<Duration>,
    err: Option<String>,
    done: Instant,
}

/// Error text without the numbers that differ between occurrences (ports, byte counts), so
/// that equal failures are counted together.
fn error_kind(stage: &str, e: &Error) -> String {
    let text = format!("[{stage}] {e}");
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    for ch in text.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        out.push_str(if digits.len() >= 4 { "N" } else { &digits });
        digits.clear();
        out.push(ch);
    }
    out.pop();
    out.chars().take(100).collect()
}

/// The six most frequent error kinds with their counts.
fn top_kinds(kinds: BTreeMap<String, usize>) -> Value {
    let mut top: Vec<(String, usize)> = kinds.into_iter().collect();
    top.sort_by_key(|k| std::cmp::Reverse(k.1));
    Value::Object(
        top.into_iter()
            .take(6)
            .map(|(k, n)| (k, json!(n)))
            .collect(),
    )
}

fn client(s: &Settings, expected: u64, start: Instant, sink: &mut Sink) -> Outcome {
    let dl = Deadline::after(s.test_timeout);
    let mut o = Outcome {
        downloads: 0,
        bytes: 0,
        login: None,
        err: None,
        done: start,
    };
    let mut stage = "connect";
    let mut run = || -> Result<()> {
        let stream = TcpStream::connect_timeout(&s.addr, s.io_timeout)?;
        // A server that does not accept fast enough (full listen backlog: the kernel drops the
        // SYN or the handshake's last ACK) shows as a connect or greeting timeout; one over its
        // session limit as a 421 greeting.
        stage = "greeting";
        let mut c = Control::greet(stream, s.io_timeout, s.pasv)?;
        stage = "login";
        c.authenticate(&s.user, &s.password)?;
        o.login = Some(start.elapsed());
        stage = "TYPE";
        c.cmd_class("TYPE I", 2)?;
        let cmd = format!("RETR {}", s.small_file);
        for _ in 0..s.conc_repeats {
            if dl.expired() {
                stage = "deadline";
                return Err(Error::Protocol("test timeout".into()));
            }
            stage = "RETR";
            let mut data = c.open_data(&cmd)?;
            stage = "data";
            let n = sink.drain(&mut data)?;
            drop(data);
            stage = "226";
            c.finish_data(&cmd)?;
            if n != expected {
                return Err(Error::Protocol(format!("short transfer {n}")));
            }
            o.downloads += 1;
            o.bytes += n;
        }
        stage = "QUIT";
        c.quit()
    };
    if let Err(e) = run() {
        o.err = Some(error_kind(stage, &e));
    }
    o.done = Instant::now();
    o
}

/// N clients released at once, each: connect, login, `conc_repeats` x RETR of the small file,
/// QUIT. Wall time to the last client's end, aggregate MB/s, failed clients, server memory peak.
pub fn concurrent(s: &Settings, n: usize) -> Result<Map<String, Value>> {
    let expected = {
        let mut c = Control::login(s.addr, s.io_timeout, s.pasv, &s.user, &s.password)?;
        c.cmd_class("TYPE I", 2)?;
        let e = c.size(&s.small_file)?;
        c.quit()?;
        e
    };
    let gate = Arc::new(Gate::new());
    let settings = Arc::new(s.clone());
    let mut handles = Vec::with_capacity(n);
    let mut spawn_errors = 0usize;
    for _ in 0..n {
        let (gate, s) = (Arc::clone(&gate), Arc::clone(&settings));
        let h = thread::Builder::new().stack_size(STACK).spawn(move || {
            // Everything but the session itself is ready before the start.
            let mut sink = Sink::new(s.recv, 128 * 1024);
            let start = gate.wait();
            client(&s, expected, start, &mut sink)
        });
        match h {
            Ok(h) => handles.push(h),
            Err(_) => spawn_errors += 1,
        }
    }
    let sampler = s
        .pid
        .map(|p| (procfs::mem(p), Sampler::start(p, s.mem_interval)));
    let start = gate.go(handles.len());
    let outcomes: Vec<Outcome> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
    let wall = outcomes
        .iter()
        .map(|o| o.done)
        .max()
        .unwrap_or(start)
        .duration_since(start)
        .as_secs_f64();

    let bytes: u64 = outcomes.iter().map(|o| o.bytes).sum();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for e in outcomes.iter().filter_map(|o| o.err.clone()) {
        *kinds.entry(e).or_default() += 1;
    }
    let lost = n - outcomes.len();
    if spawn_errors > 0 {
        kinds.insert("[spawn] client thread not started".into(), spawn_errors);
    }
    let failed = outcomes.iter().filter(|o| o.err.is_some()).count() + lost;
    let mut logins: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| o.login.map(|d| d.as_secs_f64() * 1e3))
        .collect();

    let mut m = Map::new();
    m.insert("clients".into(), json!(n));
    m.insert("repeats".into(), json!(s.conc_repeats));
    m.insert("file_bytes".into(), json!(expected));
    m.insert("wall_s".into(), json!(wall));
    m.insert(
        "agg_mb_s".into(),
        json!(if wall > 0.0 {
            bytes as f64 / MB / wall
        } else {
            0.0
        }),
    );
    m.insert("failed".into(), json!(failed));
    m.insert(
        "downloads_ok".into(),
        json!(outcomes.iter().map(|o| o.downloads).sum::<usize>()),
    );
    m.insert("downloads_expected".into(), json!(n * s.conc_repeats));
    if !logins.is_empty() {
        // Time from the common start to logged in: SYN retries after a full backlog show here.
        m.insert("login_ms_p50".into(), json!(median(&mut logins)));
        m.insert(
            "login_ms_max".into(),
            json!(logins.last().copied().unwrap_or(0.0)),
        );
    }
    m.insert("error_kinds".into(), top_kinds(kinds));
    if let Some((before, sampler)) = sampler {
        let (peak, samples) = sampler.finish();
        m.insert(
            "memory".into(),
            json!({"before": before.json(), "peak": peak.json(), "samples": samples}),
        );
    }
    Ok(m)
}

/// Logs in `count` sessions one after the other and keeps their sockets.
fn open_idle(
    s: &Settings,
    count: usize,
    errors: &Mutex<BTreeMap<String, usize>>,
) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(count);
    let dl = Deadline::after(s.test_timeout);
    for _ in 0..count {
        if dl.expired() {
            break;
        }
        match Control::login(s.addr, s.io_timeout, s.pasv, &s.user, &s.password) {
            // The session's read buffer is dropped: only the socket is held.
            Ok(c) => held.push(c.into_stream()),
            Err(e) => {
                let mut errs = errors.lock().unwrap_or_else(|p| p.into_inner());
                *errs.entry(error_kind("login", &e)).or_default() += 1;
            }
        }
    }
    held
}

/// N logged-in sessions held open without a thread each; the server's memory before and after.
/// Then each is checked alive (NOOP) and closed (QUIT), all pipelined across sessions.
pub fn idle(s: &Settings, n: usize) -> Result<Map<String, Value>> {
    let before = s.pid.map(procfs::mem);
    let errors = Mutex::new(BTreeMap::new());
    let threads = s.idle_threads.clamp(1, n.max(1));
    let t0 = Instant::now();
    let held: Vec<TcpStream> = thread::scope(|sc| {
        let hs: Vec<_> = (0..threads)
            .map(|i| {
                let share = n / threads + usize::from(i < n % threads);
                let errors = &errors;
                sc.spawn(move || open_idle(s, share, errors))
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let connect_s = t0.elapsed().as_secs_f64();
    thread::sleep(s.idle_settle);
    let after = s.pid.map(procfs::mem);

    // Liveness: write NOOP+QUIT to every session first, then read the two replies of each.
    let mut alive = 0usize;
    let wrote: Vec<bool> = held
        .iter()
        .map(|mut t| t.write_all(b"NOOP\r\nQUIT\r\n").is_ok())
        .collect();
    for (t, ok) in held.into_iter().zip(wrote) {
        if !ok {
            continue;
        }
        let Ok(mut c) = Control::attach(t, s.io_timeout, s.pasv, 512) else {
            continue;
        };
        if matches!(c.read_code(), Ok(code) if code / 100 == 2) && matches!(c.read_code(), Ok(221))
        {
            alive += 1;
        }
    }

    let ok = n - errors
        .lock()
        .map(|e| e.values().sum::<usize>())
        .unwrap_or(0);
    let mut m = Map::new();
    m.insert("sessions".into(), json!(n));
    m.insert("logged_in".into(), json!(ok));
    m.insert("failed".into(), json!(n - ok));
    m.insert("alive_at_end".into(), json!(alive));
    m.insert("connect_s".into(), json!(connect_s));
    m.insert(
        "error_kinds".into(),
        top_kinds(errors.into_inner().unwrap_or_else(|p| p.into_inner())),
    );
    if let (Some(b), Some(a)) = (before, after) {
        m.insert("mem_before".into(), b.json());
        m.insert("mem_after".into(), a.json());
        m.insert("rss_mib".into(), json!(a.rss_kb as f64 / 1024.0));
        m.insert("pss_mib".into(), json!(a.pss_kb as f64 / 1024.0));
        if ok > 0 {
            let per = |x: u64, y: u64| (x as f64 - y as f64) / ok as f64;
            m.insert("rss_kb_per_session".into(), json!(per(a.rss_kb, b.rss_kb)));
            m.insert("pss_kb_per_session".into(), json!(per(a.pss_kb, b.pss_kb)));
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_merge_ports_and_counts() {
        let a = error_kind(
            "RETR",
            &Error::Protocol("short transfer 1048576 on 30012".into()),
        );
        let b = error_kind(
            "RETR",
            &Error::Protocol("short transfer 2097152 on 30199".into()),
        );
        assert_eq!(a, b);
        assert_eq!(a, "[RETR] protocol: short transfer N on N");
        // Reply codes (3 digits) stay: they tell failures apart.
        let c = error_kind(
            "login",
            &Error::Reply {
                to: "PASS".into(),
                reply: "421 too many".into(),
            },
        );
        assert_eq!(c, "[login] PASS -> 421 too many");
    }

    #[test]
    fn gate_releases_every_waiter() {
        let gate = Arc::new(Gate::new());
        let hs: Vec<_> = (0..20)
            .map(|_| {
                let g = Arc::clone(&gate);
                thread::spawn(move || g.wait())
            })
            .collect();
        let start = gate.go(20);
        for h in hs {
            assert_eq!(h.join().unwrap(), start);
        }
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 20);
    }
}
