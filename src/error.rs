//! Errors in how a runtime drives a [`Session`](crate::Session). The client is never an error.

use core::fmt;

/// Which kind of request an answer claimed to answer: the id type it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestKind {
    /// [`Output::Fs`](crate::Output::Fs), answered by [`Input::Fs`](crate::Input::Fs).
    Filesystem,
    /// [`Output::Authenticate`](crate::Output::Authenticate), answered by
    /// [`Input::Auth`](crate::Input::Auth).
    Authentication,
    /// [`Output::OpenPassive`](crate::Output::OpenPassive) or
    /// [`Output::Connect`](crate::Output::Connect), answered by `PassiveListening`,
    /// `PassiveFailed`, `DataConnected` or `ConnectFailed`.
    DataChannel,
    /// [`Output::StartTransfer`](crate::Output::StartTransfer), answered by
    /// [`Input::TransferDone`](crate::Input::TransferDone).
    Transfer,
}

impl RequestKind {
    fn name(self) -> &'static str {
        match self {
            Self::Filesystem => "filesystem",
            Self::Authentication => "authentication",
            Self::DataChannel => "data channel",
            Self::Transfer => "transfer",
        }
    }
}

/// A runtime fed an input the session cannot take as it is: a bug in the runtime (or, for
/// [`Stale`](Self::Stale), a harmless race), never the client's doing.
///
/// For every kind but [`WrongShape`](Self::WrongShape) the session is unchanged and emits
/// nothing: drop whatever the input carried (e.g. close a data connection reported for a
/// listener that was already closed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriveError {
    /// The id was never handed out for this kind of request.
    NeverIssued {
        /// The kind of request the answer was for.
        request: RequestKind,
        /// The id it carried.
        id: u64,
    },
    /// The id was handed out, but the session no longer waits for this answer: it was answered
    /// already, or `ABOR`, `QUIT`, a new `PASV` or the data timeout dropped it. Normal when an
    /// answer races such a command, so a runtime may ignore it ([`is_stale`](Self::is_stale)).
    ///
    /// Ids more than a thousand requests old are reported stale whatever kind they were
    /// issued as: the session remembers the kind of recent ids only.
    Stale {
        /// The kind of request the answer was for.
        request: RequestKind,
        /// The id it carried.
        id: u64,
    },
    /// The answer to an outstanding filesystem request is of the wrong shape for it (say
    /// [`FsReply::Done`](crate::FsReply::Done) for a [`FsOp::Stat`](crate::FsOp::Stat)): a
    /// storage bug. Unlike the other kinds the session *did* take it: the request is over, the
    /// client got a `451` and the data channel the command would have used is closed. Drain
    /// [`poll_output`](crate::Session::poll_output) as usual.
    WrongShape {
        /// The id of the request.
        id: u64,
    },
    /// An input arrived after [`Output::CloseSession`](crate::Output::CloseSession).
    Closed,
    /// [`Input::ControlSecured`](crate::Input::ControlSecured) or
    /// [`Input::ControlTlsFailed`](crate::Input::ControlTlsFailed) came, but no
    /// [`Output::SecureControl`](crate::Output::SecureControl) is waiting for its answer.
    TlsNotRequested,
}

impl DriveError {
    /// Whether this is a late answer to a request the session stopped waiting for: a race a
    /// runtime may ignore, not a bug.
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::Stale { .. })
    }
}

impl fmt::Display for DriveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NeverIssued { request, id } => {
                write!(f, "no {} request was ever given id {id}", request.name())
            }
            Self::Stale { request, id } => write!(
                f,
                "{} request {id} is no longer awaited (a late answer)",
                request.name()
            ),
            Self::WrongShape { id } => write!(
                f,
                "the answer to filesystem request {id} is of the wrong kind for its operation"
            ),
            Self::Closed => f.write_str("the session is closed"),
            Self::TlsNotRequested => {
                f.write_str("a TLS handshake was reported, but none was asked for")
            }
        }
    }
}

impl std::error::Error for DriveError {}
