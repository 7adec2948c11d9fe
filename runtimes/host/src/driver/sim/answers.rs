//! What a final reply changes in the client's view, checked against its model and the
//! storage: the effects of directory and file commands, `TYPE`, `RANG`/`HASH`, `MLST`, logins
//! and bans, and the outcome of each transfer (its data checked once both are in).

use thinftp::VirtualPath;

use super::checks::{ascii_sent, ascii_stored, check_hash, check_mlsd, check_mlst};
use super::client::{Act, Client, DataFault, Effect, Expect, Kind, Mode, Sent, Unsettled};
use super::model::Node;
use super::replies::Reply;
use crate::storage::MemoryStorage;

impl Client {
    pub(super) fn apply(
        &mut self,
        sent: &Sent,
        reply: &Reply,
        storage: &MemoryStorage,
        acts: &mut Vec<Act>,
    ) -> Result<(), String> {
        let code = reply.code;
        let rest = if matches!(sent.effect, Effect::Rest(_)) {
            None
        } else {
            self.rest.take()
        };
        // Used up by HASH, cleared by any other command.
        let rang = if matches!(sent.effect, Effect::Rang(..)) {
            None
        } else {
            self.rang.take()
        };
        match &sent.effect {
            Effect::None => {}
            Effect::Rest(n) => self.rest = (code == 350).then_some(*n),
            Effect::Type(ascii) => {
                if code == 200 {
                    self.ascii = *ascii;
                }
            }
            Effect::Rang(first, last) => self.rang = (code == 350).then_some((*first, *last)),
            Effect::Hash(p) => {
                if code == 213 {
                    check_hash(&reply.text, self.model.file(p), rang)?;
                    self.passed(if rang.is_some() { "RANG+HASH" } else { "HASH" });
                }
            }
            Effect::Mlst(p) => {
                if code == 250 {
                    check_mlst(&reply.body, self.model.get(p))?;
                    self.passed("MLST");
                }
            }
            // A banned address's password gets `421` (see `on_reply`), nothing else; its
            // `USER` is answered as any other.
            Effect::Pass(_) if self.banned() => {
                return Err(format!(
                    "banned after {} failed logins, but a login was answered {code}",
                    self.failed_logins
                ));
            }
            Effect::Pass(right) => {
                if code == 530 && !right {
                    self.failed_logins += 1;
                }
            }
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
                // In TYPE A the bytes sent are not the bytes stored.
                let stored = |data: &Vec<u8>| {
                    if self.ascii {
                        ascii_stored(data)
                    } else {
                        data.clone()
                    }
                };
                let (line, effect) = match &t.kind {
                    Kind::Stor(data) => (
                        format!("STOR {}", t.arg),
                        Effect::Store {
                            path,
                            data: stored(data),
                            append: false,
                            ascii: self.ascii,
                        },
                    ),
                    Kind::Appe(data) => (
                        format!("APPE {}", t.arg),
                        Effect::Store {
                            path,
                            data: stored(data),
                            append: true,
                            ascii: self.ascii,
                        },
                    ),
                    Kind::Stou(data) => (
                        "STOU".to_owned(),
                        Effect::Stou {
                            dir: self.cwd.clone(),
                            data: stored(data),
                        },
                    ),
                    Kind::Retr => (
                        format!("RETR {}", t.arg),
                        Effect::Retr {
                            path,
                            ascii: self.ascii,
                        },
                    ),
                    Kind::Nlst => ("NLST".to_owned(), Effect::Nlst),
                    Kind::List => ("LIST".to_owned(), Effect::None),
                    Kind::Mlsd => ("MLSD".to_owned(), Effect::Mlsd),
                };
                bytes.extend(self.send(line, effect));
                if t.fault == DataFault::AborAtOnce {
                    bytes.extend(self.send("ABOR".to_owned(), Effect::None));
                }
                acts.push(Act::Send(bytes));
            }
            Effect::Store {
                path,
                data,
                append,
                ascii,
            } => {
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
                if code == 226 {
                    self.passed(if *ascii { "STOR (TYPE A)" } else { "STOR" });
                }
                self.transfer_replied(code, None)?;
            }
            Effect::Stou { dir, data } => {
                let unique = self.live.as_ref().and_then(|l| l.unique.clone());
                if let Some(name) = unique {
                    let path = dir
                        .resolve(&name)
                        .map_err(|_| format!("STOU named {name:?}"))?;
                    if code == 226 {
                        if !reply.text.contains(&format!("unique file name: {name})")) {
                            return Err("the 226 names another file than the 150".into());
                        }
                        self.model.put(&path, Node::File(data.clone()));
                        self.model.check(storage, &self.home, &path)?;
                        self.passed("STOU");
                    } else {
                        // A failed STOU leaves no file behind, once its removal is done.
                        self.removing = Some((Unsettled::Path(path), self.sent.len()));
                    }
                } else if code == 226 {
                    return Err("STOU stored a file it never named".into());
                } else {
                    // Its file was made, perhaps, but never named.
                    self.removing = Some((Unsettled::Unique(dir.clone()), self.sent.len()));
                }
                self.transfer_replied(code, None)?;
            }
            Effect::Retr { path, ascii } => {
                let expect = if code == 226 {
                    let Some(data) = self.model.file(path) else {
                        return Err("sent a file the replies never made".into());
                    };
                    let from = usize::try_from(rest.unwrap_or(0)).unwrap_or(usize::MAX);
                    let bytes = if *ascii {
                        ascii_sent(data, from)
                    } else {
                        data.get(from..).unwrap_or_default().to_vec()
                    };
                    Some(Expect::Bytes(bytes, *ascii))
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
            Effect::Mlsd => {
                let entries = self.model.entries(&self.cwd);
                let expect = (code == 226).then_some(Expect::Entries(entries));
                self.transfer_replied(code, expect)?;
            }
        }
        Ok(())
    }

    /// The storage failed the removal of `path` (the server's path): the sim made it fail, so
    /// a failed `STOU`'s file stays, holding what it holds.
    pub(super) fn removal_failed(&mut self, path: &VirtualPath, storage: &MemoryStorage) {
        let Some(path) = path.strip_prefix(&self.home) else {
            return;
        };
        let removing = match &self.removing {
            Some((Unsettled::Path(p), _)) => *p == path,
            Some((Unsettled::Unique(dir), _)) => path.parent().as_ref() == Some(dir),
            None => false,
        };
        if removing {
            self.removing = None;
            let data = storage.file(self.home.join(&path).as_str());
            self.model.put(&path, Node::File(data.unwrap_or_default()));
        }
    }

    /// A final reply came (not a `421`): a failed `STOU`'s file is gone if it is due.
    pub(super) fn check_removed(&mut self, storage: &MemoryStorage) -> Result<(), String> {
        match self.removing.take() {
            Some((Unsettled::Path(path), 0)) => self.model.check(storage, &self.home, &path),
            Some((Unsettled::Unique(dir), 0)) => {
                let prefix = format!("{}/stou.", self.home.join(&dir).as_str());
                for path in storage.paths() {
                    let Some(name) = path.strip_prefix(&prefix) else {
                        continue;
                    };
                    let mine = dir.resolve(&format!("stou.{name}")).ok();
                    if !name.contains('/') && mine.is_some_and(|p| self.model.get(&p).is_none()) {
                        return Err(format!("a failed STOU left {path}"));
                    }
                }
                Ok(())
            }
            Some((what, pending)) => {
                self.removing = Some((what, pending - 1));
                Ok(())
            }
            None => Ok(()),
        }
    }

    pub(super) fn transfer_replied(
        &mut self,
        code: u16,
        expect: Option<Expect>,
    ) -> Result<(), String> {
        if let Some(live) = &mut self.live {
            live.outcome = Some((code, expect));
        }
        self.check_data()
    }

    /// Once the transfer's data is in and its reply says it succeeded: the data is right.
    pub(super) fn check_data(&mut self) -> Result<(), String> {
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
        let passed = match expect {
            Expect::Bytes(_, true) => "RETR (TYPE A)",
            Expect::Bytes(_, false) => "RETR",
            Expect::Names(_) => "NLST",
            Expect::Entries(_) => "MLSD",
        };
        let checked = match expect {
            Expect::Bytes(bytes, _) if *bytes != live.received => Err(format!(
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
            Expect::Entries(entries) => check_mlsd(&live.received, entries),
            Expect::Bytes(..) => Ok(()),
        };
        checked?;
        self.passed(passed);
        Ok(())
    }

    /// Whether this client's address is banned by now.
    pub(super) fn banned(&self) -> bool {
        self.ban_after > 0 && self.failed_logins >= self.ban_after
    }

    pub(super) fn passed(&mut self, check: &'static str) {
        *self.checks.entry(check).or_default() += 1;
    }
}
