//! Where a session thread waits: its control connection and the reports of its helper threads
//! (accepts, connects, transfers), in one `poll`.
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
use thinftp_host::driver::Completion;

/// A report from a helper thread.
pub type Report = Completion<TcpStream>;

/// The helpers' end: send reports to the session thread. Cloned into every helper.
#[derive(Clone)]
pub struct Mailbox {
    tx: Sender<Report>,
    bell: Arc<OwnedFd>,
}

impl Mailbox {
    /// Sends `report` and wakes the session thread. Fails once the session has ended (the
    /// report is then dropped: nobody wants it).
    pub fn send(&self, report: Report) -> Result<(), ()> {
        self.tx.send(report).map_err(drop)?;
        // A full counter (2^64 - 2 rings unread) still wakes the poll; nothing else can fail.
        let _ = rustix::io::write(&*self.bell, &1u64.to_ne_bytes());
        Ok(())
    }
}

/// The session thread's end.
pub struct Inbox {
    rx: Receiver<Report>,
    bell: Arc<OwnedFd>,
}

/// What ended a [`Inbox::wait`].
#[derive(Debug, PartialEq, Eq)]
pub enum Woken {
    /// The control connection has something to read (or has ended).
    Control,
    /// A report may be waiting: see [`Inbox::try_recv`].
    Report,
    /// The timeout passed.
    Timeout,
    /// A signal interrupted the wait: just look again.
    Interrupted,
}

/// Makes a session's inbox and the mailbox its helpers send to.
pub fn inbox() -> io::Result<(Inbox, Mailbox)> {
    let bell = Arc::new(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?);
    let (tx, rx) = mpsc::channel();
    let mailbox = Mailbox {
        tx,
        bell: Arc::clone(&bell),
    };
    Ok((Inbox { rx, bell }, mailbox))
}

impl Inbox {
    /// A report already sent, if any.
    pub fn try_recv(&self) -> Option<Report> {
        // Never disconnected while the session keeps a mailbox of its own.
        self.rx.try_recv().ok()
    }

    /// Sleeps until `control` is readable (if given), a report is sent, or `timeout` passes
    /// (never, if `None`). Look for reports with [`try_recv`](Self::try_recv) before calling:
    /// a report sent before the bell was last cleared here would not wake this.
    pub fn wait(&self, control: Option<&TcpStream>, timeout: Option<Duration>) -> Woken {
        // Past what a timespec holds (or so far ahead): wait without a timeout.
        let timeout = timeout.and_then(|t| Timespec::try_from(t).ok());
        let mut fds = Vec::with_capacity(2);
        fds.push(PollFd::new(&*self.bell, PollFlags::IN));
        if let Some(control) = control {
            fds.push(PollFd::new(control, PollFlags::IN));
        }
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) => Woken::Timeout,
            Ok(_) => {
                if fds.get(1).is_some_and(|fd| !fd.revents().is_empty()) {
                    return Woken::Control;
                }
                // Clear the bell before looking for reports, so a report sent after this
                // read rings it again.
                let mut count = [0u8; 8];
                let _ = rustix::io::read(&*self.bell, &mut count);
                Woken::Report
            }
            Err(rustix::io::Errno::INTR) => Woken::Interrupted,
            Err(e) => {
                // Not expected with valid descriptors; do not spin on it.
                tracing::error!("poll failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
                Woken::Interrupted
            }
        }
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
    use thinftp::Input;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn wakes_for_the_control_connection_and_for_reports() {
        let (mut client, server) = pair();
        let (inbox, mailbox) = inbox().unwrap();
        let short = Some(Duration::from_millis(20));
        assert_eq!(inbox.wait(Some(&server), short), Woken::Timeout);

        client.write_all(b"NOOP\r\n").unwrap();
        assert_eq!(inbox.wait(Some(&server), None), Woken::Control);
        let mut line = [0u8; 16];
        assert_eq!(NoWait(&server).read(&mut line).unwrap(), 6);
        let empty = NoWait(&server).read(&mut line).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);

        // A report from another thread wakes a wait without a timeout.
        let helper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            mailbox.send(Completion::Input(Input::Timeout)).unwrap();
            mailbox
        });
        let started = Instant::now();
        assert_eq!(inbox.wait(Some(&server), None), Woken::Report);
        assert!(started.elapsed() >= Duration::from_millis(15));
        assert!(matches!(
            inbox.try_recv(),
            Some(Completion::Input(Input::Timeout))
        ));
        assert!(inbox.try_recv().is_none());
        // The bell was cleared: the next wait times out.
        assert_eq!(inbox.wait(None, short), Woken::Timeout);
        let _mailbox = helper.join().unwrap();
    }

    #[test]
    fn a_report_sent_before_the_wait_is_not_missed() {
        let (inbox, mailbox) = inbox().unwrap();
        mailbox.send(Completion::Input(Input::Timeout)).unwrap();
        assert_eq!(inbox.wait(None, None), Woken::Report);
        assert!(inbox.try_recv().is_some());
    }

    #[test]
    fn sending_after_the_session_ended_fails() {
        let (inbox, mailbox) = inbox().unwrap();
        drop(inbox);
        assert!(mailbox.send(Completion::Input(Input::Timeout)).is_err());
    }
}
