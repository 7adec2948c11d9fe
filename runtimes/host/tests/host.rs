//! The command line, the Host built from it, session limits and passive listeners.

use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::Duration;

use thinftp::{AuthResult, FsOp, Permissions};
use thinftp_host::limits::{self, Limits};
use thinftp_host::passive::{wake_listener, PassivePorts};
use thinftp_host::{Host, Options};

fn options(args: &[&str]) -> Result<Options, clap::Error> {
    Options::try_parse_args(std::iter::once("thinftp-test").chain(args.iter().copied()))
}

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[test]
fn defaults() {
    let o = options(&[]).unwrap();
    assert_eq!(o.listen, ["127.0.0.1:2121".parse().unwrap()]);
    assert_eq!((o.max_sessions, o.max_sessions_per_ip), (1024, 64));
    assert_eq!(
        (o.idle_timeout, o.data_timeout, o.max_login_failures),
        (300, 30, 3)
    );
    assert!(o.users.is_empty() && o.root.is_none() && !o.read_only);
    let config = o.config();
    assert_eq!(config.idle_timeout, Duration::from_secs(300));
    assert_eq!(config.data_timeout, Duration::from_secs(30));
    assert_eq!(config.banner, thinftp::Config::default().banner);
    assert_eq!(o.verbosity(), 0);
}

#[test]
fn every_option_parses() {
    let o = options(&[
        "--listen",
        "0.0.0.0:21",
        "--root",
        "/srv",
        "--user",
        "a:b:c",
        "--user",
        "d:",
        "--users-file",
        "u.toml",
        "--anonymous-write",
        "--read-only",
        "--passive-ports",
        "50000-50100",
        "--passive-address",
        "203.0.113.7",
        "--max-sessions",
        "10",
        "--max-sessions-per-ip",
        "2",
        "--idle-timeout",
        "5",
        "--data-timeout",
        "1",
        "--max-login-failures",
        "9",
        "--banner",
        "hi there",
        "--umask",
        "027",
        "--max-passive-per-ip",
        "4",
        "-vv",
    ])
    .unwrap();
    assert_eq!((o.umask, o.max_passive_per_ip), (0o027, Some(4)));
    assert_eq!(o.users.len(), 2);
    assert_eq!(
        (o.users[0].name.as_str(), o.users[0].password.as_str()),
        ("a", "b:c")
    );
    assert_eq!(
        (o.users[1].name.as_str(), o.users[1].password.as_str()),
        ("d", "")
    );
    let range = o.passive_ports.unwrap().range();
    assert_eq!((*range.start(), *range.end()), (50000, 50100));
    let config = o.config();
    assert_eq!(config.passive_address, Some("203.0.113.7".parse().unwrap()));
    assert_eq!(config.banner, "hi there");
    assert_eq!(config.idle_timeout, Duration::from_secs(5));
    assert_eq!(config.data_timeout, Duration::from_secs(1));
    assert_eq!(config.max_login_failures, 9);
    assert_eq!(o.verbosity(), 2);
    assert_eq!(options(&["-qq"]).unwrap().verbosity(), -2);
    // Passwords stay out of debug output.
    assert!(!format!("{o:?}").contains("b:c"));
}

#[test]
fn bad_options_are_refused() {
    for bad in [
        &["--user", "nopassword"][..],
        &["--user", ":pw"],
        &["--passive-ports", "60000-50000"],
        &["--passive-ports", "0-10"],
        &["--passive-ports", "x"],
        &["--idle-timeout", "0"],
        &["--max-passive-per-ip", "0"],
        &["--listen", "nowhere"],
        &["-v", "-q"],
    ] {
        assert!(options(bad).is_err(), "{bad:?} was accepted");
    }
    let single = options(&["--passive-ports", "50000"])
        .unwrap()
        .passive_ports
        .unwrap();
    assert_eq!((single.first, single.last), (50000, 50000));
}

#[test]
fn without_user_options_anonymous_users_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let host = Host::from_options(&options(&["--root", root]).unwrap()).unwrap();
    let described = host.describe();
    assert!(described.contains("read-only to anonymous"), "{described}");
    assert_eq!(
        host.authenticate("anonymous", "x"),
        AuthResult::Accepted(Permissions::read_only())
    );
    assert_eq!(host.authenticate("u", "p"), AuthResult::Refused);
    assert!(host
        .fs(&**host.storage(), &FsOp::Stat(thinftp::VirtualPath::root()))
        .is_ok());
}

#[test]
fn users_from_the_command_line_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let file = dir.path().join("users.toml");
    let hash = thinftp_host::auth::hash_password("pw2").unwrap();
    std::fs::write(
        &file,
        format!("[[user]]\nname = \"v\"\npassword_hash = \"{hash}\"\nwrite = true\n"),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let o = options(&["--root", root, "--user", "u:p", "--users-file", file]).unwrap();
    let host = Host::from_options(&o).unwrap();
    assert_eq!(
        host.authenticate("u", "p"),
        AuthResult::Accepted(Permissions::read_write())
    );
    assert_eq!(
        host.authenticate("v", "pw2"),
        AuthResult::Accepted(Permissions::read_write())
    );
    assert_eq!(host.authenticate("anonymous", "x"), AuthResult::Refused);
    assert!(host.describe().contains("2 user(s)"), "{}", host.describe());
    // --read-only wins over everything; --anonymous adds read-only anonymous access.
    let o = options(&[
        "--root",
        root,
        "--user",
        "u:p",
        "--anonymous-write",
        "--read-only",
    ])
    .unwrap();
    let host = Host::from_options(&o).unwrap();
    assert_eq!(
        host.authenticate("u", "p"),
        AuthResult::Accepted(Permissions::read_only())
    );
    assert_eq!(
        host.authenticate("ftp", "x"),
        AuthResult::Accepted(Permissions::read_only())
    );
}

#[test]
fn startup_errors() {
    let o = options(&["--root", "/nonexistent/thinftp-root"]).unwrap();
    assert!(Host::from_options(&o).is_err());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let o = options(&["--root", root, "--users-file", "/nonexistent/users.toml"]).unwrap();
    assert!(Host::from_options(&o).is_err());
    let o = options(&["--root", root, "--user", "u:p", "--user", "u:q"]).unwrap();
    assert!(Host::from_options(&o).is_err());
}

#[test]
fn session_limits_in_total_and_per_address() {
    let limits = Limits::new(3, 2);
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let a = limits.try_acquire(LOCAL).unwrap();
    let b = limits.try_acquire(LOCAL).unwrap();
    assert!(limits.try_acquire(LOCAL).is_none(), "per-address limit");
    let c = limits.try_acquire(other).unwrap();
    assert!(
        limits.try_acquire("127.0.0.3".parse().unwrap()).is_none(),
        "total limit"
    );
    assert_eq!(limits.active(), 3);
    drop(a);
    assert_eq!(limits.active(), 2);
    let d = limits.try_acquire(LOCAL).expect("a place was freed");
    drop((b, c, d));
    assert_eq!(limits.active(), 0);
    let mut out = Vec::new();
    limits::reject(&mut out);
    assert_eq!(out, b"421 Too many connections\r\n");
}

#[test]
fn passive_listeners_stay_in_their_range() {
    // Find three consecutive free ports by binding and releasing them.
    let probe = std::net::TcpListener::bind((LOCAL, 0)).unwrap();
    let base = probe
        .local_addr()
        .unwrap()
        .port()
        .saturating_sub(3000)
        .max(20000);
    drop(probe);
    let ports = PassivePorts::new(Some(base..=base + 2), None);
    let mut held = Vec::new();
    // One listener per client address: each may hold at most half the range.
    let client = |i: usize| std::net::IpAddr::from([10, 0, 0, u8::try_from(i).unwrap()]);
    while let Ok(listener) = ports.bind(client(held.len()), LOCAL) {
        let port = listener.local_addr().unwrap().port();
        assert!((base..=base + 2).contains(&port), "{port}");
        held.push(listener);
        assert!(held.len() <= 3);
    }
    // All three ports are held now (unless another process took one of them meanwhile).
    assert!(!held.is_empty());
    assert_eq!(
        ports.bind(client(9), LOCAL).unwrap_err().kind(),
        std::io::ErrorKind::AddrInUse
    );
    let any = PassivePorts::new(None, None).bind(LOCAL, LOCAL).unwrap();
    assert_ne!(any.local_addr().unwrap().port(), 0);
}

#[test]
fn one_client_address_holds_a_bounded_number_of_passive_listeners() {
    let ports = PassivePorts::new(None, Some(2));
    let alice = std::net::IpAddr::from([10, 0, 0, 1]);
    let first = ports.bind(alice, LOCAL).unwrap();
    let second = ports.bind(alice, LOCAL).unwrap();
    let refused = ports.bind(alice, LOCAL).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::QuotaExceeded);
    // Another address is not affected.
    let other = ports
        .bind(std::net::IpAddr::from([10, 0, 0, 2]), LOCAL)
        .unwrap();
    // A closed listener frees its place (also one only woken, as a runtime closes it).
    drop(first);
    let third = ports.bind(alice, LOCAL).unwrap();
    wake_listener(&second);
    let fourth = ports.bind(alice, LOCAL).unwrap();
    assert!(ports.bind(alice, LOCAL).is_err());
    drop((second, third, fourth, other));
}

#[test]
fn passive_ports_are_not_handed_out_in_order() {
    let ports = PassivePorts::new(Some(40000..=49999), None);
    let mut seen = Vec::new();
    for _ in 0..6 {
        // Dropped at once: each bind may take any port of the range again.
        let listener = ports.bind(LOCAL, LOCAL).unwrap();
        seen.push(listener.local_addr().unwrap().port());
    }
    let in_order = seen.windows(2).all(|w| w[1] == w[0] + 1);
    assert!(!in_order, "sequential ports: {seen:?}");
}

#[test]
fn wake_listener_unblocks_accept() {
    let listener = PassivePorts::new(None, None).bind(LOCAL, LOCAL).unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = std::sync::Arc::new(listener);
    let waiting = std::sync::Arc::clone(&listener);
    let acceptor = std::thread::spawn(move || waiting.accept().map(|_| ()));
    std::thread::sleep(Duration::from_millis(100));
    wake_listener(&listener);
    assert!(
        acceptor.join().unwrap().is_err(),
        "accept should fail once woken"
    );
    // Nobody is accepting any more.
    assert!(listener.accept().is_err());
    let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
}
