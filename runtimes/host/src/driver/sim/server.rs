//! The server's side of a session: its driver reads what arrived, and its actions are carried
//! out on the simulated network (reply writes checked and read by the client, listeners,
//! connects, timers, jobs, the close).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tracing::Span;

use super::data::{Conn, SimData};
use super::net::{End, SimWaiter};
use super::replies::parse_batch;
use super::world::{Event, World, CONTROL_BUFFER};
use crate::driver::{Action, Blocking, Driver};
use crate::Admission;

impl World {
    /// The server reads what has arrived, in reads of random size; what is left is read soon.
    pub(super) fn read(&mut self, i: usize) -> Result<(), String> {
        let next = if self.rng.bool() {
            self.rng.usize(1..=64)
        } else {
            usize::MAX
        };
        let sim = &mut self.sims[i];
        let Some(driver) = &mut sim.driver else {
            return Ok(());
        };
        sim.input.next_read = next;
        if driver.read_control(&mut sim.input)
            && driver.wants_control()
            && (!sim.input.bytes.is_empty() || sim.input.end.is_some())
        {
            self.after_ms(5, Event::Arrive(i, Vec::new()));
        }
        self.run_server(i)
    }

    pub(super) fn run_server(&mut self, i: usize) -> Result<(), String> {
        if self.sims[i].driver.is_none() && !self.sims[i].closed {
            if self.shutting_down {
                // Not accepted any more: the client is never greeted.
                let sim = &mut self.sims[i];
                sim.closed = true;
                sim.client.gone = true;
                return Ok(());
            }
            self.start(i);
        }
        loop {
            let now = self.instant();
            let sim = &mut self.sims[i];
            if sim.blocked {
                return Ok(());
            }
            let Some(driver) = &mut sim.driver else {
                return Ok(());
            };
            let Some(action) = driver.poll_action(now) else {
                return Ok(());
            };
            self.action(i, action)?;
        }
    }

    pub(super) fn start(&mut self, i: usize) {
        let sim = &mut self.sims[i];
        let guard = self
            .host
            .admission()
            .try_admit(sim.ip)
            .expect("the simulator's limits admit every session");
        let admission = Admission {
            id: i as u64,
            span: Span::none(),
            guard,
            proxied: false,
        };
        let peer = SocketAddr::new(sim.ip, 40_000);
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1)), 21);
        sim.driver = Some(Driver::new(
            Arc::clone(&self.host),
            admission,
            peer,
            local,
            self.base + self.now + self.skew,
            // A task per session (jobs for nearly everything), or a thread per session
            // (filesystem requests and logins on the loop).
            if self.rng.bool() {
                Blocking::Never
            } else {
                Blocking::Allowed
            },
        ));
    }

    pub(super) fn action(&mut self, i: usize, action: Action<SimData>) -> Result<(), String> {
        match action {
            Action::Write(bytes) => self.write(i, &bytes),
            Action::Run(job) => {
                let slow = self.rng.u8(..20) == 0;
                let max = if slow { 3_000 } else { 30 };
                self.after_ms(max, Event::Job(i, Box::new(job)));
                Ok(())
            }
            Action::Listen { id, .. } => {
                let port = 20_000 + self.rng.u16(..10_000);
                let sim = &mut self.sims[i];
                let driver = sim.driver.as_mut().expect("a driver gives actions");
                if self.rng.u8(..30) == 0 {
                    driver.listening(id, Err(io::ErrorKind::AddrInUse.into()));
                    return Ok(());
                }
                let (waiter, open) = SimWaiter::new();
                sim.listener = Some((id, open));
                let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1)), port);
                driver.listening(id, Ok((waiter, addr)));
                Ok(())
            }
            Action::Connect { id, addr, timeout } => {
                let (waiter, _open) = SimWaiter::new();
                let sim = &mut self.sims[i];
                sim.driver
                    .as_mut()
                    .expect("a driver gives actions")
                    .connecting(id, waiter);
                let ours = addr.ip() == sim.ip && addr.port() == 40_002;
                match sim.client.accepts_connect().filter(|_| ours) {
                    Some(true) => {
                        let pipe = Conn::new();
                        sim.client.set_pipe(Some(Arc::clone(&pipe)));
                        self.after_ms(50, Event::Connected(i, id, addr, Some(pipe)));
                        self.after_ms(20, Event::Data(i));
                    }
                    // Nobody answers: the connect times out.
                    Some(false) => self.at(self.now + timeout, Event::Connected(i, id, addr, None)),
                    None => self.after_ms(5, Event::Connected(i, id, addr, None)),
                }
                Ok(())
            }
            Action::ArmTimer(at) => {
                self.sims[i].armed = Some(at);
                let when = at.saturating_duration_since(self.base + self.skew);
                self.at(when, Event::Timer(i, at));
                Ok(())
            }
            Action::Close => {
                self.note(format!("#{i} server closes"));
                let sim = &mut self.sims[i];
                sim.driver = None;
                sim.closed = true;
                sim.listener = None;
                let c = &sim.client;
                let excused =
                    c.gone || !c.reads || c.quit_sent || matches!(c.last_final, Some(421 | 221));
                if c.unanswered() > 0 && !excused {
                    return Err(format!(
                        "#{i} closed with {} commands unanswered (last final reply {:?})",
                        c.unanswered(),
                        c.last_final
                    ));
                }
                if !excused && !c.finished() {
                    return Err(format!("#{i} closed before its client was done"));
                }
                Ok(())
            }
        }
    }

    /// A batch of replies: checked, then read by the client (or left unread).
    pub(super) fn write(&mut self, i: usize, bytes: &[u8]) -> Result<(), String> {
        let replies = parse_batch(bytes).map_err(|e| format!("#{i}: {e}"))?;
        self.stats.replies += replies.len();
        for reply in &replies {
            *self.stats.codes.entry(reply.code).or_default() += 1;
        }
        let text = String::from_utf8_lossy(bytes)
            .trim_end()
            .replace("\r\n", " | ");
        self.note(format!("#{i} <- {text}"));
        let sim = &mut self.sims[i];
        if sim.client.gone && sim.input.end == Some(End::Reset) {
            if let Some(driver) = &mut sim.driver {
                driver.write_failed(&io::ErrorKind::ConnectionReset.into());
            }
            return Ok(());
        }
        if !sim.client.reads {
            sim.unread += bytes.len();
            if sim.unread > CONTROL_BUFFER {
                sim.blocked = true;
                let timeout = sim
                    .driver
                    .as_ref()
                    .map_or(Duration::ZERO, |d| d.write_timeout());
                self.at(self.now + timeout, Event::WriteFailed(i));
                return Ok(());
            }
        }
        for reply in &replies {
            let acts = self.sims[i]
                .client
                .on_reply(reply, &self.storage)
                .map_err(|e| format!("#{i} ({}): {e}", self.sims[i].client.user))?;
            self.acts(i, acts)?;
        }
        Ok(())
    }
}
