//! Control connections: their socket options and reading them.

use std::io::{self, Read};
use std::os::fd::AsFd;

use bytes::Bytes;
use thinftp::Input;

/// Bytes read from a control connection at a time.
pub const CONTROL_BUF: usize = 4096;

/// Sets up an accepted control connection, before the session reads from it
/// ([`Gate::admit`](crate::Gate::admit) calls it):
///
/// - `SO_OOBINLINE`: clients send `ABOR` as TCP urgent data (Python's ftplib sends `ABOR\r\n`
///   with `MSG_OOB`, which marks its last byte urgent). Without this option that byte is taken
///   out of the stream, the line never ends, and the abort is never seen.
/// - `TCP_NODELAY`: replies are whole writes; Nagle's algorithm would hold a second reply (a
///   `226` right after a `150`) until the first is acknowledged.
///
/// Works on any socket type with a file descriptor (std or async). Failures are ignored: the
/// session still works without these options.
pub fn prepare_control(socket: &impl AsFd) {
    let sock = socket2::SockRef::from(socket);
    let _ = sock.set_out_of_band_inline(true);
    let _ = sock.set_tcp_nodelay(true);
}

/// Reads what the control connection has (at most [`CONTROL_BUF`] bytes, into a buffer on this
/// function's stack, so a waiting session holds none) and turns it into the input to feed:
/// [`Input::ControlBytes`], or [`Input::ControlEof`] at the end of the stream or when reading
/// fails. `None` when nothing could be read now (`WouldBlock` on a non-blocking socket, or
/// `Interrupted`): wait until the socket is readable (or just call again) and retry.
pub fn read_control(reader: &mut impl Read) -> Option<Input> {
    let mut buf = [0u8; CONTROL_BUF];
    match reader.read(&mut buf) {
        Ok(0) => Some(Input::ControlEof),
        Ok(n) => Some(Input::ControlBytes(Bytes::copy_from_slice(buf.get(..n)?))),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            None
        }
        Err(e) => {
            tracing::debug!("control connection failed: {e}");
            Some(Input::ControlEof)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out scripted results, one per read.
    struct Script(Vec<io::Result<&'static [u8]>>);

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let bytes = self.0.remove(0)?;
            buf[..bytes.len()].copy_from_slice(bytes);
            Ok(bytes.len())
        }
    }

    #[test]
    fn reads_become_inputs() {
        let mut reader = Script(vec![
            Ok(b"USER a\r\n"),
            Err(io::ErrorKind::WouldBlock.into()),
            Err(io::ErrorKind::Interrupted.into()),
            Ok(b""),
            Err(io::ErrorKind::ConnectionReset.into()),
        ]);
        assert_eq!(
            read_control(&mut reader),
            Some(Input::ControlBytes(Bytes::from_static(b"USER a\r\n")))
        );
        assert_eq!(read_control(&mut reader), None);
        assert_eq!(read_control(&mut reader), None);
        assert_eq!(read_control(&mut reader), Some(Input::ControlEof));
        assert_eq!(read_control(&mut reader), Some(Input::ControlEof));
    }
}
