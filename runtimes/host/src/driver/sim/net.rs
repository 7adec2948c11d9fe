//! The simulated network: data connections as in-memory pipes shared by the server's end (the
//! driver's connection type) and the client's, the waiter of a passive listener, and the
//! server's end of a control connection as a reader.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

use crate::driver::Waiter;

/// Bytes a data connection holds in one direction before the writer must wait (the socket
/// buffers of both ends together).
pub(super) const DATA_BUFFER: usize = 16 * 1024;

/// One data connection, both directions.
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
}

pub(super) type PipeRef = Rc<RefCell<Pipe>>;

/// The server's end of a data connection: the driver's `S`. Dropping it closes it, as dropping
/// a socket does.
pub(super) struct SimData(pub(super) PipeRef);

impl Drop for SimData {
    fn drop(&mut self) {
        self.0.borrow_mut().server_closed = true;
    }
}

impl fmt::Debug for SimData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimData")
    }
}

/// A passive listener's accepting side, or an active connect under way. Dropping it closes the
/// listener: a client connecting later is refused.
#[derive(Debug)]
pub(super) struct SimWaiter {
    pub(super) open: Rc<Cell<bool>>,
}

impl SimWaiter {
    pub(super) fn new() -> (SimWaiter, Rc<Cell<bool>>) {
        let open = Rc::new(Cell::new(true));
        (
            SimWaiter {
                open: Rc::clone(&open),
            },
            open,
        )
    }
}

impl Drop for SimWaiter {
    fn drop(&mut self) {
        self.open.set(false);
    }
}

impl Waiter for SimWaiter {
    fn accept_again(&mut self) {}
}

/// How the client's sending side of the control connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    Fin,
    Reset,
}

/// The server's end of a control connection: what has arrived and not been read yet.
#[derive(Debug, Default)]
pub(super) struct ControlIn {
    pub(super) bytes: VecDeque<u8>,
    /// Set once every byte before it has arrived.
    pub(super) end: Option<End>,
    /// The most the next read returns (a partial read), at least 1.
    pub(super) next_read: usize,
}

impl Read for ControlIn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.bytes.is_empty() {
            return match self.end {
                None => Err(io::ErrorKind::WouldBlock.into()),
                Some(End::Fin) => Ok(0),
                Some(End::Reset) => Err(io::ErrorKind::ConnectionReset.into()),
            };
        }
        let n = buf.len().min(self.bytes.len()).min(self.next_read.max(1));
        for (slot, byte) in buf.iter_mut().zip(self.bytes.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}
