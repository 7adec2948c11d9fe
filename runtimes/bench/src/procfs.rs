//! What the benchmark reads from the operating system: the server's memory and CPU time (from
//! /proc, summed over the server process and its descendants, since forking servers such as
//! vsftpd run each session in its own processes), the client's own CPU time and limits.

use std::collections::HashMap;
use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Memory of a process tree, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mem {
    /// Sum of VmRSS (shared pages counted once per process).
    pub rss_kb: u64,
    /// Sum of Pss (shared pages divided among sharers): the fair total for multi-process servers.
    pub pss_kb: u64,
    /// VmRSS of the root process alone.
    pub main_rss_kb: u64,
    /// Processes in the tree.
    pub procs: u64,
    /// Threads in the tree.
    pub threads: u64,
}

impl Mem {
    /// The larger of each field.
    pub fn max(self, o: Mem) -> Mem {
        Mem {
            rss_kb: self.rss_kb.max(o.rss_kb),
            pss_kb: self.pss_kb.max(o.pss_kb),
            main_rss_kb: self.main_rss_kb.max(o.main_rss_kb),
            procs: self.procs.max(o.procs),
            threads: self.threads.max(o.threads),
        }
    }

    /// As JSON, in KiB.
    pub fn json(self) -> serde_json::Value {
        serde_json::json!({
            "rss_kb": self.rss_kb, "pss_kb": self.pss_kb, "main_rss_kb": self.main_rss_kb,
            "procs": self.procs, "threads": self.threads,
        })
    }
}

/// The fields after the command name in /proc/PID/stat ("pid (comm) state ppid ...").
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: split after the last ')'.
    let rest = s.get(s.rfind(')')? + 1..)?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// `root` and all its live descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            // Field 0 after comm is the state, field 1 the parent pid.
            if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1).and_then(|p| p.parse().ok()))
            {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut want = vec![root];
    let mut i = 0;
    while let Some(&p) = want.get(i) {
        if let Some(c) = children.get(&p) {
            want.extend_from_slice(c);
        }
        i += 1;
    }
    want
}

/// A "Name:   123 kB" field of a /proc file, in KiB.
fn field_kb(path: &str, name: &str) -> Option<u64> {
    let s = fs::read_to_string(path).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Memory of `root`'s process tree now.
pub fn mem(root: u32) -> Mem {
    let pids = tree(root);
    let mut m = Mem {
        procs: pids.len() as u64,
        ..Mem::default()
    };
    for &p in &pids {
        let status = format!("/proc/{p}/status");
        let rss = field_kb(&status, "VmRSS").unwrap_or(0);
        m.rss_kb += rss;
        m.threads += field_kb(&status, "Threads").unwrap_or(0);
        m.pss_kb += field_kb(&format!("/proc/{p}/smaps_rollup"), "Pss").unwrap_or(0);
        if p == root {
            m.main_rss_kb = rss;
        }
    }
    m
}

/// CPU seconds (user + system, plus reaped children) of `root`'s process tree so far.
pub fn cpu_s(root: u32) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let ticks: u64 = tree(root)
        .into_iter()
        .filter_map(stat_fields)
        // utime stime cutime cstime are fields 14-17 of stat, i.e. 11..15 after comm.
        .map(|f| {
            f.iter()
                .skip(11)
                .take(4)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum();
    ticks as f64 / tck
}

/// CPU seconds (user + system) of this benchmark process, all threads.
pub fn client_cpu_s() -> f64 {
    rusage_s(libc::RUSAGE_SELF)
}

/// CPU seconds (user and system) of the calling thread.
pub fn thread_cpu_s() -> f64 {
    rusage_s(libc::RUSAGE_THREAD)
}

fn rusage_s(who: libc::c_int) -> f64 {
    // SAFETY: getrusage fills the zeroed struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Samples a tree's memory in the background and keeps the peak.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<(Mem, u64)>,
}

impl Sampler {
    /// Starts sampling `root` every `every`.
    pub fn start(root: u32, every: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let (mut peak, mut n) = (Mem::default(), 0u64);
            while !s.load(Ordering::Relaxed) {
                peak = peak.max(mem(root));
                n += 1;
                thread::sleep(every);
            }
            (peak, n)
        });
        Sampler { stop, handle }
    }

    /// Stops; returns the peak and the number of samples.
    pub fn finish(self) -> (Mem, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// Raises the soft open-files limit to the hard one; returns the limit now in force.
pub fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur < r.rlim_max {
            let want = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                r.rlim_cur = r.rlim_max;
            }
        }
        r.rlim_cur
    }
}

/// How many local ports connect(2) can choose from (net.ipv4.ip_local_port_range).
pub fn ephemeral_ports() -> Option<u64> {
    let s = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = s.split_whitespace().filter_map(|v| v.parse::<u64>().ok());
    let (lo, hi) = (it.next()?, it.next()?);
    Some(hi.saturating_sub(lo) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_measured() {
        let me = std::process::id();
        let child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let t = tree(me);
        assert!(t.contains(&me) && t.contains(&child.id()), "{t:?}");
        let m = mem(me);
        assert!(
            m.rss_kb >= m.main_rss_kb && m.main_rss_kb > 0 && m.pss_kb > 0,
            "{m:?}"
        );
        assert!(m.procs >= 2 && m.threads >= 1);
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        // Burn a little CPU so that the figure cannot be zero.
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0 && client_cpu_s() > 0.0);
    }

    #[test]
    fn status_fields_parse() {
        let me = std::process::id();
        assert!(field_kb(&format!("/proc/{me}/status"), "VmRSS").unwrap() > 0);
        assert_eq!(field_kb(&format!("/proc/{me}/status"), "NoSuchField"), None);
        assert!(ephemeral_ports().unwrap() > 0);
    }
}
