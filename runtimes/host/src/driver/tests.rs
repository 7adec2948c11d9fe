//! The driver without a network: a fake connection type and waiter, the clock passed in. What a
//! simulated runtime would do, in small.

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;

use super::*;
use thinftp::AuthResult;

const PEER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000));
const LOCAL: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2121));
const LISTENER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 50000));

/// Counts what the driver did with it.
#[derive(Default)]
struct Counts {
    accepts_again: Cell<u32>,
    drops: Cell<u32>,
}

struct FakeWaiter(Rc<Counts>);

impl Waiter for FakeWaiter {
    fn accept_again(&mut self) {
        self.0.accepts_again.set(self.0.accepts_again.get() + 1);
    }
}

impl Drop for FakeWaiter {
    fn drop(&mut self) {
        self.0.drops.set(self.0.drops.get() + 1);
    }
}

type TestDriver = Driver<&'static str, FakeWaiter>;

fn driver(blocking: Blocking) -> (tempfile::TempDir, TestDriver) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"hello").unwrap();
    let host = host_for(&dir, &["--user", "u:p", "--busy-poll", "0"]);
    (dir, driver_on(host, blocking))
}

/// A host serving `dir` with the options `args`.
fn host_for(dir: &tempfile::TempDir, args: &[&str]) -> Arc<Host> {
    let mut all = vec!["thinftp-test", "--root", dir.path().to_str().unwrap()];
    all.extend_from_slice(args);
    let options = crate::Options::try_parse_args(all).unwrap();
    Arc::new(Host::from_options(&options).unwrap())
}

/// A driver for a session admitted on `host`, from `PEER`.
fn driver_on<S>(host: Arc<Host>, blocking: Blocking) -> Driver<S, FakeWaiter> {
    let admission = Admission {
        id: 1,
        span: Span::none(),
        guard: host.admission().try_admit(PEER.ip()).unwrap(),
        proxied: false,
    };
    Driver::new(host, admission, PEER, LOCAL, Instant::now(), blocking)
}

/// Sends `bytes` as if read from the control connection.
fn send(driver: &mut TestDriver, bytes: &'static [u8]) {
    assert!(driver.read_control(&mut &*bytes));
}

/// The actions until the driver has nothing more to do.
fn actions(driver: &mut TestDriver) -> Vec<Action<&'static str>> {
    std::iter::from_fn(|| driver.poll_action(Instant::now())).collect()
}

/// The batches written among `actions`, as text.
fn writes(actions: &[Action<&'static str>]) -> Vec<String> {
    let text = |a: &Action<_>| match a {
        Action::Write(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        _ => None,
    };
    actions.iter().filter_map(text).collect()
}

fn login(driver: &mut TestDriver) {
    let greeting = actions(driver);
    assert!(writes(&greeting)[0].starts_with("220"), "{greeting:?}");
    // TYPE I: SIZE is refused in ASCII mode.
    send(driver, b"USER u\r\nPASS p\r\nTYPE I\r\n");
    let replies = writes(&actions(driver));
    assert!(replies.concat().contains("230"), "{replies:?}");
}

#[test]
fn pipelined_replies_go_out_in_one_write_and_close_follows_the_last() {
    let (_dir, mut driver) = driver(Blocking::Never);
    let greeting = actions(&mut driver);
    assert!(matches!(
        greeting.as_slice(),
        [Action::Write(_), Action::ArmTimer(_)]
    ));
    send(&mut driver, b"NOOP\r\nNOOP\r\nNOOP\r\n");
    let batch = actions(&mut driver);
    assert_eq!(writes(&batch).len(), 1, "{batch:?}");
    assert_eq!(writes(&batch)[0].matches("200").count(), 3);
    assert!(
        !batch.iter().any(|a| matches!(a, Action::ArmTimer(_))),
        "a later deadline leaves the timer where it is"
    );
    send(&mut driver, b"QUIT\r\n");
    let end = actions(&mut driver);
    assert!(
        matches!(end.as_slice(), [Action::Write(bytes), Action::Close] if bytes.starts_with(b"221")),
        "{end:?}"
    );
    assert!(
        driver.poll_action(Instant::now()).is_none(),
        "nothing after Close"
    );
}

/// How many jobs (work off the loop) a command made, and the replies it got.
fn command(driver: &mut TestDriver, line: &'static [u8]) -> (usize, Vec<String>) {
    send(driver, line);
    let done = actions(driver);
    let jobs = done.iter().filter(|a| matches!(a, Action::Run(_))).count();
    (jobs, writes(&done))
}

#[test]
fn a_thread_of_its_own_runs_every_request_on_the_loop() {
    let (_dir, mut driver) = driver(Blocking::Allowed);
    login(&mut driver);
    assert_eq!(
        command(&mut driver, b"SIZE a.txt\r\n"),
        (0, vec!["213 5\r\n".into()])
    );
    let (jobs, replies) = command(&mut driver, b"MKD d\r\n");
    assert_eq!((jobs, replies[0].get(..3)), (0, Some("257")));
}

#[test]
fn a_shared_loop_runs_only_quick_requests_itself() {
    let (_dir, mut driver) = driver(Blocking::Never);
    // A login without a password hash, and a stat on local disk, take no time worth a thread.
    login(&mut driver);
    assert_eq!(
        command(&mut driver, b"SIZE a.txt\r\n"),
        (0, vec!["213 5\r\n".into()])
    );
    assert_eq!(command(&mut driver, b"MKD d\r\n"), (1, vec![]));
}

#[test]
fn a_refused_connection_makes_the_waiter_accept_again_and_a_kept_one_drops_it() {
    let (_dir, mut driver) = driver(Blocking::Never);
    login(&mut driver);
    send(&mut driver, b"PASV\r\n");
    let listen = actions(&mut driver);
    let Some(Action::Listen { id, .. }) = listen.first() else {
        panic!("PASV asks for a listener: {listen:?}");
    };
    let id = *id;
    let counts = Rc::new(Counts::default());
    driver.listening(id, Ok((FakeWaiter(Rc::clone(&counts)), LISTENER)));
    assert!(writes(&actions(&mut driver))[0].starts_with("227"));

    let foreign = SocketAddr::from(([192, 0, 2, 1], 1234));
    let intruder = Completion::Accepted {
        id,
        stream: "intruder",
        peer: foreign,
    };
    driver.complete(intruder);
    let _ = actions(&mut driver);
    assert_eq!((counts.accepts_again.get(), counts.drops.get()), (1, 0));

    let client = Completion::Accepted {
        id,
        stream: "client",
        peer: SocketAddr::new(PEER.ip(), 1235),
    };
    driver.complete(client);
    let _ = actions(&mut driver);
    assert_eq!(
        counts.drops.get(),
        1,
        "the listener stops once the core keeps one"
    );

    send(&mut driver, b"RETR a.txt\r\n");
    // The stat runs in place; the 150 goes out before the transfer starts on the kept stream.
    let retr = actions(&mut driver);
    let [Action::Write(reply), Action::Run(job)] = retr.as_slice() else {
        panic!("{retr:?}");
    };
    assert!(reply.starts_with(b"150"));
    assert!(matches!(
        &job.task,
        Task::Transfer {
            stream: "client",
            ..
        }
    ));
}

#[test]
fn a_failed_write_ends_the_session() {
    let (_dir, mut driver) = driver(Blocking::Never);
    let _ = actions(&mut driver);
    send(&mut driver, b"NOOP\r\n");
    assert!(matches!(
        driver.poll_action(Instant::now()),
        Some(Action::Write(_))
    ));
    driver.write_failed(&io::ErrorKind::TimedOut.into());
    assert!(!driver.wants_control(), "the client is gone");
    let end = actions(&mut driver);
    assert!(matches!(end.as_slice(), [Action::Close]), "{end:?}");
}

#[test]
fn a_job_hides_the_password() {
    let task: Task<&str> = Task::Auth {
        id: thinftp::AuthId::from_raw(3),
        user: "someone".into(),
        password: "secret-word".into(),
    };
    let (_dir, driver) = driver(Blocking::Never);
    let job = Job {
        task,
        span: Span::none(),
        session: driver.admission.guard.clone(),
    };
    assert!(!format!("{job:?}").contains("secret-word"));
    assert_eq!(job.name(), "auth");
    assert!(matches!(
        job.not_started(),
        Input::Auth {
            result: AuthResult::Refused,
            ..
        }
    ));
}

#[test]
fn the_timer_ends_an_idle_session() {
    let (_dir, mut driver) = driver(Blocking::Never);
    let greeting = actions(&mut driver);
    let Some(Action::ArmTimer(at)) = greeting.last() else {
        panic!("the idle deadline is armed: {greeting:?}");
    };
    driver.timer_fired();
    let end: Vec<_> = std::iter::from_fn(|| driver.poll_action(*at)).collect();
    assert!(
        matches!(end.as_slice(), [Action::Write(bytes), Action::Close] if bytes.starts_with(b"421")),
        "{end:?}"
    );
}

#[test]
fn a_finished_transfer_counts_for_shutdown_until_its_final_reply_is_written() {
    let (_dir, mut driver) = driver(Blocking::Never);
    login(&mut driver);
    send(&mut driver, b"PASV\r\n");
    let Some(Action::Listen { id, .. }) = actions(&mut driver).into_iter().next() else {
        panic!("PASV asks for a listener");
    };
    driver.listening(id, Ok((FakeWaiter(Rc::default()), LISTENER)));
    let _ = actions(&mut driver);
    let peer = SocketAddr::new(PEER.ip(), 1235);
    driver.complete(Completion::Accepted {
        id,
        stream: "client",
        peer,
    });
    let _ = actions(&mut driver);
    send(&mut driver, b"RETR a.txt\r\n");
    let job = actions(&mut driver)
        .into_iter()
        .find_map(|a| match a {
            Action::Run(job) => Some(job),
            _ => None,
        })
        .expect("a transfer job");
    let Task::Transfer { id, .. } = &job.task else {
        panic!("{job:?}");
    };
    let done = Input::TransferDone {
        id: *id,
        result: Ok(5),
    };
    // The bytes are moved: the job's part of the count goes.
    drop(job);
    let running = |driver: &TestDriver| driver.host.lifecycle().transfers().count();
    assert_eq!(running(&driver), 1);
    driver.complete(Completion::Input(done));
    let reply = driver.poll_action(Instant::now());
    assert!(
        matches!(&reply, Some(Action::Write(bytes)) if bytes.starts_with(b"226")),
        "{reply:?}"
    );
    assert_eq!(running(&driver), 1, "until the 226 is written");
    assert!(driver.poll_action(Instant::now()).is_none());
    assert_eq!(running(&driver), 0);
}

#[test]
fn a_password_check_keeps_the_session_place_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let hash = crate::auth::hash_password("p").unwrap();
    let entry = format!("[[user]]\nname = \"u\"\npassword_hash = \"{hash}\"\n");
    std::fs::write(&users, entry).unwrap();
    let users = users.to_str().unwrap();
    let host = host_for(&dir, &["--users-file", users, "--max-sessions", "1"]);
    let mut driver: Driver<std::net::TcpStream, _> = driver_on(Arc::clone(&host), Blocking::Never);
    let _ = std::iter::from_fn(|| driver.poll_action(Instant::now())).count();
    assert!(driver.read_control(&mut &b"USER u\r\nPASS p\r\n"[..]));
    let mut job = None;
    while let Some(action) = driver.poll_action(Instant::now()) {
        if let Action::Run(j) = action {
            job = Some(j);
        }
    }
    let job = job.expect("a password hash runs as a job on a shared loop");
    // The client hangs up: its session ends, but the check has not run yet.
    drop(driver);
    assert_eq!(host.admission().active(), 1, "the check holds the place");
    assert!(host.admission().try_admit(PEER.ip()).is_none());
    assert!(matches!(
        job.run(&host),
        Completion::Input(Input::Auth {
            result: AuthResult::Accepted(_),
            ..
        })
    ));
    assert_eq!(host.admission().active(), 0, "freed once the check ended");
    assert!(host.admission().try_admit(PEER.ip()).is_some());
}

/// A passive data connection from the client, kept by the core.
fn connected(driver: &mut TestDriver) {
    send(driver, b"PASV\r\n");
    let Some(Action::Listen { id, .. }) = actions(driver).into_iter().next() else {
        panic!("PASV asks for a listener");
    };
    driver.listening(id, Ok((FakeWaiter(Rc::default()), LISTENER)));
    let _ = actions(driver);
    let peer = SocketAddr::new(PEER.ip(), 1235);
    driver.complete(Completion::Accepted {
        id,
        stream: "client",
        peer,
    });
    let _ = actions(driver);
}

#[test]
fn an_upload_that_cannot_be_opened_gets_its_refusal_instead_of_the_150() {
    for blocking in [Blocking::Never, Blocking::Allowed] {
        let (dir, mut driver) = driver(blocking);
        std::fs::create_dir(dir.path().join("d")).unwrap();
        login(&mut driver);
        for line in [
            &b"STOR missing/new.txt\r\n"[..],
            b"STOR d\r\n",
            b"APPE missing/a\r\n",
        ] {
            connected(&mut driver);
            send(&mut driver, line);
            let done = actions(&mut driver);
            assert!(
                !done.iter().any(|a| matches!(a, Action::Run(_))),
                "no transfer job: {done:?}"
            );
            let replies = writes(&done).concat();
            assert!(replies.starts_with("550 "), "{line:?}: {replies:?}");
            assert!(!replies.contains("150"), "{replies:?}");
        }
        assert_eq!(driver.host.lifecycle().transfers().count(), 0);
        assert!(!dir.path().join("missing").exists());
    }
}

/// Moves TLS bytes between a rustls client and the driver until neither has more to say;
/// returns the driver's actions that were not writes.
fn pump_tls(driver: &mut TestDriver, client: &mut rustls::ClientConnection) -> Vec<String> {
    use std::io::Read;
    let mut others = Vec::new();
    for _ in 0..20 {
        let mut to_server = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut to_server).unwrap();
        }
        if !to_server.is_empty() {
            assert!(driver.read_control(&mut to_server.as_slice()));
        }
        let mut moved = !to_server.is_empty();
        for action in actions(driver) {
            match action {
                Action::Write(bytes) => {
                    moved = true;
                    let mut bytes = bytes.as_slice();
                    while !bytes.is_empty() {
                        client.read_tls(&mut bytes).unwrap();
                        client.process_new_packets().unwrap();
                    }
                }
                other => others.push(format!("{other:?}")),
            }
        }
        if !moved {
            break;
        }
    }
    let mut plain = String::new();
    let _ = client.reader().read_to_string(&mut plain);
    if !plain.is_empty() {
        others.push(plain);
    }
    others
}

#[test]
fn auth_tls_secures_the_control_connection_inside_the_driver_and_ends_with_close_notify() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--user",
        "u:p",
        "--busy-poll",
        "0",
        "--ftps",
        "--tls-self-signed",
    ];
    let mut driver: TestDriver = driver_on(host_for(&dir, &args), Blocking::Never);
    assert!(writes(&actions(&mut driver))[0].starts_with("220"));
    // A command in the same chunk as AUTH is dropped (CVE-2011-0411): QUIT would close.
    send(&mut driver, b"AUTH TLS\r\nQUIT\r\n");
    let replies = writes(&actions(&mut driver));
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].starts_with("234"), "{replies:?}");

    let (_, client_config) = crate::tls::testing::configs(&[b"ftp"]);
    let mut client = crate::tls::testing::client(client_config);
    let others = pump_tls(&mut driver, &mut client);
    assert!(!client.is_handshaking(), "{others:?}");
    assert!(!others.iter().any(|o| o.contains("Close")), "{others:?}");

    client.writer().write_all(b"USER u\r\n").unwrap();
    let got = pump_tls(&mut driver, &mut client);
    assert!(got.iter().any(|o| o.starts_with("331")), "{got:?}");

    client.writer().write_all(b"QUIT\r\n").unwrap();
    let got = pump_tls(&mut driver, &mut client);
    assert!(got.iter().any(|o| o.starts_with("221")), "{got:?}");
    assert!(got.iter().any(|o| o == "Close"), "{got:?}");
    let mut rest = String::new();
    use std::io::Read;
    assert_eq!(
        client.reader().read_to_string(&mut rest).unwrap(),
        0,
        "close_notify came before the close"
    );
}

/// A logged-in session over TLS with CCC allowed, right before `CCC`.
fn before_ccc(dir: &tempfile::TempDir) -> (TestDriver, rustls::ClientConnection) {
    use std::io::Write;
    let args = [
        "--user",
        "u:p",
        "--busy-poll",
        "0",
        "--ftps",
        "--tls-self-signed",
        "--tls-allow-ccc",
    ];
    let mut driver: TestDriver = driver_on(host_for(dir, &args), Blocking::Allowed);
    assert!(writes(&actions(&mut driver))[0].starts_with("220"));
    send(&mut driver, b"AUTH TLS\r\n");
    assert!(writes(&actions(&mut driver))[0].starts_with("234"));
    let (_, client_config) = crate::tls::testing::configs(&[]);
    let mut client = crate::tls::testing::client(client_config);
    pump_tls(&mut driver, &mut client);
    client.writer().write_all(b"USER u\r\nPASS p\r\n").unwrap();
    let got = pump_tls(&mut driver, &mut client).concat();
    assert!(got.contains("230"), "{got:?}");
    (driver, client)
}

/// Sends `CCC` and checks that the `200` and the server's `close_notify` are written in the
/// same round, before the driver waits for anything (the client waits for that close_notify:
/// curl gives up after 10 s).
fn ccc(driver: &mut TestDriver, client: &mut rustls::ClientConnection) {
    use std::io::{Read, Write};
    client.writer().write_all(b"CCC\r\n").unwrap();
    let mut to_server = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut to_server).unwrap();
    }
    assert!(driver.read_control(&mut to_server.as_slice()));
    let mut plain = String::new();
    for action in actions(driver) {
        let Action::Write(bytes) = action else {
            break;
        };
        let mut bytes = bytes.as_slice();
        while !bytes.is_empty() {
            client.read_tls(&mut bytes).unwrap();
            client.process_new_packets().unwrap();
        }
    }
    let closed = client.reader().read_to_string(&mut plain);
    assert!(plain.starts_with("200"), "{plain:?}");
    assert!(
        closed.is_ok(),
        "no close_notify before the driver waited: {closed:?}"
    );
}

#[test]
fn ccc_sends_close_notify_and_the_control_connection_goes_on_in_clear_text() {
    let dir = tempfile::tempdir().unwrap();
    let (mut driver, mut client) = before_ccc(&dir);
    ccc(&mut driver, &mut client);
    // The client answers with its own close_notify (curl --ftp-ssl-ccc-mode active).
    client.send_close_notify();
    pump_tls(&mut driver, &mut client);
    send(&mut driver, b"NOOP\r\n");
    let replies = writes(&actions(&mut driver));
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].starts_with("200"), "in clear text: {replies:?}");
}

#[test]
fn after_ccc_clear_text_may_follow_without_or_right_behind_the_clients_close_notify() {
    let dir = tempfile::tempdir().unwrap();
    // No close_notify from the client (curl's default, passive CCC): clear text at once.
    let (mut driver, mut client) = before_ccc(&dir);
    ccc(&mut driver, &mut client);
    send(&mut driver, b"NOOP\r\n");
    let replies = writes(&actions(&mut driver));
    assert_eq!(replies, ["200 NOOP ok.\r\n"], "in clear text");

    // The client's close_notify and a clear command in one read.
    let (mut driver, mut client) = before_ccc(&dir);
    ccc(&mut driver, &mut client);
    client.send_close_notify();
    let mut bytes = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut bytes).unwrap();
    }
    bytes.extend_from_slice(b"PWD\r\n");
    assert!(driver.read_control(&mut bytes.as_slice()));
    let replies = writes(&actions(&mut driver));
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].starts_with("257"), "in clear text: {replies:?}");
}

/// A driver for a connection from `PEER` admitted by `host`'s gate, as an accept loop does
/// (a real socket pair: the gate sets socket options on it).
fn admitted(host: &Arc<Host>) -> Option<TestDriver> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    let admission = host.admission().admit(PEER, &mut conn)?;
    let now = Instant::now();
    let host = Arc::clone(host);
    Some(Driver::new(
        host,
        admission,
        PEER,
        LOCAL,
        now,
        Blocking::Never,
    ))
}

#[test]
fn a_proxied_session_starts_for_the_client_its_header_names() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--user",
        "u:p",
        "--busy-poll",
        "0",
        "--max-sessions-per-ip",
        "1",
    ];
    let mut args = args.to_vec();
    args.extend(["--proxy-protocol-from", "10.0.0.0/8,127.0.0.1"]);
    let host = host_for(&dir, &args);
    // Nothing is said before the header; the deadline is armed.
    let mut a = admitted(&host).unwrap();
    let first = actions(&mut a);
    assert!(
        matches!(first.as_slice(), [Action::ArmTimer(_)]),
        "{first:?}"
    );
    send(
        &mut a,
        b"PROXY TCP4 192.0.2.7 198.51.100.1 40001 21\r\nNOOP\r\n",
    );
    let replies = writes(&actions(&mut a));
    assert!(replies.concat().starts_with("220"), "{replies:?}");
    assert!(
        replies.concat().contains("200"),
        "the bytes after the header: {replies:?}"
    );
    assert_eq!(a.peer, SocketAddr::from(([192, 0, 2, 7], 40001)));
    // The passive listeners count against the client too.
    send(&mut a, b"USER u\r\nPASS p\r\nPASV\r\n");
    let pasv = actions(&mut a);
    let listen = pasv.iter().find(|a| matches!(a, Action::Listen { .. }));
    assert!(
        matches!(listen, Some(Action::Listen { client, .. }) if *client == IpAddr::from([192, 0, 2, 7])),
        "{pasv:?}"
    );

    // Another session of the proxy for the same client: past its cap of one, so 421; the
    // proxy's own address (many clients) is never what counts.
    let mut b = admitted(&host).unwrap();
    let _ = actions(&mut b);
    send(&mut b, b"PROXY TCP4 192.0.2.7 198.51.100.1 40002 21\r\n");
    let refused = actions(&mut b);
    assert!(
        matches!(refused.as_slice(), [Action::Write(bytes), Action::Close] if bytes.starts_with(b"421")),
        "{refused:?}"
    );
    let mut c = admitted(&host).unwrap();
    let _ = actions(&mut c);
    send(&mut c, b"PROXY TCP4 192.0.2.8 198.51.100.1 40003 21\r\n");
    assert!(writes(&actions(&mut c)).concat().starts_with("220"));

    // A bad header, or none before the end: closed without a word.
    let mut d = admitted(&host).unwrap();
    let _ = actions(&mut d);
    send(&mut d, b"USER u\r\n");
    let closed = actions(&mut d);
    assert!(matches!(closed.as_slice(), [Action::Close]), "{closed:?}");
    assert!(d.poll_action(Instant::now()).is_none());
    let mut e = admitted(&host).unwrap();
    let _ = actions(&mut e);
    send(&mut e, b"");
    assert!(matches!(actions(&mut e).as_slice(), [Action::Close]));
}

#[test]
fn the_deadline_closes_a_proxied_connection_without_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(&dir, &["--proxy-protocol-from", "127.0.0.1"]);
    let mut driver = admitted(&host).unwrap();
    let start = Instant::now();
    let armed = std::iter::from_fn(|| driver.poll_action(start)).collect::<Vec<_>>();
    let [Action::ArmTimer(at)] = armed.as_slice() else {
        panic!("{armed:?}");
    };
    assert!(*at > start && *at <= start + crate::proxy_protocol::HEADER_TIMEOUT);
    send(&mut driver, b"PROXY TCP4 ");
    driver.timer_fired();
    let at = *at;
    let end = std::iter::from_fn(|| driver.poll_action(at)).collect::<Vec<_>>();
    assert!(matches!(end.as_slice(), [Action::Close]), "{end:?}");
}

#[test]
fn without_the_option_a_proxy_header_is_a_bad_command() {
    let (_dir, mut driver) = driver(Blocking::Never);
    let _ = actions(&mut driver);
    send(
        &mut driver,
        b"PROXY TCP4 192.0.2.7 198.51.100.1 40001 21\r\n",
    );
    let replies = writes(&actions(&mut driver));
    assert!(replies.concat().starts_with("500"), "{replies:?}");
    assert_eq!(driver.peer, PEER);
}

#[test]
fn a_data_connection_from_the_proxy_has_its_header_read_before_the_core_hears_of_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"hello").unwrap();
    let host = host_for(&dir, &["--user", "u:p", "--busy-poll", "0"]);
    let mut driver = driver_on(host, Blocking::Never);
    login(&mut driver);
    send(&mut driver, b"PASV\r\n");
    let listen = actions(&mut driver);
    let Some(Action::Listen { id, client, .. }) = listen.first() else {
        panic!("{listen:?}");
    };
    assert_eq!(*client, PEER.ip(), "the passive cap counts the client");
    let id = *id;
    let counts = Rc::new(Counts::default());
    driver.listening(id, Ok((FakeWaiter(Rc::clone(&counts)), LISTENER)));
    let _ = actions(&mut driver);
    // This host trusts no proxy: the connection is offered as it is.
    driver.complete(Completion::HeaderRead { id, result: None });
    let _ = actions(&mut driver);
    assert_eq!(
        counts.accepts_again.get(),
        1,
        "no good header: accept again"
    );
    driver.complete(Completion::HeaderRead {
        id,
        result: Some(("through the proxy", SocketAddr::new(PEER.ip(), 5000))),
    });
    let _ = actions(&mut driver);
    assert_eq!(counts.drops.get(), 1, "kept by the core");
}

#[test]
fn a_data_connection_from_a_trusted_proxy_becomes_a_header_job() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--user",
        "u:p",
        "--busy-poll",
        "0",
        "--proxy-protocol-from",
        "127.0.0.9",
    ];
    let host = host_for(&dir, &args);
    let mut driver = driver_on(host, Blocking::Allowed);
    login(&mut driver);
    send(&mut driver, b"PASV\r\n");
    let listen = actions(&mut driver);
    let Some(Action::Listen { id, .. }) = listen.first() else {
        panic!("{listen:?}");
    };
    let id = *id;
    let counts = Rc::new(Counts::default());
    driver.listening(id, Ok((FakeWaiter(Rc::clone(&counts)), LISTENER)));
    let _ = actions(&mut driver);
    let proxy = SocketAddr::from(([127, 0, 0, 9], 6000));
    driver.complete(Completion::Accepted {
        id,
        stream: "from the proxy",
        peer: proxy,
    });
    let done = actions(&mut driver);
    let [Action::Run(job)] = done.as_slice() else {
        panic!("{done:?}");
    };
    assert_eq!(job.name(), "proxy-header");
    assert_eq!(counts.drops.get(), 0, "still waiting: not offered yet");
}

#[test]
fn pipelined_requests_answered_on_the_loop_share_one_write() {
    for blocking in [Blocking::Never, Blocking::Allowed] {
        let (_dir, mut driver) = driver(blocking);
        login(&mut driver);
        send(
            &mut driver,
            b"SIZE a.txt\r\nSIZE a.txt\r\nMDTM a.txt\r\nSIZE a.txt\r\n",
        );
        let done = actions(&mut driver);
        let replies = writes(&done);
        assert_eq!(replies.len(), 1, "{blocking:?}: {done:?}");
        assert_eq!(replies[0].matches("213 ").count(), 4, "{replies:?}");
    }
}

#[test]
fn replies_leave_before_a_request_that_becomes_a_job() {
    let (_dir, mut driver) = driver(Blocking::Never);
    login(&mut driver);
    send(&mut driver, b"SIZE a.txt\r\nMKD d\r\n");
    let done = actions(&mut driver);
    let job = done.iter().position(|a| matches!(a, Action::Run(_)));
    let write = done
        .iter()
        .position(|a| matches!(a, Action::Write(b) if b.starts_with(b"213 5")));
    assert!(
        matches!((write, job), (Some(w), Some(j)) if w < j),
        "{done:?}"
    );
}

#[test]
fn a_long_pipelined_run_is_written_in_bounded_batches() {
    let (_dir, mut driver) = driver(Blocking::Never);
    login(&mut driver);
    send(&mut driver, b"HELP\r\n");
    let one = writes(&actions(&mut driver)).concat().len();
    // HELP and SIZE: a long reply with no request, and requests answered on the loop.
    let lines = b"HELP\r\nSIZE a.txt\r\n".repeat(2_000);
    let mut unread = &lines[..];
    let mut written: Vec<String> = Vec::new();
    // The driver reads a bounded amount at a time, as from a socket.
    while written.concat().matches("213 ").count() < 2_000 {
        assert!(
            driver.read_control(&mut unread),
            "stuck after {} writes",
            written.len()
        );
        written.extend(writes(&actions(&mut driver)));
    }
    let longest = written.iter().map(String::len).max();
    assert!(longest <= Some(replies::BATCH_LIMIT + one), "{longest:?}");
    assert!(written.len() < 2_000 * 2 / 10, "{} writes", written.len());
}
