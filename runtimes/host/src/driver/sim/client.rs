//! The simulated clients: a plan of operations drawn from the seed (logins good and bad,
//! directory and file commands, pipelined groups, transfers with faults, floods, and an end),
//! carried out against the replies, with each reply checked against the client's [`Model`].

use std::collections::VecDeque;

use thinftp::VirtualPath;

use super::model::{Model, Node};
use super::net::{End, PipeRef, DATA_BUFFER};
use super::replies::Reply;
use crate::storage::MemoryStorage;

/// What goes wrong on a transfer's data connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DataFault {
    None,
    /// The client resets the connection after this many bytes.
    Reset(usize),
    /// The client sends `ABOR` and resets the connection after this many bytes.
    Abor(usize),
    /// The client stops sending (an upload) after this many bytes.
    Stall(usize),
    /// The client never connects.
    NeverConnect,
    /// The client never reads (a download).
    StopReading,
    /// The client sends `ABOR` right after the transfer command.
    AborAtOnce,
    /// The client sends `QUIT` after this many bytes and goes on with the transfer.
    Quit(usize),
}

#[derive(Debug, Clone)]
pub(super) enum Kind {
    Stor(Vec<u8>),
    Appe(Vec<u8>),
    Retr,
    Nlst,
    List,
}

/// How the data connection is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Pasv,
    Epsv,
    /// Active: the server connects to the client (`EPRT`).
    Eprt,
}

#[derive(Debug, Clone)]
pub(super) struct Transfer {
    pub(super) kind: Kind,
    pub(super) arg: String,
    pub(super) rest: Option<u64>,
    pub(super) mode: Mode,
    pub(super) fault: DataFault,
}

/// One operation of a plan.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// Commands written at once (pipelined when more than one).
    Lines(Vec<String>),
    Transfer(Transfer),
    /// Many commands written at once, and no reply read ever again.
    Flood(usize),
    /// `QUIT`, or the client closes (FIN) or resets the control connection.
    End(Option<End>),
}

/// What a command changes once its reply says it did.
#[derive(Debug, Clone)]
enum Effect {
    None,
    Mkd(VirtualPath),
    Rmd(VirtualPath),
    Dele(VirtualPath),
    Rnfr(VirtualPath),
    Rnto(VirtualPath),
    Cwd(VirtualPath),
    Rest(u64),
    Store {
        path: VirtualPath,
        data: Vec<u8>,
        append: bool,
    },
    Retr(VirtualPath),
    Nlst,
    Pasv,
}

#[derive(Debug)]
struct Sent {
    line: String,
    effect: Effect,
}

/// What the client asks the world to do.
#[derive(Debug)]
pub(super) enum Act {
    /// Write these bytes on the control connection.
    Send(Vec<u8>),
    /// Connect to the session's last passive listener.
    Connect,
    /// Close the control connection.
    Hang(End),
    /// The operation is over: start the next after a pause.
    Next,
}

/// A transfer under way.
#[derive(Debug)]
struct Live {
    t: Transfer,
    /// The `PASV`/`EPSV` reply came.
    commanded: bool,
    pipe: Option<PipeRef>,
    moved: usize,
    received: Vec<u8>,
    data_done: bool,
    /// The transfer command's final reply, and what its data should then be.
    outcome: Option<(u16, Option<Expect>)>,
    checked: bool,
}

#[derive(Debug, Clone)]
enum Expect {
    Bytes(Vec<u8>),
    Names(Vec<String>),
}

pub(super) struct Client {
    pub(super) user: String,
    pub(super) home: VirtualPath,
    ops: VecDeque<Op>,
    sent: VecDeque<Sent>,
    /// Commands answered `421`: the server closed, perhaps after their work was done.
    uncertain: Vec<Sent>,
    cwd: VirtualPath,
    pub(super) model: Model,
    rnfr: Option<VirtualPath>,
    rest: Option<u64>,
    /// An operation is under way.
    busy: bool,
    live: Option<Live>,
    /// The client reads its replies (a flood does not).
    pub(super) reads: bool,
    /// The client closed or reset the control connection.
    pub(super) gone: bool,
    pub(super) last_final: Option<u16>,
    greeted: bool,
    pub(super) quit_sent: bool,
    /// Strings only another home holds: no reply nor data may show them.
    pub(super) own_secret: String,
    /// The client's address, for `EPRT`.
    pub(super) ip: String,
}

impl Client {
    pub(super) fn new(user: String, home: VirtualPath, model: Model, ops: Vec<Op>) -> Client {
        Client {
            user,
            home,
            ops: ops.into(),
            sent: VecDeque::new(),
            uncertain: Vec::new(),
            cwd: VirtualPath::root(),
            model,
            rnfr: None,
            rest: None,
            busy: false,
            live: None,
            reads: true,
            gone: false,
            last_final: None,
            greeted: false,
            quit_sent: false,
            own_secret: String::new(),
            ip: String::new(),
        }
    }

    /// A secret in `text` that only another home (or the root outside every home) holds.
    fn foreign_secret<'a>(own: &str, text: &'a str) -> Option<&'a str> {
        if let Some(at) = text.find("SECRET-root") {
            return Some(&text[at..at + 11]);
        }
        let mut rest = text;
        while let Some(at) = rest.find("<SECRET-") {
            let tail = &rest[at..];
            let end = tail.find('>').map_or(tail.len(), |e| e + 1);
            if tail[..end] != *own {
                return Some(&tail[..end]);
            }
            rest = &tail[end..];
        }
        None
    }

    /// For the server's connect to this client: `Some(true)` if the client accepts it,
    /// `Some(false)` if it never answers, `None` if no active transfer wants one.
    pub(super) fn accepts_connect(&self) -> Option<bool> {
        let live = self
            .live
            .as_ref()
            .filter(|l| l.t.mode == Mode::Eprt && l.pipe.is_none())?;
        Some(live.t.fault != DataFault::NeverConnect)
    }

    /// The paths that commands never answered may have changed (their work can finish after
    /// the session closed, as on a real server): either outcome is right.
    pub(super) fn unsettled(&self) -> Vec<VirtualPath> {
        let mut paths = Vec::new();
        for sent in self.sent.iter().chain(&self.uncertain) {
            match &sent.effect {
                Effect::Mkd(p)
                | Effect::Rmd(p)
                | Effect::Dele(p)
                | Effect::Store { path: p, .. } => {
                    paths.push(p.clone());
                }
                Effect::Rnto(p) => {
                    paths.push(p.clone());
                    paths.extend(self.rnfr.clone());
                }
                _ => {}
            }
        }
        paths
    }

    /// Commands written and not answered yet.
    pub(super) fn unanswered(&self) -> usize {
        self.sent.len()
    }

    /// Whether the plan is carried out.
    pub(super) fn finished(&self) -> bool {
        self.ops.is_empty() && !self.busy
    }

    /// The data connection of the transfer under way, to connect.
    pub(super) fn set_pipe(&mut self, pipe: Option<PipeRef>) {
        if let Some(live) = &mut self.live {
            if pipe.is_none() {
                live.data_done = true;
            }
            live.pipe = pipe;
        }
    }

    fn send(&mut self, line: String, effect: Effect) -> Vec<u8> {
        let bytes = format!("{line}\r\n").into_bytes();
        self.sent.push_back(Sent { line, effect });
        bytes
    }

    fn resolve(&self, arg: &str) -> VirtualPath {
        self.cwd
            .resolve(arg)
            .unwrap_or_else(|_| VirtualPath::root())
    }

    /// Starts the next operation if none is under way.
    pub(super) fn wake(&mut self) -> Vec<Act> {
        if self.busy || self.gone || !self.greeted {
            return Vec::new();
        }
        let Some(op) = self.ops.pop_front() else {
            return Vec::new();
        };
        self.busy = true;
        match op {
            Op::Lines(lines) => {
                let mut bytes = Vec::new();
                for line in lines {
                    let effect = self.effect_of(&line);
                    bytes.extend(self.send(line, effect));
                }
                vec![Act::Send(bytes)]
            }
            Op::Transfer(t) => {
                let line = match t.mode {
                    Mode::Pasv => "PASV".to_owned(),
                    Mode::Epsv => "EPSV".to_owned(),
                    Mode::Eprt => format!("EPRT |1|{}|40002|", self.ip),
                };
                let bytes = self.send(line, Effect::Pasv);
                self.live = Some(Live {
                    t,
                    commanded: false,
                    pipe: None,
                    moved: 0,
                    received: Vec::new(),
                    data_done: false,
                    outcome: None,
                    checked: false,
                });
                vec![Act::Send(bytes)]
            }
            Op::Flood(n) => {
                self.reads = false;
                let mut bytes = Vec::new();
                for i in 0..n {
                    let line = if i % 2 == 0 { "NOOP" } else { "PWD" };
                    bytes.extend(self.send(line.to_owned(), Effect::None));
                }
                vec![Act::Send(bytes)]
            }
            Op::End(None) => {
                self.quit_sent = true;
                vec![Act::Send(self.send("QUIT".to_owned(), Effect::None))]
            }
            Op::End(Some(end)) => {
                self.gone = true;
                vec![Act::Hang(end)]
            }
        }
    }

    fn effect_of(&self, line: &str) -> Effect {
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let path = || self.resolve(arg);
        match verb {
            "MKD" => Effect::Mkd(path()),
            "RMD" => Effect::Rmd(path()),
            "DELE" => Effect::Dele(path()),
            "RNFR" => Effect::Rnfr(path()),
            "RNTO" => Effect::Rnto(path()),
            "CWD" => Effect::Cwd(path()),
            "CDUP" => Effect::Cwd(self.resolve("..")),
            _ => Effect::None,
        }
    }

    /// A reply, as the server writes it: checks it and carries the plan on.
    pub(super) fn on_reply(
        &mut self,
        reply: &Reply,
        storage: &MemoryStorage,
    ) -> Result<Vec<Act>, String> {
        if let Some(secret) = Self::foreign_secret(&self.own_secret, &reply.text) {
            return Err(format!("reply {:?} shows {secret}", reply.text));
        }
        if !self.greeted {
            self.greeted = true;
            return Ok(if reply.code == 220 {
                vec![Act::Next]
            } else {
                Vec::new()
            });
        }
        if reply.is_preliminary() {
            let transfer = self.live.as_ref().is_some_and(|l| l.commanded);
            if !transfer {
                return Err(format!("preliminary reply {:?} to no transfer", reply.text));
            }
            return Ok(Vec::new());
        }
        self.last_final = Some(reply.code);
        let Some(sent) = self.sent.pop_front() else {
            if reply.code == 421 {
                return Ok(Vec::new());
            }
            return Err(format!("reply {:?} to no command", reply.text));
        };
        let mut acts = Vec::new();
        if reply.code == 421 {
            self.uncertain.push(sent);
            return Ok(acts);
        }
        self.apply(&sent, reply.code, storage, &mut acts)
            .map_err(|e| format!("after {:?} -> {:?}: {e}", sent.line, reply.text))?;
        if !self.reads {
            return Ok(Vec::new());
        }
        self.maybe_done(&mut acts)?;
        Ok(acts)
    }

    fn apply(
        &mut self,
        sent: &Sent,
        code: u16,
        storage: &MemoryStorage,
        acts: &mut Vec<Act>,
    ) -> Result<(), String> {
        let ok = (200..400).contains(&code);
        let rest = if matches!(sent.effect, Effect::Rest(_)) {
            None
        } else {
            self.rest.take()
        };
        match &sent.effect {
            Effect::None => {}
            Effect::Rest(n) => self.rest = (code == 350).then_some(*n),
            Effect::Mkd(p) => {
                if code == 257 {
                    if !matches!(
                        self.model
                            .get(&p.parent().unwrap_or_else(VirtualPath::root)),
                        Some(Node::Dir)
                    ) {
                        return Err("made a directory in no directory".into());
                    }
                    self.model.put(p, Node::Dir);
                }
                self.model.check(storage, &self.home, p)?;
            }
            Effect::Rmd(p) | Effect::Dele(p) => {
                if code == 250 {
                    self.model.remove(p);
                }
                self.model.check(storage, &self.home, p)?;
            }
            Effect::Rnfr(p) => self.rnfr = (code == 350).then(|| p.clone()),
            Effect::Rnto(to) => {
                if let Some(from) = self.rnfr.take() {
                    if code == 250 {
                        self.model.rename(&from, to);
                    }
                    self.model.check(storage, &self.home, &from)?;
                }
                self.model.check(storage, &self.home, to)?;
            }
            Effect::Cwd(p) => {
                if code == 250 {
                    self.cwd = p.clone();
                }
            }
            Effect::Pasv => {
                let live = self.live.as_mut().expect("PASV belongs to a transfer");
                if !matches!(code, 200 | 227 | 229) {
                    self.live = None;
                    return Ok(());
                }
                live.commanded = true;
                if live.t.mode == Mode::Eprt {
                    // The server connects when the transfer starts.
                } else if live.t.fault != DataFault::NeverConnect {
                    acts.push(Act::Connect);
                } else {
                    live.data_done = true;
                }
                let t = live.t.clone();
                let mut bytes = Vec::new();
                if let Some(n) = t.rest {
                    bytes.extend(self.send(format!("REST {n}"), Effect::Rest(n)));
                }
                let path = self.resolve(&t.arg);
                let (line, effect) = match &t.kind {
                    Kind::Stor(data) => (
                        format!("STOR {}", t.arg),
                        Effect::Store {
                            path,
                            data: data.clone(),
                            append: false,
                        },
                    ),
                    Kind::Appe(data) => (
                        format!("APPE {}", t.arg),
                        Effect::Store {
                            path,
                            data: data.clone(),
                            append: true,
                        },
                    ),
                    Kind::Retr => (format!("RETR {}", t.arg), Effect::Retr(path)),
                    Kind::Nlst => ("NLST".to_owned(), Effect::Nlst),
                    Kind::List => ("LIST".to_owned(), Effect::None),
                };
                bytes.extend(self.send(line, effect));
                if t.fault == DataFault::AborAtOnce {
                    bytes.extend(self.send("ABOR".to_owned(), Effect::None));
                }
                acts.push(Act::Send(bytes));
            }
            Effect::Store { path, data, append } => {
                if code == 226 {
                    let old = self.model.file(path).unwrap_or_default().to_vec();
                    let new = match (append, rest) {
                        (true, _) => [old, data.clone()].concat(),
                        (false, Some(n)) => {
                            let keep = usize::try_from(n).unwrap_or(usize::MAX);
                            if keep > old.len() {
                                return Err("resumed an upload past the file's end".into());
                            }
                            [&old[..keep], data].concat()
                        }
                        (false, None) => data.clone(),
                    };
                    self.model.put(path, Node::File(new));
                }
                self.model.check(storage, &self.home, path)?;
                self.transfer_replied(code, None)?;
            }
            Effect::Retr(path) => {
                let expect = if code == 226 {
                    let Some(data) = self.model.file(path) else {
                        return Err("sent a file the replies never made".into());
                    };
                    let from = usize::try_from(rest.unwrap_or(0)).unwrap_or(usize::MAX);
                    Some(Expect::Bytes(data.get(from..).unwrap_or_default().to_vec()))
                } else {
                    None
                };
                self.transfer_replied(code, expect)?;
            }
            Effect::Nlst => {
                let names = self.model.children(&self.cwd).into_iter().collect();
                let expect = (code == 226).then_some(Expect::Names(names));
                self.transfer_replied(code, expect)?;
            }
        }
        let _ = ok;
        Ok(())
    }

    fn transfer_replied(&mut self, code: u16, expect: Option<Expect>) -> Result<(), String> {
        if let Some(live) = &mut self.live {
            live.outcome = Some((code, expect));
        }
        self.check_data()
    }

    /// Once the transfer's data is in and its reply says it succeeded: the data is right.
    fn check_data(&mut self) -> Result<(), String> {
        let Some(live) = &mut self.live else {
            return Ok(());
        };
        let clean = matches!(live.t.fault, DataFault::None | DataFault::Quit(_));
        if live.checked || !live.data_done || !clean {
            return Ok(());
        }
        let Some((226, Some(expect))) = &live.outcome else {
            return Ok(());
        };
        live.checked = true;
        match expect {
            Expect::Bytes(bytes) if *bytes != live.received => Err(format!(
                "downloaded {:?}, the file is {:?}",
                String::from_utf8_lossy(&live.received),
                String::from_utf8_lossy(bytes)
            )),
            Expect::Names(names) => {
                let text = String::from_utf8_lossy(&live.received);
                let mut got: Vec<String> = text
                    .split("\r\n")
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
                got.sort();
                if got != *names {
                    return Err(format!("NLST gave {got:?}, the directory holds {names:?}"));
                }
                Ok(())
            }
            Expect::Bytes(_) => Ok(()),
        }
    }

    fn maybe_done(&mut self, acts: &mut Vec<Act>) -> Result<(), String> {
        if !self.busy || !self.sent.is_empty() {
            return Ok(());
        }
        if let Some(live) = &self.live {
            if !live.data_done && live.commanded {
                return Ok(());
            }
        }
        if let Some(mut live) = self.live.take() {
            // Whatever is left of the connection goes.
            if let Some(pipe) = live.pipe.take() {
                let mut pipe = pipe.borrow_mut();
                if !pipe.client_fin {
                    pipe.client_reset = true;
                }
            }
        }
        self.busy = false;
        acts.push(Act::Next);
        Ok(())
    }

    /// Moves the transfer's data a step. `Ok(true)` if there is more to do later.
    pub(super) fn data_step(&mut self, chunk: usize) -> Result<(Vec<Act>, bool), String> {
        let mut acts = Vec::new();
        let Some(live) = &mut self.live else {
            return Ok((acts, false));
        };
        let Some(pipe) = live.pipe.clone() else {
            return Ok((acts, false));
        };
        if live.data_done {
            return Ok((acts, false));
        }
        let mut p = pipe.borrow_mut();
        let upload = match &live.t.kind {
            Kind::Stor(d) | Kind::Appe(d) => Some(d.len()),
            _ => None,
        };
        if let DataFault::Quit(k) = live.t.fault {
            if live.moved >= k && !self.quit_sent {
                self.quit_sent = true;
                let bytes = b"QUIT\r\n".to_vec();
                self.sent.push_back(Sent {
                    line: "QUIT".to_owned(),
                    effect: Effect::None,
                });
                acts.push(Act::Send(bytes));
            }
        }
        let Some(live) = &mut self.live else {
            return Ok((acts, false));
        };
        let fault_at = match live.t.fault {
            DataFault::Reset(k) | DataFault::Abor(k) | DataFault::Stall(k) => Some(k),
            _ => None,
        };
        if fault_at.is_some_and(|k| live.moved >= k) {
            match live.t.fault {
                DataFault::Abor(_) => {
                    p.client_reset = true;
                    drop(p);
                    live.data_done = true;
                    let bytes = self.send("ABOR".to_owned(), Effect::None);
                    acts.push(Act::Send(bytes));
                    return Ok((acts, false));
                }
                DataFault::Reset(_) => p.client_reset = true,
                _ => {}
            }
            live.data_done = true;
        } else if let Some(len) = upload {
            if p.server_closed {
                live.data_done = true;
            } else {
                let room = DATA_BUFFER.saturating_sub(p.to_server.len());
                let mut n = chunk.min(room).min(len - live.moved);
                if let Some(k) = fault_at {
                    n = n.min(k - live.moved);
                }
                if let Kind::Stor(data) | Kind::Appe(data) = &live.t.kind {
                    p.to_server.extend(&data[live.moved..live.moved + n]);
                }
                live.moved += n;
                if live.moved == len && fault_at.is_none() {
                    p.client_fin = true;
                    live.data_done = true;
                }
            }
        } else if live.t.fault == DataFault::StopReading {
            live.data_done = true;
        } else {
            let mut n = chunk.min(p.to_client.len());
            if let Some(k) = fault_at {
                n = n.min(k - live.moved);
            }
            live.received.extend(p.to_client.drain(..n));
            live.moved += n;
            if p.to_client.is_empty() && p.server_closed {
                live.data_done = true;
                let text = String::from_utf8_lossy(&live.received);
                if let Some(secret) = Self::foreign_secret(&self.own_secret, &text) {
                    return Err(format!("downloaded data shows {secret}"));
                }
            }
        }
        drop(p);
        let more = !self.live.as_ref().is_some_and(|l| l.data_done);
        self.check_data()?;
        self.maybe_done(&mut acts)?;
        Ok((acts, more))
    }
}
