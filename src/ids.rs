//! Typed ids for the requests a [`Session`](crate::Session) makes.
//!
//! Each request the core emits carries an id; the runtime hands it back with the answer. The ids are
//! small newtypes so that a filesystem id cannot be passed where a data-connection id is expected.

use core::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        pub struct $name(u64);

        impl $name {
            /// Builds an id from its raw number. Runtimes never need this (they hand back the ids they
            /// were given); it exists for tests and fuzzers that forge answers.
            pub const fn from_raw(raw: u64) -> Self {
                Self(raw)
            }

            /// The raw number, e.g. for a runtime's map from ids to sockets or tasks.
            pub const fn raw(self) -> u64 {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    };
}

id_type!(
    /// Identifies one filesystem request ([`Output::Fs`](crate::Output::Fs)).
    FsId,
    "fs"
);
id_type!(
    /// Identifies one authentication request ([`Output::Authenticate`](crate::Output::Authenticate)).
    AuthId,
    "auth"
);
id_type!(
    /// Identifies one data channel: a passive listener or an active connection, and the data
    /// connection it yields.
    DataId,
    "data"
);
id_type!(
    /// Identifies one transfer over a data connection ([`Output::StartTransfer`](crate::Output::StartTransfer)).
    TransferId,
    "xfer"
);

/// Hands out ids in increasing order, one counter per session for all kinds.
#[derive(Debug, Default)]
pub(crate) struct IdSource {
    next: u64,
}

impl IdSource {
    pub(crate) fn next(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}
