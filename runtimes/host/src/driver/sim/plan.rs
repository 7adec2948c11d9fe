//! Drawing a client's plan from the seed.

use fastrand::Rng;

use super::client::{DataFault, Kind, Mode, Op, Transfer};
use super::net::End;

/// Path arguments: plain names, nested ones, and ones that try to climb out of the home.
const NAMES: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "d/e",
    "d/f",
    "d/e/g",
    "secret",
    "../a",
    "/d/../b",
    "..",
    "/",
    "d/../../c",
    "/../../../d/e",
    "./a",
    "d//f",
];

/// Failed logins from one address that ban it.
pub(super) const BAN_AFTER: usize = 3;

/// Bytes of uploads: lowercase, digits and line ends (LF, CR, CRLF, for `TYPE A`), so that no
/// upload spells a home's secret.
fn data(rng: &mut Rng, max: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; rng.usize(0..=max)];
    rng.fill(&mut bytes);
    for byte in &mut bytes {
        *byte = b"abcdefghij0123456789\n\r"[usize::from(*byte) % 22];
    }
    bytes
}

fn name(rng: &mut Rng, others: usize) -> String {
    if rng.u8(..20) == 0 {
        // Another home, by every way there is to name it.
        let other = rng.usize(..others.max(1));
        return match rng.u8(..3) {
            0 => format!("../h{other}/secret"),
            1 => format!("/../../h{other}"),
            _ => format!("../../h{other}/secret"),
        };
    }
    NAMES[rng.usize(..NAMES.len())].to_owned()
}

fn fault(rng: &mut Rng, upload: bool, len: usize) -> DataFault {
    let at = rng.usize(0..=len);
    match rng.u8(..14) {
        4 => DataFault::AborAtOnce,
        5 => DataFault::Quit(at),
        0 => DataFault::Reset(at),
        1 => DataFault::Abor(at),
        2 if upload => DataFault::Stall(at),
        2 => DataFault::StopReading,
        3 => DataFault::NeverConnect,
        _ => DataFault::None,
    }
}

fn simple(rng: &mut Rng, others: usize) -> String {
    let n = name(rng, others);
    match rng.u8(..14) {
        0 => "NOOP".into(),
        1 => "PWD".into(),
        2 => format!("SIZE {n}"),
        3 => format!("MDTM {n}"),
        4 => "SYST".into(),
        5 => "FEAT".into(),
        6 => format!("STAT {n}"),
        7 => "XYZZY plugh".into(),
        8 if rng.bool() => "TYPE I".into(),
        8 => "TYPE A".into(),
        9 => format!("MKD {n}"),
        10 => format!("DELE {n}"),
        11 => format!("RMD {n}"),
        12 if rng.bool() => "HELP".into(),
        12 => format!("HASH {n}"),
        _ => format!("MLST {n}"),
    }
}

fn transfer(rng: &mut Rng, others: usize) -> Transfer {
    let arg = name(rng, others);
    let max = if rng.u8(..16) == 0 { 40_000 } else { 3_000 };
    let (kind, upload, len) = match rng.u8(..8) {
        6 => {
            let d = data(rng, max);
            let len = d.len();
            (Kind::Stou(d), true, len)
        }
        7 => (Kind::Mlsd, false, 300),
        0 | 1 => {
            let d = data(rng, max);
            let len = d.len();
            (Kind::Stor(d), true, len)
        }
        2 => {
            let d = data(rng, max);
            let len = d.len();
            (Kind::Appe(d), true, len)
        }
        3 => (Kind::Retr, false, 3_000),
        4 => (Kind::Nlst, false, 200),
        _ => (Kind::List, false, 200),
    };
    let rest =
        (rng.u8(..6) == 0 && matches!(kind, Kind::Stor(_) | Kind::Retr)).then(|| rng.u64(0..200));
    Transfer {
        kind,
        arg,
        rest,
        mode: match rng.u8(..3) {
            0 => Mode::Pasv,
            1 => Mode::Epsv,
            _ => Mode::Eprt,
        },
        fault: fault(rng, upload, len),
    }
}

/// A client's plan: log in (or fail to), then a run of operations, then an end.
pub(super) fn plan(rng: &mut Rng, user: &str, password: &str, others: usize) -> Vec<Op> {
    let mut ops = Vec::new();
    match rng.u8(..10) {
        // A wrong password first, then the right one.
        0 => {
            ops.push(Op::Lines(vec![format!("USER {user}"), "PASS wrong".into()]));
            ops.push(Op::Lines(vec![
                format!("USER {user}"),
                format!("PASS {password}"),
            ]));
        }
        // Never logged in: every command after is refused.
        1 => ops.push(Op::Lines(vec![format!("USER {user}"), "PASS nope".into()])),
        // Guessing: banned after `BAN_AFTER` wrong passwords, so that the right one is refused
        // (421) and the session closes.
        3 => {
            for _ in 0..rng.usize(BAN_AFTER - 1..BAN_AFTER + 2) {
                ops.push(Op::Lines(vec![format!("USER {user}"), "PASS guess".into()]));
            }
            ops.push(Op::Lines(vec![
                format!("USER {user}"),
                format!("PASS {password}"),
            ]));
        }
        // A hang-up right at the login.
        2 if rng.bool() => {
            ops.push(Op::Lines(vec![format!("USER {user}")]));
            ops.push(Op::End(Some(if rng.bool() {
                End::Fin
            } else {
                End::Reset
            })));
            return ops;
        }
        _ => ops.push(Op::Lines(vec![
            format!("USER {user}"),
            format!("PASS {password}"),
        ])),
    }
    ops.push(Op::Lines(vec!["TYPE I".into()]));
    if rng.u8(..25) == 0 {
        ops.push(Op::Flood(rng.usize(200..1500)));
        return ops;
    }
    for _ in 0..rng.usize(3..25) {
        let n = name(rng, others);
        let op = match rng.u8(..10) {
            // Now and then in the other type first (it stays in force).
            0 => Op::Lines(vec![if rng.bool() { "TYPE A" } else { "TYPE I" }.into()]),
            1..=3 => Op::Transfer(transfer(rng, others)),
            4 if rng.bool() => Op::Lines(vec![
                format!("RNFR {n}"),
                format!("RNTO {}", name(rng, others)),
            ]),
            // A range of a file's bytes, then its digest.
            4 => {
                let first = rng.u64(0..60);
                Op::Lines(vec![
                    format!("RANG {first} {}", first + rng.u64(0..60)),
                    format!("HASH {n}"),
                ])
            }
            5 => Op::Lines(vec![if rng.bool() {
                format!("CWD {n}")
            } else {
                "CDUP".into()
            }]),
            6 => Op::Lines((0..rng.usize(2..6)).map(|_| simple(rng, others)).collect()),
            _ => Op::Lines(vec![simple(rng, others)]),
        };
        ops.push(op);
    }
    ops.push(Op::End(match rng.u8(..10) {
        0 => Some(End::Fin),
        1 => Some(End::Reset),
        _ => None,
    }));
    ops
}
