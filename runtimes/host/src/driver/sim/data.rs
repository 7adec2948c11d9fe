//! Simulated data connections: an in-memory pipe shared by the server's end, a real
//! [`DataStream`] that the driver's own transfer code reads and writes, and the client's end.
//!
//! The server's end is used on a thread of its own (the transfer job runs `Job::run`, blocking,
//! as on a real server: see `lockstep.rs`), but never at the same time as the simulation: each
//! read or write first hands the turn back to the simulation and waits until a step of it
//! grants the next one, with how many bytes that call may move and the simulated time. Only
//! one side runs at once, so a seed still gives one run, byte for byte. A call that cannot move
//! a byte (the peer sends nothing, or reads nothing) waits for the next grant, until it has
//! waited the stall timeout in simulated time: then it fails as a socket's timeout does.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::data_stream::{DataStream, Interrupt};

/// Bytes a data connection holds in one direction before the writer must wait (the socket
/// buffers of both ends together).
pub(super) const DATA_BUFFER: usize = 16 * 1024;

/// One data connection, both directions, and whose turn it is.
#[derive(Debug, Default)]
pub(super) struct Pipe {
    /// Server to client (a download), not yet read by the client.
    pub(super) to_client: VecDeque<u8>,
    /// Client to server (an upload), not yet read by the server.
    pub(super) to_server: VecDeque<u8>,
    /// The client closed its sending side cleanly (end of an upload).
    pub(super) client_fin: bool,
    /// The client reset the connection: both directions fail.
    pub(super) client_reset: bool,
    /// The server's end is closed (FIN after its last byte, or dropped).
    pub(super) server_closed: bool,
    /// The server shut its end down (an abort): its reads end, its writes fail.
    interrupted: bool,
    pub(super) turn: Turn,
}

/// The lockstep between the simulation and a transfer's thread.
#[derive(Debug, Default)]
pub(super) struct Turn {
    /// The transfer's thread runs; the simulation waits.
    pub(super) transfer_runs: bool,
    /// The transfer's job has returned.
    pub(super) ended: bool,
    /// The world is gone: every call fails at once, nobody waits.
    pub(super) teardown: bool,
    /// The most bytes the granted call may move.
    pub(super) grant: usize,
    /// The simulated time of the grant.
    pub(super) now: Duration,
    /// When a byte last moved.
    pub(super) last_progress: Duration,
    /// Whether the granted call moved a byte.
    pub(super) progressed: bool,
    /// The stream's stall timeout.
    stall: Option<Duration>,
}

/// A data connection: the pipe and the signal that passes the turn.
#[derive(Debug, Default)]
pub(super) struct Conn {
    pipe: Mutex<Pipe>,
    pub(super) signal: Condvar,
}

pub(super) type PipeRef = Arc<Conn>;

impl Conn {
    pub(super) fn new() -> PipeRef {
        Arc::new(Conn::default())
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Pipe> {
        // A panic on the transfer's thread is reported by its runner; the pipe stays usable.
        self.pipe.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn wait<'a>(&self, guard: MutexGuard<'a, Pipe>) -> MutexGuard<'a, Pipe> {
        self.signal.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// One read or write of the server's end: hands the turn to the simulation, then tries
    /// `attempt` with each grant until it gives a result (`None`: it would block).
    fn call<T>(
        &self,
        mut attempt: impl FnMut(&mut Pipe, usize) -> Option<io::Result<T>>,
    ) -> io::Result<T> {
        let mut pipe = self.lock();
        loop {
            if pipe.turn.teardown {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            pipe.turn.transfer_runs = false;
            self.signal.notify_all();
            while !pipe.turn.transfer_runs && !pipe.turn.teardown {
                pipe = self.wait(pipe);
            }
            if pipe.turn.teardown {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let grant = pipe.turn.grant;
            if let Some(result) = attempt(&mut pipe, grant) {
                return result;
            }
            let Turn {
                now,
                last_progress,
                stall,
                ..
            } = pipe.turn;
            if stall.is_some_and(|stall| now.saturating_sub(last_progress) >= stall) {
                return Err(io::ErrorKind::TimedOut.into());
            }
        }
    }
}

/// The server's end of a data connection: the driver's `S`. Dropping it closes it, as dropping
/// a socket does.
pub(super) struct SimData(pub(super) PipeRef);

impl Drop for SimData {
    fn drop(&mut self) {
        self.0.lock().server_closed = true;
    }
}

impl fmt::Debug for SimData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimData")
    }
}

impl Read for SimData {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.0.call(|pipe, grant| {
            if pipe.interrupted {
                // Our own shutdown reads as the end of data, as on a socket.
                return Some(Ok(0));
            }
            if pipe.client_reset {
                return Some(Err(io::ErrorKind::ConnectionReset.into()));
            }
            let n = grant.min(buf.len()).min(pipe.to_server.len());
            if n > 0 {
                for (slot, byte) in buf.iter_mut().zip(pipe.to_server.drain(..n)) {
                    *slot = byte;
                }
                moved(pipe);
                return Some(Ok(n));
            }
            pipe.client_fin.then_some(Ok(0))
        })
    }
}

impl Write for SimData {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.0.call(|pipe, grant| {
            if pipe.interrupted || pipe.server_closed {
                return Some(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if pipe.client_reset {
                return Some(Err(io::ErrorKind::ConnectionReset.into()));
            }
            let room = DATA_BUFFER.saturating_sub(pipe.to_client.len());
            let n = grant.min(buf.len()).min(room);
            if n == 0 {
                return None;
            }
            pipe.to_client.extend(&buf[..n]);
            moved(pipe);
            Some(Ok(n))
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn moved(pipe: &mut Pipe) {
    pipe.turn.progressed = true;
    pipe.turn.last_progress = pipe.turn.now;
}

impl DataStream for SimData {
    fn set_blocking(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn set_stall_timeout(&mut self, stall: Duration) -> io::Result<()> {
        self.0.lock().turn.stall = Some(stall);
        Ok(())
    }

    fn interrupter(&self) -> Option<Box<dyn Interrupt>> {
        Some(Box::new(SimInterrupt(Arc::clone(&self.0))))
    }

    fn finish(&mut self) {
        self.0.lock().server_closed = true;
    }
}

/// An abort's shutdown of the server's end (called on the simulation's side, while the
/// transfer's thread waits for its turn).
struct SimInterrupt(PipeRef);

impl Interrupt for SimInterrupt {
    fn interrupt(&self) {
        self.0.lock().interrupted = true;
    }
}
