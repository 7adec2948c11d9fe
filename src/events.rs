//! The two surfaces of a [`Session`](crate::Session): what goes in ([`Input`]) and what comes
//! out ([`Output`]).

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use crate::auth::AuthResult;
use crate::fs::{FsError, FsOp, FsReply};
use crate::ids::{AuthId, DataId, FsId, TransferId};
use crate::path::VirtualPath;
use crate::reply::Reply;
use crate::tls::{DataProtection, TlsInfo};

/// One event for [`Session::handle_input`](crate::Session::handle_input).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// Bytes read from the control connection: any chunk, even half a line or many lines.
    ControlBytes(Bytes),
    /// The client closed the control connection (or reading it failed).
    ControlEof,
    /// The deadline from [`Session::poll_timeout`](crate::Session::poll_timeout) has passed.
    /// Feeding it early does nothing.
    Timeout,
    /// The server is shutting down and this session must end now. A running transfer is
    /// stopped ([`Output::AbortTransfer`]); once the runtime reports it ended
    /// ([`Input::TransferDone`]) the client gets its `426`, then `421` and
    /// [`Output::CloseSession`]. Without a running transfer the `421` and the close come at
    /// once. Control bytes that arrive meanwhile are discarded; feeding it again does nothing.
    Shutdown,
    /// The TLS handshake asked for by [`Output::SecureControl`] succeeded: from now on every
    /// control byte read and written is TLS (decrypt before feeding
    /// [`Input::ControlBytes`]; encrypt every reply). Bytes the client sent before it are
    /// discarded. In implicit FTPS ([`Session::new_implicit_tls`]) the `220` greeting follows.
    ///
    /// Boxed, so that every other input stays small.
    ///
    /// [`Session::new_implicit_tls`]: crate::Session::new_implicit_tls
    ControlSecured(Box<TlsInfo>),
    /// The TLS handshake asked for by [`Output::SecureControl`] failed: the session closes
    /// ([`Output::CloseSession`]) with no reply (the connection is in no state to carry one).
    ControlTlsFailed,
    /// The answer to an [`Output::Fs`].
    Fs {
        /// The request's id.
        id: FsId,
        /// What happened.
        result: Result<FsReply, FsError>,
    },
    /// The answer to an [`Output::Authenticate`].
    Auth {
        /// The request's id.
        id: AuthId,
        /// Accepted (with permissions) or refused.
        result: AuthResult,
    },
    /// The listener asked for by [`Output::OpenPassive`] is accepting connections on `addr`.
    PassiveListening {
        /// The request's id.
        id: DataId,
        /// The address the listener is bound to (its port goes into the `227`/`229` reply).
        addr: SocketAddr,
    },
    /// The listener asked for by [`Output::OpenPassive`] could not be opened (no free port).
    PassiveFailed {
        /// The request's id.
        id: DataId,
    },
    /// A data connection was established: accepted on the passive listener `id`, or connected
    /// out for [`Output::Connect`]. The session may answer with
    /// [`Output::RefuseDataConnection`] (it came from the wrong address); otherwise the runtime
    /// keeps the connection under `id` and stops accepting on the listener.
    DataConnected {
        /// The listener's or the connect's id.
        id: DataId,
        /// The remote address of the data connection.
        peer: SocketAddr,
    },
    /// The active connection asked for by [`Output::Connect`] failed.
    ConnectFailed {
        /// The request's id.
        id: DataId,
    },
    /// The source or target of the transfer started by [`Output::StartTransfer`] is open (the
    /// file for reading or writing, the directory for a listing): the session answers with the
    /// `150` and then [`Output::MoveBytes`]. If it cannot be opened, answer
    /// [`Input::TransferDone`] with the error instead: the client then gets its `4xx`/`5xx` and
    /// never a `150`.
    TransferOpened {
        /// The transfer's id.
        id: TransferId,
    },
    /// The transfer started by [`Output::StartTransfer`] ended (or could not be opened), and the
    /// runtime has closed its data connection.
    TransferDone {
        /// The transfer's id.
        id: TransferId,
        /// Bytes moved over the data connection, or why it failed.
        result: Result<u64, TransferError>,
    },
}

/// Why a transfer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum TransferError {
    /// The data connection broke (or the client closed it early on a download).
    ConnectionLost,
    /// The runtime stopped it after [`Output::AbortTransfer`].
    Aborted,
    /// Opening, reading or writing the file failed.
    Fs(FsError),
    /// The TLS handshake on a [`DataProtection::Private`] data connection failed (the client
    /// gets `425`). Nothing was read from or written to the file.
    TlsFailed,
    /// The TLS handshake on a [`DataProtection::Private`] data connection did not resume the
    /// control connection's TLS session, and the runtime requires it to (so that only the
    /// client holding the control connection can use the data connection; the client gets
    /// `522`). Nothing was read from or written to the file.
    TlsNotResumed,
}

/// What the runtime must do next, from [`Session::poll_output`](crate::Session::poll_output).
/// Carry the outputs out in the order they come.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "every output is an obligation for the runtime"]
pub enum Output {
    /// Write these bytes to the control connection.
    Reply(Reply),
    /// Carry out a filesystem operation and answer with [`Input::Fs`].
    Fs {
        /// Hand it back in the answer.
        id: FsId,
        /// The operation. Its paths are virtual paths beneath the root.
        op: FsOp,
    },
    /// Check a user name and password and answer with [`Input::Auth`]. Never block the event loop
    /// while doing so (password hashes are slow on purpose). Never log the password.
    Authenticate {
        /// Hand it back in the answer.
        id: AuthId,
        /// The name given with `USER`.
        user: String,
        /// The password given with `PASS`.
        password: String,
    },
    /// Open a passive data listener on `ip` (any port the runtime's range allows) and answer with
    /// [`Input::PassiveListening`] or [`Input::PassiveFailed`]; then report the connection with
    /// [`Input::DataConnected`].
    OpenPassive {
        /// The listener's id.
        id: DataId,
        /// The local address to listen on: the control connection's local address.
        ip: IpAddr,
    },
    /// Connect to the client's `addr` (active mode, `PORT`/`EPRT`) and answer with
    /// [`Input::DataConnected`] or [`Input::ConnectFailed`].
    Connect {
        /// The connection's id.
        id: DataId,
        /// Where to connect.
        addr: SocketAddr,
    },
    /// Close the data connection just reported by [`Input::DataConnected`] for `id` (it came from
    /// an address other than the client's) and keep accepting on the listener.
    RefuseDataConnection {
        /// The listener's id.
        id: DataId,
    },
    /// Close the listener, pending connect or idle data connection of `id`.
    CloseData {
        /// The channel's id.
        id: DataId,
    },
    /// Write every reply queued before this output, then run a TLS server handshake on the
    /// control connection, and answer [`Input::ControlSecured`] or [`Input::ControlTlsFailed`].
    /// It follows the `234` to `AUTH TLS` (or `AUTH SSL`, `AUTH TLS-C`), or comes first of all
    /// in a session made with [`Session::new_implicit_tls`]. Until the answer, feed no control
    /// bytes (the handshake reads them); the session discards any it was fed after the `AUTH`
    /// line (STARTTLS command injection, CVE-2011-0411) and emits no reply. A deadline that
    /// passes meanwhile closes the session with no reply.
    ///
    /// [`Session::new_implicit_tls`]: crate::Session::new_implicit_tls
    SecureControl,
    /// Write every reply queued before this output (the `200` to `CCC`) through TLS, send TLS
    /// `close_notify` on the control connection, and from then on read and write the control
    /// connection in clear text. Data connections keep the protection `PROT` set.
    ClearControl,
    /// Open what transfer `id` reads or writes (`kind` says which: the file for reading or
    /// writing, the directory for a listing), moving no byte yet, and answer with
    /// [`Input::TransferOpened`], or with [`Input::TransferDone`] carrying
    /// [`TransferError::Fs`] if it cannot be opened. The data connection `data` is there (the
    /// runtime now holds it for the transfer). Nothing has been replied yet: the `150` follows
    /// the runtime's [`Input::TransferOpened`], then [`Output::MoveBytes`].
    StartTransfer {
        /// The transfer's id.
        id: TransferId,
        /// The connected data channel to use.
        data: DataId,
        /// What to move.
        kind: TransferKind,
        /// With [`DataProtection::Private`], run a TLS server handshake on the data connection
        /// after the `150` (when carrying out [`Output::MoveBytes`]), before any byte moves; if
        /// it fails, end the transfer with [`TransferError::TlsFailed`] (or
        /// [`TransferError::TlsNotResumed`]) having read or written nothing.
        protection: DataProtection,
    },
    /// The transfer `id` is open and its `150` is the reply just before this output: move its
    /// bytes over its data connection now (after the `150` is written), close the connection,
    /// then answer with [`Input::TransferDone`].
    MoveBytes {
        /// The transfer's id.
        id: TransferId,
    },
    /// Stop the transfer `id` as soon as possible, whether it is being opened or moving bytes;
    /// it still ends with [`Input::TransferDone`] (with [`TransferError::Aborted`], or whatever
    /// it finished with), and never with [`Input::TransferOpened`] being needed first.
    AbortTransfer {
        /// The transfer's id.
        id: TransferId,
    },
    /// Close the control connection (after writing every reply before this output), the data
    /// connections and listeners of this session. Nothing more comes from the session.
    CloseSession,
}

/// What a transfer moves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferKind {
    /// Send the file at `path` from byte `offset` (after `REST`) to its end. With `ascii`, convert
    /// each buffer with [`AsciiEncoder`](crate::ascii::AsciiEncoder) (LF → CRLF).
    SendFile {
        /// The file.
        path: VirtualPath,
        /// Where to start reading.
        offset: u64,
        /// `TYPE A`: convert line ends.
        ascii: bool,
    },
    /// Receive the data connection's bytes into the file at `path` until the client closes it.
    /// With `ascii`, convert each buffer with [`AsciiDecoder`](crate::ascii::AsciiDecoder)
    /// (CRLF → LF).
    ReceiveFile {
        /// The file.
        path: VirtualPath,
        /// How to open it.
        mode: WriteMode,
        /// `TYPE A`: convert line ends.
        ascii: bool,
    },
    /// Send these bytes (a rendered listing), already in wire form.
    SendBytes(Bytes),
    /// Send the listing of the directory `path` in `format`, rendering each entry with
    /// [`listing::render_entry`](crate::listing::render_entry) and the runtime's wall-clock
    /// time, in bounded chunks, so that memory stays flat for any directory (`LIST`, `NLST`,
    /// `MLSD`). Leave out what [`FsOp::ListDir`] would leave out. Opening it (before the `150`)
    /// opens the directory; a missing one is [`FsError::NotFound`]. A `path` that names
    /// something other than a directory is listed as that one entry under the name `name` (what
    /// the client asked for) for [`ListFormat::List`](crate::listing::ListFormat::List) and
    /// [`ListFormat::Nlst`](crate::listing::ListFormat::Nlst), and is
    /// [`FsError::NotADirectory`] for [`ListFormat::Mlsd`](crate::listing::ListFormat::Mlsd)
    /// (RFC 3659 7.1: `MLSD` lists directories only). Stop reading the directory once the
    /// transfer is aborted or its connection is lost.
    SendListing {
        /// The directory.
        path: VirtualPath,
        /// How each entry looks.
        format: crate::listing::ListFormat,
        /// The name a single file is listed under.
        name: String,
    },
}

/// How a [`TransferKind::ReceiveFile`] writes its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteMode {
    /// `STOR`: replace the file. Storage must not destroy an existing file until the upload is
    /// complete: write a temporary file and rename it into place at the end.
    Replace,
    /// `REST n` + `STOR`: keep the first `n` bytes of the existing file and write from there.
    Resume(u64),
    /// `APPE`: add to the end (create if missing).
    Append,
    /// `STOU`: write into the new, empty file made by [`FsOp::CreateUnique`].
    New,
}
