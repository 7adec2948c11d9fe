//! What the [`Driver`](super::Driver) asks of a runtime, and what the runtime gives it to hold.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use thinftp::DataId;

use super::work::Job;

/// One thing for the runtime to do, from [`Driver::poll_action`](super::Driver::poll_action).
/// Carry the actions out in the order they come, each before asking for the next.
#[derive(Debug)]
#[non_exhaustive]
#[must_use = "every action is an obligation for the runtime"]
pub enum Action<S> {
    /// Write all of these bytes (a batch of replies) to the control connection. If that fails,
    /// or takes longer than [`Driver::write_timeout`](super::Driver::write_timeout) (the client
    /// stopped reading), call [`Driver::write_failed`](super::Driver::write_failed).
    Write(Vec<u8>),
    /// Run this job off the loop and report the [`Completion`](super::Completion) that
    /// [`Job::run`] returns. If it cannot be started, report [`Job::not_started`] instead (as
    /// [`Completion::Input`](super::Completion::Input)).
    Run(Job<S>),
    /// Bind a passive data listener on `ip` (for real sockets:
    /// [`Host::open_passive`](crate::Host::open_passive)), start accepting one connection on it,
    /// and hand the [`Waiter`] and the listener's address to
    /// [`Driver::listening`](super::Driver::listening) at once (or why binding failed). Report
    /// the connection as [`Completion::Accepted`](super::Completion::Accepted).
    Listen {
        /// The channel.
        id: DataId,
        /// The local address to listen on.
        ip: IpAddr,
        /// The client's address, for [`Host::open_passive`](crate::Host::open_passive), which
        /// caps the listeners one client holds.
        client: IpAddr,
    },
    /// Connect to the client's `addr`, giving up after `timeout`: hand the [`Waiter`] to
    /// [`Driver::connecting`](super::Driver::connecting) at once, and report the end as
    /// [`Completion::Connected`](super::Completion::Connected).
    Connect {
        /// The channel.
        id: DataId,
        /// Where to connect.
        addr: SocketAddr,
        /// How long the connect may take.
        timeout: Duration,
    },
    /// Make the session's timer fire at this instant, in place of any earlier arming, and call
    /// [`Driver::timer_fired`](super::Driver::timer_fired) when it does. (A timer left armed
    /// from before is harmless: firing early does nothing.)
    ArmTimer(Instant),
    /// The session has ended and every reply is written: shut down the write half of the
    /// control connection (the client reads FIN after the last reply), then drop the driver,
    /// which closes the rest. Nothing more comes.
    Close,
}

/// What waits for a data connection on the runtime's side: a thread or task accepting on a
/// passive listener, or one connecting out. The driver holds it while its channel waits, and
/// drops it once the channel no longer wants a connection: dropping it must stop the wait and,
/// for a passive one, close the listener (or at least make its report harmless: the driver
/// ignores connections for channels it no longer has).
pub trait Waiter {
    /// The core refused the connection this passive waiter reported (it came from another
    /// address than the client's): accept the next one on the same listener and report it the
    /// same way. Never called for a connect.
    fn accept_again(&mut self);
}

/// Whether the runtime's loop may block, which decides what work runs on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Blocking {
    /// The loop is the session's own thread (thread per session): filesystem requests and
    /// password checks run on it, as a thread each would cost more than the work (a stat takes
    /// microseconds) and what the client sends meanwhile waits in the socket. Transfers are
    /// [`Action::Run`] jobs.
    Allowed,
    /// The loop serves many sessions (a task per session): only work that takes no time runs on
    /// it (a login whose check computes no password hash, a `stat` where the session's storage
    /// is local: [`Capabilities::local`](crate::storage::Capabilities::local)); everything else
    /// is an [`Action::Run`] job.
    Never,
}
