//! The adapter's half in small: a runtime of plain threads and a channel, a session loop that
//! sleeps in short steps, real sockets on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::Host;

/// Helpers on threads of their own, reporting on a channel. `spawn_fails`: no thread for work.
#[derive(Clone)]
struct Threads {
    tx: Arc<Mutex<Sender<Completion<TcpStream>>>>,
    spawn_fails: bool,
}

impl Runtime for Threads {
    const BLOCKING: Blocking = Blocking::Never;
    type Wait = ();

    fn spawn(&self, work: impl FnOnce() + Send + 'static) -> io::Result<()> {
        if self.spawn_fails {
            return Err(io::Error::other("no threads in this test"));
        }
        std::thread::spawn(work);
        Ok(())
    }

    fn accept(&self, listener: Arc<TcpListener>, channel: DataChannel<Self>) -> io::Result<()> {
        std::thread::spawn(move || {
            while let Some(pause) = channel.accepted(listener.accept()) {
                std::thread::sleep(pause);
            }
        });
        Ok(())
    }

    fn connect(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        channel: DataChannel<Self>,
    ) -> io::Result<()> {
        if self.spawn_fails {
            return Err(io::Error::other("no threads in this test"));
        }
        let connected = TcpStream::connect_timeout(&addr, timeout);
        std::thread::spawn(move || channel.connected(addr, connected));
        Ok(())
    }

    fn report(&self, completion: Completion<TcpStream>) {
        let _ = self.tx.lock().unwrap().send(completion);
    }
}

fn host(dir: &tempfile::TempDir) -> Arc<Host> {
    let root = dir.path().to_str().unwrap();
    let args = [
        "thinftp-test",
        "--root",
        root,
        "--user",
        "u:p",
        "--busy-poll",
        "0",
    ];
    let options = crate::Options::try_parse_args(args).unwrap();
    Arc::new(Host::from_options(&options).unwrap())
}

/// Runs the session of `new` to its end: what an adapter's session loop does, with a sleep of
/// a millisecond for a wait (bounded: at most 10 s).
fn run(new: NewSession, runtime: Threads, rx: &Receiver<Completion<TcpStream>>) {
    let (control, mut session) = new.start(runtime).unwrap();
    control.set_nonblocking(true).unwrap();
    for _ in 0..10_000 {
        while let Some(io) = session.poll_io() {
            match io {
                Io::Write(bytes) => {
                    if let Err(e) = (&control).write_all(&bytes) {
                        session.write_failed(&e);
                    }
                }
                Io::ArmTimer(_) => {}
                Io::Close => return session.close(&control),
            }
        }
        match session.look(rx.try_recv().ok(), &mut &control) {
            Look::Came => {}
            Look::Again => std::hint::spin_loop(),
            Look::Wait => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    panic!("the session did not end");
}

/// A session admitted on `host` through an acceptor, and its client.
fn admitted(host: &Arc<Host>) -> (NewSession, BufReader<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    match Acceptor::new(host, usize::MAX).accepted(listener.accept()) {
        Accepted::Session(new) => (new, BufReader::new(client)),
        other => panic!("not admitted: {other:?}"),
    }
}

/// Sends `line` and returns the next reply line.
fn ask(client: &mut BufReader<TcpStream>, line: &str) -> String {
    client
        .get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .unwrap();
    reply(client)
}

fn reply(client: &mut BufReader<TcpStream>) -> String {
    let mut reply = String::new();
    client.read_line(&mut reply).unwrap();
    reply
}

fn threads(spawn_fails: bool) -> (Threads, Receiver<Completion<TcpStream>>) {
    let (tx, rx) = mpsc::channel();
    let tx = Arc::new(Mutex::new(tx));
    (Threads { tx, spawn_fails }, rx)
}

/// A session serving `a.txt` (5 bytes) in a directory of its own, on its own thread, and its
/// client, logged in.
struct LoggedIn {
    dir: tempfile::TempDir,
    host: Arc<Host>,
    client: BufReader<TcpStream>,
    session: std::thread::JoinHandle<()>,
}

fn logged_in(spawn_fails: bool) -> LoggedIn {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"hello").unwrap();
    let host = host(&dir);
    let (new, mut client) = admitted(&host);
    let (runtime, rx) = threads(spawn_fails);
    let session = std::thread::spawn(move || run(new, runtime, &rx));
    assert!(reply(&mut client).starts_with("220"));
    assert!(ask(&mut client, "USER u").starts_with("331"));
    assert!(ask(&mut client, "PASS p").starts_with("230"));
    LoggedIn {
        dir,
        host,
        client,
        session,
    }
}

#[test]
fn a_session_downloads_through_the_loop_and_its_place_is_freed() {
    let LoggedIn {
        dir: _dir,
        host,
        mut client,
        session,
    } = logged_in(false);
    let pasv = ask(&mut client, "EPSV");
    let port: u16 = pasv.split('|').nth(3).unwrap().parse().unwrap();
    let mut data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert!(ask(&mut client, "RETR a.txt").starts_with("150"));
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"hello");
    assert!(reply(&mut client).starts_with("226"));
    assert!(ask(&mut client, "QUIT").starts_with("221"));
    session.join().unwrap();
    assert_eq!(reply(&mut client), "", "FIN after the last reply");
    assert_eq!(host.admission().active(), 0);
}

#[test]
fn work_that_cannot_start_is_answered_and_a_stat_on_local_disk_needs_no_thread() {
    let LoggedIn {
        dir,
        host: _host,
        mut client,
        session,
    } = logged_in(true);
    // SIZE is a stat, run on the loop itself where the storage is local (cheaper than a trip
    // to a pool thread): it needs no thread.
    assert!(ask(&mut client, "TYPE I").starts_with("200"));
    assert_eq!(ask(&mut client, "SIZE a.txt"), "213 5\r\n");
    // MKD is a job on this runtime, and no thread can run it.
    let refused = ask(&mut client, "MKD d");
    assert!(
        refused.starts_with('4') || refused.starts_with('5'),
        "{refused}"
    );
    assert!(!dir.path().join("d").exists());
    // An active connect that cannot start is a failed connect.
    assert!(ask(&mut client, "EPRT |1|127.0.0.1|40009|").starts_with("200"));
    let mut list = ask(&mut client, "LIST");
    if list.starts_with("150") {
        list = reply(&mut client);
    }
    assert!(list.starts_with("425"), "{list}");
    assert!(ask(&mut client, "QUIT").starts_with("221"));
    session.join().unwrap();
}

#[test]
fn the_acceptor_refuses_past_capacity_and_pauses_after_a_failed_accept() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let full = Acceptor::new(&host, 0);
    assert!(matches!(full.accepted(listener.accept()), Accepted::Next));
    let mut refused = String::new();
    BufReader::new(client).read_line(&mut refused).unwrap();
    assert!(refused.starts_with("421"), "{refused}");
    let failed = Err(io::Error::from(io::ErrorKind::OutOfMemory));
    assert!(matches!(full.accepted(failed), Accepted::Pause(p) if !p.is_zero()));
    assert_eq!(host.admission().active(), 0);
}

#[test]
fn shutdown_wakes_a_blocked_accept_and_stops_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let acceptor = Acceptor::new(&host, usize::MAX);
    acceptor.stop_on_shutdown(&listener).unwrap();
    let accepting = std::thread::spawn(move || loop {
        match acceptor.accepted(listener.accept()) {
            Accepted::Stop => return,
            Accepted::Pause(pause) => std::thread::sleep(pause),
            other => panic!("{other:?}"),
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    host.lifecycle().shutdown().trigger();
    accepting.join().unwrap();
}

#[test]
fn a_passive_accept_tries_again_unless_its_listener_is_closed() {
    let (runtime, rx) = threads(false);
    let channel = DataChannel::new(thinftp::DataId::from_raw(1), runtime, tracing::Span::none());
    let kind = |kind| Err(io::Error::from(kind));
    assert_eq!(
        channel.accepted(kind(io::ErrorKind::ConnectionAborted)),
        Some(Duration::ZERO)
    );
    assert_eq!(channel.accepted(kind(io::ErrorKind::InvalidInput)), None);
    let out_of_files = Err(io::Error::from_raw_os_error(libc::EMFILE));
    assert!(channel.accepted(out_of_files).is_some_and(|p| !p.is_zero()));
    assert!(rx.try_recv().is_err(), "nothing reported for a failure");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    assert_eq!(channel.accepted(listener.accept()), None);
    assert!(matches!(rx.try_recv(), Ok(Completion::Accepted { .. })));
}
