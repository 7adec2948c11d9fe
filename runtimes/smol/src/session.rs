//! One session as a task: the host's [`SessionLoop`] on smol's sockets, timer and blocking pool.
//!
//! The task carries out the loop's I/O, then looks for what came; when the host says to wait,
//! it waits for the first of three things, raced with `futures_lite`'s `or`: a report on the
//! session's channel (jobs run on `blocking::unblock`; accepts and connects are small tasks of
//! their own), the control socket becoming readable, or the timer. While the host keeps a
//! busy-poll window open it yields to other tasks between looks: the client's next command
//! usually arrives within it, and then the executor thread never went to sleep.
//!
//! Reports travel boxed: an unbounded channel keeps a block of 31 slots allocated per session
//! once used, and boxing keeps that block small (a pointer a slot) for each of thousands of idle
//! sessions.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use async_channel::{Receiver, Sender};
use async_executor::Task;
use async_io::{Async, Timer};
use futures_lite::future::{self, FutureExt};
use futures_lite::AsyncWriteExt;
use thinftp_host::driver::{Blocking, Completion};
use thinftp_host::runtime::{DataChannel, Io, Look, NewSession, Runtime, SessionLoop};
use tracing::Instrument;

use crate::EXECUTOR;

type Report = Box<Completion<TcpStream>>;

/// Runs the session of `new` until it closes. Run it inside the session's span.
pub(crate) async fn run(new: NewSession) {
    let (tx, rx) = async_channel::unbounded();
    let Some((control, mut session)) = new.start(Helpers(tx)) else {
        return;
    };
    let Ok(control) = Async::new(control) else {
        return;
    };
    let mut timer = Timer::never();
    // Whether `timer` is armed (and has not fired).
    let mut armed = false;
    loop {
        while let Some(io) = session.poll_io() {
            match io {
                Io::Write(bytes) => write(&mut session, &control, &bytes).await,
                Io::ArmTimer(at) => {
                    timer.set_at(at);
                    armed = true;
                }
                Io::Close => return session.close(control.get_ref()),
            }
        }
        loop {
            let report = rx.try_recv().ok().map(|report| *report);
            match session.look(report, &mut control.get_ref()) {
                Look::Came => break,
                Look::Again => future::yield_now().await,
                Look::Wait => {
                    let wants_control = session.wants_control();
                    match wait(&rx, &control, wants_control, &mut timer, &mut armed).await {
                        Wake::Report(report) => session.complete(*report),
                        // Taken by the next look.
                        Wake::Readable => continue,
                        Wake::Timer => session.timer_fired(),
                    }
                    break;
                }
            }
        }
    }
}

async fn write(session: &mut SessionLoop<Helpers>, control: &Async<TcpStream>, bytes: &[u8]) {
    let timeout = async {
        Timer::after(session.write_timeout()).await;
        Err(io::Error::from(io::ErrorKind::TimedOut))
    };
    let mut writer = control;
    if let Err(e) = writer.write_all(bytes).or(timeout).await {
        session.write_failed(&e);
    }
}

enum Wake {
    Report(Report),
    Readable,
    Timer,
}

/// The first of a report, the control socket readable (if wanted) and the timer (if armed).
async fn wait(
    rx: &Receiver<Report>,
    control: &Async<TcpStream>,
    wants_control: bool,
    timer: &mut Timer,
    armed: &mut bool,
) -> Wake {
    let report = async {
        match rx.recv().await {
            Ok(report) => Wake::Report(report),
            // Never: the session's `Helpers` keep the channel open.
            Err(_) => future::pending().await,
        }
    };
    let readable = async {
        if !wants_control {
            future::pending::<()>().await;
        }
        // An error here shows up again in the read that follows.
        let _ = control.readable().await;
        Wake::Readable
    };
    let deadline = async {
        if !*armed {
            future::pending::<()>().await;
        }
        timer.await;
        *armed = false;
        Wake::Timer
    };
    report.or(readable).or(deadline).await
}

/// A session's helpers: the blocking pool and small tasks, reporting on its channel.
#[derive(Clone)]
struct Helpers(Sender<Report>);

impl Runtime for Helpers {
    const BLOCKING: Blocking = Blocking::Never;
    /// Dropping it cancels the task.
    type Wait = Task<()>;

    fn spawn(&self, work: impl FnOnce() + Send + 'static) -> io::Result<()> {
        blocking::unblock(work).detach();
        Ok(())
    }

    fn accept(
        &self,
        listener: Arc<TcpListener>,
        channel: DataChannel<Self>,
    ) -> io::Result<Task<()>> {
        let socket = Async::new(listener)?;
        let span = channel.span().clone();
        let task = async move {
            while let Some(pause) = channel.accepted(socket.read_with(|l| l.accept()).await) {
                Timer::after(pause).await;
            }
        };
        Ok(EXECUTOR.spawn(task.instrument(span)))
    }

    fn connect(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        channel: DataChannel<Self>,
    ) -> io::Result<Task<()>> {
        let span = channel.span().clone();
        let task = async move {
            let timed_out = async {
                Timer::after(timeout).await;
                Err(io::Error::from(io::ErrorKind::TimedOut))
            };
            let connected = Async::<TcpStream>::connect(addr).or(timed_out).await;
            channel.connected(addr, connected.and_then(Async::into_inner));
        };
        Ok(EXECUTOR.spawn(task.instrument(span)))
    }

    fn report(&self, completion: Completion<TcpStream>) {
        // Unbounded: never full; closed only once the session has ended.
        let _ = self.0.try_send(Box::new(completion));
    }
}
