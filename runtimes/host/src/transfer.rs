//! Moving a transfer's bytes between the storage and a data connection (blocking), in two steps:
//! [`open_transfer`] opens the file's stream (or the upload's target) before the core sends its
//! `150`, so that a refusal is the reply instead of the `150`; [`move_bytes`] then moves the
//! bytes.
//!
//! Binary transfers of a storage whose streams hand out a local file move its bytes inside the
//! kernel (`sendfile` to the socket, `splice` from it; see the `copy` module), so they do not
//! pass through user space; other streams are copied through a large buffer. `TYPE A` transfers
//! read buffers and convert them with the core's [`AsciiEncoder`]/[`AsciiDecoder`].

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use thinftp::ascii::{AsciiDecoder, AsciiEncoder};
use thinftp::{render_entry, ListFormat};
use thinftp::{DirEntry, FsError, ListPattern, TransferError, TransferKind, VirtualPath};

use crate::allowance::Allowance;
use crate::copy::{buffered, file_to_socket, socket_to_file, CopyError};
use crate::data_stream::{DataStream, Interrupt};
use crate::errors::fs_error;
use crate::storage::{pattern_list, DirStream, ReadStream, Storage, WriteStream};
use crate::tls::data::DataTlsError;
use crate::tls::{self, SessionTls};

/// Buffer size for `TYPE A` conversion.
const ASCII_BUF: usize = 64 * 1024;

/// About how many bytes of a listing are rendered before they are written.
const LISTING_CHUNK: usize = 64 * 1024;

/// Directories up to this many entries are listed sorted by name; bigger ones in directory
/// order, so that a listing holds at most this many entries at once (about 2 MiB).
pub const SORTED_ENTRIES: usize = 10_000;

/// Stops a running transfer from another thread. Clone it before handing it to
/// [`move_bytes`]; keep a clone where [`Output::AbortTransfer`](thinftp::Output::AbortTransfer)
/// is handled.
#[derive(Debug, Clone, Default)]
pub struct AbortHandle {
    inner: Arc<AbortInner>,
}

#[derive(Default)]
struct AbortInner {
    aborted: AtomicBool,
    /// The data connection's [`Interrupt`] while a transfer runs on it: it makes a copy blocked
    /// in `read`, `write`, `sendfile` or `splice` return at once.
    stream: Mutex<Option<Box<dyn Interrupt>>>,
}

impl std::fmt::Debug for AbortInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbortInner")
            .field("aborted", &self.aborted)
            .finish_non_exhaustive()
    }
}

impl AbortHandle {
    /// A handle for one transfer, not aborted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the transfer as soon as possible: it then ends with [`TransferError::Aborted`]. Safe
    /// to call before the transfer starts (it then stops at once), while it runs, after it ended,
    /// and more than once.
    pub fn abort(&self) {
        // The flag is set before the lock is taken, and `attach` checks it after storing the
        // stream under the lock: whichever runs second shuts the stream down.
        self.inner.aborted.store(true, Ordering::SeqCst);
        if let Some(stream) = self.lock().as_ref() {
            stream.interrupt();
        }
    }

    /// Whether [`abort`](Self::abort) was called.
    pub fn is_aborted(&self) -> bool {
        self.inner.aborted.load(Ordering::SeqCst)
    }

    fn attach(&self, stream: &impl DataStream) {
        let mut slot = self.lock();
        *slot = stream.interrupter();
        if self.is_aborted() {
            if let Some(stream) = slot.as_ref() {
                stream.interrupt();
            }
        }
    }

    fn detach(&self) {
        self.lock().take();
    }

    fn lock(&self) -> MutexGuard<'_, Option<Box<dyn Interrupt>>> {
        // A panic elsewhere while holding the lock leaves a plain Option behind: still usable.
        self.inner.stream.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a transfer reads or writes, opened before the `150` (see [`open_transfer`]): the file
/// to send, positioned at its offset, the upload's target, or the bytes of a listing.
pub struct Opened {
    /// Boxed: a listing's open directory is big, and an `Opened` travels in jobs and reports.
    ///
    /// In a mutex only to be `Sync` as the runtimes need (a storage's streams are `Send` only):
    /// it is taken once, by [`move_bytes`], never shared.
    source: Mutex<Box<Source>>,
    /// What the core asked for, for the log line.
    kind: TransferKind,
    /// Rate limits and quota ([`SessionLimits::open`](crate::session_limits::SessionLimits::open)).
    allowance: Allowance,
}

enum Source {
    Read {
        file: Box<dyn ReadStream>,
        /// `TYPE A`: the encoder, primed with the byte before the offset.
        ascii: Option<AsciiEncoder>,
    },
    Write {
        upload: Box<dyn WriteStream>,
        ascii: bool,
    },
    Bytes(bytes::Bytes),
    /// A listing, rendered entry by entry as it is sent.
    Listing {
        entries: Entries,
        format: ListFormat,
        /// The wall-clock time the dates are shown against.
        now: i64,
    },
}

/// What a listing lists.
enum Entries {
    /// The open directory.
    Dir(DirStream),
    /// `LIST`/`NLST` of a file: that one entry.
    One(DirEntry),
    /// `LIST`/`NLST` of a pattern: the open directory, yielding the matches only, of which at
    /// most the pattern's `max_matches` are sent.
    Matching {
        dir: DirStream,
        pattern: ListPattern,
    },
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Opens what the transfer `kind` reads or writes beneath `storage` (blocking), moving no byte:
/// the file to send (from its offset), the target of an upload (for `STOR` over an existing
/// file on local disk, the temporary file beside it). An error here is the reply the client
/// gets *instead of* the `150`; an upload mode beyond the storage's
/// [`Capabilities`](crate::storage::Capabilities) is [`FsError::Unsupported`], the storage not
/// asked. Dropping the result without [`move_bytes`] aborts an upload (nothing changes).
pub fn open_transfer(storage: &dyn Storage, kind: &TransferKind) -> Result<Opened, TransferError> {
    let source = match kind {
        TransferKind::SendFile {
            path,
            offset,
            ascii,
        } => open_send(storage, path, *offset, *ascii)?,
        TransferKind::ReceiveFile { path, mode, ascii } => {
            if !storage.capabilities().allows_write(*mode) {
                return Err(TransferError::Fs(FsError::Unsupported));
            }
            Source::Write {
                upload: storage.open_write(path, *mode).map_err(TransferError::Fs)?,
                ascii: *ascii,
            }
        }
        TransferKind::SendBytes(bytes) => Source::Bytes(bytes.clone()),
        TransferKind::SendListing {
            path,
            format,
            name,
            pattern,
        } => Source::Listing {
            entries: match pattern {
                None => open_listing(storage, path, *format, name)?,
                Some(pattern) => open_matching(storage, path, *format, pattern)?,
            },
            format: *format,
            now: storage.now(),
        },
        // `TransferKind` is non-exhaustive: a kind this host does not know cannot be carried out.
        _ => return Err(TransferError::Fs(FsError::Other)),
    };
    Ok(Opened {
        source: Mutex::new(Box::new(source)),
        kind: kind.clone(),
        allowance: Allowance::default(),
    })
}

impl Opened {
    /// Which way the bytes of this transfer go, for its rate limit: listings go down, like
    /// downloads, and are paced by the same buckets.
    pub fn direction(&self) -> crate::rate::Direction {
        match **self.source.lock().unwrap_or_else(|e| e.into_inner()) {
            Source::Write { .. } => crate::rate::Direction::Up,
            Source::Read { .. } | Source::Bytes(_) | Source::Listing { .. } => {
                crate::rate::Direction::Down
            }
        }
    }

    /// Paces the transfer by `pacer`.
    pub(crate) fn pace(&mut self, pacer: crate::rate::Pacer) {
        self.allowance.set_pacer(pacer);
    }

    /// Counts the bytes it moves into `progress`, which the session reads if the transfer
    /// ends aborted or failed (see the `progress` module).
    pub(crate) fn count_into(&mut self, progress: crate::progress::TransferProgress) {
        self.allowance.count_into(progress);
    }

    /// Charges the upload's bytes to a quota.
    pub(crate) fn charge(&mut self, charge: crate::quota::QuotaCharge) {
        self.allowance.set_quota(charge);
    }

    /// Gives the upload up leaving no trace of it (the quota refused it at its open).
    pub(crate) fn give_up(self, before: &crate::quota::UploadBefore) {
        let source = self.source.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Source::Write { upload, .. } = *source {
            before.give_up(upload);
        }
    }
}

/// Carries out one transfer on the connected data connection `stream`: opens it
/// ([`open_transfer`]) and moves its bytes ([`move_bytes`]). For callers that need no `150`
/// in between.
pub fn run_transfer(
    storage: &dyn Storage,
    kind: &TransferKind,
    stream: impl DataStream,
    abort: &AbortHandle,
) -> Result<u64, TransferError> {
    match open_transfer(storage, kind) {
        Ok(opened) => move_bytes(opened, stream, abort),
        Err(e) => {
            log_transfer(kind, &Err(e), Duration::ZERO);
            Err(e)
        }
    }
}

/// Moves the bytes of the opened transfer over the connected data connection `stream`,
/// blocking until it ends, closes the connection (the client sees EOF) and logs it. Returns the
/// bytes moved over the connection.
///
/// `stream` must be in blocking mode (it is set so). Its stall timeout (for a `TcpStream`, the
/// read and write timeouts) set by the caller bounds how long the transfer may stall: a timeout
/// ends it with [`TransferError::ConnectionLost`]. A client that closes the connection before a
/// download ends or resets it during an upload also gives `ConnectionLost`; after
/// [`AbortHandle::abort`] the result is [`TransferError::Aborted`].
pub fn move_bytes(
    opened: Opened,
    stream: impl DataStream,
    abort: &AbortHandle,
) -> Result<u64, TransferError> {
    move_bytes_protected(opened, stream, None, abort)
}

/// [`move_bytes`], under `PROT P` when `tls` is given: the server handshake runs first on
/// `stream` (see [`tls::data::accept`]); if it fails, or does not resume the control
/// connection's session where that is required, no byte is sent or written (an upload's file
/// stays as it was) and the error says which. A stream that is no TCP connection
/// ([`DataStream::into_tcp`]) cannot be secured: [`TransferError::TlsFailed`].
pub fn move_bytes_protected(
    opened: Opened,
    mut stream: impl DataStream,
    tls: Option<&SessionTls>,
    abort: &AbortHandle,
) -> Result<u64, TransferError> {
    let _ = stream.set_blocking();
    let started = Instant::now();
    let kind = opened.kind.clone();
    let mut allowance = opened.allowance;
    allowance.watch(abort);
    let source = opened
        .source
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    let result = match tls {
        None => carry_out(*source, stream, abort, &mut allowance),
        Some(session) => secure(session, stream, abort)
            .and_then(|secured| carry_out(*source, secured, abort, &mut allowance)),
    };
    log_transfer(&kind, &result, started.elapsed());
    result
}

/// Runs the `PROT P` handshake on `stream` (an abort stops it). On an error, the caller drops
/// the source unused: nothing was received, which leaves an upload's file as it was (a file the
/// upload created is removed again).
fn secure(
    session: &SessionTls,
    stream: impl DataStream,
    abort: &AbortHandle,
) -> Result<Box<tls::data::TlsStream>, TransferError> {
    let Ok(stream) = stream.into_tcp() else {
        return Err(TransferError::TlsFailed);
    };
    abort.attach(&stream);
    let secured = tls::data::accept(session, stream);
    abort.detach();
    match secured {
        Ok(secured) => Ok(Box::new(secured)),
        Err(_) if abort.is_aborted() => Err(TransferError::Aborted),
        Err(e) => Err(tls_error(&e)),
    }
}

fn carry_out(
    source: Source,
    mut stream: impl DataStream,
    abort: &AbortHandle,
    allowance: &mut Allowance,
) -> Result<u64, TransferError> {
    abort.attach(&stream);
    let result = match source {
        Source::Read { mut file, ascii } => send_file(&mut *file, ascii, &mut stream, allowance),
        Source::Write { upload, ascii } => {
            receive_file(upload, ascii, &mut stream, abort, allowance)
        }
        Source::Bytes(bytes) => write_paced(&mut stream, &bytes, allowance)
            .map(|()| bytes.len() as u64)
            .map_err(|e| socket_error(&e)),
        Source::Listing {
            entries,
            format,
            now,
        } => send_listing(entries, format, now, &mut stream, abort, allowance),
    };
    abort.detach();
    // (close_notify, then) FIN after the last byte: for a download this is the client's end of
    // file.
    stream.finish();
    if abort.is_aborted() {
        return Err(TransferError::Aborted);
    }
    result
}

/// Opens the directory of a listing; a file is listed as itself under `name`, except by `MLSD`
/// (directories only).
fn open_listing(
    storage: &dyn Storage,
    path: &VirtualPath,
    format: ListFormat,
    name: &str,
) -> Result<Entries, TransferError> {
    match storage.list(path, format.needs_metadata()) {
        Ok(stream) => Ok(Entries::Dir(stream)),
        Err(FsError::NotADirectory) if !matches!(format, ListFormat::Mlsd { .. }) => {
            let metadata = storage.stat(path).map_err(TransferError::Fs)?;
            Ok(Entries::One(DirEntry::new(name.to_owned(), metadata)))
        }
        Err(e) => Err(TransferError::Fs(e)),
    }
}

/// Opens the directory `path` of a pattern's listing: the matches are counted first, by name
/// only (no `stat` per entry, one name in memory at a time), so that a pattern with no match is
/// [`FsError::NotFound`] and one with more than its `max_matches` is
/// [`TransferError::TooManyMatches`], each the reply instead of the `150`. Then the directory
/// is opened again to stream the matches. Reading the names twice costs time, not memory; if
/// the directory changes in between, at most `max_matches` entries are still sent.
fn open_matching(
    storage: &dyn Storage,
    path: &VirtualPath,
    format: ListFormat,
    pattern: &ListPattern,
) -> Result<Entries, TransferError> {
    let max = pattern.max_matches();
    let mut found = 0usize;
    for entry in pattern_list(storage, path, false).map_err(TransferError::Fs)? {
        let entry = entry.map_err(TransferError::Fs)?;
        if pattern.matches(&entry.name) {
            found += 1;
            if found > max {
                return Err(TransferError::TooManyMatches);
            }
        }
    }
    if found == 0 {
        return Err(TransferError::Fs(FsError::NotFound));
    }
    let dir = pattern_list(storage, path, format.needs_metadata()).map_err(TransferError::Fs)?;
    Ok(Entries::Matching {
        dir,
        pattern: pattern.clone(),
    })
}

/// Sends a listing in chunks of about [`LISTING_CHUNK`] bytes, each rendered from the entries
/// just read, so that memory stays flat for any directory. A directory of at most
/// [`SORTED_ENTRIES`] entries is sorted by name first; a bigger one goes out in directory order
/// (sorting it would mean holding all of it). Stops reading once the transfer is aborted or the
/// connection is lost; an error reading the directory ends the listing with that error. Paced
/// by `allowance` like a download.
fn send_listing(
    entries: Entries,
    format: ListFormat,
    now: i64,
    stream: &mut impl DataStream,
    abort: &AbortHandle,
    allowance: &mut Allowance,
) -> Result<u64, TransferError> {
    let mut out = ListingWriter {
        stream,
        allowance,
        buf: String::with_capacity(LISTING_CHUNK + 4096),
        sent: 0,
    };
    match entries {
        Entries::One(entry) => {
            render_entry(format, &entry, now, &mut out.buf);
        }
        Entries::Dir(dir) => stream_entries(dir, format, now, &mut out, abort)?,
        Entries::Matching { dir, pattern } => {
            let max = pattern.max_matches();
            let shown = dir
                .filter(|entry| entry.as_ref().map_or(true, |e| pattern.matches(&e.name)))
                .take(max)
                .map(|entry| {
                    entry.map(|mut entry| {
                        pattern.present(format, &mut entry);
                        entry
                    })
                });
            stream_entries(shown, format, now, &mut out, abort)?;
        }
    }
    out.flush()?;
    Ok(out.sent)
}

/// Renders `dir`'s entries into `out`, writing each full chunk: sorted by name if there are at
/// most [`SORTED_ENTRIES`], in directory order otherwise. An entry that cannot be read ends
/// the listing with its error.
fn stream_entries(
    mut dir: impl Iterator<Item = Result<DirEntry, FsError>>,
    format: ListFormat,
    now: i64,
    out: &mut ListingWriter<'_>,
    abort: &AbortHandle,
) -> Result<(), TransferError> {
    let mut first = dir
        .by_ref()
        .take(SORTED_ENTRIES)
        .collect::<Result<Vec<DirEntry>, FsError>>()
        .map_err(TransferError::Fs)?;
    let more = if first.len() == SORTED_ENTRIES {
        dir.next().transpose().map_err(TransferError::Fs)?
    } else {
        None
    };
    if more.is_none() {
        first.sort_by(|a, b| a.name.cmp(&b.name));
    }
    for entry in first.iter().chain(more.as_ref()) {
        render_entry(format, entry, now, &mut out.buf);
        out.flush_full(abort)?;
    }
    drop(first);
    for entry in dir {
        let entry = entry.map_err(TransferError::Fs)?;
        render_entry(format, &entry, now, &mut out.buf);
        out.flush_full(abort)?;
    }
    Ok(())
}

/// The chunk buffer of a listing on its way to the data connection.
struct ListingWriter<'a> {
    stream: &'a mut dyn Write,
    /// The rate limits (and the count of bytes moved).
    allowance: &'a mut Allowance,
    buf: String,
    sent: u64,
}

impl ListingWriter<'_> {
    /// Writes the chunk once it is full; an abort stops the listing there.
    fn flush_full(&mut self, abort: &AbortHandle) -> Result<(), TransferError> {
        if self.buf.len() < LISTING_CHUNK {
            return Ok(());
        }
        if abort.is_aborted() {
            return Err(TransferError::Aborted);
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<(), TransferError> {
        write_paced(&mut self.stream, self.buf.as_bytes(), self.allowance)
            .map_err(|e| socket_error(&e))?;
        self.sent += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// Opens the file to send at `offset`.
fn open_send(
    storage: &dyn Storage,
    path: &VirtualPath,
    offset: u64,
    ascii: bool,
) -> Result<Source, TransferError> {
    // In TYPE A the encoder must know the byte before the offset (a CR there means an LF at
    // the offset completes a CRLF the client already has), so read from one byte earlier.
    if ascii && offset > 0 {
        let mut file = storage
            .open_read(path, offset - 1)
            .map_err(TransferError::Fs)?;
        let mut previous = [0u8; 1];
        let read =
            read_retrying(&mut file, &mut previous).map_err(|e| TransferError::Fs(fs_error(&e)))?;
        let encoder = if read == 1 {
            AsciiEncoder::resuming_after(previous[0])
        } else {
            AsciiEncoder::new()
        };
        return Ok(Source::Read {
            file,
            ascii: Some(encoder),
        });
    }
    let file = storage.open_read(path, offset).map_err(TransferError::Fs)?;
    Ok(Source::Read {
        file,
        ascii: ascii.then(AsciiEncoder::new),
    })
}

fn send_file(
    file: &mut dyn ReadStream,
    ascii: Option<AsciiEncoder>,
    stream: &mut impl DataStream,
    allowance: &mut Allowance,
) -> Result<u64, TransferError> {
    let Some(mut encoder) = ascii else {
        // A local file goes out on a plain TCP connection inside the kernel; any other stream,
        // and anything through TLS, through a large buffer.
        let copied = match (stream.as_tcp(), file.local_file()) {
            (Some(tcp), Some(local)) => file_to_socket(local, tcp, allowance),
            _ => buffered(file, stream, CopyError::File, CopyError::Socket, allowance),
        };
        return copied.map_err(copy_error);
    };
    let mut buf = vec![0u8; ASCII_BUF];
    let mut out = Vec::with_capacity(ASCII_BUF * 2);
    let mut sent = 0u64;
    loop {
        let n = read_retrying(file, &mut buf).map_err(|e| TransferError::Fs(fs_error(&e)))?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        out.clear();
        encoder.encode(chunk, &mut out);
        // Paced and counted by the encoded bytes: those are what go over the connection.
        write_paced(stream, &out, allowance).map_err(|e| socket_error(&e))?;
        sent += out.len() as u64;
    }
    Ok(sent)
}

/// Writes `bytes` to the data connection in the slices `allowance` grants (the rate limits),
/// each counted as moved once written.
fn write_paced(
    stream: &mut impl Write,
    mut bytes: &[u8],
    allowance: &mut Allowance,
) -> io::Result<()> {
    while !bytes.is_empty() {
        let granted = allowance.grant(bytes.len()).clamp(1, bytes.len());
        let (now, rest) = bytes.split_at(granted);
        stream.write_all(now)?;
        allowance.moved(granted, now.len());
        bytes = rest;
    }
    Ok(())
}

/// Receives the upload into `upload` and commits it if the client's data ended cleanly (and
/// no abort came); otherwise drops it, which leaves the old file intact.
fn receive_file(
    mut upload: Box<dyn WriteStream>,
    ascii: bool,
    stream: &mut impl DataStream,
    abort: &AbortHandle,
    allowance: &mut Allowance,
) -> Result<u64, TransferError> {
    // Into a local file from a plain TCP connection inside the kernel, else through a buffer.
    let result = if ascii {
        receive_ascii(stream, &mut *upload, allowance)
    } else {
        match (stream.as_tcp(), upload.local_file()) {
            (Some(tcp), Some(local)) => socket_to_file(tcp, local, allowance),
            _ => buffered(
                stream,
                &mut *upload,
                CopyError::Socket,
                CopyError::File,
                allowance,
            ),
        }
        .map_err(copy_error)
    };
    if matches!(result, Err(TransferError::Fs(FsError::QuotaExceeded))) {
        // Past the quota: no trace of the upload stays, the old file is intact.
        allowance.give_up(upload);
        return result;
    }
    // Our own shutdown on abort reads as a clean end of file: the flag tells them apart.
    let complete = result.is_ok() && !abort.is_aborted();
    let received = match result {
        Ok(received) => received,
        Err(e) => {
            allowance.settle(false);
            return Err(e);
        }
    };
    if complete {
        let committed = upload.commit().map_err(TransferError::Fs);
        allowance.settle(committed.is_ok());
        committed?;
    } else {
        allowance.settle(false);
    }
    Ok(received)
}

fn receive_ascii(
    stream: &mut impl DataStream,
    file: &mut dyn WriteStream,
    allowance: &mut Allowance,
) -> Result<u64, TransferError> {
    let mut decoder = AsciiDecoder::new();
    let mut buf = vec![0u8; ASCII_BUF];
    let mut out = Vec::with_capacity(ASCII_BUF);
    let mut received = 0u64;
    loop {
        let granted = allowance.grant(ASCII_BUF);
        let read = read_retrying(stream, buf.get_mut(..granted).unwrap_or_default());
        allowance.moved(granted, *read.as_ref().unwrap_or(&0));
        let n = read.map_err(|e| socket_error(&e))?;
        out.clear();
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            decoder.finish(&mut out);
            allowance.wrote(out.len()).map_err(TransferError::Fs)?;
            file.write_all(&out)
                .map_err(|e| TransferError::Fs(fs_error(&e)))?;
            return Ok(received);
        };
        received += n as u64;
        decoder.decode(chunk, &mut out);
        // The quota counts what is written, after CRLF became LF.
        allowance.wrote(out.len()).map_err(TransferError::Fs)?;
        file.write_all(&out)
            .map_err(|e| TransferError::Fs(fs_error(&e)))?;
    }
}

fn read_retrying(reader: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// A data connection that could not be secured.
fn tls_error(e: &DataTlsError) -> TransferError {
    match e {
        DataTlsError::Failed(_) => TransferError::TlsFailed,
        DataTlsError::NotResumed => TransferError::TlsNotResumed,
    }
}

/// Any failure of the data connection (reset, closed early, timed out, shut down by an abort)
/// is a lost connection to the core.
fn socket_error(_e: &io::Error) -> TransferError {
    TransferError::ConnectionLost
}

fn copy_error(e: CopyError) -> TransferError {
    match e {
        CopyError::Socket(e) => socket_error(&e),
        CopyError::File(e) => TransferError::Fs(fs_error(&e)),
        CopyError::Quota => TransferError::Fs(FsError::QuotaExceeded),
    }
}

fn log_transfer(kind: &TransferKind, result: &Result<u64, TransferError>, took: Duration) {
    let (what, path) = match kind {
        TransferKind::SendFile { path, .. } => ("sent", path.as_str()),
        TransferKind::ReceiveFile { path, .. } => ("received", path.as_str()),
        _ => {
            tracing::debug!(?result, ?took, "listing sent");
            return;
        }
    };
    let secs = took.as_secs_f64();
    match result {
        Ok(bytes) => {
            #[allow(clippy::cast_precision_loss)] // a rate for people to read
            let rate = if secs > 0.0 {
                *bytes as f64 / secs / 1e6
            } else {
                0.0
            };
            tracing::info!(
                path,
                bytes,
                ?took,
                rate = format_args!("{rate:.1} MB/s"),
                "{what}"
            );
        }
        Err(e) => tracing::info!(path, error = ?e, ?took, "{what}: failed"),
    }
}
