//! Running under systemd: the listening sockets it passes (socket activation, `LISTEN_FDS`),
//! the readiness notifications it waits for (`sd_notify` over `NOTIFY_SOCKET`), and whether
//! standard error goes to the journal (`JOURNAL_STREAM`).
//!
//! The notification protocol is one datagram of `KEY=VALUE` lines to the Unix socket named in
//! `NOTIFY_SOCKET` (a path, or an abstract name after `@`): a few lines of std, no crate.

use std::io;
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

/// The listening TCP sockets systemd passed to this process, in the order of the socket unit's
/// `ListenStream=` lines, in blocking mode; empty when none were passed (no `LISTEN_FDS`, or a
/// `LISTEN_PID` that is another process's). The variables are removed from the environment, so
/// call it at start-up, before any thread starts. A passed descriptor that is not a listening
/// TCP socket is an error.
pub fn inherited_listeners() -> io::Result<Vec<TcpListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    let mut listeners = Vec::with_capacity(fds.len());
    for index in 0..fds.len() {
        let listener = fds
            .take_tcp_listener(index)?
            .ok_or_else(|| io::Error::other(format!("passed socket {index} is not TCP")))?;
        listener.set_nonblocking(false)?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Sends `state` (such as `READY=1` or `STOPPING=1`) to the service manager. Returns whether
/// there was one to tell (`NOTIFY_SOCKET` is set).
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let socket = UnixDatagram::unbound()?;
    match target.as_bytes().strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &addr)?;
        }
        None => {
            socket.send_to(state.as_bytes(), &target)?;
        }
    }
    Ok(true)
}

/// [`notify`], with a failure logged rather than returned: a service manager that cannot be
/// told is no reason to stop serving.
pub fn notify_or_log(state: &str) {
    match notify(state) {
        Ok(true) => tracing::debug!(state, "told the service manager"),
        Ok(false) => {}
        Err(e) => tracing::warn!(
            state,
            "cannot notify the service manager (NOTIFY_SOCKET): {e}"
        ),
    }
}

/// Whether standard error is the journal's stream: `JOURNAL_STREAM` (`DEVICE:INODE`, set by
/// systemd for a service whose output goes to the journal) names the file standard error is.
/// The journal stamps each line itself and shows no colours.
pub fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(stat) = rustix::fs::fstat(io::stderr().as_fd()) else {
        return false;
    };
    dev.parse() == Ok(stat.st_dev) && ino.parse() == Ok(stat.st_ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_reaches_a_socket_by_path_and_by_abstract_name() {
        // The environment is the process's: only this test touches NOTIFY_SOCKET.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let by_path = UnixDatagram::bind(&path).unwrap();
        std::env::set_var("NOTIFY_SOCKET", &path);
        assert!(notify("READY=1").unwrap());
        let mut buf = [0u8; 64];
        let n = by_path.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("thinftp-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let abstract_socket = UnixDatagram::bind_addr(&addr).unwrap();
        std::env::set_var("NOTIFY_SOCKET", format!("@{name}"));
        assert!(notify("STOPPING=1").unwrap());
        let n = abstract_socket.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");

        std::env::remove_var("NOTIFY_SOCKET");
        assert!(!notify("READY=1").unwrap());
    }

    #[test]
    fn the_journal_is_recognised_by_the_stream_it_names() {
        // Tests run with standard error on a pipe or terminal, which is no journal unless
        // JOURNAL_STREAM names it.
        let stat = rustix::fs::fstat(io::stderr().as_fd()).unwrap();
        let own = format!("{}:{}", stat.st_dev, stat.st_ino);
        let other = format!("{}:{}", stat.st_dev, stat.st_ino.wrapping_add(1));
        // The environment is the process's: one test sets it, in turn.
        std::env::set_var("JOURNAL_STREAM", &other);
        assert!(!stderr_is_journal());
        std::env::set_var("JOURNAL_STREAM", &own);
        assert!(stderr_is_journal());
        std::env::remove_var("JOURNAL_STREAM");
        assert!(!stderr_is_journal());
    }
}
