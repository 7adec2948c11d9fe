//! Who shares a rate, through the running server: a users-file `max_rate` is the user's, shared
//! by all of the user's sessions, while `--max-rate-per-session` stays each session's own; and
//! listings are paced by the same buckets as downloads. Measured like the rates of the `limits`
//! module: over [`WINDOW`](crate::limits::WINDOW) after [`WARM_UP`](crate::limits::WARM_UP), within [`TOLERANCE`].

use std::fs;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::thread;

use crate::ftp::{Client, DataMode};
use crate::limits::{measure_download, rate_over_window, users_file, TOLERANCE};
use crate::server::Server;
use crate::util::TIMEOUT;

/// Runs `measure` until its rate is within [`TOLERANCE`] of `rate` or has been measured twice:
/// above it fails at once (no load makes a transfer faster than its limit); below it is
/// measured once more, since a loaded machine may not keep up (as in the `limits` tests).
fn within(what: &str, rate: f64, measure: impl Fn() -> f64) -> f64 {
    let upper = rate * (1.0 + TOLERANCE);
    let lower = rate * (1.0 - TOLERANCE);
    let mut measured = measure();
    assert!(
        measured <= upper,
        "{what}: {measured:.0} B/s, over {rate:.0}"
    );
    if measured < lower {
        eprintln!("{what}: {measured:.0} B/s, under {rate:.0}; once more");
        measured = measure();
        assert!(
            (lower..=upper).contains(&measured),
            "{what}: {measured:.0} B/s the second time, not within 5% of {rate:.0}"
        );
    }
    eprintln!(
        "{what}: {measured:.0} B/s ({:+.2}%)",
        (measured / rate - 1.0) * 100.0
    );
    measured
}

/// Two sessions of `shared` (`max_rate = "down=10M"`) download at once and get 10 MB/s
/// together, not each; two sessions of `solo` under `--max-rate-per-session down=5M` download
/// beside them and get 5 MB/s each. All four run at once, over one window.
pub fn a_users_rate_is_shared_by_its_sessions(bin: &Path) {
    let (_users_dir, users) = users_file(bin, &[("shared", "pw", "max_rate = \"down=10M\"")]);
    let server = Server::start(
        bin,
        &[
            "--users-file",
            users.to_str().unwrap(),
            "--user",
            "solo:pw",
            "--max-rate-per-session",
            "down=5M",
        ],
    );
    // Sparse: costs no disk.
    let big = fs::File::create(server.path("big")).expect("create big");
    big.set_len(10_000_000 * 20).expect("size big");
    let addr = server.addr();
    let rates = || -> Vec<f64> {
        thread::scope(|s| {
            let runs: Vec<_> = ["shared", "shared", "solo", "solo"]
                .into_iter()
                .map(|user| s.spawn(move || measure_download(addr, user)))
                .collect();
            runs.into_iter()
                .map(|r| r.join().expect("a download"))
                .collect()
        })
    };
    // Over a limit fails at once; under one only if it stays so when measured again (the
    // machine may not keep up: see `limits::check_rates`).
    let mut r = rates();
    for attempt in 0..2 {
        let shared = r[0] + r[1];
        eprintln!("two sessions of one user under max_rate 10M: {shared:.0} B/s together; two under --max-rate-per-session 5M: {:.0} and {:.0} B/s", r[2], r[3]);
        assert!(
            shared <= 10e6 * (1.0 + TOLERANCE),
            "the user's two sessions: {shared:.0} B/s together, over the user's 10 MB/s"
        );
        for solo in &r[2..] {
            assert!(
                *solo <= 5e6 * (1.0 + TOLERANCE),
                "a session over 5 MB/s: {r:?}"
            );
        }
        for one in &r[..2] {
            assert!(
                *one > 10e6 * 0.2,
                "one of the user's sessions starved: {r:?}"
            );
        }
        let under = shared < 10e6 * (1.0 - TOLERANCE)
            || r[2..].iter().any(|solo| *solo < 5e6 * (1.0 - TOLERANCE));
        if !under {
            return;
        }
        assert!(attempt == 0, "under a limit twice: {r:?}");
        eprintln!("under a limit: once more");
        r = rates();
    }
}

/// `LIST` of a big directory for a user with `max_rate = "down=200K"` runs at 200 KB/s, like
/// a download: listings draw on the same buckets.
pub fn listings_are_paced_like_downloads(bin: &Path) {
    let (_users_dir, users) = users_file(bin, &[("lister", "pw", "max_rate = \"down=200K\"")]);
    let server = Server::start(bin, &["--users-file", users.to_str().unwrap()]);
    // 10,000 entries of about 250 bytes each: 2.5 MB, 12.5 s at 200 KB/s.
    let dir = server.path("many");
    fs::create_dir(&dir).unwrap();
    let long = "n".repeat(190);
    for i in 0..10_000 {
        fs::File::create(dir.join(format!("{long}{i:05}"))).unwrap();
    }
    let addr = server.addr();
    within("LIST under max_rate down=200K", 200e3, || {
        measure_listing(addr, "lister", "LIST many")
    });
}

/// The bytes per second of the listing `line` as `user`, over [`WINDOW`](crate::limits::WINDOW) after [`WARM_UP`](crate::limits::WARM_UP);
/// then reads the rest and checks the `226`.
fn measure_listing(addr: SocketAddr, user: &str, line: &str) -> f64 {
    let mut client = Client::login(addr, user, "pw");
    let mut data = client
        .open_transfer(DataMode::Pasv, line)
        .unwrap_or_else(|r| panic!("{line}: {r}"));
    data.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let rate = rate_over_window(&mut data, line);
    let mut rest = Vec::new();
    data.read_to_end(&mut rest)
        .expect("the rest of the listing");
    client.expect_reply(226, line);
    rate
}
