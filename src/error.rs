//! Errors in how a runtime drives a [`Session`](crate::Session). The client is never an error.

use core::fmt;

/// A runtime fed an input the session did not ask for. This is a bug in the runtime, not in the
/// client: the session's state is unchanged and it can go on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriveError {
    /// An answer carried an id that no outstanding request has.
    UnknownId(&'static str, u64),
    /// An input arrived after [`Output::CloseSession`](crate::Output::CloseSession).
    Closed,
}

impl fmt::Display for DriveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownId(kind, raw) => {
                write!(f, "no outstanding {kind} request has id {raw}")
            }
            Self::Closed => f.write_str("the session is closed"),
        }
    }
}

impl std::error::Error for DriveError {}
