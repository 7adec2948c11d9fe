//! thinftp-bench: a load generator for any FTP server.
//!
//! Drives a server over loopback (or any address) with blocking std sockets and threads, and
//! prints a table (stderr) and JSON (stdout, and `--json FILE`): RETR/STOR rates, NOOP/SIZE rates
//! (sequential and pipelined), login rates, listing times, N concurrent downloaders released at
//! once, and the server's memory with N idle sessions. Each figure is the median of `--runs`.
//! Its figures are meant to agree with ../../shared/bench/ftpbench.py where both measure; it
//! differs by receiving without copies and by pipelining, so that the client is not the limit.

mod ceiling;
mod commands;
mod data;
mod ftp;
mod listing;
mod procfs;
mod report;
mod sessions;
mod tls;
mod transfer;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Map, Value};

use data::RecvMode;
use ftp::PasvMode;
pub use report::median;

/// The tests, in the order they run.
const ALL_TESTS: [&str; 8] = [
    "retr", "stor", "noop", "size", "login", "list", "conc", "idle",
];

/// Tests that run only when named in `--only`: the TLS loopback ceiling talks to no server.
const EXTRA_TESTS: [&str; 1] = ["tls-ceiling"];

/// Command-line options. Sizes and counts left out take the full-suite defaults, or the tiny
/// `--smoke` ones.
#[derive(Parser, Debug)]
#[command(
    name = "thinftp-bench",
    version,
    about = "Load generator for any FTP server"
)]
struct Opts {
    /// Server control address, HOST:PORT.
    #[arg(long)]
    target: String,
    /// Login name.
    #[arg(long, default_value = "bench")]
    user: String,
    /// Password.
    #[arg(long, default_value = "bench")]
    password: String,
    /// Comma list of tests: retr,stor,noop,size,login,list,conc,idle ("conn" = login), and
    /// tls-ceiling (no server: one TLS download over loopback from a thread of this process,
    /// from memory and from --ceiling-file; the most any FTPS server could reach here).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Runs of each test; every figure is the median.
    #[arg(long)]
    runs: Option<usize>,
    /// Also write the JSON to this file.
    #[arg(long)]
    json: Option<String>,
    /// Name of the server in the output.
    #[arg(long, default_value = "")]
    label: String,
    /// Server pid: memory (VmRSS, PSS from /proc, summed over its descendants) and CPU time.
    #[arg(long)]
    pid: Option<u32>,
    /// File holding the server pid (as peers.sh writes in /tmp/lab/run/NAME.pid).
    #[arg(long)]
    pidfile: Option<String>,
    /// Tiny sizes and counts for CI (seconds), files named smoke-*; implies --prepare.
    #[arg(long)]
    smoke: bool,
    /// Upload the missing data files first (never overwrites an existing file).
    #[arg(long)]
    prepare: bool,
    /// Big file for RETR (peers.sh: big.bin, 1 GiB).
    #[arg(long)]
    big_file: Option<String>,
    /// Size of the big file when --prepare uploads it.
    #[arg(long)]
    big_size: Option<u64>,
    /// Small file each concurrent session downloads (peers.sh: 4m.bin, 4 MiB).
    #[arg(long)]
    small_file: Option<String>,
    /// Size of the small file when --prepare uploads it.
    #[arg(long)]
    small_size: Option<u64>,
    /// Directory to list (peers.sh: many, 10,000 files).
    #[arg(long)]
    list_dir: Option<String>,
    /// Files --prepare creates in the listing directory.
    #[arg(long)]
    list_files: Option<usize>,
    /// Listings of each kind per run.
    #[arg(long)]
    list_reps: Option<usize>,
    /// Bytes uploaded by STOR.
    #[arg(long)]
    stor_bytes: Option<u64>,
    /// Name of the STOR file (deleted afterwards).
    #[arg(long)]
    stor_file: Option<String>,
    /// Bytes per read/write/splice in RETR and STOR.
    #[arg(long, default_value_t = 1 << 20)]
    buf_size: usize,
    /// How downloads are received.
    #[arg(long, value_enum, default_value_t = RecvMode::Splice)]
    recv: RecvMode,
    /// How data connections are opened.
    #[arg(long, value_enum, default_value_t = PasvMode::Auto)]
    pasv_mode: PasvMode,
    /// Explicit FTPS: AUTH TLS after the greeting, PBSZ 0 and PROT P after login; data
    /// connections resume the control connection's TLS session. Any certificate is accepted.
    #[arg(long)]
    tls: bool,
    /// File the tls-ceiling test sends from (the 1 GiB file the servers send, to include its
    /// read from the page cache); none: from memory only.
    #[arg(long)]
    ceiling_file: Option<String>,
    /// NOOPs per run (sequential, then as many pipelined).
    #[arg(long)]
    noop_count: Option<usize>,
    /// SIZEs per run (sequential, then as many pipelined).
    #[arg(long)]
    size_count: Option<usize>,
    /// Commands in flight when pipelining.
    #[arg(long, default_value_t = 64)]
    pipeline_depth: usize,
    /// Logins per run, in each of the sequential and parallel passes.
    #[arg(long)]
    login_count: Option<usize>,
    /// Clients of the parallel login pass.
    #[arg(long, default_value_t = 8)]
    login_parallel: usize,
    /// Comma list of concurrent session counts.
    #[arg(long, value_delimiter = ',')]
    conc: Option<Vec<usize>>,
    /// Downloads of the small file per concurrent session.
    #[arg(long)]
    conc_repeats: Option<usize>,
    /// Comma list of idle session counts.
    #[arg(long, value_delimiter = ',')]
    idle: Option<Vec<usize>>,
    /// Threads opening the idle sessions.
    #[arg(long, default_value_t = 8)]
    idle_threads: usize,
    /// Milliseconds to wait with all idle sessions open before reading memory.
    #[arg(long)]
    idle_settle_ms: Option<u64>,
    /// Seconds before a socket operation fails.
    #[arg(long, default_value_t = 30.0)]
    io_timeout: f64,
    /// Seconds after which a test stops and reports partial figures.
    #[arg(long, default_value_t = 120.0)]
    test_timeout: f64,
    /// Milliseconds between memory samples during the concurrent test.
    #[arg(long, default_value_t = 50)]
    mem_interval_ms: u64,
}

/// Everything a test needs, resolved from the options.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Server control address.
    pub addr: SocketAddr,
    /// Login name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Passive mode.
    pub pasv: PasvMode,
    /// Download sink.
    pub recv: RecvMode,
    /// Per-operation socket timeout.
    pub io_timeout: Duration,
    /// Bound of one test run.
    pub test_timeout: Duration,
    /// RETR file.
    pub big_file: String,
    /// Its size for --prepare.
    pub big_size: u64,
    /// File of the concurrent test.
    pub small_file: String,
    /// Its size for --prepare.
    pub small_size: u64,
    /// Listing directory.
    pub list_dir: String,
    /// Its file count for --prepare.
    pub list_files: usize,
    /// Listings per command per run.
    pub list_reps: usize,
    /// STOR size.
    pub stor_bytes: u64,
    /// STOR file name.
    pub stor_file: String,
    /// Transfer chunk.
    pub buf_size: usize,
    /// NOOP count.
    pub noop_count: usize,
    /// SIZE count.
    pub size_count: usize,
    /// Pipelining window.
    pub pipeline_depth: usize,
    /// Login count.
    pub login_count: usize,
    /// Parallel login clients.
    pub login_parallel: usize,
    /// Concurrent session counts.
    pub conc: Vec<usize>,
    /// Downloads per concurrent session.
    pub conc_repeats: usize,
    /// Idle session counts.
    pub idle: Vec<usize>,
    /// Threads opening idle sessions.
    pub idle_threads: usize,
    /// Wait before reading idle memory.
    pub idle_settle: Duration,
    /// Server pid for memory and CPU.
    pub pid: Option<u32>,
    /// Memory sampling period.
    pub mem_interval: Duration,
}

/// A point in time after which a loop stops.
pub struct Deadline(Instant);

impl Deadline {
    /// `d` from now.
    pub fn after(d: Duration) -> Deadline {
        Deadline(Instant::now() + d)
    }

    /// Whether the point has passed.
    pub fn expired(&self) -> bool {
        Instant::now() > self.0
    }
}

impl Opts {
    fn settings(&self) -> Result<Settings, String> {
        let addr = self
            .target
            .to_socket_addrs()
            .map_err(|e| format!("--target {}: {e}", self.target))?
            .next()
            .ok_or_else(|| format!("--target {}: no address", self.target))?;
        let pid = match (&self.pid, &self.pidfile) {
            (Some(p), _) => Some(*p),
            (None, Some(f)) => {
                let s = std::fs::read_to_string(f).map_err(|e| format!("--pidfile {f}: {e}"))?;
                Some(
                    s.trim()
                        .parse()
                        .map_err(|e| format!("--pidfile {f}: {e}"))?,
                )
            }
            (None, None) => None,
        };
        let smoke = self.smoke;
        // Full-suite default, or the smoke one.
        let pick = |full: u64, tiny: u64| if smoke { tiny } else { full };
        let name = |o: &Option<String>, full: &str, tiny: &str| {
            o.clone().unwrap_or_else(|| pick_s(smoke, full, tiny))
        };
        let count = |o: Option<usize>, full: usize, tiny: usize| {
            o.unwrap_or(if smoke { tiny } else { full })
        };
        let secs = |s: f64, what: &str| {
            Duration::try_from_secs_f64(s)
                .map_err(|_| format!("{what}: {s} is not a duration in seconds"))
        };
        Ok(Settings {
            addr,
            user: self.user.clone(),
            password: self.password.clone(),
            pasv: self.pasv_mode,
            recv: self.recv,
            io_timeout: secs(self.io_timeout, "--io-timeout")?,
            test_timeout: secs(self.test_timeout, "--test-timeout")?,
            big_file: name(&self.big_file, "big.bin", "smoke-big.bin"),
            big_size: self.big_size.unwrap_or(pick(1 << 30, 8 << 20)),
            small_file: name(&self.small_file, "4m.bin", "smoke-small.bin"),
            small_size: self.small_size.unwrap_or(pick(4 << 20, 256 << 10)),
            list_dir: name(&self.list_dir, "many", "smoke-many"),
            list_files: count(self.list_files, 10_000, 100),
            list_reps: count(self.list_reps, 5, 2),
            stor_bytes: self.stor_bytes.unwrap_or(pick(1 << 30, 8 << 20)),
            stor_file: self
                .stor_file
                .clone()
                .unwrap_or_else(|| format!("bench-stor-{}.bin", std::process::id())),
            buf_size: self.buf_size.max(4096),
            noop_count: count(self.noop_count, 50_000, 500),
            size_count: count(self.size_count, 20_000, 200),
            pipeline_depth: self.pipeline_depth,
            login_count: count(self.login_count, 500, 20),
            login_parallel: self.login_parallel,
            conc: self
                .conc
                .clone()
                .unwrap_or_else(|| if smoke { vec![10] } else { vec![200, 1000] }),
            conc_repeats: count(self.conc_repeats, 5, 2),
            idle: self
                .idle
                .clone()
                .unwrap_or_else(|| if smoke { vec![50] } else { vec![10_000] }),
            idle_threads: self.idle_threads,
            idle_settle: Duration::from_millis(self.idle_settle_ms.unwrap_or(pick(1000, 100))),
            pid,
            mem_interval: Duration::from_millis(self.mem_interval_ms.max(1)),
        })
    }
}

fn pick_s(smoke: bool, full: &str, tiny: &str) -> String {
    if smoke { tiny } else { full }.to_owned()
}

/// Runs one test `runs` times, adding the client's and the server's CPU seconds to each run.
fn run_test(
    s: &Settings,
    runs: usize,
    key: &str,
    f: &dyn Fn(&Settings) -> ftp::Result<Map<String, Value>>,
) -> Value {
    let mut all = Vec::with_capacity(runs);
    for i in 0..runs {
        eprintln!("[thinftp-bench] {key} run {}/{runs} ...", i + 1);
        let (c0, s0) = (procfs::client_cpu_s(), s.pid.map(procfs::cpu_s));
        let t0 = Instant::now();
        let mut r = match f(s) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("[thinftp-bench] {key}: {e}");
                let mut m = Map::new();
                m.insert("error".into(), json!(e.to_string()));
                m
            }
        };
        r.insert("elapsed_s".into(), json!(t0.elapsed().as_secs_f64()));
        r.insert("client_cpu_s".into(), json!(procfs::client_cpu_s() - c0));
        if let (Some(pid), Some(s0)) = (s.pid, s0) {
            // Let forked session processes exit and be reaped into the parent's children time.
            std::thread::sleep(Duration::from_millis(300));
            r.insert("server_cpu_s".into(), json!(procfs::cpu_s(pid) - s0));
        }
        all.push(Value::Object(r));
        // Let the server settle (closing sockets, reaping) before the next run.
        std::thread::sleep(Duration::from_millis(200));
    }
    report::aggregate(all)
}

fn main() -> ExitCode {
    let opts = Opts::parse();
    if opts.tls {
        tls::enable();
    }
    let s = match opts.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("thinftp-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runs = opts.runs.unwrap_or(if opts.smoke { 1 } else { 3 }).max(1);
    let mut tests: Vec<String> = opts
        .only
        .clone()
        .unwrap_or_else(|| ALL_TESTS.iter().map(|t| t.to_string()).collect());
    for t in &mut tests {
        *t = t.trim().to_lowercase();
        if t == "conn" {
            *t = "login".into();
        }
    }
    let known = |t: &String| ALL_TESTS.contains(&t.as_str()) || EXTRA_TESTS.contains(&t.as_str());
    if let Some(bad) = tests.iter().find(|t| !known(t)) {
        eprintln!(
            "thinftp-bench: unknown test {bad:?}; tests: {},{}",
            ALL_TESTS.join(","),
            EXTRA_TESTS.join(",")
        );
        return ExitCode::from(2);
    }

    // The client needs a descriptor per idle session and up to five per concurrent one (control,
    // data, and a pipe and /dev/null when splicing), and a local port per connection.
    let nofile = procfs::raise_nofile();
    let need = s
        .idle
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(5 * s.conc.iter().copied().max().unwrap_or(0)) as u64
        + 64;
    if tests.iter().any(|t| t == "idle" || t == "conc") && nofile < need {
        eprintln!(
            "thinftp-bench: warning: open-files limit {nofile} < {need} needed; raise `ulimit -Hn`"
        );
    }
    let ports = procfs::ephemeral_ports();
    if let Some(p) = ports.filter(|&p| p < need) {
        eprintln!(
            "thinftp-bench: warning: only {p} ephemeral ports (net.ipv4.ip_local_port_range)"
        );
    }

    let mut out = Map::new();
    out.insert("label".into(), json!(opts.label));
    out.insert("target".into(), json!(s.addr.to_string()));
    out.insert("server_pid".into(), json!(s.pid));
    out.insert("runs".into(), json!(runs));
    out.insert("smoke".into(), json!(opts.smoke));
    out.insert(
        "client".into(),
        json!({"nofile": nofile, "ephemeral_ports": ports, "recv": format!("{:?}", s.recv),
        "pasv_mode": format!("{:?}", s.pasv), "buf_size": s.buf_size}),
    );
    out.insert("loadavg_start".into(), json!(loadavg()));
    out.insert("mb".into(), json!("10^6 bytes"));

    if opts.prepare || opts.smoke {
        match transfer::prepare(&s) {
            Ok(did) => {
                for d in &did {
                    eprintln!("[thinftp-bench] prepare: {d}");
                }
                out.insert("prepared".into(), json!(did));
            }
            Err(e) => {
                eprintln!("thinftp-bench: --prepare failed: {e}");
                return ExitCode::FAILURE;
            }
        }
    }

    let mut results = Map::new();
    for t in &tests {
        match t.as_str() {
            "retr" => results.insert("retr".into(), run_test(&s, runs, t, &transfer::retr)),
            "stor" => results.insert("stor".into(), run_test(&s, runs, t, &transfer::stor)),
            "noop" => results.insert("noop".into(), run_test(&s, runs, t, &commands::noop)),
            "size" => results.insert("size".into(), run_test(&s, runs, t, &commands::size)),
            "login" => results.insert("login".into(), run_test(&s, runs, t, &commands::login)),
            "list" => results.insert("list".into(), run_test(&s, runs, t, &listing::list)),
            "tls-ceiling" => {
                let file = opts.ceiling_file.as_deref();
                let f = |s: &Settings| ceiling::tls_ceiling(s, file);
                results.insert(t.clone(), run_test(&s, runs, t, &f))
            }
            "conc" => {
                for &n in &s.conc {
                    let key = format!("conc_{n}");
                    let v = run_test(&s, runs, &key, &|s| sessions::concurrent(s, n));
                    results.insert(key, v);
                }
                None
            }
            "idle" => {
                for &n in &s.idle {
                    let key = format!("idle_{n}");
                    let v = run_test(&s, runs, &key, &|s| sessions::idle(s, n));
                    results.insert(key, v);
                }
                None
            }
            _ => None,
        };
    }
    out.insert("loadavg_end".into(), json!(loadavg()));
    let problems = problems(&results);
    let header = format!("{} {} (median of {runs})", opts.label, s.addr);
    eprint!("{}", report::table(header.trim(), &results));
    out.insert("results".into(), Value::Object(results));
    let js = serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default();
    if let Some(path) = &opts.json {
        if let Err(e) = std::fs::write(path, format!("{js}\n")) {
            eprintln!("thinftp-bench: --json {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!("{js}");
    // A smoke run fails on any error, so that CI notices; a full run fails only if a test never
    // produced a figure (a peer losing clients under load is a result, not a failure).
    let fatal: Vec<&String> = problems
        .iter()
        .filter(|p| opts.smoke || p.ends_with("all runs failed"))
        .collect();
    for p in &fatal {
        eprintln!("thinftp-bench: {p}");
    }
    if fatal.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What went wrong, per test: failed runs, and error counts in the medians.
fn problems(results: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (test, v) in results {
        let failed = v["failed_runs"].as_u64().unwrap_or(0);
        let runs = v["runs"].as_array().map_or(0, Vec::len) as u64;
        if failed > 0 {
            let all = if failed == runs {
                ", all runs failed"
            } else {
                ""
            };
            out.push(format!("{test}: {failed} failed run(s){all}"));
        }
        for k in ["failed", "seq_errors", "pipe_errors", "par_errors"] {
            if let Some(n) = v["median"][k].as_f64().filter(|&n| n > 0.0) {
                out.push(format!("{test}: {k} = {n}"));
            }
        }
    }
    out
}

fn loadavg() -> Vec<String> {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> Opts {
        Opts::try_parse_from([&["thinftp-bench", "--target", "127.0.0.1:21"], args].concat())
            .unwrap()
    }

    #[test]
    fn smoke_shrinks_defaults_but_explicit_options_win() {
        let full = opts(&[]).settings().unwrap();
        assert_eq!(
            (
                full.big_file.as_str(),
                full.conc.as_slice(),
                full.idle.as_slice()
            ),
            ("big.bin", &[200, 1000][..], &[10_000][..])
        );
        assert_eq!(full.list_dir, "many");
        let smoke = opts(&["--smoke"]).settings().unwrap();
        assert_eq!(smoke.big_file, "smoke-big.bin");
        assert!(smoke.stor_bytes < full.stor_bytes && smoke.idle[0] < 100);
        let mixed = opts(&[
            "--smoke",
            "--big-file",
            "x.bin",
            "--conc",
            "3,4",
            "--only",
            "retr,conn",
        ]);
        let s = mixed.settings().unwrap();
        assert_eq!(
            (s.big_file.as_str(), s.conc.as_slice()),
            ("x.bin", &[3, 4][..])
        );
        assert_eq!(mixed.only.unwrap(), ["retr", "conn"]);
        assert!(opts(&["--io-timeout=-1"]).settings().is_err());
    }

    #[test]
    fn problems_name_failed_runs_and_error_counts() {
        let mut r = Map::new();
        r.insert("retr".into(), report::aggregate(vec![json!({"mb_s": 1.0})]));
        assert!(problems(&r).is_empty());
        r.insert(
            "stor".into(),
            report::aggregate(vec![json!({"error": "x"})]),
        );
        r.insert(
            "conc_5".into(),
            report::aggregate(vec![json!({"failed": 2}), json!({"error": "y"})]),
        );
        let p = problems(&r);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("stor") && p[0].ends_with("all runs failed"));
        assert!(!p[1].ends_with("all runs failed") && p[2] == "conc_5: failed = 2");
    }
}
