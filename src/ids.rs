//! Typed ids for the requests a [`Session`](crate::Session) makes.
//!
//! Each request the core emits carries an id; the runtime hands it back with the answer. The ids are
//! small newtypes so that a filesystem id cannot be passed where a data-connection id is expected.

use core::fmt;

use crate::error::{DriveError, RequestKind};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        pub struct $name(u64);

        impl $name {
            /// Builds an id from its raw number. Runtimes never need this (they hand back the ids they
            /// were given); it exists for tests and fuzzers that forge answers.
            #[doc(hidden)]
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

/// How many of the newest ids the session remembers the kind of, to tell a stale answer from
/// one with an id never issued for its kind (2 bits each: 256 bytes).
pub const KIND_WINDOW: u64 = 1024;

/// Hands out ids in increasing order, one counter per session for all kinds (so a runtime may
/// key one map by raw ids of every kind), and remembers which kind each recent id went to.
#[derive(Debug)]
pub(crate) struct IdSource {
    next: u64,
    /// `KIND_WINDOW` 2-bit kinds, the kind of id `n` at slot `n % KIND_WINDOW`.
    kinds: [u64; (KIND_WINDOW / 32) as usize],
}

impl Default for IdSource {
    fn default() -> Self {
        Self {
            next: 0,
            kinds: [0; (KIND_WINDOW / 32) as usize],
        }
    }
}

/// Whether an id was handed out for a kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Issued {
    Yes,
    No,
}

impl IdSource {
    /// A fresh id for a request of `kind`.
    pub(crate) fn next(&mut self, kind: RequestKind) -> u64 {
        self.next += 1;
        let (word, shift) = slot(self.next);
        self.kinds[word] = (self.kinds[word] & !(0b11 << shift)) | (code(kind) << shift);
        self.next
    }

    /// Whether `raw` went out for a request of `kind`. An id older than the window went out
    /// for some request: it counts as issued.
    pub(crate) fn issued(&self, raw: u64, kind: RequestKind) -> Issued {
        if raw == 0 || raw > self.next {
            return Issued::No;
        }
        if self.next - raw >= KIND_WINDOW {
            return Issued::Yes;
        }
        let (word, shift) = slot(raw);
        if (self.kinds[word] >> shift) & 0b11 == code(kind) {
            Issued::Yes
        } else {
            Issued::No
        }
    }

    /// The error for an answer with id `raw` that no outstanding request of `kind` has.
    pub(crate) fn unawaited(&self, raw: u64, kind: RequestKind) -> DriveError {
        match self.issued(raw, kind) {
            Issued::Yes => DriveError::Stale {
                request: kind,
                id: raw,
            },
            Issued::No => DriveError::NeverIssued {
                request: kind,
                id: raw,
            },
        }
    }
}

fn slot(raw: u64) -> (usize, u32) {
    let at = raw % KIND_WINDOW;
    ((at / 32) as usize, (at % 32 * 2) as u32)
}

fn code(kind: RequestKind) -> u64 {
    match kind {
        RequestKind::Filesystem => 0,
        RequestKind::Authentication => 1,
        RequestKind::DataChannel => 2,
        RequestKind::Transfer => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_stale_from_never_issued_per_kind() {
        let mut ids = IdSource::default();
        let fs = ids.next(RequestKind::Filesystem);
        let data = ids.next(RequestKind::DataChannel);
        assert_eq!(ids.issued(fs, RequestKind::Filesystem), Issued::Yes);
        assert_eq!(ids.issued(data, RequestKind::Filesystem), Issued::No);
        assert_eq!(ids.issued(data, RequestKind::DataChannel), Issued::Yes);
        assert_eq!(ids.issued(0, RequestKind::Filesystem), Issued::No);
        assert_eq!(ids.issued(data + 1, RequestKind::DataChannel), Issued::No);
        assert!(ids.unawaited(fs, RequestKind::Filesystem).is_stale());
        assert!(!ids.unawaited(fs, RequestKind::Transfer).is_stale());
    }

    #[test]
    fn the_window_wraps_and_old_ids_count_as_issued() {
        let mut ids = IdSource::default();
        let first = ids.next(RequestKind::Authentication);
        for _ in 0..KIND_WINDOW {
            ids.next(RequestKind::Transfer);
        }
        // The slot of `first` now holds a transfer id; `first` itself is out of the window.
        assert_eq!(ids.issued(first, RequestKind::Filesystem), Issued::Yes);
        let newest = ids.next(RequestKind::Filesystem);
        assert_eq!(ids.issued(newest, RequestKind::Filesystem), Issued::Yes);
        assert_eq!(ids.issued(newest - 1, RequestKind::Filesystem), Issued::No);
        assert_eq!(ids.issued(newest - 1, RequestKind::Transfer), Issued::Yes);
    }
}
