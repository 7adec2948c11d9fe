//! Embedding thinftp without any runtime crate: a hand-written event loop over plain std sockets,
//! std threads and one channel, with `std::fs` beneath a directory as the storage.
//!
//! Each session runs on its own thread:
//! 1. drain `poll_output` and carry each output out in order;
//! 2. wait for the next input (control bytes from a reader thread, answers to work, a finished
//!    transfer) or the session's deadline, and feed it with `handle_input`;
//! 3. stop after `Output::CloseSession`.
//!
//! Work that may block for long (moving a transfer's bytes) runs on its own thread and reports
//! back through the channel; quick filesystem calls are done in place, and so is opening a
//! transfer's file on `StartTransfer` (the session sends its `150` only once that worked, then
//! asks for the bytes with `MoveBytes`). This is an example, not a server: the real
//! runtimes keep every path beneath the root with `cap-std` (a symlink here could lead outside),
//! check passwords properly and bound everything.

// The runtime owns the clock: the core never reads it (clippy.toml forbids it there).
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use thinftp::ascii::{AsciiDecoder, AsciiEncoder};
use thinftp::{
    AuthResult, Config, DataId, DirEntry, FsError, FsOp, FsReply, Input, Listing, Metadata, Output,
    Permissions, Session, TransferError, TransferId, TransferKind, WriteMode,
};

/// How often the loop looks at its (non-blocking) passive listeners.
const TICK: Duration = Duration::from_millis(10);

/// Accepts control connections forever, one session thread each.
fn serve(listener: TcpListener, root: PathBuf) {
    for control in listener.incoming().flatten() {
        let root = root.clone();
        thread::spawn(move || run_session(control, root));
    }
}

/// Everything one session's runtime owns besides the session itself.
struct Runtime {
    control: TcpStream,
    root: PathBuf,
    /// Every input that is not produced in the loop itself comes through here.
    tx: Sender<Input>,
    listeners: HashMap<DataId, TcpListener>,
    /// The listener a connection was just accepted on, kept in case the session refuses it.
    just_accepted: Option<(DataId, TcpListener)>,
    data: HashMap<DataId, TcpStream>,
    /// Each opened transfer with its data connection, until `MoveBytes`.
    opened: HashMap<TransferId, (TcpStream, Opened)>,
    /// A handle on each running transfer's socket, to stop it on `AbortTransfer`.
    transfers: HashMap<TransferId, TcpStream>,
}

fn run_session(control: TcpStream, root: PathBuf) -> io::Result<()> {
    let (peer, local) = (control.peer_addr()?, control.local_addr()?);
    let mut session = Session::new(Config::default(), peer, local, Instant::now());
    let (tx, rx) = mpsc::channel();
    spawn_reader(control.try_clone()?, tx.clone());
    let mut rt = Runtime {
        control,
        root,
        tx,
        listeners: HashMap::new(),
        just_accepted: None,
        data: HashMap::new(),
        opened: HashMap::new(),
        transfers: HashMap::new(),
    };
    loop {
        while let Some(output) = session.poll_output() {
            if !rt.carry_out(output)? {
                return Ok(()); // CloseSession: dropping `rt` closes every socket.
            }
        }
        rt.just_accepted = None; // Not refused: stop accepting on that listener.
        let Some(input) = rt.next_input(&rx, session.poll_timeout()) else {
            continue;
        };
        session
            .handle_input(Instant::now(), input)
            .expect("this runtime only answers what it was asked");
    }
}

/// Feeds the control connection's bytes into the channel, then its end.
fn spawn_reader(mut control: TcpStream, tx: Sender<Input>) {
    thread::spawn(move || {
        let mut buf = [0; 4096];
        loop {
            let input = match control.read(&mut buf) {
                Ok(0) | Err(_) => Input::ControlEof,
                Ok(n) => Input::ControlBytes(Bytes::copy_from_slice(&buf[..n])),
            };
            let eof = input == Input::ControlEof;
            if tx.send(input).is_err() || eof {
                return;
            }
        }
    });
}

impl Runtime {
    /// The next input: a connection on a passive listener, something from the channel, or the
    /// deadline. `None` when nothing happened during one tick.
    fn next_input(&mut self, rx: &Receiver<Input>, deadline: Option<Instant>) -> Option<Input> {
        for (&id, listener) in &self.listeners {
            if let Ok((stream, peer)) = listener.accept() {
                stream.set_nonblocking(false).ok()?;
                self.data.insert(id, stream);
                self.just_accepted = self.listeners.remove_entry(&id);
                return Some(Input::DataConnected { id, peer });
            }
        }
        let now = Instant::now();
        let wait = deadline.map_or(TICK, |d| d.saturating_duration_since(now).min(TICK));
        match rx.recv_timeout(wait) {
            Ok(input) => {
                if let Input::TransferDone { id, .. } = &input {
                    self.transfers.remove(id);
                }
                Some(input)
            }
            Err(RecvTimeoutError::Timeout) if deadline.is_some_and(|d| d <= Instant::now()) => {
                Some(Input::Timeout)
            }
            Err(_) => None,
        }
    }

    /// Carries out one output; false once the session is over.
    fn carry_out(&mut self, output: Output) -> io::Result<bool> {
        let answer = match output {
            Output::Reply(reply) => {
                self.control.write_all(reply.as_bytes())?;
                return Ok(true);
            }
            Output::Authenticate { id, user, password } => {
                let ok = user == "demo" && password == "demo";
                let result = if ok {
                    AuthResult::Accepted(Permissions::read_write())
                } else {
                    AuthResult::Refused
                };
                Input::Auth { id, result }
            }
            Output::Fs { id, op } => Input::Fs {
                id,
                result: run_fs(&self.root, op),
            },
            Output::OpenPassive { id, ip } => match TcpListener::bind((ip, 0)) {
                Ok(listener) => {
                    listener.set_nonblocking(true)?;
                    let addr = listener.local_addr()?;
                    self.listeners.insert(id, listener);
                    Input::PassiveListening { id, addr }
                }
                Err(_) => Input::PassiveFailed { id },
            },
            Output::Connect { id, addr } => {
                match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                    Ok(stream) => {
                        self.data.insert(id, stream);
                        Input::DataConnected { id, peer: addr }
                    }
                    Err(_) => Input::ConnectFailed { id },
                }
            }
            Output::RefuseDataConnection { id } => {
                self.data.remove(&id); // Dropping it closes the stray connection.
                if let Some((id, listener)) = self.just_accepted.take() {
                    self.listeners.insert(id, listener);
                }
                return Ok(true);
            }
            Output::CloseData { id } => {
                self.listeners.remove(&id);
                self.data.remove(&id);
                return Ok(true);
            }
            // This loop has no TLS: FTPS is off in its `Config`, so `protection` is always Clear.
            Output::StartTransfer { id, data, kind, .. } => {
                let stream = self
                    .data
                    .remove(&data)
                    .expect("the session names a connection");
                // Open first: a refusal is the client's reply instead of the 150. Dropping the
                // stream on failure closes the data connection.
                match open(&self.root, kind) {
                    Ok(opened) => {
                        self.opened.insert(id, (stream, opened));
                        Input::TransferOpened { id }
                    }
                    Err(e) => Input::TransferDone { id, result: Err(e) },
                }
            }
            Output::MoveBytes { id } => {
                // The 150 before this output is written: the bytes move now.
                let (stream, opened) = self.opened.remove(&id).expect("opened before");
                self.transfers.insert(id, stream.try_clone()?);
                let tx = self.tx.clone();
                thread::spawn(move || {
                    let mut stream = stream;
                    let result = move_bytes(opened, &mut stream);
                    // Shut down rather than drop: the clone kept for ABOR shares the socket.
                    let _ = stream.shutdown(Shutdown::Both);
                    let _ = tx.send(Input::TransferDone { id, result });
                });
                return Ok(true);
            }
            Output::AbortTransfer { id } => {
                // Breaking the socket makes the transfer thread stop and report.
                if let Some(stream) = self.transfers.remove(&id) {
                    let _ = stream.shutdown(Shutdown::Both);
                }
                // Opened, not moving yet: it ends here.
                if self.opened.remove(&id).is_some() {
                    let result = Err(TransferError::Aborted);
                    let _ = self.tx.send(Input::TransferDone { id, result });
                }
                return Ok(true);
            }
            Output::CloseSession => {
                let _ = self.control.shutdown(Shutdown::Both);
                return Ok(false);
            }
            _ => return Ok(true),
        };
        // Answers go through the channel like everything else, so they stay in order.
        let _ = self.tx.send(answer);
        Ok(true)
    }
}

fn real(root: &Path, path: &thinftp::VirtualPath) -> PathBuf {
    root.join(path.relative())
}

fn fs_error(e: io::Error) -> FsError {
    match e.kind() {
        io::ErrorKind::NotFound => FsError::NotFound,
        io::ErrorKind::PermissionDenied => FsError::PermissionDenied,
        io::ErrorKind::AlreadyExists => FsError::AlreadyExists,
        _ => FsError::Other,
    }
}

fn metadata(m: &fs::Metadata) -> Metadata {
    let modified = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
    let modified = modified.and_then(|d| i64::try_from(d.as_secs()).ok());
    if m.is_dir() {
        Metadata::dir(modified)
    } else {
        Metadata::file(m.len(), modified)
    }
}

fn run_fs(root: &Path, op: FsOp) -> Result<FsReply, FsError> {
    match op {
        FsOp::Stat(p) => Ok(FsReply::Metadata(metadata(
            &fs::metadata(real(root, &p)).map_err(fs_error)?,
        ))),
        FsOp::ListDir(p) | FsOp::ListNames(p) => {
            let mut entries = Vec::new();
            for entry in fs::read_dir(real(root, &p)).map_err(fs_error)? {
                let entry = entry.map_err(fs_error)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let meta = entry.metadata().map_err(fs_error)?;
                entries.push(DirEntry::new(name, metadata(&meta)));
            }
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            Ok(FsReply::Listing(Listing::new(
                entries,
                i64::try_from(now).unwrap_or(0),
            )))
        }
        FsOp::MakeDir(p) => fs::create_dir(real(root, &p))
            .map(|()| FsReply::Done)
            .map_err(fs_error),
        FsOp::RemoveDir(p) => fs::remove_dir(real(root, &p))
            .map(|()| FsReply::Done)
            .map_err(fs_error),
        FsOp::RemoveFile(p) => fs::remove_file(real(root, &p))
            .map(|()| FsReply::Done)
            .map_err(fs_error),
        FsOp::Rename { from, to } => fs::rename(real(root, &from), real(root, &to))
            .map(|()| FsReply::Done)
            .map_err(fs_error),
        FsOp::CreateUnique { dir } => {
            for n in 1..1000 {
                let name = format!("ftp.{n}");
                let created = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(real(root, &dir).join(&name));
                match created {
                    Ok(_) => {
                        return dir
                            .resolve(&name)
                            .map(FsReply::Created)
                            .map_err(|_| FsError::InvalidName)
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(fs_error(e)),
                }
            }
            Err(FsError::AlreadyExists)
        }
        // An operation newer than this example.
        _ => Err(FsError::Other),
    }
}

/// What a transfer reads or writes, opened on `StartTransfer`.
enum Opened {
    Bytes(Bytes),
    Read {
        file: File,
        ascii: bool,
    },
    Write {
        file: File,
        /// For `STOR`: the file written, renamed over `target` at the end.
        part: Option<(PathBuf, PathBuf)>,
        ascii: bool,
    },
}

/// Opens a transfer's file (in place: it is quick); no byte moves yet.
fn open(root: &Path, kind: TransferKind) -> Result<Opened, TransferError> {
    let file_error = |e| TransferError::Fs(fs_error(e));
    match kind {
        TransferKind::SendBytes(bytes) => Ok(Opened::Bytes(bytes)),
        // A real runtime streams the entries (see thinftp-host); this example renders them all
        // here with the core's per-entry renderer.
        TransferKind::SendListing { path, format, .. } => {
            let Ok(FsReply::Listing(listing)) = run_fs(root, FsOp::ListDir(path)) else {
                return Err(TransferError::Fs(FsError::NotFound));
            };
            let mut body = String::new();
            for entry in &listing.entries {
                thinftp::render_entry(format, entry, listing.now, &mut body);
            }
            Ok(Opened::Bytes(Bytes::from(body)))
        }
        TransferKind::SendFile {
            path,
            offset,
            ascii,
        } => {
            let mut file = File::open(real(root, &path)).map_err(file_error)?;
            if file.metadata().map_err(file_error)?.is_dir() {
                return Err(TransferError::Fs(FsError::IsADirectory));
            }
            file.seek(SeekFrom::Start(offset)).map_err(file_error)?;
            Ok(Opened::Read { file, ascii })
        }
        TransferKind::ReceiveFile { path, mode, ascii } => {
            let target = real(root, &path);
            if target.is_dir() {
                return Err(TransferError::Fs(FsError::IsADirectory));
            }
            // A replaced file stays whole until the upload is complete: write beside it, then rename.
            let part = target.with_extension("part");
            let file = match mode {
                WriteMode::Replace => File::create(&part),
                WriteMode::Append => OpenOptions::new().append(true).create(true).open(&target),
                WriteMode::Resume(n) => {
                    OpenOptions::new()
                        .write(true)
                        .open(&target)
                        .and_then(|mut f| {
                            f.set_len(n)?;
                            f.seek(SeekFrom::End(0)).map(|_| f)
                        })
                }
                _ => OpenOptions::new().write(true).open(&target),
            }
            .map_err(file_error)?;
            let part = (mode == WriteMode::Replace).then_some((part, target));
            Ok(Opened::Write { file, part, ascii })
        }
        _ => Err(TransferError::ConnectionLost),
    }
}

/// Moves one opened transfer's bytes; runs on its own thread.
fn move_bytes(opened: Opened, stream: &mut TcpStream) -> Result<u64, TransferError> {
    let lost = |_| TransferError::ConnectionLost;
    let file_error = |e| TransferError::Fs(fs_error(e));
    match opened {
        Opened::Bytes(bytes) => stream
            .write_all(&bytes)
            .map(|()| bytes.len() as u64)
            .map_err(lost),
        Opened::Read { mut file, ascii } => {
            if !ascii {
                return io::copy(&mut file, stream).map_err(lost); // sendfile on Linux
            }
            let (mut encoder, mut buf, mut out, mut sent) =
                (AsciiEncoder::new(), [0; 8192], Vec::new(), 0);
            loop {
                let n = file.read(&mut buf).map_err(file_error)?;
                if n == 0 {
                    return Ok(sent);
                }
                out.clear();
                encoder.encode(&buf[..n], &mut out);
                stream.write_all(&out).map_err(lost)?;
                sent += out.len() as u64;
            }
        }
        Opened::Write {
            mut file,
            part,
            ascii,
        } => {
            let (mut decoder, mut buf, mut out, mut received) =
                (AsciiDecoder::new(), [0; 8192], Vec::new(), 0);
            loop {
                let n = stream.read(&mut buf).map_err(lost)?;
                out.clear();
                if n == 0 {
                    decoder.finish(&mut out);
                } else if ascii {
                    decoder.decode(&buf[..n], &mut out);
                } else {
                    out.extend_from_slice(&buf[..n]);
                }
                file.write_all(&out).map_err(file_error)?;
                received += n as u64;
                if n == 0 {
                    break;
                }
            }
            if let Some((part, target)) = part {
                fs::rename(&part, &target).map_err(file_error)?;
            }
            Ok(received)
        }
    }
}

// ---- the test: a raw FTP client against the loop above ----

struct Client {
    control: BufReader<TcpStream>,
}

impl Client {
    /// Sends a command and returns its reply (all lines of a multi-line reply).
    fn cmd(&mut self, line: &str) -> String {
        self.control
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.reply()
    }

    fn reply(&mut self) -> String {
        let mut text = String::new();
        self.control.read_line(&mut text).unwrap();
        if text.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{} ", &text[..3]);
            loop {
                let mut line = String::new();
                self.control.read_line(&mut line).unwrap();
                text.push_str(&line);
                if line.starts_with(&end) || line.is_empty() {
                    break;
                }
            }
        }
        text
    }

    /// PASV, then connect to the address in the `227` reply.
    fn pasv(&mut self) -> TcpStream {
        let reply = self.cmd("PASV");
        assert!(reply.starts_with("227 "), "{reply}");
        let inner = &reply[reply.find('(').unwrap() + 1..reply.find(')').unwrap()];
        let n: Vec<u16> = inner.split(',').map(|x| x.parse().unwrap()).collect();
        let addr = SocketAddr::from((
            [n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8],
            n[4] * 256 + n[5],
        ));
        let data = TcpStream::connect(addr).unwrap();
        data.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        data
    }
}

#[test]
fn sessions_run_in_a_hand_written_std_loop() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("hello.txt"), "hello\nworld\n").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let root_path = root.path().to_owned();
    thread::spawn(move || serve(listener, root_path));

    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut c = Client {
        control: BufReader::new(stream),
    };
    assert!(c.reply().starts_with("220 "));
    assert!(c.cmd("USER demo").starts_with("331 "));
    assert!(c.cmd("PASS demo").starts_with("230 "));
    assert_eq!(c.cmd("PWD"), "257 \"/\" is the current directory.\r\n");

    let mut data = c.pasv();
    assert!(c.cmd("LIST").starts_with("150 "));
    let mut listing = String::new();
    data.read_to_string(&mut listing).unwrap();
    assert!(c.reply().starts_with("226 "));
    assert!(listing.contains(" hello.txt\r\n"), "{listing}");

    assert!(c.cmd("TYPE I").starts_with("200 "));
    let mut data = c.pasv();
    assert!(c.cmd("RETR hello.txt").starts_with("150 "));
    let mut body = String::new();
    data.read_to_string(&mut body).unwrap();
    assert!(c.reply().starts_with("226 "));
    assert_eq!(body, "hello\nworld\n");

    let mut data = c.pasv();
    assert!(c.cmd("STOR up.txt").starts_with("150 "));
    data.write_all(b"uploaded bytes").unwrap();
    drop(data); // The end of the upload.
    assert!(c.reply().starts_with("226 "));
    assert_eq!(
        fs::read(root.path().join("up.txt")).unwrap(),
        b"uploaded bytes"
    );

    // A target that cannot be opened: the refusal comes instead of the 150.
    let _data = c.pasv();
    assert!(c.cmd("STOR missing/up.txt").starts_with("550 "));
    assert!(c.cmd("NOOP").starts_with("200 "));

    assert!(c.cmd("QUIT").starts_with("221 "));
    let mut rest = String::new();
    assert_eq!(
        c.control.read_to_string(&mut rest).unwrap(),
        0,
        "closed after 221"
    );
}
