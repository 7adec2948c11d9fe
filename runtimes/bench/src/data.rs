//! Data-connection ends that cost the client as little as possible, so that a transfer measures
//! the server: downloads are spliced to /dev/null (no copy into user space) or read into one
//! reused buffer; uploads are written from one reused buffer.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::tls::Stream;

/// How downloads are received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RecvMode {
    /// splice(2) socket -> pipe -> /dev/null: the bytes never enter user space.
    Splice,
    /// read(2) into one reused buffer.
    Read,
}

/// Where downloaded bytes go.
pub struct Sink {
    kind: Kind,
}

enum Kind {
    Read(Vec<u8>),
    Splice {
        rd: OwnedFd,
        wr: OwnedFd,
        null: File,
        chunk: usize,
    },
}

impl Sink {
    /// A sink moving up to `chunk` bytes per system call. Splice falls back to read if no pipe
    /// can be made.
    pub fn new(mode: RecvMode, chunk: usize) -> Sink {
        let chunk = chunk.max(4096);
        if mode == RecvMode::Splice {
            if let Ok(kind) = splice_kind(chunk) {
                return Sink { kind };
            }
        }
        Sink {
            kind: Kind::Read(vec![0; chunk]),
        }
    }

    fn chunk(&self) -> usize {
        match &self.kind {
            Kind::Read(buf) => buf.len(),
            Kind::Splice { chunk, .. } => *chunk,
        }
    }

    /// "splice" or "read": what this sink really does (splice can fall back).
    pub fn mode_name(&self) -> &'static str {
        match self.kind {
            Kind::Read(_) => "read",
            Kind::Splice { .. } => "splice",
        }
    }

    /// Consumes the stream to EOF; returns the byte count.
    pub fn drain(&mut self, stream: &mut Stream) -> io::Result<u64> {
        let stream = match stream {
            Stream::Plain(tcp) => tcp,
            // Decrypted bytes are in user space anyway: read them into a buffer (and only
            // count them: looking at each byte, as counting lines does, cost more CPU than
            // decrypting and made this client the limit of every server).
            Stream::Tls(secured) => {
                let mut buf = vec![0; self.chunk()];
                return drain_count(&mut **secured, &mut buf);
            }
        };
        let mut total = 0u64;
        loop {
            match &mut self.kind {
                Kind::Read(buf) => match stream.read(buf) {
                    Ok(0) => return Ok(total),
                    Ok(n) => total += n as u64,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                },
                Kind::Splice {
                    rd,
                    wr,
                    null,
                    chunk,
                } => {
                    // SAFETY: plain syscall on fds this process owns; null offsets mean "current".
                    let n = unsafe {
                        libc::splice(
                            stream.as_raw_fd(),
                            std::ptr::null_mut(),
                            wr.as_raw_fd(),
                            std::ptr::null_mut(),
                            *chunk,
                            libc::SPLICE_F_MOVE | libc::SPLICE_F_MORE,
                        )
                    };
                    if n < 0 {
                        let e = io::Error::last_os_error();
                        match e.raw_os_error() {
                            Some(libc::EINTR) => continue,
                            // This socket cannot be spliced: read it instead, now and later.
                            Some(libc::EINVAL) if total == 0 => {
                                self.kind = Kind::Read(vec![0; *chunk]);
                                continue;
                            }
                            _ => return Err(e),
                        }
                    }
                    if n == 0 {
                        return Ok(total);
                    }
                    total += n as u64;
                    drain_pipe(rd, null, n as usize)?;
                }
            }
        }
    }
}

/// Empties `n` bytes from the pipe into /dev/null.
fn drain_pipe(rd: &OwnedFd, null: &File, mut n: usize) -> io::Result<()> {
    while n > 0 {
        // SAFETY: as above.
        let m = unsafe {
            libc::splice(
                rd.as_raw_fd(),
                std::ptr::null_mut(),
                null.as_raw_fd(),
                std::ptr::null_mut(),
                n,
                libc::SPLICE_F_MOVE,
            )
        };
        if m < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        if m == 0 {
            return Err(io::Error::other("pipe drained short"));
        }
        n -= m as usize;
    }
    Ok(())
}

fn splice_kind(chunk: usize) -> io::Result<Kind> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut chunk = chunk;
    if chunk > 65536 {
        // A pipe larger than the default 64 KiB means fewer splices per MB; the kernel may
        // refuse (pipe-max-size, per-user pipe pages): then stay at what the pipe holds.
        let c = libc::c_int::try_from(chunk).unwrap_or(libc::c_int::MAX);
        // SAFETY: fcntl on an owned fd.
        let got = unsafe { libc::fcntl(wr.as_raw_fd(), libc::F_SETPIPE_SZ, c) };
        chunk = if got > 0 {
            chunk.min(got as usize)
        } else {
            65536
        };
    }
    let null = File::options().write(true).open("/dev/null")?;
    Ok(Kind::Splice {
        rd,
        wr,
        null,
        chunk,
    })
}

/// Reads `stream` to EOF into `buf` (reused); returns the byte count.
fn drain_count(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<u64> {
    let mut bytes = 0u64;
    loop {
        match stream.read(buf) {
            Ok(0) => return Ok(bytes),
            Ok(n) => bytes += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads a listing to EOF into `buf` (reused), counting bytes and non-empty lines.
pub fn drain_lines(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<(u64, u64)> {
    let (mut bytes, mut lines) = (0u64, 0u64);
    let mut last = b'\n';
    loop {
        let n = match stream.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        last = chunk.last().copied().unwrap_or(last);
        bytes += n as u64;
    }
    // A last line without its newline still counts.
    if last != b'\n' {
        lines += 1;
    }
    Ok((bytes, lines))
}

/// An upload source: one buffer of incompressible bytes, written over and over.
pub struct Source {
    buf: Vec<u8>,
}

impl Source {
    /// A source writing `chunk` bytes per write.
    pub fn new(chunk: usize) -> Source {
        // xorshift64: cheap, and not all zeros (no layer on the path may shortcut it).
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let buf = (0..chunk.max(1))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        Source { buf }
    }

    /// The buffer itself, to write from elsewhere.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Writes exactly `total` bytes; returns how many were written before an error, if any.
    pub fn send(&self, stream: &mut impl Write, total: u64) -> io::Result<u64> {
        let mut sent = 0u64;
        while sent < total {
            let k = usize::try_from(total - sent)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            stream.write_all(self.buf.get(..k).unwrap_or_default())?;
            sent += k as u64;
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::thread;

    fn serve(bytes: usize) -> Stream {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut s = s;
            Source::new(10_000).send(&mut s, bytes as u64).unwrap();
        });
        Stream::Plain(TcpStream::connect(addr).unwrap())
    }

    #[test]
    fn both_sinks_count_every_byte() {
        for mode in [RecvMode::Splice, RecvMode::Read] {
            let mut sink = Sink::new(mode, 1 << 20);
            for n in [0usize, 1, 3_000_001] {
                let mut s = serve(n);
                assert_eq!(sink.drain(&mut s).unwrap(), n as u64, "{mode:?} {n}");
            }
        }
        assert_eq!(Sink::new(RecvMode::Splice, 1 << 16).mode_name(), "splice");
    }

    #[test]
    fn listing_lines_are_counted() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(b"a\r\nb\r\nno newline").unwrap();
        });
        let mut s = TcpStream::connect(addr).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(drain_lines(&mut s, &mut buf).unwrap(), (16, 3));
    }
}
