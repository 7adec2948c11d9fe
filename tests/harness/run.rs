//! Drives a [`Session`] through a script with no sockets: a fake clock, the in-memory tree, and a
//! fake runtime that answers requests at once unless the script holds or fails them. Every event
//! goes into the transcript, in order.
//!
//! Transcript notation (each line starts with the fake time):
//! - `C> "..."` bytes the client wrote on the control connection; `S< "..."` one reply line.
//! - `-> ...` an output of the session (a request for work); `<- ...` an input fed to it.
//! - `D> "..."` bytes a transfer sends to the client; `D< "..."` bytes the client uploads.
//! - `~ ...` a script step that is not client bytes; `=> ...` what a forged answer returned.
//! - `!! ...` something that must not happen (a core bug): the test fails on any of them.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use thinftp::ascii::{AsciiDecoder, AsciiEncoder};
use thinftp::{
    AuthId, AuthResult, DataId, DataProtection, DriveError, FsError, FsId, FsOp, FsReply, Input,
    Metadata, Output, Permissions, Session, TlsInfo, TransferError, TransferId, TransferKind,
    VirtualPath, WriteMode,
};

use super::memfs::MemFs;
use super::script::{Ending, Forge, ForgeId, ReqKind, Script, Step, User};
use super::text::{check_reply, lines, offset, quote, show_time};

/// Most outputs one input may produce before the harness calls it a flood (a core loop bug).
const OUTPUT_LIMIT: usize = 10_000;

/// A request the script holds back until `release`.
enum Held {
    Fs(FsId, FsOp),
    Auth(AuthId, String, String),
    Passive(DataId, IpAddr),
    /// Opening the file of this transfer.
    Open(TransferId),
}

/// A transfer the fake runtime is running.
struct Transfer {
    id: TransferId,
    data: DataId,
    kind: TransferKind,
    /// For a download: what the runtime would send, or why it cannot open the file.
    source: Result<Vec<u8>, FsError>,
    /// For an upload: what the client sent so far, as on the wire.
    received: Vec<u8>,
    decoder: AsciiDecoder,
    stored: Vec<u8>,
    /// `MoveBytes` came: the bytes move.
    moving: bool,
    protection: DataProtection,
}

pub struct Runner {
    session: Session,
    base: Instant,
    elapsed: Duration,
    wallclock: i64,
    fs: MemFs,
    initial: MemFs,
    users: Vec<User>,
    peer: SocketAddr,
    log: Vec<String>,
    /// Count of `!!` lines.
    pub anomalies: usize,
    closed: bool,
    hold_next: Vec<ReqKind>,
    held: Vec<Held>,
    fail_fs: VecDeque<FsError>,
    fail_open: VecDeque<FsError>,
    fail_passive: usize,
    fail_auth: usize,
    /// `misanswer fs` steps not yet used, and the id of the answer given the wrong shape.
    misanswer_fs: usize,
    misanswered: Option<FsId>,
    listeners: BTreeMap<DataId, SocketAddr>,
    connecting: BTreeMap<DataId, SocketAddr>,
    /// Data connections, with the listener they came from (restored on a refusal).
    connected: BTreeMap<DataId, Option<SocketAddr>>,
    transfers: VecDeque<Transfer>,
    last_fs: u64,
    last_auth: u64,
    last_data: u64,
    last_xfer: u64,
    next_listen_port: u16,
    next_client_port: u16,
    /// `SecureControl` came and no handshake was reported yet: no reply may go out.
    securing: bool,
}

impl Runner {
    pub fn new(script: &Script) -> Result<Self, String> {
        let setup = &script.setup;
        let mut fs = MemFs::new(&setup.tree)?;
        fs.single_entry = setup.single_entry;
        // Any instant will do as the fake clock's zero: only offsets from it are ever shown.
        #[allow(clippy::disallowed_methods)]
        let base = Instant::now();
        let mut runner = Self {
            session: if setup.implicit {
                Session::new_implicit_tls(setup.config.clone(), setup.peer, setup.local, base)
            } else {
                Session::new(setup.config.clone(), setup.peer, setup.local, base)
            },
            base,
            elapsed: Duration::ZERO,
            wallclock: setup.wallclock,
            initial: fs.clone(),
            fs,
            users: setup.users.clone(),
            peer: setup.peer,
            log: Vec::new(),
            anomalies: 0,
            closed: false,
            hold_next: Vec::new(),
            held: Vec::new(),
            fail_fs: VecDeque::new(),
            fail_open: VecDeque::new(),
            fail_passive: 0,
            fail_auth: 0,
            misanswer_fs: 0,
            misanswered: None,
            listeners: BTreeMap::new(),
            connecting: BTreeMap::new(),
            connected: BTreeMap::new(),
            transfers: VecDeque::new(),
            last_fs: 0,
            last_auth: 0,
            last_data: 0,
            last_xfer: 0,
            next_listen_port: 50000,
            next_client_port: 60001,
            securing: false,
        };
        for line in &setup.lines {
            runner.log.push(format!("# {line}"));
        }
        runner
            .log
            .push(format!("# client {} -> server {}", setup.peer, setup.local));
        // The greeting queued by `new`.
        runner.drain(&mut VecDeque::new());
        Ok(runner)
    }

    fn now(&self) -> Instant {
        self.base + self.elapsed
    }

    fn wall_now(&self) -> i64 {
        self.wallclock + i64::try_from(self.elapsed.as_secs()).unwrap_or(i64::MAX)
    }

    fn note(&mut self, text: impl AsRef<str>) {
        let line = format!("[{}] {}", offset(self.elapsed), text.as_ref());
        self.log.push(line);
    }

    fn bug(&mut self, text: impl AsRef<str>) {
        self.anomalies += 1;
        self.note(format!("!! {}", text.as_ref()));
    }

    fn data_lines(&mut self, dir: &str, bytes: &[u8]) {
        for line in lines(bytes) {
            self.note(format!("  {dir} {}", quote(line)));
        }
    }

    /// Feeds one input, then every answer the fake runtime gives to what comes out, in order.
    fn feed(&mut self, input: Input, forged: bool) {
        let mut queue = VecDeque::from([input]);
        // After CloseSession every input is the runtime's mistake: it must be refused.
        let mut forged = forged || self.closed;
        while let Some(input) = queue.pop_front() {
            self.log_input(&input);
            let misanswered =
                matches!(&input, Input::Fs { id, .. } if Some(*id) == self.misanswered);
            match self.session.handle_input(self.now(), input) {
                Err(e @ DriveError::WrongShape { .. }) if misanswered => {
                    self.note(format!("=> Err({e:?}) as expected: {e}"))
                }
                Err(e) if misanswered => {
                    self.bug(format!("a wrong-shaped answer got {e:?}, not WrongShape"))
                }
                Ok(()) if misanswered => {
                    self.bug("a wrong-shaped answer was taken as Ok (expected WrongShape)")
                }
                Err(e @ DriveError::WrongShape { .. }) => self.bug(format!(
                    "WrongShape for a well-shaped or forged answer: {e:?}"
                )),
                Err(e) if forged => self.note(format!("=> Err({e:?}) as expected: {e}")),
                Err(e) => self.bug(format!(
                    "DriveError for an answer the session asked for: {e:?}"
                )),
                Ok(()) if forged => {
                    self.bug("a forged answer was accepted (expected a DriveError)")
                }
                Ok(()) => {}
            }
            forged = false;
            self.drain(&mut queue);
        }
    }

    fn drain(&mut self, answers: &mut VecDeque<Input>) {
        for _ in 0..OUTPUT_LIMIT {
            let Some(output) = self.session.poll_output() else {
                return;
            };
            if self.closed {
                self.bug(format!("output after CloseSession: {output:?}"));
            }
            if let Some(answer) = self.handle_output(output) {
                answers.push_back(answer);
            }
        }
        self.bug("more than 10000 outputs for one input");
    }

    fn log_input(&mut self, input: &Input) {
        let text = match input {
            Input::ControlBytes(b) => format!("C> {}", quote(b)),
            Input::ControlEof => "<- ControlEof".to_owned(),
            Input::Timeout => "<- Timeout".to_owned(),
            Input::Shutdown => "<- Shutdown".to_owned(),
            Input::Fs { id, result } => format!("<- Fs {id} {}", show_fs_result(result)),
            Input::Auth {
                id,
                result: AuthResult::Accepted(p),
            } => format!(
                "<- Auth {id} Accepted home={} write={}",
                p.home,
                if p.write { "yes" } else { "no" }
            ),
            Input::Auth { id, result } => format!("<- Auth {id} {result:?}"),
            Input::PassiveListening { id, addr } => format!("<- PassiveListening {id} {addr}"),
            Input::PassiveFailed { id } => format!("<- PassiveFailed {id}"),
            Input::DataConnected { id, peer } => format!("<- DataConnected {id} peer={peer}"),
            Input::ConnectFailed { id } => format!("<- ConnectFailed {id}"),
            Input::TransferOpened { id } => format!("<- TransferOpened {id}"),
            Input::TransferDone { id, result } => format!("<- TransferDone {id} {result:?}"),
            Input::ControlSecured(info) => {
                format!("<- ControlSecured {} {}", info.version, info.cipher)
            }
            Input::ControlTlsFailed => "<- ControlTlsFailed".to_owned(),
            other => format!("<- {other:?}"),
        };
        self.note(text);
    }

    /// Records one output and returns the fake runtime's immediate answer, if it has one.
    fn handle_output(&mut self, output: Output) -> Option<Input> {
        match output {
            Output::Reply(reply) => {
                if self.securing {
                    self.bug("a reply while the control connection's handshake runs");
                }
                for line in lines(reply.as_bytes()) {
                    self.note(format!("S< {}", quote(line)));
                }
                if let Err(e) = check_reply(&reply) {
                    self.bug(format!("malformed reply: {e}"));
                }
                None
            }
            Output::Fs { id, op } => {
                self.note(format!("-> Fs {id} {op:?}"));
                self.last_fs = id.raw();
                if self.take_hold(ReqKind::Fs) {
                    self.held.push(Held::Fs(id, op));
                    return None;
                }
                if self.misanswer_fs > 0 {
                    self.misanswer_fs -= 1;
                    self.misanswered = Some(id);
                    return Some(Input::Fs {
                        id,
                        result: Ok(wrong_shape(&op)),
                    });
                }
                let result = match self.fail_fs.pop_front() {
                    Some(e) => Err(e),
                    None => self.fs.apply(&op, self.wall_now()),
                };
                Some(Input::Fs { id, result })
            }
            Output::Authenticate { id, user, password } => {
                self.note(format!(
                    "-> Authenticate {id} user={user:?} password={password:?}"
                ));
                self.last_auth = id.raw();
                if self.take_hold(ReqKind::Auth) {
                    self.held.push(Held::Auth(id, user, password));
                    return None;
                }
                Some(self.authenticate(id, &user, &password))
            }
            Output::OpenPassive { id, ip } => {
                self.note(format!("-> OpenPassive {id} ip={ip}"));
                self.last_data = id.raw();
                if self.take_hold(ReqKind::Passive) {
                    self.held.push(Held::Passive(id, ip));
                    return None;
                }
                Some(self.listen(id, ip))
            }
            Output::Connect { id, addr } => {
                self.note(format!("-> Connect {id} addr={addr}"));
                self.last_data = id.raw();
                self.connecting.insert(id, addr);
                None
            }
            Output::RefuseDataConnection { id } => {
                self.note(format!("-> RefuseDataConnection {id}"));
                match self.connected.remove(&id) {
                    Some(Some(addr)) => {
                        self.listeners.insert(id, addr);
                    }
                    _ => self.bug(format!(
                        "RefuseDataConnection for {id}, which is no new passive connection"
                    )),
                }
                None
            }
            Output::CloseData { id } => {
                self.note(format!("-> CloseData {id}"));
                let held = self
                    .held
                    .iter()
                    .position(|h| matches!(h, Held::Passive(d, _) if *d == id));
                let open = self.listeners.remove(&id).is_some()
                    || self.connecting.remove(&id).is_some()
                    || self.connected.remove(&id).is_some();
                if let Some(i) = held {
                    self.held.remove(i);
                    self.note("~ (the held listener request is dropped)");
                } else if !open {
                    self.bug(format!("CloseData {id}: nothing is open under that id"));
                }
                None
            }
            Output::StartTransfer {
                id,
                data,
                kind,
                protection,
            } => self.start_transfer(id, data, kind, protection),
            Output::SecureControl => {
                self.note("-> SecureControl");
                if std::mem::replace(&mut self.securing, true) {
                    self.bug("SecureControl twice without a handshake report between");
                }
                None
            }
            Output::ClearControl => {
                self.note("-> ClearControl");
                None
            }
            Output::MoveBytes { id } => {
                self.move_bytes(id);
                None
            }
            Output::AbortTransfer { id } => {
                self.note(format!("-> AbortTransfer {id}"));
                if !self.transfers.iter().any(|t| t.id == id) {
                    self.bug(format!("AbortTransfer {id}: no such transfer is running"));
                }
                None
            }
            Output::CloseSession => {
                self.note("-> CloseSession");
                self.closed = true;
                // The runtime closes every listener, connection and transfer of the session.
                self.listeners.clear();
                self.connecting.clear();
                self.connected.clear();
                self.transfers.clear();
                if !self.session.is_closed() {
                    self.bug("is_closed() is false after CloseSession");
                }
                None
            }
            other => {
                self.bug(format!("unknown output {other:?}"));
                None
            }
        }
    }

    fn take_hold(&mut self, kind: ReqKind) -> bool {
        let pos = self.hold_next.iter().position(|k| *k == kind);
        if let Some(i) = pos {
            self.hold_next.remove(i);
            self.note("~ (held)");
        }
        pos.is_some()
    }

    fn authenticate(&mut self, id: AuthId, user: &str, password: &str) -> Input {
        if self.fail_auth > 0 {
            self.fail_auth -= 1;
            return Input::Auth {
                id,
                result: AuthResult::Unavailable,
            };
        }
        let found = self
            .users
            .iter()
            .find(|u| u.name == user && u.password == password);
        let result = match found {
            Some(u) => AuthResult::Accepted(Permissions::new(
                VirtualPath::root()
                    .resolve(&u.home)
                    .expect("script homes are valid"),
                u.write,
            )),
            None => AuthResult::Refused,
        };
        Input::Auth { id, result }
    }

    fn listen(&mut self, id: DataId, ip: IpAddr) -> Input {
        if self.fail_passive > 0 {
            self.fail_passive -= 1;
            return Input::PassiveFailed { id };
        }
        let addr = SocketAddr::new(ip, self.next_listen_port);
        self.next_listen_port += 1;
        // After CloseSession the answer is refused and the runtime drops the listener.
        if !self.closed {
            self.listeners.insert(id, addr);
        }
        Input::PassiveListening { id, addr }
    }

    /// Opens the transfer's file as a runtime would and answers: opened, or the error (the
    /// runtime then closes the data connection), or nothing yet if the script holds it.
    fn start_transfer(
        &mut self,
        id: TransferId,
        data: DataId,
        kind: TransferKind,
        protection: DataProtection,
    ) -> Option<Input> {
        self.last_xfer = id.raw();
        let what = match &kind {
            TransferKind::SendFile {
                path,
                offset,
                ascii,
            } => {
                format!("SendFile {path:?} offset={offset} ascii={}", yes(*ascii))
            }
            TransferKind::ReceiveFile { path, mode, ascii } => {
                format!("ReceiveFile {path:?} mode={mode:?} ascii={}", yes(*ascii))
            }
            TransferKind::SendBytes(b) => format!("SendBytes ({} bytes)", b.len()),
            TransferKind::SendListing { path, format, name } => {
                format!("SendListing {path:?} {format:?} name={name:?}")
            }
            other => format!("{other:?}"),
        };
        // Only PROT P is shown, so transcripts without TLS read as before it existed.
        let prot = match protection {
            DataProtection::Private => " PROT P",
            DataProtection::Clear => "",
        };
        self.note(format!("-> StartTransfer {id} data={data} {what}{prot}"));
        if !self.connected.contains_key(&data) {
            self.bug(format!(
                "StartTransfer on {data}, which is not a connected data channel"
            ));
        }
        let source = match &kind {
            TransferKind::SendFile {
                path,
                offset,
                ascii,
            } => self.fs.read(path.as_str()).map(|file| {
                let start = usize::try_from(*offset)
                    .unwrap_or(usize::MAX)
                    .min(file.len());
                let mut out = Vec::new();
                if *ascii {
                    // As a runtime would: the encoder knows the byte before the offset.
                    let mut encoder = match start.checked_sub(1).and_then(|i| file.get(i)) {
                        Some(&previous) => AsciiEncoder::resuming_after(previous),
                        None => AsciiEncoder::new(),
                    };
                    encoder.encode(&file[start..], &mut out);
                } else {
                    out.extend_from_slice(&file[start..]);
                }
                out
            }),
            TransferKind::SendBytes(b) => Ok(b.to_vec()),
            TransferKind::SendListing { path, format, name } => {
                self.fs
                    .listing(path.as_str(), *format, name, self.wall_now())
            }
            _ => Ok(Vec::new()),
        };
        let opened = match (&kind, self.fail_open.pop_front()) {
            (_, Some(e)) => Err(e),
            (TransferKind::ReceiveFile { path, mode, .. }, None) => {
                self.fs.check_writable(path.as_str(), *mode)
            }
            (_, None) => source.as_ref().map(|_| ()).map_err(|e| *e),
        };
        if let Err(e) = opened {
            self.note(format!("~ (the runtime cannot open the file: {e:?})"));
            self.connected.remove(&data);
            return Some(Input::TransferDone {
                id,
                result: Err(TransferError::Fs(e)),
            });
        }
        self.transfers.push_back(Transfer {
            id,
            data,
            kind,
            source,
            received: Vec::new(),
            decoder: AsciiDecoder::new(),
            stored: Vec::new(),
            moving: false,
            protection,
        });
        if self.take_hold(ReqKind::Open) {
            self.held.push(Held::Open(id));
            return None;
        }
        Some(Input::TransferOpened { id })
    }

    /// `MoveBytes`: a download's bytes go out now.
    fn move_bytes(&mut self, id: TransferId) {
        self.note(format!("-> MoveBytes {id}"));
        let Some(t) = self.transfers.iter_mut().find(|t| t.id == id) else {
            return self.bug(format!("MoveBytes {id}: no such transfer is open"));
        };
        if std::mem::replace(&mut t.moving, true) {
            return self.bug(format!("MoveBytes {id} twice"));
        }
        if t.protection == DataProtection::Private {
            // The data connection's TLS handshake comes first: a download's bytes are shown
            // once the transfer ends well (`done`), never before a failed handshake.
            return self.note("  (TLS handshake on the data connection)");
        }
        let bytes = match (&t.kind, &t.source) {
            (TransferKind::ReceiveFile { .. }, _) => return,
            (_, Ok(bytes)) => bytes.clone(),
            (_, Err(_)) => return,
        };
        self.data_lines("D>", &bytes);
    }

    /// Ends the oldest running transfer as the script says, as a runtime would.
    fn finish_transfer(&mut self, ending: Ending) {
        let Some(mut t) = self.transfers.pop_front() else {
            self.note("~ (no transfer is running)");
            return;
        };
        self.connected.remove(&t.data);
        if let (Ending::Ok, DataProtection::Private, Ok(bytes)) = (ending, t.protection, &t.source)
        {
            if !matches!(t.kind, TransferKind::ReceiveFile { .. }) {
                let bytes = bytes.clone();
                self.data_lines("D>", &bytes);
            }
        }
        let now = self.wall_now();
        let result = match (&t.kind, ending) {
            (_, Ending::Lost) => Err(TransferError::ConnectionLost),
            (_, Ending::Aborted) => Err(TransferError::Aborted),
            (_, Ending::Fs(e)) => Err(TransferError::Fs(e)),
            (_, Ending::TlsFailed | Ending::TlsNotResumed) => {
                if t.protection != DataProtection::Private {
                    self.bug("a data handshake failed on a PROT C transfer");
                }
                // The handshake comes before any byte: nothing is read or written.
                let error = match ending {
                    Ending::TlsFailed => TransferError::TlsFailed,
                    _ => TransferError::TlsNotResumed,
                };
                return self.feed(
                    Input::TransferDone {
                        id: t.id,
                        result: Err(error),
                    },
                    false,
                );
            }
            (TransferKind::ReceiveFile { .. }, Ending::Ok) => Ok(t.received.len() as u64),
            (_, Ending::Ok) => t
                .source
                .clone()
                .map(|b| b.len() as u64)
                .map_err(TransferError::Fs),
        };
        if let TransferKind::ReceiveFile { path, mode, ascii } = &t.kind {
            if *ascii {
                t.decoder.finish(&mut t.stored);
            }
            // A replacing upload that did not complete leaves the old file alone (temp + rename).
            let keep = match mode {
                WriteMode::Replace if result.is_err() => None,
                WriteMode::Replace | WriteMode::New => Some(Some(0)),
                WriteMode::Resume(n) => Some(Some(*n)),
                WriteMode::Append => Some(None),
                other => panic!("the harness does not know {other:?}"),
            };
            if let Some(keep) = keep {
                if let Err(e) = self.fs.write(path.as_str(), keep, &t.stored, now) {
                    self.note(format!("~ (the runtime cannot write the file: {e:?})"));
                    return self.feed(
                        Input::TransferDone {
                            id: t.id,
                            result: Err(TransferError::Fs(e)),
                        },
                        false,
                    );
                }
            }
        }
        self.feed(Input::TransferDone { id: t.id, result }, false);
    }

    fn upload(&mut self, chunks: &[Vec<u8>]) {
        let Some(t) = self.transfers.front_mut() else {
            self.note("~ (no transfer is running: the bytes go nowhere)");
            return;
        };
        if !t.moving {
            self.note("~ (the upload has not started: the client would still wait for a 150)");
            return;
        }
        let ascii = matches!(t.kind, TransferKind::ReceiveFile { ascii: true, .. });
        for chunk in chunks {
            t.received.extend_from_slice(chunk);
            if ascii {
                t.decoder.decode(chunk, &mut t.stored);
            } else {
                t.stored.extend_from_slice(chunk);
            }
        }
        for chunk in chunks {
            // One line per write: where the client's writes split matters (a CR and its LF).
            self.note(format!("  D< {}", quote(chunk)));
        }
    }

    /// Advances the clock by `d`, stopping at each deadline on the way to feed `Timeout`, as a
    /// runtime sleeping on `poll_timeout` would.
    fn sleep(&mut self, d: Duration) {
        let target = self.elapsed + d;
        for _ in 0..100 {
            let Some(deadline) = self.session.poll_timeout() else {
                break;
            };
            let at = deadline.saturating_duration_since(self.base);
            if at > target {
                break;
            }
            self.elapsed = self.elapsed.max(at);
            self.feed(Input::Timeout, false);
            if self.session.poll_timeout() == Some(deadline) {
                self.bug("the deadline did not move after its Timeout was fed");
                break;
            }
        }
        self.elapsed = target;
    }

    fn release(&mut self) {
        for held in std::mem::take(&mut self.held) {
            let answer = match held {
                Held::Fs(id, op) => match self.fail_fs.pop_front() {
                    Some(e) => Input::Fs { id, result: Err(e) },
                    None => Input::Fs {
                        id,
                        result: self.fs.apply(&op, self.wall_now()),
                    },
                },
                Held::Auth(id, user, password) => self.authenticate(id, &user, &password),
                Held::Passive(id, ip) => self.listen(id, ip),
                Held::Open(id) => {
                    if !self.transfers.iter().any(|t| t.id == id) {
                        self.note(format!("~ ({id} was stopped while it was being opened)"));
                        continue;
                    }
                    Input::TransferOpened { id }
                }
            };
            self.feed(answer, false);
        }
    }

    fn connect(&mut self, from: Option<IpAddr>) {
        let Some((&id, &addr)) = self.listeners.iter().next_back() else {
            self.note("~ (connection refused: no listener is open)");
            return;
        };
        self.listeners.remove(&id);
        self.connected.insert(id, Some(addr));
        let peer = SocketAddr::new(from.unwrap_or(self.peer.ip()), self.next_client_port);
        self.next_client_port += 1;
        self.feed(Input::DataConnected { id, peer }, false);
    }

    fn active(&mut self, ok: bool) {
        let Some((&id, &addr)) = self.connecting.iter().next_back() else {
            self.note("~ (no active connection is pending)");
            return;
        };
        self.connecting.remove(&id);
        if ok {
            self.connected.insert(id, None);
            self.feed(Input::DataConnected { id, peer: addr }, false);
        } else {
            self.feed(Input::ConnectFailed { id }, false);
        }
    }

    fn forge(&mut self, kind: Forge, id: ForgeId) {
        let last = match kind {
            Forge::Fs => self.last_fs,
            Forge::Auth => self.last_auth,
            Forge::Transfer | Forge::Opened => self.last_xfer,
            Forge::Passive | Forge::Connected | Forge::ConnectFail => self.last_data,
            Forge::Secured | Forge::TlsFailed => 0,
        };
        let raw = match id {
            ForgeId::Raw(n) => n,
            ForgeId::Last => last,
        };
        let input = match kind {
            Forge::Fs => Input::Fs {
                id: FsId::from_raw(raw),
                result: Ok(FsReply::Done),
            },
            Forge::Auth => Input::Auth {
                id: AuthId::from_raw(raw),
                result: AuthResult::Refused,
            },
            Forge::Passive => Input::PassiveListening {
                id: DataId::from_raw(raw),
                addr: SocketAddr::new(self.peer.ip(), 1),
            },
            Forge::Connected => Input::DataConnected {
                id: DataId::from_raw(raw),
                peer: self.peer,
            },
            Forge::ConnectFail => Input::ConnectFailed {
                id: DataId::from_raw(raw),
            },
            Forge::Transfer => Input::TransferDone {
                id: TransferId::from_raw(raw),
                result: Ok(0),
            },
            Forge::Opened => Input::TransferOpened {
                id: TransferId::from_raw(raw),
            },
            Forge::Secured => Input::ControlSecured(Box::new(TlsInfo::new("TLSv1.3", "forged"))),
            Forge::TlsFailed => Input::ControlTlsFailed,
        };
        self.feed(input, true);
    }

    pub fn step(&mut self, source: &str, step: &Step) {
        if !matches!(step, Step::Send(_)) {
            self.note(format!("~ {source}"));
        }
        match step {
            Step::Send(chunks) => {
                for chunk in chunks {
                    self.feed(Input::ControlBytes(Bytes::copy_from_slice(chunk)), false);
                }
            }
            Step::Sleep(d) => self.sleep(*d),
            Step::Timeout => self.feed(Input::Timeout, false),
            Step::Eof => self.feed(Input::ControlEof, false),
            Step::Shutdown => self.feed(Input::Shutdown, false),
            Step::Connect(from) => self.connect(*from),
            Step::Active(ok) => self.active(*ok),
            Step::Upload(chunks) => self.upload(chunks),
            Step::Done(ending) => self.finish_transfer(*ending),
            Step::Hold(kind) => self.hold_next.push(*kind),
            Step::Release => self.release(),
            Step::FailFs(e) => self.fail_fs.push_back(*e),
            Step::FailOpen(e) => self.fail_open.push_back(*e),
            Step::FailPassive => self.fail_passive += 1,
            Step::FailAuth => self.fail_auth += 1,
            Step::MisanswerFs => self.misanswer_fs += 1,
            Step::Forge(kind, id) => self.forge(*kind, *id),
            Step::Secured(version, cipher) => {
                if !self.securing {
                    self.note("~ (no handshake was asked for)");
                }
                self.securing = false;
                let info = TlsInfo::new(version.as_str(), cipher.as_str()).with_alpn(*b"ftp");
                self.feed(Input::ControlSecured(Box::new(info)), false);
            }
            Step::TlsFail => {
                self.securing = false;
                self.feed(Input::ControlTlsFailed, false);
            }
        }
    }

    /// The transcript so far (after a panic).
    pub fn log_so_far(&self) -> String {
        self.log.join("\n")
    }

    /// The transcript, with the final state of the session and of the tree.
    pub fn finish(mut self) -> String {
        self.log
            .push(format!("--- end at {} ---", offset(self.elapsed)));
        self.log
            .push(format!("closed: {}", yes(self.session.is_closed())));
        self.log.push(format!("user: {:?}", self.session.user()));
        let deadline = self
            .session
            .poll_timeout()
            .map(|d| offset(d.saturating_duration_since(self.base)));
        self.log.push(format!(
            "next deadline: {}",
            deadline.as_deref().unwrap_or("none")
        ));
        for (id, addr) in &self.listeners {
            self.log.push(format!("open: {id} listening on {addr}"));
        }
        for (id, addr) in &self.connecting {
            self.log.push(format!("open: {id} connecting to {addr}"));
        }
        for id in self.connected.keys() {
            self.log.push(format!("open: {id} connected"));
        }
        for t in &self.transfers {
            self.log.push(format!("running: {}", t.id));
        }
        let changes = self.fs.diff(&self.initial);
        if !changes.is_empty() {
            self.log.push("tree changes:".to_owned());
            self.log
                .extend(changes.into_iter().map(|c| format!("  {c}")));
        }
        self.log.push(String::new());
        self.log.join("\n")
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn show_fs_result(result: &Result<FsReply, FsError>) -> String {
    match result {
        Err(e) => format!("Err({e:?})"),
        Ok(FsReply::Metadata(m)) => format!(
            "Ok Metadata {:?} size={} modified={} mode={:o}",
            m.kind,
            m.size,
            m.modified.map_or("none".to_owned(), show_time),
            m.mode
        ),
        Ok(FsReply::Listing(l)) => {
            let names: Vec<String> = l
                .entries
                .iter()
                .map(|e| format!("{:?}:{:?}", e.name, e.metadata.kind))
                .collect();
            format!("Ok Listing now={} [{}]", show_time(l.now), names.join(", "))
        }
        Ok(FsReply::Entry { metadata: m, now }) => format!(
            "Ok Entry {:?} size={} modified={} now={}",
            m.kind,
            m.size,
            m.modified.map_or("none".to_owned(), show_time),
            show_time(*now)
        ),
        Ok(other) => format!("Ok {other:?}"),
    }
}

/// A successful answer of the wrong kind for `op`.
fn wrong_shape(op: &FsOp) -> FsReply {
    match op {
        FsOp::MakeDir(_) | FsOp::RemoveDir(_) | FsOp::RemoveFile(_) | FsOp::Rename { .. } => {
            FsReply::Metadata(Metadata::file(0, None))
        }
        _ => FsReply::Done,
    }
}
