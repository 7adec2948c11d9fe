//! One session on its own thread: the loop that feeds the core its inputs and carries out its
//! outputs. Helper threads (the control reader, filesystem and password work, accepts, connects
//! and transfers) report into one channel; the session thread blocks on it with the core's
//! deadline as its timeout.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use bytes::Bytes;
use thinftp::{
    AuthId, AuthResult, DataId, FsError, FsId, FsReply, Input, Output, Session, TransferError,
    TransferId, TransferKind,
};
use thinftp_host::{logging, passive, socket, AbortHandle, Host};
use tracing::Span;

/// Bytes read from the control connection at a time.
const CONTROL_BUF: usize = 4096;

/// What the helper threads report.
enum Event {
    Control(Bytes),
    ControlEof,
    Fs {
        id: FsId,
        result: Result<FsReply, FsError>,
    },
    Auth {
        id: AuthId,
        result: AuthResult,
    },
    Accepted {
        id: DataId,
        stream: TcpStream,
        peer: SocketAddr,
    },
    Connected {
        id: DataId,
        result: io::Result<(TcpStream, SocketAddr)>,
    },
    TransferDone {
        id: TransferId,
        result: Result<u64, TransferError>,
    },
}

/// A data channel of the session.
enum Data {
    /// A passive listener; a thread is blocked accepting on it.
    Listening(Arc<TcpListener>),
    /// An active connection being made by a thread.
    Connecting,
    /// A data connection waiting for its transfer. `listener` is the passive listener it came
    /// from, kept until the core has accepted the connection (it may refuse it and want more).
    Connected {
        stream: TcpStream,
        listener: Option<Arc<TcpListener>>,
    },
}

/// Runs the session of the control connection `control` until it closes.
pub fn run(host: &Arc<Host>, control: TcpStream, peer: SocketAddr, id: u64) {
    let span = logging::session_span(id, peer);
    let _entered = span.enter();
    tracing::debug!("connected");
    let local = match control.local_addr() {
        Ok(local) => local,
        Err(e) => return tracing::debug!("control connection gone: {e}"),
    };
    let (tx, rx) = mpsc::channel();
    let reader = match control.try_clone() {
        Ok(reader) => reader,
        Err(e) => return tracing::warn!("cannot clone the control connection: {e}"),
    };
    socket::prepare_control(&control);
    // Replies are small: a client that stops reading them is as good as idle.
    let _ = control.set_write_timeout(Some(host.session_config().idle_timeout));
    let _ = spawn(&span, "control", {
        let tx = tx.clone();
        move || read_control(reader, &tx)
    });
    let session = Session::new(host.session_config(), peer, local, Instant::now());
    let mut runner = Runner {
        host: Arc::clone(host),
        span: span.clone(),
        session,
        control,
        tx,
        data: HashMap::new(),
        transfers: HashMap::new(),
        immediate: VecDeque::new(),
        control_dead: false,
    };
    runner.run(&rx);
    runner.close();
    tracing::debug!("closed");
}

struct Runner {
    host: Arc<Host>,
    span: Span,
    session: Session,
    control: TcpStream,
    /// Handed to helper threads; the session thread receives on the other end.
    tx: Sender<Event>,
    data: HashMap<DataId, Data>,
    transfers: HashMap<TransferId, AbortHandle>,
    /// Answers known at once (a listener bound, a write that failed): fed before waiting again.
    immediate: VecDeque<Input>,
    /// Writing a reply failed: the connection is gone, EOF has been queued once.
    control_dead: bool,
}

impl Runner {
    fn run(&mut self, rx: &Receiver<Event>) {
        self.drain();
        while !self.session.is_closed() {
            if let Some(input) = self.immediate.pop_front() {
                self.feed(input);
                continue;
            }
            let event = match self.session.poll_timeout() {
                Some(deadline) => {
                    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                        Ok(event) => Some(event),
                        Err(RecvTimeoutError::Timeout) => None,
                        // Unreachable while `self.tx` lives; end the session rather than spin.
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                None => match rx.recv() {
                    Ok(event) => Some(event),
                    Err(_) => return,
                },
            };
            match event {
                None => self.feed(Input::Timeout),
                Some(event) => self.on_event(event),
            }
        }
    }

    /// Turns a helper's report into an input, keeping any socket it carries.
    fn on_event(&mut self, event: Event) {
        match event {
            Event::Control(bytes) => self.feed(Input::ControlBytes(bytes)),
            Event::ControlEof => self.feed(Input::ControlEof),
            Event::Fs { id, result } => self.feed(Input::Fs { id, result }),
            Event::Auth { id, result } => self.feed(Input::Auth { id, result }),
            Event::TransferDone { id, result } => {
                self.transfers.remove(&id);
                self.feed(Input::TransferDone { id, result });
            }
            Event::Accepted { id, stream, peer } => {
                // The listener may have been closed meanwhile: then the connection is not wanted.
                let Some(Data::Listening(listener)) = self.data.remove(&id) else {
                    return;
                };
                let listener = Some(listener);
                self.data.insert(id, Data::Connected { stream, listener });
                self.feed(Input::DataConnected { id, peer });
                // Not refused while the outputs were carried out: stop accepting.
                if let Some(Data::Connected { listener, .. }) = self.data.get_mut(&id) {
                    listener.take();
                }
            }
            Event::Connected { id, result } => {
                if !matches!(self.data.get(&id), Some(Data::Connecting)) {
                    return;
                }
                match result {
                    Ok((stream, peer)) => {
                        self.data.insert(
                            id,
                            Data::Connected {
                                stream,
                                listener: None,
                            },
                        );
                        self.feed(Input::DataConnected { id, peer });
                    }
                    Err(e) => {
                        tracing::debug!(%id, "active connection failed: {e}");
                        self.data.remove(&id);
                        self.feed(Input::ConnectFailed { id });
                    }
                }
            }
        }
    }

    /// Feeds one input, then carries out every output.
    fn feed(&mut self, input: Input) {
        if let Err(e) = self.session.handle_input(Instant::now(), input) {
            // A bug in this runtime, not the client's doing: the session is unchanged.
            tracing::error!("runtime fed the session wrongly: {e}");
        }
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(output) = self.session.poll_output() {
            self.carry_out(output);
        }
    }

    fn carry_out(&mut self, output: Output) {
        match output {
            Output::Reply(reply) => {
                if self.control_dead {
                    return;
                }
                if let Err(e) = self.control.write_all(reply.as_bytes()) {
                    tracing::debug!("writing a reply failed: {e}");
                    self.control_dead = true;
                    self.immediate.push_back(Input::ControlEof);
                }
            }
            Output::Fs { id, op } => {
                let (host, tx) = (Arc::clone(&self.host), self.tx.clone());
                let spawned = spawn(&self.span, "fs", move || {
                    let result = host.fs(&op);
                    let _ = tx.send(Event::Fs { id, result });
                });
                if !spawned {
                    self.immediate.push_back(Input::Fs {
                        id,
                        result: Err(FsError::Other),
                    });
                }
            }
            Output::Authenticate { id, user, password } => {
                let (host, tx) = (Arc::clone(&self.host), self.tx.clone());
                let spawned = spawn(&self.span, "auth", move || {
                    let result = host.authenticate(&user, &password);
                    let _ = tx.send(Event::Auth { id, result });
                });
                if !spawned {
                    self.immediate.push_back(Input::Auth {
                        id,
                        result: AuthResult::Refused,
                    });
                }
            }
            Output::OpenPassive { id, ip } => match self.host.open_passive(ip) {
                Ok(listener) => {
                    let addr = listener.local_addr();
                    let listener = Arc::new(listener);
                    match addr {
                        Ok(addr) => {
                            self.accept_on(id, &listener);
                            self.data.insert(id, Data::Listening(listener));
                            self.immediate
                                .push_back(Input::PassiveListening { id, addr });
                        }
                        Err(_) => self.immediate.push_back(Input::PassiveFailed { id }),
                    }
                }
                Err(e) => {
                    tracing::warn!(%ip, "cannot open a passive listener: {e}");
                    self.immediate.push_back(Input::PassiveFailed { id });
                }
            },
            Output::Connect { id, addr } => {
                self.data.insert(id, Data::Connecting);
                let (host, tx) = (Arc::clone(&self.host), self.tx.clone());
                let spawned = spawn(&self.span, "connect", move || {
                    let result = host.connect(addr).map(|stream| (stream, addr));
                    let _ = tx.send(Event::Connected { id, result });
                });
                if !spawned {
                    self.data.remove(&id);
                    self.immediate.push_back(Input::ConnectFailed { id });
                }
            }
            Output::RefuseDataConnection { id } => match self.data.remove(&id) {
                Some(Data::Connected {
                    stream,
                    listener: Some(listener),
                }) => {
                    let _ = stream.shutdown(Shutdown::Both);
                    self.accept_on(id, &listener);
                    self.data.insert(id, Data::Listening(listener));
                }
                Some(Data::Connected {
                    stream,
                    listener: None,
                }) => {
                    let _ = stream.shutdown(Shutdown::Both);
                }
                Some(other) => {
                    self.data.insert(id, other);
                }
                None => {}
            },
            Output::CloseData { id } => {
                if let Some(data) = self.data.remove(&id) {
                    close_data(data);
                }
            }
            Output::StartTransfer { id, data, kind } => self.start_transfer(id, data, kind),
            Output::AbortTransfer { id } => {
                if let Some(abort) = self.transfers.get(&id) {
                    abort.abort();
                }
            }
            Output::CloseSession => {
                let _ = self.control.flush();
            }
            other => tracing::error!("output not handled by this runtime: {other:?}"),
        }
    }

    fn start_transfer(&mut self, id: TransferId, data: DataId, kind: TransferKind) {
        let Some(Data::Connected { stream, .. }) = self.data.remove(&data) else {
            // The core starts transfers only on connections it was told about: a runtime bug.
            tracing::error!(%id, %data, "transfer on a data channel that is not connected");
            let result = Err(TransferError::ConnectionLost);
            self.immediate.push_back(Input::TransferDone { id, result });
            return;
        };
        let abort = AbortHandle::new();
        self.transfers.insert(id, abort.clone());
        let (host, tx) = (Arc::clone(&self.host), self.tx.clone());
        let spawned = spawn(&self.span, "transfer", move || {
            let result = host.run_transfer(&kind, stream, &abort);
            let _ = tx.send(Event::TransferDone { id, result });
        });
        if !spawned {
            self.transfers.remove(&id);
            let result = Err(TransferError::ConnectionLost);
            self.immediate.push_back(Input::TransferDone { id, result });
        }
    }

    /// Starts a thread that waits for one connection on `listener`.
    fn accept_on(&self, id: DataId, listener: &Arc<TcpListener>) {
        let (listener, tx) = (Arc::clone(listener), self.tx.clone());
        // Not started (out of threads): the core's data timeout ends the wait.
        let _ = spawn(&self.span, "accept", move || loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    let _ = tx.send(Event::Accepted { id, stream, peer });
                    return;
                }
                // The client gave up before we accepted: wait for its next try.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                // Closed by `wake_listener`, or out of descriptors: the core's data timeout
                // ends the wait.
                Err(_) => return,
            }
        });
    }

    /// Ends everything the session still has: transfers, listeners, the control connection.
    fn close(&mut self) {
        for abort in self.transfers.values() {
            abort.abort();
        }
        for (_, data) in self.data.drain() {
            close_data(data);
        }
        let _ = self.control.flush();
        // Also wakes the reader thread.
        let _ = self.control.shutdown(Shutdown::Both);
    }
}

fn close_data(data: Data) {
    match data {
        Data::Listening(listener) => passive::wake_listener(&listener),
        Data::Connected { stream, listener } => {
            let _ = stream.shutdown(Shutdown::Both);
            if let Some(listener) = listener {
                passive::wake_listener(&listener);
            }
        }
        // Its thread reports later; the id is unknown by then and the connection is dropped.
        Data::Connecting => {}
    }
}

fn read_control(mut reader: TcpStream, tx: &Sender<Event>) {
    let mut buf = vec![0u8; CONTROL_BUF];
    loop {
        let event = match reader.read(&mut buf) {
            Ok(0) => Event::ControlEof,
            Ok(n) => Event::Control(Bytes::copy_from_slice(buf.get(..n).unwrap_or_default())),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => Event::ControlEof,
        };
        let eof = matches!(event, Event::ControlEof);
        if tx.send(event).is_err() || eof {
            return;
        }
    }
}

/// Runs `work` on a new thread inside the session's span. Returns false (and logs) if no thread
/// could be started: the caller then answers the core itself.
#[must_use]
fn spawn(span: &Span, what: &str, work: impl FnOnce() + Send + 'static) -> bool {
    let span = span.clone();
    let spawned = thread::Builder::new()
        .name(format!("thinftp-{what}"))
        .spawn(move || span.in_scope(work));
    match spawned {
        Ok(_) => true,
        Err(e) => {
            tracing::error!("cannot start a {what} thread: {e}");
            false
        }
    }
}
