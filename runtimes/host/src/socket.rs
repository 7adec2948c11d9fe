//! Socket options of control connections.

use std::os::fd::AsFd;

/// Sets up an accepted control connection, before the session reads from it:
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
