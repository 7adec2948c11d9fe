//! One session as a task: the loop that feeds the core its inputs and carries out its outputs.
//!
//! The task waits for the first of three things, raced with `futures_lite`'s `or`: an answer on
//! the session's channel of completed work (filesystem requests, password checks and transfers
//! run on `blocking::unblock`; accepts and connects are small tasks of their own), the control
//! socket becoming readable, or the core's deadline. It feeds that one input, then drains
//! `poll_output` and carries every output out in order before it waits again.
//!
//! An idle session holds no read buffer: the control socket is read only once it is readable,
//! into a buffer on the stack of a plain function, so the task itself stays small.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use async_io::{Async, Timer};
use bytes::Bytes;
use futures_lite::future::{self, FutureExt};
use futures_lite::AsyncWriteExt;
use thinftp::{DataId, Input, Output, Session, TransferError, TransferId, TransferKind};
use thinftp_host::shutdown::{ActiveTransfers, TransferGuard};
use thinftp_host::{AbortHandle, Host};
use tracing::Span;

use crate::data::{self, Channel};

/// Bytes read from the control connection at a time (on the stack, only while reading).
const CONTROL_BUF: usize = 4096;

/// What the server's sessions share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Storage, users, limits and settings.
    pub(crate) host: Arc<Host>,
    /// Transfers whose final reply is not written yet. The host counts a transfer until its bytes
    /// are moved; shutdown also waits (briefly) for the `226` that follows.
    pub(crate) unreported: ActiveTransfers,
}

/// What work done outside the session loop reports on the session's channel. Events travel
/// boxed: an unbounded channel keeps a block of 31 slots allocated per session once used, and
/// boxing keeps that block small (a pointer a slot) for each of thousands of idle sessions.
pub(crate) enum Event {
    /// An answer ready to feed as it is.
    Input(Input),
    /// A connection accepted on the passive listener `id`; the listener comes back with it, in
    /// case the core refuses the connection and wants the next one.
    Accepted {
        id: DataId,
        listener: Async<TcpListener>,
        stream: Async<TcpStream>,
        peer: SocketAddr,
    },
    /// The active connection `id` is up.
    Connected {
        id: DataId,
        stream: Async<TcpStream>,
        peer: SocketAddr,
    },
}

/// What woke the session.
enum Wake {
    Work(Event),
    Readable,
    Deadline,
}

/// A running transfer.
struct Running {
    abort: AbortHandle,
    /// Held until the transfer's final reply is written.
    _unreported: TransferGuard,
}

/// Runs the session of the control connection `control` from `peer` until it closes. Call it
/// inside the session's span (`span`, which work on other threads enters too).
pub(crate) async fn run(
    shared: Arc<Shared>,
    control: Async<TcpStream>,
    peer: SocketAddr,
    span: Span,
) {
    let local = match control.get_ref().local_addr() {
        Ok(local) => local,
        Err(e) => return tracing::debug!("control connection gone: {e}"),
    };
    // Replies come in few small writes; Nagle's algorithm would hold back the second of two.
    let _ = control.get_ref().set_nodelay(true);
    let config = shared.host.session_config();
    let (write_timeout, data_timeout) = (config.idle_timeout, config.data_timeout);
    let session = Session::new(config, peer, local, Instant::now());
    let (tx, rx) = async_channel::unbounded();
    let mut driver = Driver {
        shared,
        span,
        session,
        control,
        tx,
        rx,
        data: HashMap::new(),
        transfers: HashMap::new(),
        offered: None,
        read_eof: false,
        write_failed: false,
        write_timeout,
        data_timeout,
    };
    tracing::debug!("connected");
    driver.run().await;
    driver.close();
    tracing::debug!("closed");
}

/// The state of one session's loop.
struct Driver {
    shared: Arc<Shared>,
    span: Span,
    session: Session,
    control: Async<TcpStream>,
    /// Cloned into every piece of work; also keeps `rx` from ever reporting "closed".
    tx: Sender<Box<Event>>,
    rx: Receiver<Box<Event>>,
    data: HashMap<DataId, Channel>,
    transfers: HashMap<TransferId, Running>,
    /// The channel just reported with `DataConnected`: kept once the outputs are carried out,
    /// unless the core refused it.
    offered: Option<DataId>,
    /// The control connection reached its end (or failed): stop reading it.
    read_eof: bool,
    /// Writing a reply failed: the client is gone.
    write_failed: bool,
    /// A reply that cannot be written for this long means the client stopped reading.
    write_timeout: Duration,
    data_timeout: Duration,
}

impl Driver {
    async fn run(&mut self) {
        self.drain().await;
        while !self.session.is_closed() {
            let finished = match self.wait().await {
                Wake::Work(event) => self.on_event(event),
                Wake::Readable => {
                    if let Some(input) = self.read_control() {
                        self.feed(input);
                    }
                    None
                }
                Wake::Deadline => {
                    self.feed(Input::Timeout);
                    None
                }
            };
            self.drain().await;
            // Its final reply is written: shutdown need not wait for this transfer any more.
            drop(finished);
        }
    }

    /// Waits for the next event. Completed work goes first: it is bounded (one request of each
    /// kind at a time), so it cannot starve the control connection, while a client that keeps
    /// the control socket readable could otherwise starve the answers.
    async fn wait(&self) -> Wake {
        let work = async {
            match self.rx.recv().await {
                Ok(event) => Wake::Work(*event),
                // Never: `self.tx` keeps the channel open.
                Err(_) => future::pending().await,
            }
        };
        let readable = async {
            if self.read_eof {
                future::pending::<()>().await;
            }
            // An error here shows up again in the read that follows.
            let _ = self.control.readable().await;
            Wake::Readable
        };
        let deadline = async {
            match self.session.poll_timeout() {
                Some(at) => {
                    Timer::at(at).await;
                }
                None => future::pending::<()>().await,
            }
            Wake::Deadline
        };
        work.or(readable).or(deadline).await
    }

    /// Reads what the control socket has, without waiting. `None` after a spurious wake-up.
    fn read_control(&mut self) -> Option<Input> {
        let mut buf = [0u8; CONTROL_BUF];
        let mut socket: &TcpStream = self.control.get_ref();
        match socket.read(&mut buf) {
            Ok(0) => {
                self.read_eof = true;
                Some(Input::ControlEof)
            }
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
                self.read_eof = true;
                Some(Input::ControlEof)
            }
        }
    }

    /// Feeds one input. An error is a mismatch between this runtime and the core (typically a
    /// late answer for something already closed): the caller drops what the input carried.
    fn feed(&mut self, input: Input) -> bool {
        match self.session.handle_input(Instant::now(), input) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!("input refused by the session: {e}");
                false
            }
        }
    }

    /// Feeds what some work reported. Returns the transfer that just ended, if any: the caller
    /// holds it until the transfer's final reply is written.
    fn on_event(&mut self, event: Event) -> Option<Running> {
        match event {
            Event::Input(input) => {
                let finished = match &input {
                    Input::TransferDone { id, .. } => self.transfers.remove(id),
                    _ => None,
                };
                self.feed(input);
                finished
            }
            Event::Accepted {
                id,
                listener,
                stream,
                peer,
            } => {
                self.offer(id, stream, Some(listener), peer);
                None
            }
            Event::Connected { id, stream, peer } => {
                self.offer(id, stream, None, peer);
                None
            }
        }
    }

    /// Reports a new data connection. It stays offered while the outputs are carried out: the
    /// core may refuse it ([`Output::RefuseDataConnection`]) or start a transfer on it at once.
    fn offer(
        &mut self,
        id: DataId,
        stream: Async<TcpStream>,
        listener: Option<Async<TcpListener>>,
        peer: SocketAddr,
    ) {
        self.data.insert(id, Channel::Offered { stream, listener });
        if self.feed(Input::DataConnected { id, peer }) {
            self.offered = Some(id);
        } else {
            // A connection for a channel the core has closed meanwhile: not wanted.
            self.data.remove(&id);
        }
    }

    /// Carries out every output of the session, in order.
    async fn drain(&mut self) {
        loop {
            while let Some(output) = self.session.poll_output() {
                self.carry_out(output).await;
            }
            // A reply could not be written: the client is gone, as if it had closed.
            if self.write_failed && !self.read_eof && !self.session.is_closed() {
                self.read_eof = true;
                self.feed(Input::ControlEof);
                continue;
            }
            break;
        }
        // Not refused: the core keeps the connection, so its listener stops accepting.
        if let Some(id) = self.offered.take() {
            if let Some(Channel::Offered { stream, .. }) = self.data.remove(&id) {
                self.data.insert(id, Channel::Connected(stream));
            }
        }
    }

    async fn carry_out(&mut self, output: Output) {
        match output {
            Output::Reply(reply) => self.write(reply.as_bytes()).await,
            Output::Fs { id, op } => {
                self.work(move |host| Input::Fs {
                    id,
                    result: host.fs(&op),
                });
            }
            Output::Authenticate { id, user, password } => {
                self.work(move |host| Input::Auth {
                    id,
                    result: host.authenticate(&user, &password),
                });
            }
            Output::OpenPassive { id, ip } => self.open_passive(id, ip),
            Output::Connect { id, addr } => {
                let channel = data::connect(
                    id,
                    addr,
                    self.data_timeout,
                    self.tx.clone(),
                    self.span.clone(),
                );
                self.data.insert(id, channel);
            }
            Output::RefuseDataConnection { id } => self.refuse(id),
            Output::CloseData { id } => {
                // Dropping a channel closes its connection or listener and cancels its task.
                self.data.remove(&id);
            }
            Output::StartTransfer { id, data, kind } => self.start_transfer(id, data, kind),
            Output::AbortTransfer { id } => {
                if let Some(running) = self.transfers.get(&id) {
                    running.abort.abort();
                }
            }
            // The loop ends once the session is closed; `close` releases the rest.
            Output::CloseSession => {}
            other => tracing::warn!(?other, "output not known to this runtime: ignored"),
        }
    }

    /// Writes a reply. A client that does not read its replies for the idle timeout is gone.
    async fn write(&mut self, bytes: &[u8]) {
        if self.write_failed {
            return;
        }
        let timeout = async {
            Timer::after(self.write_timeout).await;
            Err(io::Error::from(io::ErrorKind::TimedOut))
        };
        let mut control = &self.control;
        if let Err(e) = control.write_all(bytes).or(timeout).await {
            tracing::debug!("cannot write to the control connection: {e}");
            self.write_failed = true;
        }
    }

    /// Runs `job` on the blocking pool, in the session's span, and reports its answer.
    fn work(&self, job: impl FnOnce(&Host) -> Input + Send + 'static) {
        let host = Arc::clone(&self.shared.host);
        let tx = self.tx.clone();
        let span = self.span.clone();
        blocking::unblock(move || {
            let _entered = span.enter();
            // The session may have closed meanwhile: then nobody wants the answer.
            let _ = tx.try_send(Box::new(Event::Input(job(&host))));
        })
        .detach();
    }

    fn open_passive(&mut self, id: DataId, ip: IpAddr) {
        // Binding is quick (no waiting on the network): it is done here, not on the pool.
        let listener = self.shared.host.open_passive(ip).and_then(Async::new);
        let answer = match listener {
            Ok(listener) => match listener.get_ref().local_addr() {
                Ok(addr) => {
                    let channel = data::accept(id, listener, self.tx.clone(), self.span.clone());
                    self.data.insert(id, channel);
                    Input::PassiveListening { id, addr }
                }
                Err(e) => {
                    tracing::warn!("passive listener has no address: {e}");
                    Input::PassiveFailed { id }
                }
            },
            Err(e) => {
                tracing::warn!(%ip, "cannot open a passive listener: {e}");
                Input::PassiveFailed { id }
            }
        };
        // Answers go through the channel like any other, so they are fed after this drain.
        let _ = self.tx.try_send(Box::new(Event::Input(answer)));
    }

    /// Drops the connection just offered on `id` and accepts again on its listener.
    fn refuse(&mut self, id: DataId) {
        match self.data.remove(&id) {
            Some(Channel::Offered {
                stream,
                listener: Some(listener),
            }) => {
                if let Ok(peer) = stream.get_ref().peer_addr() {
                    tracing::info!(%peer, "data connection from a foreign address refused");
                }
                drop(stream);
                let channel = data::accept(id, listener, self.tx.clone(), self.span.clone());
                self.data.insert(id, channel);
            }
            Some(other) => {
                tracing::debug!(%id, "refusal of a data connection that was not offered");
                self.data.insert(id, other);
            }
            None => tracing::debug!(%id, "refusal of an unknown data connection"),
        }
        if self.offered == Some(id) {
            self.offered = None;
        }
    }

    fn start_transfer(&mut self, id: TransferId, data: DataId, kind: TransferKind) {
        let stream = self.data.remove(&data).and_then(Channel::into_stream);
        // The transfer blocks in std::io::copy (sendfile/splice): it needs a blocking std socket.
        let stream = stream.map(Async::into_inner);
        let stream = match stream {
            Some(Ok(stream)) => stream,
            Some(Err(e)) => {
                tracing::debug!(%id, "data connection unusable: {e}");
                return self.report_lost(id);
            }
            None => {
                tracing::warn!(%id, %data, "transfer on a data connection this runtime does not hold");
                return self.report_lost(id);
            }
        };
        let abort = AbortHandle::new();
        let running = Running {
            abort: abort.clone(),
            _unreported: self.shared.unreported.enter(),
        };
        self.transfers.insert(id, running);
        self.work(move |host| Input::TransferDone {
            id,
            result: host.run_transfer(&kind, stream, &abort),
        });
    }

    fn report_lost(&self, id: TransferId) {
        let done = Input::TransferDone {
            id,
            result: Err(TransferError::ConnectionLost),
        };
        let _ = self.tx.try_send(Box::new(Event::Input(done)));
    }

    /// Releases everything the session holds once it has closed.
    fn close(self) {
        for running in self.transfers.values() {
            running.abort.abort();
        }
        // FIN after the last reply; dropping the rest closes listeners and data connections.
        let _ = self.control.get_ref().shutdown(Shutdown::Write);
    }
}
