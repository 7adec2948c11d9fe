//! The simulated network's control side: the waiter of a passive listener and the server's end
//! of a control connection as a reader (data connections are in `data.rs`).

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::rc::Rc;

use crate::driver::Waiter;

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
