//! Where a session thread waits: its control connection and the reports `T` of its helper
//! threads (accepts, connects, transfers), in one `poll`.
//!
//! Helpers send a report into a channel and ring a bell, an `eventfd` the session thread polls
//! beside the control socket. The session thread reads the control socket itself, so a command
//! reaches the core without a hand-off between threads, and an idle session is one thread.

use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};
use rustix::net::RecvFlags;

/// The helpers' end: send reports to the session thread. Cloned into every helper.
pub struct Mailbox<T> {
    tx: Sender<T>,
    bell: Arc<OwnedFd>,
}

// Not derived: that would ask `T: Clone`.
impl<T> Clone for Mailbox<T> {
    fn clone(&self) -> Self {
        let (tx, bell) = (self.tx.clone(), Arc::clone(&self.bell));
        Mailbox { tx, bell }
    }
}

impl<T> Mailbox<T> {
    /// Sends `report` and wakes the session thread. Fails once the session has ended (the
    /// report is then dropped: nobody wants it).
    pub fn send(&self, report: T) -> Result<(), ()> {
        self.tx.send(report).map_err(drop)?;
        // A full counter (2^64 - 2 rings unread) still wakes the poll; nothing else can fail.
        let _ = rustix::io::write(&*self.bell, &1u64.to_ne_bytes());
        Ok(())
    }
}

/// The session thread's end.
pub struct Inbox<T> {
    rx: Receiver<T>,
    bell: Arc<OwnedFd>,
}

/// Makes a session's inbox and the mailbox its helpers send to.
pub fn inbox<T>() -> io::Result<(Inbox<T>, Mailbox<T>)> {
    let bell = Arc::new(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?);
    let (tx, rx) = mpsc::channel();
    let mailbox = Mailbox {
        tx,
        bell: Arc::clone(&bell),
    };
    Ok((Inbox { rx, bell }, mailbox))
}

impl<T> Inbox<T> {
    /// A report already sent, if any.
    pub fn try_recv(&self) -> Option<T> {
        // Never disconnected while the session keeps a mailbox of its own.
        self.rx.try_recv().ok()
    }

    /// Sleeps until `control` is readable (if given), a report is sent, a signal comes or
    /// `timeout` passes (never, if `None`); true only in the last case. Look for reports with
    /// [`try_recv`](Self::try_recv) before calling: a report sent before the bell was last
    /// cleared here would not wake this.
    pub fn wait(&self, control: Option<&TcpStream>, timeout: Option<Duration>) -> bool {
        // Past what a timespec holds (or so far ahead): wait without a timeout.
        let timeout = timeout.and_then(|t| Timespec::try_from(t).ok());
        let mut fds = Vec::with_capacity(2);
        fds.push(PollFd::new(&*self.bell, PollFlags::IN));
        if let Some(control) = control {
            fds.push(PollFd::new(control, PollFlags::IN));
        }
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) => return true,
            Ok(_) if !fds[0].revents().is_empty() => {
                // Clear the bell before looking for reports, so a report sent after this
                // read rings it again.
                let mut count = [0u8; 8];
                let _ = rustix::io::read(&*self.bell, &mut count);
            }
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                // Not expected with valid descriptors; do not spin on it.
                tracing::error!("poll failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        false
    }
}

/// Reads a blocking socket without waiting (`MSG_DONTWAIT`): `WouldBlock` when it has nothing.
pub struct NoWait<'a>(pub &'a TcpStream);

impl Read for NoWait<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (read, _) = rustix::net::recv(self.0, buf, RecvFlags::DONTWAIT)?;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::time::Instant;

    #[test]
    fn wakes_for_the_control_connection_for_reports_and_for_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let (inbox, mailbox) = inbox().unwrap();
        let short = Some(Duration::from_millis(20));
        assert!(inbox.wait(Some(&server), short), "nothing came: timed out");

        client.write_all(b"NOOP\r\n").unwrap();
        assert!(!inbox.wait(Some(&server), None));
        let mut line = [0u8; 16];
        assert_eq!(NoWait(&server).read(&mut line).unwrap(), 6);
        let empty = NoWait(&server).read(&mut line).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);

        // A report from another thread wakes a wait without a timeout.
        let helper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            mailbox.send(7).unwrap();
            mailbox
        });
        let started = Instant::now();
        assert!(!inbox.wait(Some(&server), None));
        assert!(started.elapsed() >= Duration::from_millis(15));
        assert_eq!(inbox.try_recv(), Some(7));
        assert!(inbox.try_recv().is_none());
        // The bell was cleared: the next wait times out.
        assert!(inbox.wait(None, short));
        let mailbox = helper.join().unwrap();

        // A report sent before the wait is not missed.
        mailbox.send(8).unwrap();
        assert!(!inbox.wait(None, None));
        assert_eq!(inbox.try_recv(), Some(8));
        // Sending after the session ended fails.
        drop(inbox);
        assert!(mailbox.send(9).is_err());
    }
}
