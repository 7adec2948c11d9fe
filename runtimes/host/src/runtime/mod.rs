//! What every runtime adapter would otherwise write for itself, written once: the session loop's
//! decisions around the [`Driver`](crate::driver::Driver), the data channels' waits, the accept
//! loop's admission and the thread counts the server is sized by.
//!
//! An adapter (`thinftp-std`, `thinftp-smol`) then owns sockets and a way to wait, and nothing of
//! FTP. It implements [`Runtime`] (how a session's helpers run and report back) and writes three
//! loops around this module's types:
//!
//! - **Accepting** control connections, one loop per listener of the [`Server`]: hand each result
//!   of `accept` to [`Acceptor::accepted`] and do what the [`Accepted`] says (start the
//!   [`NewSession`], pause, take the next, stop). [`Acceptor::stop_on_shutdown`] wakes the loop
//!   when the server shuts down; once every loop has ended, call
//!   [`Lifecycle::drain`](crate::shutdown::Lifecycle::drain).
//! - **A session**: [`NewSession::start`] gives the control connection and its [`SessionLoop`].
//!   Carry out [`SessionLoop::poll_io`] until it gives `None` (write bytes, arm the timer, close);
//!   then [`SessionLoop::look`] for what came, and wait (on the control connection if
//!   [`SessionLoop::wants_control`], the reports, the timer) when it says [`Look::Wait`].
//! - **Waiting for a data connection** ([`Runtime::accept`], [`Runtime::connect`]): accept or
//!   connect, and hand the result to the [`DataChannel`].
//!
//! [`Server`]: crate::server::Server

mod accept;
pub mod capacity;
mod data;
mod session;
pub mod threads;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub use accept::{Accepted, Acceptor, NewSession};
pub use data::{DataChannel, DataWait};
pub use session::{Io, Look, SessionLoop};

use crate::driver::{Blocking, Completion};

/// How one session's helpers run and report back, in a runtime: a handle cloned into every
/// helper (a channel's sending end, say), so it must be cheap to clone.
pub trait Runtime: Clone + Send + 'static {
    /// Whether the session's loop may block (a thread per session) or not (a task per session):
    /// see [`Blocking`].
    const BLOCKING: Blocking;
    /// A started wait for a data connection. The session holds it while the channel waits and
    /// drops it when the channel no longer wants a connection: dropping it may cancel it (a
    /// task), or do nothing (a thread, which then sees its listener closed).
    type Wait;

    /// Runs `work` off the session's loop (a thread, a blocking pool). Fails only if it could
    /// not be started; `work` is then dropped unrun.
    fn spawn(&self, work: impl FnOnce() + Send + 'static) -> io::Result<()>;

    /// Starts waiting for one connection on `listener`: accept, and hand each result to
    /// [`DataChannel::accepted`] until it says the wait is over (pausing as long as it says
    /// between tries).
    fn accept(
        &self,
        listener: Arc<TcpListener>,
        channel: DataChannel<Self>,
    ) -> io::Result<Self::Wait>;

    /// Starts connecting to `addr`, giving up after `timeout`, and hands the result to
    /// [`DataChannel::connected`]. The connection must be a blocking socket (or made one: the
    /// transfers set it so).
    fn connect(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        channel: DataChannel<Self>,
    ) -> io::Result<Self::Wait>;

    /// Hands `completion` to the session's loop and wakes it (without blocking: it may be
    /// called from any thread, and by the server's shutdown). Dropped if the session has ended.
    fn report(&self, completion: Completion<TcpStream>);
}

#[cfg(test)]
mod tests;
