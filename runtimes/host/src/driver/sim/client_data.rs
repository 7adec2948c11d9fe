//! The client's end of a transfer's data connection: it sends an upload's bytes, reads a
//! download's, and brings on the transfer's fault (a reset, an `ABOR`, a stall, a `QUIT`).

use super::client::{Act, Client, DataFault, Effect, Kind, Sent};
use super::data::DATA_BUFFER;

impl Client {
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
        let mut p = pipe.lock();
        let upload = match &live.t.kind {
            Kind::Stor(d) | Kind::Appe(d) | Kind::Stou(d) => Some(d.len()),
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
                if let Kind::Stor(data) | Kind::Appe(data) | Kind::Stou(data) = &live.t.kind {
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
