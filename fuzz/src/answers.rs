//! Answers the driver builds: fitting, plausible and forged ones, and what each input weighs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thinftp::{
    AuthId, AuthResult, DataId, FsId, FsOp, FsReply, Input, Listing, Metadata, Permissions,
    TransferId, VirtualPath,
};

use crate::scenario::{Flavor, Forged, ForgedKind};

/// The paths an operation touches.
pub fn op_paths(op: &FsOp) -> Vec<&VirtualPath> {
    match op {
        FsOp::Stat(p)
        | FsOp::ListDir(p)
        | FsOp::ListDirFirst { path: p, .. }
        | FsOp::ListNames(p)
        | FsOp::MakeDir(p)
        | FsOp::RemoveDir(p)
        | FsOp::RemoveFile(p)
        | FsOp::SetModified { path: p, .. }
        | FsOp::SetMode { path: p, .. }
        | FsOp::Hash { path: p, .. }
        | FsOp::FreeSpace(p) => {
            vec![p]
        }
        FsOp::Rename { from, to } => vec![from, to],
        FsOp::CreateUnique { dir } => vec![dir],
        other => unimplemented!("the fuzzer does not know {other:?} yet"),
    }
}

/// Whether an answer is of the shape the operation calls for (any error is). The core trusts
/// the rest, e.g. the name of a file [`FsReply::Created`] reports.
pub fn shaped(op: &FsOp, result: &Result<FsReply, thinftp::FsError>) -> bool {
    matches!(
        (op, result),
        (_, Err(_))
            | (FsOp::Stat(_), Ok(FsReply::Metadata(_)))
            | (
                FsOp::ListDir(_) | FsOp::ListDirFirst { .. } | FsOp::ListNames(_),
                Ok(FsReply::Listing(_) | FsReply::Entry { .. }),
            )
            | (FsOp::CreateUnique { .. }, Ok(FsReply::Created(_)))
            | (
                FsOp::MakeDir(_)
                    | FsOp::RemoveDir(_)
                    | FsOp::RemoveFile(_)
                    | FsOp::Rename { .. }
                    | FsOp::SetModified { .. }
                    | FsOp::SetMode { .. },
                Ok(FsReply::Done),
            )
            | (FsOp::Hash { .. }, Ok(FsReply::Hash { .. }))
            | (FsOp::FreeSpace(_), Ok(FsReply::FreeSpace(_)))
    )
}

/// The fitting answer to `op`, with the fuzzer's content.
pub fn fitting(op: &FsOp, metadata: Metadata, listing: Listing, name: &str) -> FsReply {
    match op {
        FsOp::Stat(_) => FsReply::Metadata(metadata),
        FsOp::ListDir(_) | FsOp::ListDirFirst { .. } | FsOp::ListNames(_) => {
            FsReply::Listing(listing)
        }
        FsOp::CreateUnique { dir } => FsReply::Created(created(dir, name)),
        // The digest's bytes and sizes come from the fuzzer's metadata: any value is plausible.
        FsOp::Hash { .. } => FsReply::Hash {
            digest: name.as_bytes().to_vec(),
            size: metadata.size,
        },
        FsOp::FreeSpace(_) => FsReply::FreeSpace(metadata.size),
        _ => FsReply::Done,
    }
}

/// `dir/name`, with `name` made one valid path component.
pub fn created(dir: &VirtualPath, name: &str) -> VirtualPath {
    let clean: String = name
        .chars()
        .filter(|c| !matches!(c, '/' | '\0' | '\r' | '\n'))
        .collect();
    let clean = if matches!(clean.as_str(), "" | "." | "..") {
        "unique.1"
    } else {
        &clean
    };
    dir.resolve(clean).unwrap_or_else(|_| dir.clone())
}

/// What a real filesystem might answer.
pub fn plausible(op: &FsOp, flavor: Flavor) -> Result<FsReply, thinftp::FsError> {
    let modified = Some(1_700_000_000);
    Ok(match op {
        FsOp::Stat(_) if flavor.missing => return Err(thinftp::FsError::NotFound),
        FsOp::Stat(p) if flavor.dirs || p.is_root() => FsReply::Metadata(Metadata::dir(modified)),
        FsOp::Stat(_) => FsReply::Metadata(Metadata::file(u64::from(flavor.size), modified)),
        FsOp::ListNames(_) => {
            // As a disk storage answers: names and kinds, every other field a default.
            let entry = |name: &str, kind| {
                let mut bare = Metadata::file(0, None);
                bare.kind = kind;
                thinftp::DirEntry::new(name.to_owned(), bare)
            };
            let entries = vec![
                entry("a", thinftp::FileKind::File),
                entry("dir", thinftp::FileKind::Dir),
                entry("l", thinftp::FileKind::Symlink),
            ];
            FsReply::Listing(Listing::new(entries, 0))
        }
        FsOp::ListDir(_) | FsOp::ListDirFirst { .. } => {
            let mut link = Metadata::file(1, modified);
            link.kind = thinftp::FileKind::Symlink;
            link.symlink_target = Some("a".to_owned());
            let entries = [
                ("a", Metadata::file(3, modified)),
                ("dir", Metadata::dir(Some(0))),
                ("l", link),
            ];
            let entries = entries
                .into_iter()
                .map(|(name, metadata)| thinftp::DirEntry::new(name.to_owned(), metadata))
                .collect();
            FsReply::Listing(Listing::new(entries, 1_700_000_100))
        }
        FsOp::CreateUnique { dir } => FsReply::Created(created(dir, "unique.1")),
        _ => FsReply::Done,
    })
}

/// An address surely not the client's.
pub fn stranger(client: IpAddr, n: u8) -> IpAddr {
    match client {
        IpAddr::V4(_) => Ipv4Addr::new(198, 51, 100, n).into(),
        IpAddr::V6(_) => Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, u16::from(n)).into(),
    }
}

/// An answer with an id of the fuzzer's choosing.
pub fn forge(forged: Forged, client: SocketAddr) -> Input {
    let raw = if forged.unheard_of {
        forged.raw | 1 << 62
    } else {
        forged.raw
    };
    let data = DataId::from_raw(raw);
    match forged.kind {
        ForgedKind::Fs(result) => Input::Fs {
            id: FsId::from_raw(raw),
            result,
        },
        ForgedKind::Auth(ok) => {
            let result = if ok {
                AuthResult::Accepted(Permissions::read_only())
            } else {
                AuthResult::Refused
            };
            Input::Auth {
                id: AuthId::from_raw(raw),
                result,
            }
        }
        ForgedKind::PassiveListening(port) => Input::PassiveListening {
            id: data,
            addr: SocketAddr::new(client.ip(), port),
        },
        ForgedKind::PassiveFailed => Input::PassiveFailed { id: data },
        ForgedKind::DataConnected(port) => Input::DataConnected {
            id: data,
            peer: SocketAddr::new(client.ip(), port),
        },
        ForgedKind::ConnectFailed => Input::ConnectFailed { id: data },
        ForgedKind::TransferDone(result) => Input::TransferDone {
            id: TransferId::from_raw(raw),
            result,
        },
        ForgedKind::TransferOpened => Input::TransferOpened {
            id: TransferId::from_raw(raw),
        },
    }
}

/// How much an input may make the session say: its bytes, and the text inside answers.
pub fn weight(input: &Input) -> u64 {
    let text = |s: &str| s.len() as u64;
    match input {
        Input::ControlBytes(b) => b.len() as u64,
        Input::Fs {
            result: Ok(FsReply::Listing(l)),
            ..
        } => l
            .entries
            .iter()
            .map(|e| 128 + text(&e.name) + e.metadata.symlink_target.as_deref().map_or(0, text))
            .sum(),
        Input::Fs {
            result: Ok(FsReply::Metadata(m)),
            ..
        } => 64 + m.symlink_target.as_deref().map_or(0, text),
        Input::Fs {
            result: Ok(FsReply::Created(p)),
            ..
        } => text(p.as_str()),
        Input::Auth {
            result: AuthResult::Accepted(p),
            ..
        } => text(p.home.as_str()),
        _ => 0,
    }
}
