//! The simulated clients: a plan of operations drawn from the seed (logins good and bad,
//! directory and file commands, pipelined groups, transfers with faults, floods, and an end),
//! carried out against the replies, with each reply checked against the client's [`Model`].

use std::collections::VecDeque;

use thinftp::VirtualPath;

use super::data::PipeRef;
use super::model::{Model, Node};
use super::net::End;
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
    /// `STOU`: a new file of a name the server picks, said in its `150`.
    Stou(Vec<u8>),
    Retr,
    Nlst,
    List,
    Mlsd,
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
pub(super) enum Effect {
    None,
    Mkd(VirtualPath),
    Rmd(VirtualPath),
    Dele(VirtualPath),
    Rnfr(VirtualPath),
    Rnto(VirtualPath),
    Cwd(VirtualPath),
    Rest(u64),
    /// `TYPE A` (true) or `TYPE I`.
    Type(bool),
    Rang(u64, u64),
    Hash(VirtualPath),
    Mlst(VirtualPath),
    /// A password, right or wrong.
    Pass(bool),
    Store {
        path: VirtualPath,
        /// What the file holds from the offset on once stored (in `TYPE A`, converted).
        data: Vec<u8>,
        append: bool,
        ascii: bool,
    },
    /// `STOU` in the directory, storing `data`.
    Stou {
        dir: VirtualPath,
        data: Vec<u8>,
    },
    Retr {
        path: VirtualPath,
        ascii: bool,
    },
    Nlst,
    Mlsd,
    Pasv,
}

#[derive(Debug)]
pub(super) struct Sent {
    pub(super) line: String,
    pub(super) effect: Effect,
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
pub(super) struct Live {
    pub(super) t: Transfer,
    /// The `PASV`/`EPSV` reply came.
    pub(super) commanded: bool,
    pub(super) pipe: Option<PipeRef>,
    pub(super) moved: usize,
    pub(super) received: Vec<u8>,
    pub(super) data_done: bool,
    /// The transfer command's final reply, and what its data should then be.
    pub(super) outcome: Option<(u16, Option<Expect>)>,
    pub(super) checked: bool,
    /// The name a `STOU`'s `150` gave.
    pub(super) unique: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) enum Expect {
    /// A download's bytes, and whether in `TYPE A`.
    Bytes(Vec<u8>, bool),
    Names(Vec<String>),
    /// An `MLSD` listing of these entries.
    Entries(std::collections::BTreeMap<String, Node>),
}

/// What a command never answered may have changed.
#[derive(Debug, Clone)]
pub(super) enum Unsettled {
    /// This path and everything below it.
    Path(VirtualPath),
    /// A `STOU`'s file in this directory, of a name never learnt.
    Unique(VirtualPath),
}

pub(super) struct Client {
    pub(super) user: String,
    pub(super) home: VirtualPath,
    pub(super) ops: VecDeque<Op>,
    pub(super) sent: VecDeque<Sent>,
    /// Commands answered `421`: the server closed, perhaps after their work was done.
    pub(super) uncertain: Vec<Sent>,
    pub(super) cwd: VirtualPath,
    pub(super) model: Model,
    pub(super) rnfr: Option<VirtualPath>,
    pub(super) rest: Option<u64>,
    pub(super) rang: Option<(u64, u64)>,
    /// `TYPE A` is in force.
    pub(super) ascii: bool,
    pub(super) password: String,
    /// Logins refused for a wrong password.
    pub(super) failed_logins: usize,
    /// After this many, the address is banned (0: never).
    pub(super) ban_after: usize,
    /// A failed `STOU`'s file, removed after its reply: gone by the reply to the first
    /// command sent after the ones then unanswered (their number).
    pub(super) removing: Option<(Unsettled, usize)>,
    /// How many checks of each kind passed, for the run's summary.
    pub(super) checks: std::collections::BTreeMap<&'static str, usize>,
    /// An operation is under way.
    pub(super) busy: bool,
    pub(super) live: Option<Live>,
    /// The client reads its replies (a flood does not).
    pub(super) reads: bool,
    /// The client closed or reset the control connection.
    pub(super) gone: bool,
    pub(super) last_final: Option<u16>,
    pub(super) greeted: bool,
    pub(super) quit_sent: bool,
    /// Strings only another home holds: no reply nor data may show them.
    pub(super) own_secret: String,
    /// The client's address, for `EPRT`.
    pub(super) ip: String,
}

impl Client {
    pub(super) fn new(
        (user, password): (String, String),
        home: VirtualPath,
        model: Model,
        ops: Vec<Op>,
    ) -> Client {
        Client {
            user,
            password,
            rang: None,
            ascii: false,
            failed_logins: 0,
            ban_after: 0,
            removing: None,
            checks: std::collections::BTreeMap::new(),
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
    pub(super) fn foreign_secret<'a>(own: &str, text: &'a str) -> Option<&'a str> {
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
    pub(super) fn unsettled(&self) -> Vec<Unsettled> {
        let mut paths = Vec::new();
        for sent in self.sent.iter().chain(&self.uncertain) {
            match &sent.effect {
                Effect::Mkd(p)
                | Effect::Rmd(p)
                | Effect::Dele(p)
                | Effect::Store { path: p, .. } => {
                    paths.push(Unsettled::Path(p.clone()));
                }
                Effect::Rnto(p) => {
                    paths.push(Unsettled::Path(p.clone()));
                    paths.extend(self.rnfr.clone().map(Unsettled::Path));
                }
                Effect::Stou { dir, .. } => {
                    let unique = self.live.as_ref().and_then(|l| l.unique.as_ref());
                    paths.push(match unique.and_then(|name| dir.resolve(name).ok()) {
                        Some(path) => Unsettled::Path(path),
                        None => Unsettled::Unique(dir.clone()),
                    });
                }
                _ => {}
            }
        }
        // A removal not seen done (the session closed first: it may never run).
        paths.extend(self.removing.as_ref().map(|(what, _)| what.clone()));
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

    pub(super) fn send(&mut self, line: String, effect: Effect) -> Vec<u8> {
        let bytes = format!("{line}\r\n").into_bytes();
        self.sent.push_back(Sent { line, effect });
        bytes
    }

    pub(super) fn resolve(&self, arg: &str) -> VirtualPath {
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
                    unique: None,
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

    pub(super) fn effect_of(&self, line: &str) -> Effect {
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
            "TYPE" => Effect::Type(arg == "A"),
            "HASH" => Effect::Hash(path()),
            "MLST" => Effect::Mlst(path()),
            "PASS" => Effect::Pass(arg == self.password),
            "RANG" => {
                let mut n = arg.split(' ').map(|n| n.parse().unwrap_or(0));
                Effect::Rang(n.next().unwrap_or(0), n.next().unwrap_or(0))
            }
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
            if let Some(live) = self
                .live
                .as_mut()
                .filter(|l| matches!(l.t.kind, Kind::Stou(_)))
            {
                let name = reply.text.strip_prefix("150 FILE: ");
                live.unique = Some(name.ok_or("STOU's 150 names no file")?.to_owned());
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
            if self.banned() && matches!(sent.effect, Effect::Pass(_)) {
                self.passed("banned login");
            }
            self.uncertain.push(sent);
            return Ok(acts);
        }
        self.check_removed(storage)
            .map_err(|e| format!("before {:?} -> {:?}: {e}", sent.line, reply.text))?;
        self.apply(&sent, reply, storage, &mut acts)
            .map_err(|e| format!("after {:?} -> {:?}: {e}", sent.line, reply.text))?;
        if !self.reads {
            return Ok(Vec::new());
        }
        self.maybe_done(&mut acts)?;
        Ok(acts)
    }

    pub(super) fn maybe_done(&mut self, acts: &mut Vec<Act>) -> Result<(), String> {
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
                let mut pipe = pipe.lock();
                if !pipe.client_fin {
                    pipe.client_reset = true;
                }
            }
        }
        self.busy = false;
        acts.push(Act::Next);
        Ok(())
    }
}
