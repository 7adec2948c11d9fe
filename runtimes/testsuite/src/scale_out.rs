//! Two thinftp nodes behind HAProxy on one shared storage (issue 12, "Scale-out").
//!
//! HAProxy (TCP mode, `send-proxy-v2`) listens on the "public" address 127.0.0.3: one port
//! for control connections, balanced over both nodes with health checks, and each node's
//! passive range, forwarded to that node on the same port. It connects to the nodes from
//! 127.0.0.5, the only address the nodes trust for PROXY headers; clients connect from
//! 127.0.0.2, so the nodes' logs show whose address they took. The nodes listen on 127.0.0.1
//! and advertise 127.0.0.3 in PASV.
//!
//! The storage is a parameter ([`SharedStorage`]): a local directory both nodes serve (each
//! with its own `--node-id`), or a bucket of a real S3-compatible server (`s3s-fs`), with the
//! same scenario. On the bucket an upload is visible only once complete, so the upload of a new
//! file that the kill cuts must not appear at all: the scenario checks that too.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::ftp::Client;
use crate::s3_server::S3Server;
use crate::util::{self, TIMEOUT};
use crate::Server;

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const PUBLIC: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5));
const NODE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Ports in each node's passive range: the per-client cap on passive listeners is half of it,
/// and all 10 sessions at once of phase one come from one client address.
const RANGE: u16 = 40;

/// Where the nodes keep their files: one store they all serve.
#[derive(Debug)]
pub enum SharedStorage {
    /// A local directory (removed when dropped).
    Dir(TempDir),
    /// A key prefix of a bucket of a real S3-compatible server (stopped when dropped).
    Bucket(S3Server),
}

/// The key prefix the nodes serve on [`SharedStorage::Bucket`].
const NODES_PREFIX: &str = "nodes";

impl SharedStorage {
    /// A new empty local directory.
    pub fn local() -> SharedStorage {
        let dir = tempfile::Builder::new()
            .prefix("thinftp-shared.")
            .tempdir()
            .expect("create the shared directory");
        SharedStorage::Dir(dir)
    }

    /// A bucket of a new `s3s-fs`; `None` (the test passes, skipped) where it is not
    /// installed outside CI.
    pub fn bucket() -> Option<SharedStorage> {
        S3Server::start().map(SharedStorage::Bucket)
    }

    /// The options that put a node on this storage.
    pub fn node_args(&self) -> Vec<String> {
        match self {
            SharedStorage::Dir(dir) => vec![
                "--root".to_owned(),
                dir.path().to_str().expect("a UTF-8 path").to_owned(),
            ],
            SharedStorage::Bucket(s3) => vec![
                "--storage".to_owned(),
                s3.storage_url(NODES_PREFIX),
                "--s3-endpoint".to_owned(),
                s3.endpoint(),
            ],
        }
    }

    /// The environment a node on this storage needs (the bucket's credentials).
    pub fn node_env(&self) -> Vec<(&'static str, String)> {
        match self {
            SharedStorage::Dir(_) => Vec::new(),
            SharedStorage::Bucket(s3) => s3.env(),
        }
    }

    /// Whether the upload of a new file is visible only once complete (a cut one leaves
    /// nothing), not written in place.
    fn new_files_atomic(&self) -> bool {
        matches!(self, SharedStorage::Bucket(_))
    }
}

/// A HAProxy process in the foreground, killed when dropped.
struct Haproxy {
    child: Child,
    _config: TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether haproxy is here; in CI (`CI=true`) its absence fails the test, since `.ci/run`
/// installs it.
fn haproxy_installed() -> bool {
    if util::installed("haproxy", &["-v"]) {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "haproxy is not installed: .ci/run installs it"
    );
    println!("skipped: haproxy not installed");
    false
}

/// `haproxy -c -f dist/haproxy.cfg`: the README's configuration is valid.
pub fn the_shipped_haproxy_config_is_valid(_bin: &Path) {
    if !haproxy_installed() {
        return;
    }
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/haproxy.cfg");
    let run = util::run_tool(
        Command::new("haproxy").arg("-c").arg("-f").arg(&config),
        None,
        TIMEOUT,
    );
    run.success();
}

/// Two nodes of `bin` on a shared local directory behind HAProxy: see
/// [`two_nodes_on`].
pub fn two_nodes_behind_haproxy(bin: &Path) {
    if !haproxy_installed() {
        return;
    }
    two_nodes_on(bin, &SharedStorage::local());
}

/// Two nodes of `bin` on one bucket of a real S3-compatible server behind HAProxy: see
/// [`two_nodes_on`].
pub fn two_nodes_on_a_bucket_behind_haproxy(bin: &Path) {
    if !haproxy_installed() {
        return;
    }
    let Some(bucket) = SharedStorage::bucket() else {
        return;
    };
    two_nodes_on(bin, &bucket);
}

/// 100 sessions through the one address, spread over both nodes; uploads through one node
/// read back through the other; the client's address (not the proxy's) in both nodes' logs;
/// then one node is killed in the middle of uploads: the sessions after it all go to the
/// other, every upload that got its `226` is there whole, and no cut upload is visible.
pub fn two_nodes_on(bin: &Path, storage: &SharedStorage) {
    let first = free_block(&[], RANGE);
    let second = free_block(&[first], RANGE);
    let mut nodes = [("a", first), ("b", second)].map(|(name, low)| {
        let ports = format!("{low}-{}", low + RANGE - 1);
        let banner = format!("node {name}");
        let mut args = storage.node_args();
        args.extend(
            [
                "--node-id",
                name,
                "--user",
                "u:p",
                "--proxy-protocol-from",
                "127.0.0.5",
                "--passive-address",
                "127.0.0.3",
                "--passive-ports",
                &ports,
                "--banner",
                &banner,
                "--max-sessions-per-ip",
                "500",
            ]
            .map(str::to_owned),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Server::start_on_storage_with_env(bin, &args, &storage.node_env())
    });
    let front = SocketAddr::new(PUBLIC, free_block(&[first, second], 1));
    let config = haproxy_config(front, [(&nodes[0], first), (&nodes[1], second)]);
    let _haproxy = start_haproxy(&config, front);

    // 100 sessions, 10 at a time, each uploading a file of its own.
    let uploaded = Mutex::new(Vec::new());
    thread::scope(|s| {
        for t in 0..10u64 {
            let uploaded = &uploaded;
            s.spawn(move || {
                for k in 0..10 {
                    let n = t * 10 + k;
                    let (mut session, node) = session(front).expect("a session");
                    let bytes = util::random_bytes(n, 20_000 + n as usize);
                    stor(&mut session, &format!("one-{n}.bin"), &bytes, None)
                        .unwrap_or_else(|e| panic!("upload {n} on node {node}: {e}"));
                    uploaded.lock().unwrap().push((n, node, bytes));
                }
            });
        }
    });
    let uploaded = uploaded.into_inner().unwrap();
    assert_eq!(uploaded.len(), 100);
    let on_a = uploaded.iter().filter(|(_, node, _)| *node == 'a').count();
    assert!(
        (20..=80).contains(&on_a),
        "round robin: {on_a} of 100 on node a"
    );

    // Each file read back through the node that did not take it.
    let mut by_node = readers(front);
    for (n, node, bytes) in &uploaded {
        let other = usize::from(*node == 'a');
        let back = by_node[other].retr_from(CLIENT, &format!("one-{n}.bin"));
        util::assert_same_bytes(&back, bytes, &format!("one-{n}.bin, taken by node {node}"));
    }
    drop(by_node);

    // Both nodes saw the client, through the proxy, and never took the proxy for a client.
    for (node, name) in nodes.iter().zip(["a", "b"]) {
        let logs = node.logged();
        let client = logs
            .iter()
            .filter(|l| l.contains("login accepted") && l.contains("peer=127.0.0.2:"))
            .count();
        assert!(
            client >= 20,
            "node {name}: {client} logins of 127.0.0.2 logged"
        );
        assert!(
            logs.iter()
                .filter(|l| l.contains("peer="))
                .all(|l| !l.contains("peer=127.0.0.5:")),
            "node {name} took the proxy's address for a client's"
        );
        assert!(logs.iter().any(|l| l.contains("proxy=127.0.0.5:")));
    }

    let atomic = storage.new_files_atomic();
    let (outcomes, killed_at) = uploads_while_a_node_dies(front, &mut nodes[0], atomic);
    // Uploads over a file, and (where new files appear only whole) uploads of a new file, that
    // the kill cut on node a.
    let cut_over = outcomes.iter().filter(|o| o.created && !o.done).count();
    let cut_new = outcomes
        .iter()
        .filter(|o| atomic && o.node == Some('a') && !o.created)
        .count();
    let cut = cut_over + cut_new;
    println!(
        "{} uploads, {cut_over} over a file and {cut_new} of a new file cut on node a by the kill",
        outcomes.len()
    );
    let around: Vec<_> = outcomes
        .iter()
        .filter(|o| o.node == Some('a'))
        .map(|o| (o, o.started.saturating_duration_since(killed_at)))
        .collect();
    assert!(
        cut >= 1,
        "the kill cut no upload: nothing was checked; on node a: {around:?}"
    );
    // Sessions begun once the health check had time to see it (a second): all on node b, and
    // all of their uploads done.
    let later: Vec<_> = outcomes
        .iter()
        .filter(|o| o.started > killed_at + Duration::from_secs(1))
        .collect();
    assert!(!later.is_empty());
    for o in &later {
        assert!(
            o.node == Some('b') && o.done,
            "{} after the kill: {o:?}",
            o.name
        );
    }

    // Every upload that got its 226 is there whole; one cut by the kill left the old file or
    // (cut after its rename, before the 226) the whole new one: never a part.
    let mut reader = readers(front).pop().expect("a reader on node b");
    let listed = reader.names();
    let mut vanished = 0;
    for o in &outcomes {
        if !o.created && atomic && o.node == Some('a') {
            // The new file's upload was cut: nothing at the name, or (cut after the store made
            // it visible, before the 226) the whole file. Never a part.
            if !listed.contains(&o.name) {
                vanished += 1;
                let reply = reader.cmd(&format!("SIZE {}", o.name));
                assert_eq!(reply.code, 550, "{}: {reply}", o.name);
            } else {
                let back = reader.retr_from(CLIENT, &o.name);
                util::assert_same_bytes(&back, &o.old, &format!("{}, cut: whole", o.name));
            }
            continue;
        }
        if !o.created {
            continue;
        }
        let back = reader.retr_from(CLIENT, &o.name);
        if o.done {
            util::assert_same_bytes(&back, &o.new, &format!("{} ({:?})", o.name, o.node));
        } else if back != o.old {
            util::assert_same_bytes(&back, &o.new, &format!("{}, cut: old or new", o.name));
        }
    }
    assert!(
        listed
            .iter()
            .all(|n| n.starts_with("one-") || n.starts_with("two-")),
        "nothing else is visible: {listed:?}"
    );
    if atomic {
        println!("{vanished} uploads of a new file cut and not visible");
        // The kill came while one was half-way through: it cannot have become visible.
        assert!(
            vanished >= 1,
            "no cut upload of a new file was checked absent"
        );
    }
}

/// One upload of [`uploads_while_a_node_dies`].
struct Outcome {
    name: String,
    /// What the file held before (a first, quick upload in the same session).
    old: Vec<u8>,
    /// What the slow upload over it sent.
    new: Vec<u8>,
    started: Instant,
    /// The node of the session; `None` if there was no session.
    node: Option<char>,
    /// The old file was uploaded (its 226 came).
    created: bool,
    /// The new one got its 226.
    done: bool,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (node, created, done) = (self.node, self.created, self.done);
        write!(
            f,
            "{}: node {node:?}, created {created}, done {done}",
            self.name
        )
    }
}

/// Six threads upload over files through the proxy, one session each time, while `victim`
/// is killed (SIGKILL, mid-upload); then they go on for 3 s. Each upload replaces a file the
/// same session wrote just before, so that what a cut upload leaves can be told apart. (A cut
/// upload of a new file keeps what arrived, to be resumed: local storage's rule.) With
/// `atomic` (new files appear only whole) that first upload is slow too, so that the kill can
/// cut it as well.
fn uploads_while_a_node_dies(
    front: SocketAddr,
    victim: &mut Server,
    atomic: bool,
) -> (Vec<Outcome>, Instant) {
    let stop = AtomicBool::new(false);
    let done = AtomicUsize::new(0);
    // Uploads half-way through on node a: the kill waits for one (with `atomic`, for one of a
    // new file).
    let on_a = AtomicUsize::new(0);
    let new_on_a = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    let mut killed_at = None;
    thread::scope(|s| {
        for t in 0..6u64 {
            let (stop, done, outcomes) = (&stop, &done, &outcomes);
            let (on_a, new_on_a) = (&on_a, &new_on_a);
            s.spawn(move || {
                for k in 0..200 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let mut o = Outcome {
                        name: format!("two-{t}-{k}.bin"),
                        old: util::random_bytes(100_000 + t * 1000 + k, 1000),
                        new: util::random_bytes(1000 + t * 1000 + k, 512 * 1024),
                        started: Instant::now(),
                        node: None,
                        created: false,
                        done: false,
                    };
                    if let Ok((mut session, node)) = session(front) {
                        o.node = Some(node);
                        let pace = |midway| Pace {
                            pause: Duration::from_millis(10),
                            midway: (node == 'a').then_some(midway),
                        };
                        let first = atomic.then(|| pace(new_on_a));
                        o.created = stor(&mut session, &o.name, &o.old, first).is_ok();
                        o.done = o.created
                            && stor(&mut session, &o.name, &o.new, Some(pace(on_a))).is_ok();
                    }
                    done.fetch_add(usize::from(o.done), Ordering::Relaxed);
                    outcomes.lock().unwrap().push(o);
                }
            });
        }
        // Mid-run: once each node has finished some of these uploads, and while one is half-way
        // through on node a (80 ms or more of it still to come).
        util::wait_until("uploads on both nodes before the kill", || {
            let outcomes = outcomes.lock().unwrap();
            let finished = |want| {
                let on = |o: &&Outcome| o.node == Some(want) && o.done;
                outcomes.iter().filter(on).count()
            };
            let midway = if atomic { &new_on_a } else { &on_a };
            finished('a') >= 5 && finished('b') >= 5 && midway.load(Ordering::SeqCst) >= 1
        });
        victim.kill();
        killed_at = Some(Instant::now());
        let before = done.load(Ordering::Relaxed);
        // Long enough for sessions begun a second after the kill to finish their uploads.
        let until = Instant::now() + Duration::from_secs(3);
        util::wait_until("uploads after the kill", || {
            done.load(Ordering::Relaxed) >= before + 30 && Instant::now() >= until
        });
        stop.store(true, Ordering::Relaxed);
    });
    let outcomes = outcomes.into_inner().unwrap();
    (outcomes, killed_at.expect("killed"))
}

/// A session through the proxy from [`CLIENT`], logged in, and the node ('a' or 'b') whose
/// banner greeted it.
fn session(front: SocketAddr) -> Result<(Client, char), String> {
    let stream = util::connect_from(CLIENT, front).map_err(|e| format!("connect: {e}"))?;
    let mut client = Client::from_stream(stream);
    let greeting = client
        .try_reply()
        .map_err(|e| format!("greeting: {e}"))?
        .ok_or("closed before the greeting")?;
    let node = match greeting.text.find("node ") {
        Some(at) if greeting.code == 220 => greeting.text.as_bytes()[at + 5] as char,
        _ => return Err(format!("greeting: {greeting}")),
    };
    for (line, code) in [("USER u", 331), ("PASS p", 230), ("TYPE I", 200)] {
        let reply = client.try_cmd(line)?;
        if reply.code != code {
            return Err(format!("{line}: {reply}"));
        }
    }
    Ok((client, node))
}

/// Logged-in sessions through the proxy, one per node still up ([0] on node a, [1] on b;
/// only b's after a was killed).
fn readers(front: SocketAddr) -> Vec<Client> {
    let mut by_node: [Option<Client>; 2] = [None, None];
    for _ in 0..20 {
        let (client, node) = session(front).expect("a reader session");
        let slot = usize::from(node == 'b');
        by_node[slot].get_or_insert(client);
        if by_node.iter().all(Option::is_some) {
            break;
        }
    }
    let readers: Vec<Client> = by_node.into_iter().flatten().collect();
    assert!(!readers.is_empty());
    readers
}

/// How a slow upload is written: in 16 pieces, `pause` between them; `midway` counts the
/// upload from its 8th piece until its last is written (it is then surely under way).
struct Pace<'a> {
    pause: Duration,
    midway: Option<&'a AtomicUsize>,
}

/// `STOR name` of `bytes` over a passive connection from [`CLIENT`]; with `pace`, written
/// slowly (so that uploads are under way when a node dies).
fn stor(
    client: &mut Client,
    name: &str,
    bytes: &[u8],
    pace: Option<Pace<'_>>,
) -> Result<(), String> {
    let reply = client.try_cmd("PASV")?;
    let addr = crate::ftp::parse_pasv(&reply.text).ok_or(format!("PASV: {reply}"))?;
    if addr.ip() != PUBLIC {
        return Err(format!("PASV names {addr}, not the public address"));
    }
    let mut data = util::connect_from(CLIENT, addr).map_err(|e| format!("data: {e}"))?;
    let reply = client.try_cmd(&format!("STOR {name}"))?;
    if reply.code != 150 {
        return Err(format!("STOR: {reply}"));
    }
    let piece = match pace {
        Some(_) => bytes.len().div_ceil(16).max(1),
        None => bytes.len().max(1),
    };
    let midway = pace.as_ref().and_then(|p| p.midway);
    let mut counted = false;
    for (n, chunk) in bytes.chunks(piece).enumerate() {
        if let (Some(midway), 8) = (midway, n) {
            midway.fetch_add(1, Ordering::SeqCst);
            counted = true;
        }
        let written = data.write_all(chunk);
        if let Some(pace) = &pace {
            thread::sleep(pace.pause);
        }
        if let Err(e) = written {
            if let (Some(midway), true) = (midway, counted) {
                midway.fetch_sub(1, Ordering::SeqCst);
            }
            return Err(format!("writing: {e}"));
        }
    }
    if let (Some(midway), true) = (midway, counted) {
        midway.fetch_sub(1, Ordering::SeqCst);
    }
    data.shutdown(Shutdown::Write)
        .map_err(|e| format!("closing: {e}"))?;
    drop(data);
    let done = client.try_reply().map_err(|e| e.to_string())?;
    match done {
        Some(reply) if reply.code == 226 => Ok(()),
        other => Err(format!("after the upload: {other:?}")),
    }
}

/// What the nodes' passive ranges and the proxy's control port need: a block of `len` ports
/// free on both the public address and the nodes' address, clear of the blocks `taken`
/// (each [`RANGE`] long).
fn free_block(taken: &[u16], len: u16) -> u16 {
    for _ in 0..500 {
        // Below Linux's ephemeral ports (32768 and up), which outgoing connections take.
        let low = fastrand::u16(20_000..32_000);
        let clear = taken.iter().all(|&t| low + len <= t || low >= t + RANGE);
        let free = (low..low + len).all(|port| {
            [PUBLIC, NODE]
                .iter()
                .all(|ip| TcpListener::bind((*ip, port)).is_ok())
        });
        if clear && free {
            return low;
        }
    }
    panic!("no block of {len} free ports");
}

/// The HAProxy configuration of the test: `dist/haproxy.cfg` with the test's addresses.
fn haproxy_config(front: SocketAddr, nodes: [(&Server, u16); 2]) -> String {
    let mut servers = String::new();
    let mut passive = String::new();
    for ((node, low), name) in nodes.into_iter().zip(["a", "b"]) {
        let addr = node.addr();
        servers.push_str(&format!(
            "    server {name} {addr} send-proxy-v2 check inter 200ms fall 1 rise 2\n"
        ));
        // The port range, each port forwarded to the same port of the node.
        passive.push_str(&format!(
            "\nfrontend pasv_{name}\n    bind {PUBLIC}:{low}-{}\n    default_backend pasv_{name}\n\
             \nbackend pasv_{name}\n    server {name} {NODE} send-proxy-v2\n",
            low + RANGE - 1
        ));
    }
    format!(
        "global\n    maxconn 2000\n\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 60s\n    \
         timeout server 60s\n    retries 3\n    option redispatch\n    source {PROXY}\n\n\
         frontend ftp\n    bind {front}\n    default_backend nodes\n\n\
         backend nodes\n    balance roundrobin\n{servers}{passive}"
    )
}

/// Starts haproxy on `config` and waits until a session through `front` is greeted.
fn start_haproxy(config: &str, front: SocketAddr) -> Haproxy {
    let dir = tempfile::Builder::new()
        .prefix("thinftp-haproxy.")
        .tempdir()
        .expect("a directory for haproxy.cfg");
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).expect("write haproxy.cfg");
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .spawn()
        .expect("start haproxy");
    let haproxy = Haproxy {
        child,
        _config: dir,
    };
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if session(front).is_ok() {
            return haproxy;
        }
        assert!(
            Instant::now() < deadline,
            "haproxy never forwarded a session:\n{config}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

impl Client {
    /// `line`, and its reply, or why there is none.
    fn try_cmd(&mut self, line: &str) -> Result<crate::Reply, String> {
        self.send(line);
        match self.try_reply() {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(format!("{line}: closed")),
            Err(e) => Err(format!("{line}: {e}")),
        }
    }

    /// `RETR path` over a passive connection made from `from`.
    fn retr_from(&mut self, from: IpAddr, path: &str) -> Vec<u8> {
        let addr = self.pasv();
        let mut data = util::connect_from(from, addr).expect("the data connection");
        self.expect(&format!("RETR {path}"), 150);
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes).expect("read the data");
        self.expect_reply(226, path);
        bytes
    }

    /// The names `NLST` gives, over a passive connection from [`CLIENT`].
    fn names(&mut self) -> Vec<String> {
        let addr = self.pasv();
        let mut data = util::connect_from(CLIENT, addr).expect("the data connection");
        self.expect("NLST", 150);
        let mut text = String::new();
        data.read_to_string(&mut text).expect("read the listing");
        self.expect_reply(226, "NLST");
        text.lines().map(str::to_owned).collect()
    }
}
