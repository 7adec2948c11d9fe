//! Plays a [`Scenario`] against a `Session` while keeping a model of every request the session
//! has outstanding, so each input is known to be legitimate (it must be accepted), stale or
//! nobody's (either answer is fine) or forged with an id never handed out (it must be refused).
//!
//! Checked on every input and output (a failed check panics, and the fuzzer saves the case):
//! - `handle_input` never panics; a legitimate input is never an error; an id never handed out
//!   for its kind is always `DriveError::NeverIssued`, one handed out but no longer awaited is
//!   `Ok` or `DriveError::Stale` (never `NeverIssued`), a successful answer of the wrong shape
//!   is `DriveError::WrongShape` and still ends its request, anything after `CloseSession` is
//!   `DriveError::Closed`; an input refused with an error (but `WrongShape`), or fed after
//!   `CloseSession`, yields no output.
//! - Every reply is well formed (see [`check_reply`]).
//! - Filesystem requests, listeners, connects and transfers only after a login; every path in
//!   them is the user's home or beneath it; nothing that changes the tree for a read-only user.
//! - Active connects only to the client's own address, on a port from 1024 up; passive
//!   listeners on the control connection's local address; a data connection from another host
//!   is refused and never used.
//! - One filesystem request, one authentication and one transfer outstanding at a time; ids are
//!   never reused; a transfer starts (its file is to be opened) on a connected data channel; no
//!   `1xx` reply while a transfer's file is being opened; its bytes move (`MoveBytes`) only
//!   after the runtime reported it open and a `1xx` reply followed; no `226` while a transfer is
//!   still running; `AbortTransfer` only for a running transfer.
//! - FTPS: `SecureControl` only when TLS is offered, never twice without a handshake report
//!   between; while a handshake runs nothing comes out but `CloseSession` (no reply, no
//!   request: whatever the client sent after `AUTH` is dropped), and right after
//!   `ControlSecured` nothing comes out at all (nothing framed before it runs), but the `220`
//!   in implicit FTPS; a successful `AUTH` logs out; a handshake report nobody asked for is
//!   `DriveError::TlsNotRequested`; `ClearControl` only with `allow_ccc` on a TLS control
//!   connection; with TLS required of everyone, no `Authenticate` on a clear control connection
//!   and every transfer `DataProtection::Private`.
//! - After a timeout fed at a passed deadline, `poll_timeout` is not still due (no busy loop).
//! - `is_closed` agrees with the outputs; output count and size grow at most linearly with the
//!   input.

use core::fmt;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use thinftp::{
    AuthId, AuthResult, DataId, DataProtection, DriveError, FsId, FsOp, FsReply, Input, Output,
    Permissions, Session, TlsInfo, TlsRequirement, TransferId, TransferKind, VirtualPath,
};

use crate::answers::{fitting, forge, op_paths, plausible, shaped, stranger, weight};
use crate::checks::{beneath, check_reply};
use crate::scenario::{
    encode_lines, Action, AuthAnswer, DataPeer, DataSetup, Flavor, FsAnswer, Jump, Line,
    PassiveAnswer, Scenario, Setup, TlsSetup,
};

/// Most actions played per case: keeps every iteration cheap.
const MAX_ACTIONS: usize = 256;
/// Answers remembered for [`Action::Replay`].
const REPLAY_WINDOW: usize = 16;

/// What the driver expects of `handle_input` for one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A legitimate input: must be `Ok`, and the model follows it.
    Accept,
    /// A fitting id with a reply of the wrong kind: must be `WrongShape`, and the request is
    /// answered.
    WrongShape,
    /// Issued for this kind, no longer awaited: `Ok` or `Stale`, and nothing changes.
    Stale,
    /// After the session closed: must be `Closed`.
    Closed,
    /// Nothing the model can tell (no such input yet): `Ok` or any error.
    Ignore,
    /// A handshake report with no `SecureControl` waiting: must be `TlsNotRequested`.
    NotRequested,
    /// An id never handed out for this kind: must be `NeverIssued`. `old` when it went out for
    /// another kind longer ago than the session remembers kinds: `Stale` will do too.
    Refuse { old: bool },
}

/// The state of one data channel, as the runtime would see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Data {
    PassivePending,
    Listening,
    ConnectPending(SocketAddr),
    /// Connected; `stranger` when from another host (it must be refused, never used).
    Connected {
        passive: bool,
        stranger: bool,
    },
}

/// Plays one scenario. Panics (with what the session received) when the session breaks a rule.
pub fn run(scenario: Scenario) {
    let mut driver = Driver::new(&scenario.setup);
    driver.drain(&"the greeting of Session::new", false);
    assert_eq!(
        driver.securing,
        driver.tls.is_some_and(|t| t.implicit),
        "an implicit FTPS session starts with SecureControl (and only it)"
    );
    for action in scenario.actions.into_iter().take(MAX_ACTIONS) {
        if driver.closed && driver.after_close > 0 {
            break;
        }
        driver.act(action);
    }
}

/// Whether to print every input and output to stderr (`THINFTP_FUZZ_TRACE=1`), to read what
/// a crashing case did: run the target binary on the artifact with it set.
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("THINFTP_FUZZ_TRACE").is_some_and(|v| v == "1"))
}

struct Driver {
    session: Session,
    now: Instant,
    peer: SocketAddr,
    local: SocketAddr,
    home: VirtualPath,
    /// The permissions of the logged-in user, as far as the driver can tell.
    login: Option<Permissions>,
    greeted: bool,
    closed: bool,
    after_close: u32,
    eof_sent: bool,
    /// `Input::Shutdown` was fed: no new work may start, and the session closes once no
    /// transfer runs.
    shutdown: bool,
    /// The FTPS setup, if TLS is offered.
    tls: Option<TlsSetup>,
    /// `SecureControl` came, no handshake was reported yet.
    securing: bool,
    /// The control connection is TLS now.
    control_secured: bool,
    /// `ControlSecured` was just fed and accepted: what may come out right after it.
    just_secured: bool,
    fs: BTreeMap<u64, FsOp>,
    auth: BTreeSet<u64>,
    data: BTreeMap<u64, Data>,
    transfers: BTreeSet<u64>,
    /// Transfers started whose file the runtime has not reported open yet.
    opening: BTreeSet<u64>,
    /// Transfers reported open, waiting for `MoveBytes`.
    opened: BTreeSet<u64>,
    /// Ids handed out, per kind: fs, auth, data, transfer.
    issued: [HashSet<u64>; 4],
    /// The newest id handed out, of any kind.
    newest: u64,
    /// A `1xx` reply came since the last `TransferOpened`.
    preliminary: bool,
    /// Paths the runtime itself named (`FsReply::Created`), allowed in transfers.
    runtime_paths: Vec<VirtualPath>,
    history: Vec<Input>,
    /// For the output budget.
    inputs: u64,
    lines: u64,
    outputs: u64,
    bytes_in: u64,
}

const FS: usize = 0;
const AUTH: usize = 1;
const DATA: usize = 2;
const XFER: usize = 3;

impl Driver {
    fn new(setup: &Setup) -> Self {
        let (peer, local) = setup.addresses();
        let config = setup.config();
        // The fuzz crate is not the core: a real clock is fine for the starting point.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let implicit = setup.tls.is_some_and(|t| t.implicit);
        Self {
            session: if implicit {
                Session::new_implicit_tls(config, peer, local, now)
            } else {
                Session::new(config, peer, local, now)
            },
            now,
            peer,
            local,
            home: setup.home.path(),
            login: None,
            greeted: false,
            closed: false,
            after_close: 0,
            eof_sent: false,
            shutdown: false,
            tls: setup.tls,
            securing: false,
            control_secured: false,
            just_secured: false,
            fs: BTreeMap::new(),
            auth: BTreeSet::new(),
            data: BTreeMap::new(),
            transfers: BTreeSet::new(),
            opening: BTreeSet::new(),
            opened: BTreeSet::new(),
            issued: Default::default(),
            newest: 0,
            preliminary: false,
            runtime_paths: Vec::new(),
            history: Vec::new(),
            inputs: 0,
            lines: 0,
            outputs: 0,
            bytes_in: 0,
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Lines(lines) => self.control(encode_lines(&lines)),
            Action::Split { lines, at } => {
                let wire = encode_lines(&lines);
                let at = usize::from(at) % (wire.len() + 1);
                let (a, b) = wire.split_at(at);
                self.control(a.to_vec());
                self.control(b.to_vec());
            }
            Action::Raw(wire) => self.control(wire.0),
            Action::Long { len, byte, end } => {
                let mut wire = vec![byte; usize::from(len)];
                end.encode(&mut wire);
                self.control(wire);
            }
            Action::Eof => {
                if !self.eof_sent {
                    self.feed(Input::ControlEof);
                }
            }
            Action::Timeout(jump) => self.timeout(jump),
            Action::Login { write } => {
                self.control(b"USER u\r\nPASS p\r\n".to_vec());
                if let Some(&id) = self.auth.iter().next() {
                    let permissions = Permissions::new(self.home.clone(), write);
                    let result = AuthResult::Accepted(permissions);
                    self.feed(Input::Auth {
                        id: AuthId::from_raw(id),
                        result,
                    });
                }
            }
            Action::Pump(flavor) => self.pump(flavor),
            Action::Command {
                setup,
                lines,
                flavor,
            } => self.command(setup, &lines, flavor),
            Action::Fs { pick, answer } => {
                let Some((&id, op)) = nth(&self.fs, pick) else {
                    return;
                };
                let result = match answer {
                    FsAnswer::Fitting {
                        metadata,
                        listing,
                        name,
                    } => Ok(fitting(op, metadata, listing, &name)),
                    FsAnswer::Error(e) => Err(e),
                    FsAnswer::Any(result) => result,
                };
                self.feed(Input::Fs {
                    id: FsId::from_raw(id),
                    result,
                });
            }
            Action::Auth { pick, answer } => {
                let Some(&id) = self
                    .auth
                    .iter()
                    .nth(usize::from(pick) % self.auth.len().max(1))
                else {
                    return;
                };
                let result = match answer {
                    AuthAnswer::Accept { write } => {
                        AuthResult::Accepted(Permissions::new(self.home.clone(), write))
                    }
                    AuthAnswer::AcceptHome { home, write } => {
                        AuthResult::Accepted(Permissions::new(home, write))
                    }
                    AuthAnswer::Refuse => AuthResult::Refused,
                };
                self.feed(Input::Auth {
                    id: AuthId::from_raw(id),
                    result,
                });
            }
            Action::Passive { pick, answer } => {
                let Some(id) = self.pick_data(pick, |d| d == Data::PassivePending) else {
                    return;
                };
                let id = DataId::from_raw(id);
                let input = match answer {
                    PassiveAnswer::Listening(port) => Input::PassiveListening {
                        id,
                        addr: SocketAddr::new(self.local.ip(), port),
                    },
                    PassiveAnswer::ListeningElsewhere { v4, port } => {
                        let ip = match v4 {
                            Some(a) => IpAddr::from(a),
                            None => IpAddr::from(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 7)),
                        };
                        Input::PassiveListening {
                            id,
                            addr: SocketAddr::new(ip, port),
                        }
                    }
                    PassiveAnswer::Failed => Input::PassiveFailed { id },
                };
                self.feed(input);
            }
            Action::DataConnected { pick, from } => {
                let Some(id) = self.pick_data(pick, |d| {
                    matches!(d, Data::Listening | Data::ConnectPending(_))
                }) else {
                    return;
                };
                let peer = match (self.data.get(&id), from) {
                    (Some(Data::ConnectPending(addr)), _) => *addr,
                    (_, DataPeer::Client(port)) => SocketAddr::new(self.peer.ip(), port),
                    (_, DataPeer::Stranger(n)) => {
                        SocketAddr::new(stranger(self.peer.ip(), n), 40000)
                    }
                };
                self.feed(Input::DataConnected {
                    id: DataId::from_raw(id),
                    peer,
                });
            }
            Action::ConnectFailed { pick } => {
                let pending = |d| matches!(d, Data::ConnectPending(_));
                if let Some(id) = self.pick_data(pick, pending) {
                    self.feed(Input::ConnectFailed {
                        id: DataId::from_raw(id),
                    });
                }
            }
            Action::TransferOpened { pick } => {
                let n = usize::from(pick) % self.opening.len().max(1);
                if let Some(&id) = self.opening.iter().nth(n) {
                    self.feed(Input::TransferOpened {
                        id: TransferId::from_raw(id),
                    });
                }
            }
            Action::TransferDone { pick, result } => {
                let n = usize::from(pick) % self.transfers.len().max(1);
                if let Some(&id) = self.transfers.iter().nth(n) {
                    self.feed(Input::TransferDone {
                        id: TransferId::from_raw(id),
                        result,
                    });
                }
            }
            Action::Forged(forged) => self.feed(forge(forged, self.peer)),
            Action::Replay { pick } => {
                let n = self.history.len();
                if n > 0 {
                    let input = self.history[usize::from(pick) % n].clone();
                    self.feed(input);
                }
            }
            Action::Shutdown => self.feed(Input::Shutdown),
            Action::Handshake { ok } => self.feed(if ok {
                secured()
            } else {
                Input::ControlTlsFailed
            }),
            Action::Secure {
                injected,
                private,
                flavor,
            } => {
                let mut wire = b"AUTH TLS\r\n".to_vec();
                wire.extend(encode_lines(&injected));
                self.control(wire);
                self.pump(flavor);
                let prot: &[u8] = if private {
                    b"PBSZ 0\r\nPROT P\r\n"
                } else {
                    b"PBSZ 0\r\nPROT C\r\n"
                };
                self.control(prot.to_vec());
                self.pump(flavor);
            }
        }
    }

    /// Feeds control bytes, unless the client already closed the connection.
    fn control(&mut self, wire: Vec<u8>) {
        if self.eof_sent || wire.is_empty() {
            return;
        }
        self.feed(Input::ControlBytes(Bytes::from(wire)));
    }

    fn timeout(&mut self, jump: Jump) {
        let deadline = self.session.poll_timeout();
        let target = match (jump, deadline) {
            (Jump::None, _) => self.now,
            (Jump::ToDeadline, Some(d)) => d,
            (Jump::PastDeadline(s), Some(d)) => d + Duration::from_secs(u64::from(s)),
            (Jump::ToDeadline | Jump::PastDeadline(_), None) => self.now,
            (Jump::Millis(ms), _) => self.now + Duration::from_millis(u64::from(ms)),
            (Jump::Secs(s), _) => self.now + Duration::from_secs(u64::from(s)),
        };
        self.now = self.now.max(target);
        self.feed(Input::Timeout);
        if !self.closed {
            if let Some(next) = self.session.poll_timeout() {
                // A deadline still due right after its timeout would make a runtime spin.
                assert!(
                    deadline.is_none_or(|d| d > self.now) || next > self.now,
                    "after Timeout at a passed deadline, poll_timeout() is still due: {next:?} <= now {:?}",
                    self.now
                );
            }
        }
    }

    /// Plays a well-behaved runtime until the session waits for nothing it could answer (at
    /// most a few rounds): answers every outstanding request plausibly.
    fn pump(&mut self, flavor: Flavor) {
        for _ in 0..8 {
            let answers = self.plausible_answers(flavor);
            let mut fed = false;
            for input in answers {
                // An earlier answer may have settled this one (e.g. a listener closed meanwhile).
                if self.closed || self.classify(&input) != Expect::Accept {
                    continue;
                }
                self.feed(input);
                fed = true;
            }
            if !fed {
                break;
            }
        }
    }

    fn plausible_answers(&self, flavor: Flavor) -> Vec<Input> {
        let mut answers = Vec::new();
        for &id in &self.auth {
            let home = self.home.clone();
            let result = AuthResult::Accepted(Permissions::new(home, flavor.write));
            answers.push(Input::Auth {
                id: AuthId::from_raw(id),
                result,
            });
        }
        for (&id, op) in &self.fs {
            let result = plausible(op, flavor);
            answers.push(Input::Fs {
                id: FsId::from_raw(id),
                result,
            });
        }
        for (&raw, &state) in &self.data {
            let id = DataId::from_raw(raw);
            answers.push(match state {
                Data::PassivePending => {
                    let addr = SocketAddr::new(self.local.ip(), 40001);
                    Input::PassiveListening { id, addr }
                }
                Data::Listening => {
                    let peer = SocketAddr::new(self.peer.ip(), 40002);
                    Input::DataConnected { id, peer }
                }
                Data::ConnectPending(peer) => Input::DataConnected { id, peer },
                Data::Connected { .. } => continue,
            });
        }
        if self.securing {
            answers.push(secured());
        }
        for &id in &self.opening {
            answers.push(Input::TransferOpened {
                id: TransferId::from_raw(id),
            });
        }
        if flavor.finish_transfers {
            // Those whose bytes move: the others are opened first.
            for &id in self.transfers.difference(&self.opening) {
                let result = Ok(u64::from(flavor.size));
                answers.push(Input::TransferDone {
                    id: TransferId::from_raw(id),
                    result,
                });
            }
        }
        answers
    }

    /// Sets up a data channel the way `setup` says, then sends `lines`, pumping after each.
    fn command(&mut self, setup: DataSetup, lines: &[Line], flavor: Flavor) {
        let port = 2000 + flavor.size % 1000;
        let ip = self.peer.ip();
        let setup_line = match (setup, ip) {
            (DataSetup::None, _) => None,
            (DataSetup::Pasv, _) => Some("PASV".to_owned()),
            (DataSetup::Epsv, _) => Some("EPSV".to_owned()),
            (DataSetup::Port, IpAddr::V4(v4)) => {
                let [a, b, c, d] = v4.octets();
                Some(format!(
                    "PORT {a},{b},{c},{d},{},{}",
                    port >> 8,
                    port & 0xff
                ))
            }
            (DataSetup::Port, IpAddr::V6(v6)) => Some(format!("EPRT |2|{v6}|{port}|")),
            (DataSetup::Eprt, IpAddr::V4(v4)) => Some(format!("EPRT |1|{v4}|{port}|")),
            (DataSetup::Eprt, IpAddr::V6(v6)) => Some(format!("EPRT |2|{v6}|{port}|")),
        };
        if let Some(setup_line) = setup_line {
            self.control(format!("{setup_line}\r\n").into_bytes());
            self.pump(flavor);
        }
        self.control(encode_lines(lines));
        self.pump(flavor);
    }

    fn pick_data(&self, pick: u8, want: impl Fn(Data) -> bool) -> Option<u64> {
        let ids: Vec<u64> = self
            .data
            .iter()
            .filter(|(_, d)| want(**d))
            .map(|(id, _)| *id)
            .collect();
        ids.get(usize::from(pick) % ids.len().max(1)).copied()
    }

    fn classify(&self, input: &Input) -> Expect {
        if self.closed {
            return Expect::Closed;
        }
        let known = |kind: usize, raw: u64| {
            if self.issued[kind].contains(&raw) {
                Expect::Stale
            } else {
                let elsewhere = (0..4).any(|k| self.issued[k].contains(&raw));
                let old = elsewhere && self.newest - raw >= thinftp::ID_KIND_WINDOW;
                Expect::Refuse { old }
            }
        };
        let data = |id: DataId| self.data.get(&id.raw()).copied();
        match input {
            Input::ControlBytes(_) | Input::ControlEof | Input::Timeout | Input::Shutdown => {
                Expect::Accept
            }
            Input::ControlSecured(_) | Input::ControlTlsFailed if self.securing => Expect::Accept,
            Input::ControlSecured(_) | Input::ControlTlsFailed => Expect::NotRequested,
            Input::Fs { id, result } => match self.fs.get(&id.raw()) {
                Some(op) if shaped(op, result) => Expect::Accept,
                Some(_) => Expect::WrongShape,
                None => known(FS, id.raw()),
            },
            Input::Auth { id, .. } if self.auth.contains(&id.raw()) => Expect::Accept,
            Input::Auth { id, .. } => known(AUTH, id.raw()),
            Input::PassiveListening { id, .. } | Input::PassiveFailed { id }
                if data(*id) == Some(Data::PassivePending) =>
            {
                Expect::Accept
            }
            Input::DataConnected { id, .. }
                if matches!(data(*id), Some(Data::Listening | Data::ConnectPending(_))) =>
            {
                Expect::Accept
            }
            Input::ConnectFailed { id } if matches!(data(*id), Some(Data::ConnectPending(_))) => {
                Expect::Accept
            }
            Input::PassiveListening { id, .. }
            | Input::PassiveFailed { id }
            | Input::DataConnected { id, .. }
            | Input::ConnectFailed { id } => known(DATA, id.raw()),
            Input::TransferOpened { id } if self.opening.contains(&id.raw()) => Expect::Accept,
            Input::TransferOpened { id } => known(XFER, id.raw()),
            Input::TransferDone { id, .. } if self.transfers.contains(&id.raw()) => Expect::Accept,
            Input::TransferDone { id, .. } => known(XFER, id.raw()),
            _ => Expect::Ignore,
        }
    }

    fn feed(&mut self, input: Input) {
        let expect = self.classify(&input);
        self.inputs += 1;
        self.bytes_in += weight(&input);
        if let Input::ControlBytes(b) = &input {
            self.lines += 1 + b.iter().filter(|&&c| c == b'\n' || c == b'\r').count() as u64;
        }
        if trace() {
            eprintln!("<- {input:?}");
        }
        let result = self.session.handle_input(self.now, input.clone());
        if trace() {
            eprintln!("   = {result:?}");
        }
        match (&result, expect) {
            (Err(e), Expect::Accept) => {
                panic!("a legitimate input was refused with {e:?}: {input:?}")
            }
            (Ok(()), Expect::Refuse { .. }) => {
                panic!("an answer with an id never handed out was accepted: {input:?}")
            }
            (Err(DriveError::NeverIssued { .. }), Expect::Refuse { .. }) => {}
            (Err(DriveError::Stale { .. }), Expect::Refuse { old: true }) => {}
            (Err(e), Expect::Refuse { .. }) => {
                panic!("an id never handed out for its kind got {e:?}, not NeverIssued: {input:?}")
            }
            (Ok(()) | Err(DriveError::Stale { .. }), Expect::Stale) => {}
            (Err(e), Expect::Stale) => {
                panic!("a stale answer got {e:?}, not Stale: {input:?}")
            }
            (Err(DriveError::WrongShape { .. }), Expect::WrongShape) => {}
            (_, Expect::WrongShape) => {
                panic!("a wrong-shaped answer got {result:?}, not WrongShape: {input:?}")
            }
            (Err(DriveError::TlsNotRequested), Expect::NotRequested) => {}
            (_, Expect::NotRequested) => {
                panic!("a handshake report nobody asked for got {result:?}, not TlsNotRequested")
            }
            (Err(DriveError::Closed), Expect::Closed) => {}
            (_, Expect::Closed) => {
                panic!("an input after CloseSession got {result:?}, not Closed: {input:?}")
            }
            (Err(e @ DriveError::WrongShape { .. }), _) => {
                panic!("WrongShape ({e:?}) for an answer of the right shape: {input:?}")
            }
            _ => {}
        }
        let taken = matches!(result, Ok(()) | Err(DriveError::WrongShape { .. }));
        let applies = taken && matches!(expect, Expect::Accept | Expect::WrongShape);
        let mut stranger = None;
        if applies {
            stranger = self.apply(&input);
            if !matches!(
                input,
                Input::ControlBytes(_) | Input::ControlEof | Input::Timeout | Input::Shutdown
            ) {
                if self.history.len() == REPLAY_WINDOW {
                    self.history.remove(0);
                }
                self.history.push(input.clone());
            }
        }
        // An error leaves the session unchanged, and nothing comes out after CloseSession.
        let silent = !taken || self.closed;
        self.just_secured = applies && matches!(input, Input::ControlSecured(_));
        if self.closed {
            self.after_close += 1;
        }
        self.drain(&input, silent);
        if let Some(id) = stranger {
            let state = self.data.get(&id).copied();
            assert!(
                matches!(state, None | Some(Data::Listening)),
                "a data connection from another host ({input:?}) was kept: {state:?}, not refused"
            );
        }
    }

    /// Follows a legitimate input in the model. Returns the listener id when a stranger
    /// connected to it.
    fn apply(&mut self, input: &Input) -> Option<u64> {
        match input {
            Input::ControlEof => self.eof_sent = true,
            Input::Shutdown => self.shutdown = true,
            Input::ControlSecured(_) => {
                self.securing = false;
                self.control_secured = true;
            }
            Input::ControlTlsFailed => self.securing = false,
            Input::Fs { id, result } => {
                self.fs.remove(&id.raw());
                if let Ok(FsReply::Created(path)) = result {
                    // The runtime named it: trusted like the runtime itself.
                    self.runtime_paths.push(path.clone());
                }
            }
            Input::Auth { id, result } => {
                self.auth.remove(&id.raw());
                if let AuthResult::Accepted(permissions) = result {
                    self.login = Some(permissions.clone());
                }
            }
            Input::PassiveListening { id, .. } => {
                self.data.insert(id.raw(), Data::Listening);
            }
            Input::PassiveFailed { id } | Input::ConnectFailed { id } => {
                self.data.remove(&id.raw());
            }
            Input::DataConnected { id, peer } => {
                let passive = self.data.get(&id.raw()) == Some(&Data::Listening);
                let stranger = peer.ip() != self.peer.ip();
                self.data
                    .insert(id.raw(), Data::Connected { passive, stranger });
                if stranger {
                    return Some(id.raw());
                }
            }
            Input::TransferOpened { id } => {
                self.opening.remove(&id.raw());
                self.opened.insert(id.raw());
            }
            Input::TransferDone { id, .. } => {
                self.transfers.remove(&id.raw());
                self.opening.remove(&id.raw());
                self.opened.remove(&id.raw());
            }
            _ => {}
        }
        None
    }

    /// Drains the outputs, checking each against the session's obligations.
    fn drain(&mut self, input: &dyn fmt::Debug, silent: bool) {
        let mut reply_bytes = 0u64;
        while let Some(output) = self.session.poll_output() {
            assert!(
                !silent,
                "output {output:?} after {input:?}, which was refused or came after CloseSession"
            );
            assert!(!self.closed, "output {output:?} after CloseSession");
            self.outputs += 1;
            if trace() {
                eprintln!("-> {output:?}");
            }
            let budget = 16 * (self.inputs + 1) + 8 * self.lines;
            assert!(
                self.outputs <= budget,
                "more than {budget} outputs so far, the last after {input:?}"
            );
            if let Output::Reply(reply) = &output {
                reply_bytes += reply.as_bytes().len() as u64;
            }
            self.check_output(output, input);
        }
        // A generous bound: what the session may echo grows with all it was ever given.
        let limit = 64 * 1024 + 8 * self.bytes_in;
        assert!(
            reply_bytes <= limit,
            "{reply_bytes} reply bytes after {input:?} (limit {limit})"
        );
        assert_eq!(
            self.session.is_closed(),
            self.closed,
            "is_closed() disagrees with the outputs"
        );
        // Shutting down waits for nothing but the running transfer's end.
        assert!(
            !self.shutdown || self.closed || !self.transfers.is_empty(),
            "still open after Shutdown with no transfer running, after {input:?}"
        );
    }

    fn check_output(&mut self, output: Output, input: &dyn fmt::Debug) {
        if self.securing {
            // The handshake runs: no reply, no request; only a deadline, EOF or shutdown may
            // end the session.
            assert!(
                matches!(output, Output::CloseSession),
                "{output:?} while the control connection's handshake runs, after {input:?}"
            );
        }
        if self.just_secured {
            // Nothing the client sent before the handshake runs after it: the implicit
            // greeting is all that may come.
            let implicit = self.tls.is_some_and(|t| t.implicit);
            let greeting = matches!(&output, Output::Reply(r) if r.code() == 220);
            assert!(
                implicit && greeting && !self.greeted,
                "{output:?} right after ControlSecured: a line from before the handshake ran?"
            );
        }
        if self.shutdown {
            // Nothing new starts once the server shuts down.
            let starts = match &output {
                Output::Reply(reply) => reply.code() < 200,
                Output::Fs { .. }
                | Output::Authenticate { .. }
                | Output::OpenPassive { .. }
                | Output::Connect { .. }
                | Output::StartTransfer { .. }
                | Output::MoveBytes { .. } => true,
                _ => false,
            };
            assert!(!starts, "{output:?} after Shutdown, after {input:?}");
        }
        match output {
            Output::Reply(reply) => {
                if let Err(why) = check_reply(&reply) {
                    panic!("malformed reply {reply:?} after {input:?}: {why}");
                }
                match reply.code() {
                    100..=199 if !self.opening.is_empty() => panic!(
                        "{reply:?} while transfer {:?} is being opened, after {input:?}",
                        self.opening
                    ),
                    100..=199 => self.preliminary = true,
                    220 if self.greeted => self.login = None, // REIN
                    220 => self.greeted = true,
                    226 if !self.transfers.is_empty() => panic!(
                        "226 while transfer {:?} is still running, after {input:?}",
                        self.transfers
                    ),
                    _ => {}
                }
            }
            Output::Fs { id, op } => {
                self.issue(FS, id.raw());
                assert!(
                    self.fs.is_empty(),
                    "Fs {op:?} while {:?} is outstanding",
                    self.fs
                );
                let Some(login) = &self.login else {
                    panic!("Fs {op:?} while nobody is logged in, after {input:?}");
                };
                for path in op_paths(&op) {
                    assert!(
                        beneath(path, &login.home),
                        "Fs {op:?} leaves the home {:?}, after {input:?}",
                        login.home
                    );
                }
                // Reading requests (a digest and the free space too) are anyone's; everything
                // else changes something and needs write access.
                let mutates = !matches!(
                    op,
                    FsOp::Stat(_)
                        | FsOp::ListDir(_)
                        | FsOp::ListDirFirst { .. }
                        | FsOp::ListNames(_)
                        | FsOp::Hash { .. }
                        | FsOp::FreeSpace(_)
                );
                assert!(
                    !mutates || login.write,
                    "Fs {op:?} for a read-only user, after {input:?}"
                );
                self.fs.insert(id.raw(), op);
            }
            Output::Authenticate { id, .. } => {
                self.issue(AUTH, id.raw());
                assert!(
                    self.control_secured || !self.everyone(|t| t.control),
                    "Authenticate on a clear control connection, TLS required of everyone"
                );
                assert!(self.auth.is_empty(), "two authentications outstanding");
                self.auth.insert(id.raw());
            }
            Output::OpenPassive { id, ip } => {
                self.issue(DATA, id.raw());
                assert!(
                    self.login.is_some(),
                    "OpenPassive before login, after {input:?}"
                );
                assert_eq!(
                    ip,
                    self.local.ip(),
                    "OpenPassive on an address not the control connection's"
                );
                self.data.insert(id.raw(), Data::PassivePending);
            }
            Output::Connect { id, addr } => {
                self.issue(DATA, id.raw());
                assert!(
                    self.login.is_some(),
                    "Connect before login, after {input:?}"
                );
                assert!(
                    addr.ip() == self.peer.ip() && addr.port() >= 1024,
                    "Connect to {addr}: not the client's address or a privileged port, after {input:?}"
                );
                self.data.insert(id.raw(), Data::ConnectPending(addr));
            }
            Output::RefuseDataConnection { id } => {
                let state = self.data.get(&id.raw()).copied();
                assert!(
                    matches!(state, Some(Data::Connected { passive: true, .. })),
                    "RefuseDataConnection for {id:?} in state {state:?}"
                );
                self.data.insert(id.raw(), Data::Listening);
            }
            Output::CloseData { id } => {
                self.data.remove(&id.raw());
            }
            Output::StartTransfer {
                id,
                data,
                kind,
                protection,
            } => {
                assert!(
                    protection == DataProtection::Private || !self.everyone(|t| t.data),
                    "a PROT C transfer, data protection required of everyone, after {input:?}"
                );
                assert!(
                    protection == DataProtection::Clear || self.tls.is_some(),
                    "a PROT P transfer without TLS offered"
                );
                self.start_transfer(id, data, kind, input)
            }
            Output::MoveBytes { id } => {
                assert!(
                    self.opened.remove(&id.raw()),
                    "MoveBytes of {id:?}, not reported open, after {input:?}"
                );
                assert!(
                    self.preliminary,
                    "MoveBytes of {id:?} without a 1xx reply since it opened"
                );
                self.preliminary = false;
            }
            Output::AbortTransfer { id } => {
                assert!(
                    self.transfers.contains(&id.raw()),
                    "AbortTransfer of {id:?}, not running"
                );
            }
            Output::CloseSession => self.closed = true,
            Output::SecureControl => {
                assert!(
                    self.tls.is_some(),
                    "SecureControl without TLS offered, after {input:?}"
                );
                assert!(!self.securing, "SecureControl twice, after {input:?}");
                assert!(
                    !self.control_secured,
                    "SecureControl on a TLS control connection, after {input:?}"
                );
                self.securing = true;
                // AUTH logs out: nothing may be asked for the old login until a new one.
                self.login = None;
            }
            Output::ClearControl => {
                assert!(
                    self.tls.is_some_and(|t| t.allow_ccc) && self.control_secured,
                    "ClearControl without allow_ccc or on a clear connection, after {input:?}"
                );
                self.control_secured = false;
            }
            // A new kind of output: the harness does not model it yet.
            _ => {}
        }
    }

    fn start_transfer(
        &mut self,
        id: TransferId,
        data: DataId,
        kind: TransferKind,
        input: &dyn fmt::Debug,
    ) {
        self.issue(XFER, id.raw());
        assert!(
            self.transfers.is_empty(),
            "two transfers at once: {:?} and {id:?}",
            self.transfers
        );
        let state = self.data.remove(&data.raw());
        assert!(
            matches!(
                state,
                Some(Data::Connected {
                    stranger: false,
                    ..
                })
            ),
            "StartTransfer on {data:?} in state {state:?}, after {input:?}"
        );
        self.preliminary = false;
        let login = self
            .login
            .as_ref()
            .expect("a transfer while nobody is logged in");
        match &kind {
            TransferKind::SendFile { path, .. }
            | TransferKind::ReceiveFile { path, .. }
            | TransferKind::SendListing { path, .. } => {
                assert!(
                    beneath(path, &login.home) || self.runtime_paths.contains(path),
                    "transfer {kind:?} leaves the home {:?}",
                    login.home
                );
                if matches!(kind, TransferKind::ReceiveFile { .. }) {
                    assert!(login.write, "upload {kind:?} for a read-only user");
                }
            }
            TransferKind::SendBytes(bytes) => {
                let limit = 64 * 1024 + 8 * self.bytes_in;
                assert!(
                    bytes.len() as u64 <= limit,
                    "a listing of {} bytes",
                    bytes.len()
                );
            }
            _ => {}
        }
        self.transfers.insert(id.raw());
        self.opening.insert(id.raw());
    }

    /// Whether the policy requirement `which` applies to every name (no override).
    fn everyone(&self, which: impl Fn(&TlsSetup) -> TlsRequirement) -> bool {
        self.tls
            .is_some_and(|t| which(&t) == TlsRequirement::Everyone && t.override_u.is_none())
    }

    fn issue(&mut self, kind: usize, raw: u64) {
        assert!(self.issued[kind].insert(raw), "id {raw} handed out twice");
        self.newest = self.newest.max(raw);
    }
}

fn nth(map: &BTreeMap<u64, FsOp>, pick: u8) -> Option<(&u64, &FsOp)> {
    map.iter().nth(usize::from(pick) % map.len().max(1))
}

/// A successful control-connection handshake, as a runtime would report it.
fn secured() -> Input {
    Input::ControlSecured(Box::new(
        TlsInfo::new("TLSv1.3", "TLS13_AES_128_GCM_SHA256").with_alpn(*b"ftp"),
    ))
}
