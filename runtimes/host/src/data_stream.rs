//! The data connection a transfer runs over, as a trait: a TCP connection, the TLS stream of a
//! `PROT P` transfer on one, or the simulator's in-memory connection.
//!
//! [`move_bytes`](crate::move_bytes) and [`Job::run`](crate::driver::Job::run) take any
//! [`DataStream`]. What only a socket can do is asked for, never assumed: a stream that is a
//! plain TCP connection says so ([`as_tcp`](DataStream::as_tcp)), and only then do file bytes
//! move inside the kernel (`sendfile`/`splice`, see the `copy` module); every other stream is
//! copied through a buffer. A `PROT P` transfer needs the TCP connection itself for its
//! handshake ([`into_tcp`](DataStream::into_tcp)).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use crate::tls::data::TlsStream;

/// A connected data connection, read and written blocking. See the [module docs](self).
pub trait DataStream: Read + Write + Send {
    /// Makes reads and writes block (a runtime may hand over a non-blocking socket), keeping
    /// the stall timeout.
    fn set_blocking(&mut self) -> io::Result<()>;

    /// A read or write that waits this long for the peer fails with `TimedOut` (or
    /// `WouldBlock`): the transfer has lost its connection.
    fn set_stall_timeout(&mut self, stall: Duration) -> io::Result<()>;

    /// What stops this stream's reads and writes from another thread (an `ABOR`): after it, a
    /// read ends (end of data, or an error) and a write fails, at once, also those waiting
    /// already. `None` if there is no such thing (then an abort is seen between chunks only).
    fn interrupter(&self) -> Option<Box<dyn Interrupt>>;

    /// The end of the transfer's bytes: the peer reads end of data after the last one (for a
    /// download, the client's end of file). Errors are ignored: the result is known by then.
    fn finish(&mut self);

    /// The plain TCP connection this stream is, if it is one: the copy then moves file bytes
    /// with `sendfile` and `splice`.
    fn as_tcp(&mut self) -> Option<&mut TcpStream> {
        None
    }

    /// The plain TCP connection this stream is, to secure (`PROT P`); the stream back if it is
    /// none.
    fn into_tcp(self) -> Result<TcpStream, Self>
    where
        Self: Sized,
    {
        Err(self)
    }
}

/// Stops the reads and writes of a stream from another thread: see
/// [`DataStream::interrupter`].
pub trait Interrupt: Send {
    /// Stops them; harmless when called again or after the transfer ended.
    fn interrupt(&self);
}

impl DataStream for TcpStream {
    fn set_blocking(&mut self) -> io::Result<()> {
        self.set_nonblocking(false)
    }

    fn set_stall_timeout(&mut self, stall: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(stall))?;
        self.set_write_timeout(Some(stall))
    }

    fn interrupter(&self) -> Option<Box<dyn Interrupt>> {
        // A clone of the socket: shutting it down makes a copy blocked in `read`, `write`,
        // `sendfile` or `splice` on the original return at once.
        let clone = self.try_clone().ok()?;
        Some(Box::new(clone))
    }

    fn finish(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }

    fn as_tcp(&mut self) -> Option<&mut TcpStream> {
        Some(self)
    }

    fn into_tcp(self) -> Result<TcpStream, Self> {
        Ok(self)
    }
}

impl Interrupt for TcpStream {
    fn interrupt(&self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

/// A `PROT P` data connection: TLS over the TCP connection beneath, which carries the stall
/// timeout and the abort. No `sendfile` through it: every byte crosses rustls.
impl DataStream for TlsStream {
    fn set_blocking(&mut self) -> io::Result<()> {
        self.tcp().set_nonblocking(false)
    }

    fn set_stall_timeout(&mut self, stall: Duration) -> io::Result<()> {
        self.tcp().set_read_timeout(Some(stall))?;
        self.tcp().set_write_timeout(Some(stall))
    }

    fn interrupter(&self) -> Option<Box<dyn Interrupt>> {
        self.tcp().interrupter()
    }

    /// `close_notify`, then FIN.
    fn finish(&mut self) {
        TlsStream::finish(self);
        let _ = self.tcp().shutdown(Shutdown::Write);
    }
}

/// A boxed stream (a TLS stream is big, and a job travels by value).
impl<T: DataStream + ?Sized> DataStream for Box<T> {
    fn set_blocking(&mut self) -> io::Result<()> {
        (**self).set_blocking()
    }

    fn set_stall_timeout(&mut self, stall: Duration) -> io::Result<()> {
        (**self).set_stall_timeout(stall)
    }

    fn interrupter(&self) -> Option<Box<dyn Interrupt>> {
        (**self).interrupter()
    }

    fn finish(&mut self) {
        (**self).finish();
    }

    fn as_tcp(&mut self) -> Option<&mut TcpStream> {
        (**self).as_tcp()
    }
}
