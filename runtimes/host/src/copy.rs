//! Moving bytes between a file and a socket inside the kernel: `sendfile` for downloads, `splice`
//! through a pipe for uploads, with a buffered copy as the fallback, and the same buffered copy
//! for storage streams that have no local file behind them and for data streams that are no
//! plain TCP connection (TLS, the simulator's).
//!
//! `std::io::copy` does not do this for a `File` and a `TcpStream` (seen with strace on Rust 1.95):
//! its Linux specialisation refuses `sendfile` from a file to a socket (later changes to the file
//! could show up in bytes already queued on the socket, which its `Read`/`Write` contract forbids)
//! and only splices when one side is a pipe, so both directions fall back to 8 KiB reads and
//! writes. An FTP server does not mind that, so it makes the calls
//! itself, through `rustix`'s safe wrappers.
//!
//! Errors say which side failed, so that the transfer can tell a lost connection from a disk
//! error without guessing from the error kind.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;

use rustix::io::Errno;
use rustix::pipe::{PipeFlags, SpliceFlags};

use crate::allowance::Allowance;

/// Most bytes one `sendfile`/`splice` call is asked to move (also the pipe size asked for).
const CHUNK: usize = 1 << 20;
/// Buffer of the fallback copy.
const BUF: usize = 256 * 1024;

/// Which side of a copy failed.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// Reading or writing the socket (the connection broke, timed out or was shut down).
    Socket(io::Error),
    /// Reading or writing the file.
    File(io::Error),
    /// The upload would pass its user's quota: the bytes past it were not written.
    Quota,
}

/// Sends the file from its current position to its end; returns the bytes sent.
///
/// The socket's write timeout (`SO_SNDTIMEO`, set by the caller) is how long the download may
/// go without the socket taking more: the copy runs non-blocking and waits for room with its
/// own deadline. A blocking `sendfile` waits up to the timeout again for every run of pages it
/// sends, so a client whose window opened by a few bytes now and then held a download for
/// several times the timeout.
///
/// Each chunk is first granted by `allowance` (the rate limits: see the `rate` module), so a
/// limited download still moves its bytes with `sendfile`.
pub(crate) fn file_to_socket(
    file: &mut File,
    stream: &mut TcpStream,
    allowance: &mut Allowance,
) -> Result<u64, CopyError> {
    let stall = stream.write_timeout().ok().flatten();
    if stream.set_nonblocking(true).is_err() {
        return buffered(file, stream, CopyError::File, CopyError::Socket, allowance);
    }
    let result = sendfile_until_stalled(file, stream, stall, allowance);
    let _ = stream.set_nonblocking(false);
    match result {
        Err(Fallback) => buffered(file, stream, CopyError::File, CopyError::Socket, allowance),
        Ok(result) => result,
    }
}

/// `sendfile` cannot serve this pair of file and socket: copy through a buffer instead.
struct Fallback;

fn sendfile_until_stalled(
    file: &File,
    stream: &TcpStream,
    stall: Option<std::time::Duration>,
    allowance: &mut Allowance,
) -> Result<Result<u64, CopyError>, Fallback> {
    let mut sent = 0u64;
    loop {
        let granted = allowance.grant(CHUNK);
        let result = rustix::fs::sendfile(stream, file, None, granted);
        allowance.moved(granted, *result.as_ref().unwrap_or(&0));
        match result {
            Ok(0) => return Ok(Ok(sent)),
            Ok(n) => sent += n as u64,
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                if let Err(e) = wait_writable(stream, stall) {
                    return Ok(Err(CopyError::Socket(e)));
                }
            }
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) if sent == 0 => {
                return Err(Fallback);
            }
            Err(e) => return Ok(Err(classify(e.into()))),
        }
    }
}

/// Waits until the socket takes more bytes (or fails), at most `stall` (forever without one):
/// a `TimedOut` error when it stays full that long.
fn wait_writable(stream: &TcpStream, stall: Option<std::time::Duration>) -> io::Result<()> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let timeout = stall.map(|d| Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    });
    loop {
        let mut fds = [PollFd::new(stream, PollFlags::OUT)];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) => return Err(io::ErrorKind::TimedOut.into()),
            // Writable, or an error or hang-up that the next `sendfile` reports.
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives the socket's bytes until its end into the file at its current position; returns the
/// bytes received.
///
/// Each chunk is granted by `allowance` before it is read (the rate limits), and charged to it
/// before it is written (the quota: a chunk past it is not written, and the copy ends with
/// [`CopyError::Quota`]).
pub(crate) fn socket_to_file(
    stream: &mut TcpStream,
    file: &mut File,
    allowance: &mut Allowance,
) -> Result<u64, CopyError> {
    let Ok((pipe_r, pipe_w)) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC) else {
        return buffered(stream, file, CopyError::Socket, CopyError::File, allowance);
    };
    // A bigger pipe means fewer calls; the default 64 KiB still works if this is refused.
    let _ = rustix::pipe::fcntl_setpipe_size(&pipe_w, CHUNK);
    let mut received = 0u64;
    loop {
        let granted = allowance.grant(CHUNK);
        let result =
            rustix::pipe::splice(&*stream, None, &pipe_w, None, granted, SpliceFlags::MOVE);
        allowance.moved(granted, *result.as_ref().unwrap_or(&0));
        let n = match result {
            Ok(0) => return Ok(received),
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) if received == 0 => {
                return buffered(stream, file, CopyError::Socket, CopyError::File, allowance);
            }
            Err(e) => return Err(CopyError::Socket(e.into())),
        };
        allowance.wrote(n).map_err(|_| CopyError::Quota)?;
        received += n as u64;
        let mut left = n;
        while left > 0 {
            match rustix::pipe::splice(&pipe_r, None, &*file, None, left, SpliceFlags::MOVE) {
                Ok(0) => return Err(CopyError::File(io::ErrorKind::WriteZero.into())),
                Ok(m) => left -= m,
                Err(Errno::INTR) => {}
                // The file takes no splice (e.g. opened with O_APPEND on older kernels): move what
                // the pipe holds by hand, then go on without splice.
                Err(Errno::INVAL | Errno::OPNOTSUPP) => {
                    drain_pipe(&pipe_r, left, file)?;
                    let rest =
                        buffered(stream, file, CopyError::Socket, CopyError::File, allowance)?;
                    return Ok(received + rest);
                }
                Err(e) => return Err(CopyError::File(e.into())),
            }
        }
    }
}

/// Writes the `left` bytes waiting in the pipe to the file.
fn drain_pipe(
    pipe_r: &rustix::fd::OwnedFd,
    mut left: usize,
    file: &mut File,
) -> Result<(), CopyError> {
    let mut buf = vec![0u8; BUF.min(left)];
    while left > 0 {
        let want = buf.len().min(left);
        let chunk = buf.get_mut(..want).unwrap_or_default();
        match rustix::io::read(pipe_r, &mut *chunk) {
            Ok(0) => break,
            Ok(n) => {
                file.write_all(chunk.get(..n).unwrap_or_default())
                    .map_err(CopyError::File)?;
                left -= n;
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(CopyError::File(e.into())),
        }
    }
    Ok(())
}

/// The plain copy loop, with each side's errors wrapped by its own constructor, each chunk
/// granted and charged by `allowance` as in the calls above.
pub(crate) fn buffered(
    reader: &mut (impl Read + ?Sized),
    writer: &mut (impl Write + ?Sized),
    read_err: fn(io::Error) -> CopyError,
    write_err: fn(io::Error) -> CopyError,
    allowance: &mut Allowance,
) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let granted = allowance.grant(BUF);
        let result = reader.read(buf.get_mut(..granted).unwrap_or_default());
        allowance.moved(granted, *result.as_ref().unwrap_or(&0));
        let n = match result {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        allowance.wrote(n).map_err(|_| CopyError::Quota)?;
        writer
            .write_all(buf.get(..n).unwrap_or_default())
            .map_err(write_err)?;
        total += n as u64;
    }
}

/// For calls that do not say which side failed.
fn classify(e: io::Error) -> CopyError {
    match e.kind() {
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::NotConnected
        | io::ErrorKind::TimedOut
        | io::ErrorKind::WouldBlock => CopyError::Socket(e),
        _ => CopyError::File(e),
    }
}
