//! Unit tests of limits that a transcript shows less directly: how many tiny queued lines a
//! session holds before it closes, and that no configured duration makes it panic.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{AuthResult, Config, FsReply, Input, Metadata, Output, Permissions, Session};

fn addrs() -> (SocketAddr, SocketAddr) {
    (
        "192.0.2.10:40000".parse().expect("literal"),
        "192.0.2.1:21".parse().expect("literal"),
    )
}

#[allow(clippy::disallowed_methods)] // any instant will do as the origin
fn origin() -> Instant {
    Instant::now()
}

/// Feeds control bytes and returns what came out.
fn send(s: &mut Session, now: Instant, line: &'static [u8]) -> Vec<Output> {
    s.handle_input(now, Input::ControlBytes(Bytes::from_static(line)))
        .expect("control bytes are always accepted");
    std::iter::from_fn(|| s.poll_output()).collect()
}

/// Feeds an answer the session asked for and returns what came out.
fn answer(s: &mut Session, now: Instant, input: Input) -> Vec<Output> {
    s.handle_input(now, input).expect("an answer it asked for");
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn codes(outputs: &[Output]) -> Vec<u16> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Reply(r) => Some(r.code()),
            _ => None,
        })
        .collect()
}

#[test]
fn tiny_lines_behind_a_pending_request_close_the_session_within_bounded_lines() {
    let (peer, local) = addrs();
    let t0 = origin();
    let config = Config::default();
    let limit = config.max_pending_input;
    let mut s = Session::new(config, peer, local, t0);
    send(&mut s, t0, b"USER bob\r\n");
    let out = send(&mut s, t0, b"PASS secret\r\n");
    assert!(matches!(out.as_slice(), [Output::Authenticate { .. }]));
    // The PASS is being checked: every further line waits in the queue.
    let mut lines = 0usize;
    let mut last = Vec::new();
    while !s.is_closed() && lines <= limit {
        last = send(&mut s, t0, b"a\r\n");
        lines += 1;
    }
    assert!(s.is_closed(), "still open after {lines} lines");
    assert_eq!(codes(&last), [421]);
    // Each queued `a` costs at least 48 bytes of memory (at 3 wire bytes a line, the old count,
    // 64 KiB held ~21,800 of them).
    assert!(lines <= limit / 48 + 1, "{lines} lines were queued");
}

/// Each duration setting at `Duration::MAX`: a session runs through a failed and a good login
/// and a transfer that waits for its data connection without panicking, and every deadline it
/// reports can be fed.
#[test]
fn duration_max_in_any_setting_is_no_deadline_and_no_panic() {
    type Set = fn(&mut Config);
    let settings: [(&str, Set); 4] = [
        ("idle_timeout", |c| c.idle_timeout = Duration::MAX),
        ("data_timeout", |c| c.data_timeout = Duration::MAX),
        ("login_timeout", |c| c.login_timeout = Duration::MAX),
        ("login_failure_delay", |c| {
            c.login_failure_delay = Duration::MAX
        }),
    ];
    for (name, set) in settings {
        let (peer, local) = addrs();
        let t0 = origin();
        let mut config = Config::default();
        set(&mut config);
        let mut s = Session::new(config, peer, local, t0);
        let _ = std::iter::from_fn(|| s.poll_output()).count();

        send(&mut s, t0, b"USER bob\r\n");
        let out = send(&mut s, t0, b"PASS wrong\r\n");
        let Some(Output::Authenticate { id, .. }) = out.first() else {
            panic!("{name}: no Authenticate in {out:?}");
        };
        let refused = Input::Auth {
            id: *id,
            result: AuthResult::Refused,
        };
        let mut out = answer(&mut s, t0, refused);
        let t1 = t0 + Duration::from_secs(2);
        if name != "login_failure_delay" {
            // The default 1 s delay: the 530 comes with the timeout.
            assert_eq!(
                s.poll_timeout(),
                Some(t0 + Duration::from_secs(1)),
                "{name}"
            );
            out = answer(&mut s, t1, Input::Timeout);
        }
        assert_eq!(codes(&out), [530], "{name}");

        send(&mut s, t1, b"USER bob\r\n");
        let out = send(&mut s, t1, b"PASS secret\r\n");
        let Some(Output::Authenticate { id, .. }) = out.first() else {
            panic!("{name}: no Authenticate in {out:?}");
        };
        let accepted = Input::Auth {
            id: *id,
            result: AuthResult::Accepted(Permissions::read_write()),
        };
        assert_eq!(codes(&answer(&mut s, t1, accepted)), [230], "{name}");

        let out = send(&mut s, t1, b"PASV\r\n");
        let Some(Output::OpenPassive { id, .. }) = out.first() else {
            panic!("{name}: no OpenPassive in {out:?}");
        };
        let listening = Input::PassiveListening {
            id: *id,
            addr: "192.0.2.1:50000".parse().expect("literal"),
        };
        assert_eq!(codes(&answer(&mut s, t1, listening)), [227], "{name}");
        let out = send(&mut s, t1, b"RETR a.txt\r\n");
        let Some(Output::Fs { id, .. }) = out.first() else {
            panic!("{name}: no Fs in {out:?}");
        };
        let stat = Input::Fs {
            id: *id,
            result: Ok(FsReply::Metadata(Metadata::file(1, None))),
        };
        answer(&mut s, t1, stat);

        // Whatever deadlines remain are finite and can be fed; a MAX one is simply absent.
        match s.poll_timeout() {
            Some(at) => {
                assert!(at > t1, "{name}");
                answer(&mut s, at, Input::Timeout);
            }
            None => assert!(
                name == "data_timeout" || name == "idle_timeout",
                "{name}: no deadline at all"
            ),
        }
        assert!(!s.is_closed() || name != "data_timeout", "{name}");
    }
}

#[test]
fn feat_lists_mfmt_only_where_the_storage_can_set_times() {
    for (can, listed) in [(true, true), (false, false)] {
        let (peer, local) = addrs();
        let t0 = origin();
        let config = Config {
            can_set_modified: can,
            ..Config::default()
        };
        let mut s = Session::new(config, peer, local, t0);
        let _ = std::iter::from_fn(|| s.poll_output()).count();
        let out = send(&mut s, t0, b"FEAT\r\n");
        let Some(Output::Reply(reply)) = out.first() else {
            panic!("no reply in {out:?}");
        };
        let text = String::from_utf8_lossy(reply.as_bytes()).into_owned();
        assert_eq!(text.contains(" MFMT\r\n"), listed, "{text}");
        assert!(text.contains(" MDTM\r\n"), "{text}");
    }
}
