//! The client's side of a session on the network: what it writes is split and delayed, it
//! hangs up, and it connects to the passive listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::client::Act;
use super::data::{Conn, SimData};
use super::world::{Event, World};
use crate::driver::Completion;

impl World {
    pub(super) fn acts(&mut self, i: usize, acts: Vec<Act>) -> Result<(), String> {
        for act in acts {
            match act {
                Act::Send(bytes) => self.send(i, bytes),
                Act::Connect => self.after_ms(50, Event::Connect(i)),
                Act::Hang(end) => {
                    let at = self.sims[i].arrive_after.max(self.now);
                    self.at(at, Event::Ends(i, end));
                }
                Act::Next => {
                    let pause = if self.rng.u8(..10) == 0 { 5_000 } else { 50 };
                    self.after_ms(pause, Event::Wake(i));
                }
            }
        }
        Ok(())
    }

    /// Client bytes on their way, split at random points, each piece delayed, in order.
    pub(super) fn send(&mut self, i: usize, bytes: Vec<u8>) {
        let text = String::from_utf8_lossy(&bytes)
            .trim_end()
            .replace("\r\n", " | ");
        let shown: String = text.chars().take(200).collect();
        self.note(format!("#{i} -> {shown}"));
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let cut = if self.rng.bool() {
                rest.len()
            } else {
                self.rng.usize(1..=rest.len())
            };
            let (piece, tail) = rest.split_at(cut);
            rest = tail;
            let delay = Duration::from_millis(self.rng.u64(0..40));
            let at = self.sims[i].arrive_after.max(self.now + delay);
            self.sims[i].arrive_after = at;
            self.at(at, Event::Arrive(i, piece.to_vec()));
        }
    }

    pub(super) fn connect(&mut self, i: usize) -> Result<(), String> {
        let sim = &mut self.sims[i];
        let open = sim
            .listener
            .as_ref()
            .filter(|(_, open)| open.get())
            .map(|(id, _)| *id);
        let Some(id) = open else {
            sim.client.set_pipe(None);
            self.note(format!("#{i} data connection refused"));
            return Ok(());
        };
        let pipe = Conn::new();
        sim.client.set_pipe(Some(Arc::clone(&pipe)));
        let peer = SocketAddr::new(sim.ip, 40_001);
        if let Some(driver) = &mut sim.driver {
            driver.complete(Completion::Accepted {
                id,
                stream: SimData(pipe),
                peer,
            });
        }
        self.note(format!("#{i} data connected"));
        self.after_ms(20, Event::Data(i));
        self.run_server(i)
    }
}
