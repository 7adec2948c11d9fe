//! Transfers over real sockets on 127.0.0.1: downloads, uploads in every write mode, ASCII,
//! aborts and broken connections.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::thread;
use std::time::{Duration, Instant};

use common::{reset, socket_pair, vp, Tree};
use thinftp::{FsError, FsOp, FsReply, TransferError, TransferKind, WriteMode};
use thinftp_host::storage::TEMP_PREFIX;
use thinftp_host::{run_transfer, AbortHandle, Storage};

/// Runs `kind` on the server side of a fresh pair while `client` plays the other side.
fn transfer<T: Send + 'static>(
    storage: &dyn Storage,
    kind: TransferKind,
    abort: &AbortHandle,
    client: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (Result<u64, TransferError>, T) {
    let (client_side, server_side) = socket_pair();
    let peer = thread::spawn(move || client(client_side));
    let result = run_transfer(storage, &kind, server_side, abort);
    (result, peer.join().unwrap())
}

fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

fn send(data: Vec<u8>) -> impl FnOnce(TcpStream) + Send + 'static {
    move |mut s: TcpStream| {
        s.write_all(&data).unwrap();
    }
}

fn send_file(path: &str, offset: u64, ascii: bool) -> TransferKind {
    TransferKind::SendFile {
        path: vp(path),
        offset,
        ascii,
    }
}

fn receive(path: &str, mode: WriteMode, ascii: bool) -> TransferKind {
    TransferKind::ReceiveFile {
        path: vp(path),
        mode,
        ascii,
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn no_temp_files(tree: &Tree, dir: &str) {
    let names = tree.names(dir);
    assert!(
        !names.iter().any(|n| n.starts_with(TEMP_PREFIX)),
        "temporary file left: {names:?}"
    );
}

/// Waits until the file below the root has `len` bytes (the server has taken what was sent).
fn wait_for_size(tree: &Tree, rel: &str, len: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::metadata(tree.root().join(rel))
        .map(|m| m.len())
        .unwrap_or(0)
        < len
    {
        assert!(
            Instant::now() < deadline,
            "the server never wrote {len} bytes"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn send_file_whole_from_offset_and_empty() {
    let tree = Tree::new();
    let data = pattern(3 * 1024 * 1024 + 17);
    tree.write("big", &data);
    tree.write("empty", b"");
    let s = &tree.storage;
    let (result, got) = transfer(
        s,
        send_file("/big", 0, false),
        &AbortHandle::new(),
        read_all,
    );
    assert_eq!(result, Ok(data.len() as u64));
    assert!(got == data, "download differs");
    let (result, got) = transfer(
        s,
        send_file("/big", 1000, false),
        &AbortHandle::new(),
        read_all,
    );
    assert_eq!(result, Ok(data.len() as u64 - 1000));
    assert!(got[..] == data[1000..]);
    let (result, got) = transfer(
        s,
        send_file("/empty", 0, false),
        &AbortHandle::new(),
        read_all,
    );
    assert_eq!((result, got), (Ok(0), Vec::new()));
}

#[test]
fn send_file_errors() {
    let tree = Tree::new();
    fs::create_dir(tree.root().join("d")).unwrap();
    let s = &tree.storage;
    let (result, got) = transfer(
        s,
        send_file("/missing", 0, false),
        &AbortHandle::new(),
        read_all,
    );
    assert_eq!(result, Err(TransferError::Fs(FsError::NotFound)));
    assert!(got.is_empty(), "the client still sees the connection end");
    let (result, _) = transfer(s, send_file("/d", 0, false), &AbortHandle::new(), read_all);
    assert_eq!(result, Err(TransferError::Fs(FsError::IsADirectory)));
}

#[test]
fn send_bytes_then_end_of_file() {
    let tree = Tree::new();
    let kind = TransferKind::SendBytes(bytes::Bytes::from_static(b"a.txt\r\nb.txt\r\n"));
    let (result, got) = transfer(&tree.storage, kind, &AbortHandle::new(), read_all);
    assert_eq!(result, Ok(14));
    assert_eq!(got, b"a.txt\r\nb.txt\r\n");
}

#[test]
fn ascii_download_converts_line_ends() {
    let tree = Tree::new();
    tree.write("t.txt", b"one\ntwo\r\nthree\n");
    let (result, got) = transfer(
        &tree.storage,
        send_file("/t.txt", 0, true),
        &AbortHandle::new(),
        read_all,
    );
    assert_eq!(got, b"one\r\ntwo\r\nthree\r\n");
    assert_eq!(result, Ok(got.len() as u64));
}

#[test]
fn ascii_upload_converts_line_ends_across_writes() {
    let tree = Tree::new();
    let client = |mut s: TcpStream| {
        // A CRLF split between two writes (and two reads on the server) still becomes one LF.
        s.write_all(b"one\r\ntwo\r").unwrap();
        s.flush().unwrap();
        thread::sleep(Duration::from_millis(50));
        s.write_all(b"\nlone\rcr\r\n").unwrap();
    };
    let kind = receive("/t.txt", WriteMode::Replace, true);
    let (result, ()) = transfer(&tree.storage, kind, &AbortHandle::new(), client);
    assert_eq!(result, Ok(19));
    assert_eq!(tree.read("t.txt"), b"one\ntwo\nlone\rcr\n");
}

#[test]
fn upload_of_a_new_file() {
    let tree = Tree::new();
    let data = pattern(2 * 1024 * 1024 + 3);
    let kind = receive("/new.bin", WriteMode::Replace, false);
    let (result, ()) = transfer(&tree.storage, kind, &AbortHandle::new(), send(data.clone()));
    assert_eq!(result, Ok(data.len() as u64));
    assert!(tree.read("new.bin") == data);
    no_temp_files(&tree, "");
}

#[test]
fn replace_over_an_existing_file_is_atomic_and_keeps_the_mode() {
    let tree = Tree::new();
    tree.write("f", b"old contents");
    fs::set_permissions(tree.root().join("f"), fs::Permissions::from_mode(0o600)).unwrap();
    let kind = receive("/f", WriteMode::Replace, false);
    let (result, ()) = transfer(
        &tree.storage,
        kind,
        &AbortHandle::new(),
        send(b"new".to_vec()),
    );
    assert_eq!(result, Ok(3));
    assert_eq!(tree.read("f"), b"new");
    let mode = fs::metadata(tree.root().join("f"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o600);
    no_temp_files(&tree, "");
}

#[test]
fn replace_with_the_connection_killed_midway_leaves_the_old_file() {
    let tree = Tree::new();
    tree.write("sub/f", b"precious old contents");
    let kind = receive("/sub/f", WriteMode::Replace, false);
    let root = tree.root();
    let client = move |mut s: TcpStream| {
        s.write_all(&pattern(300_000)).unwrap();
        // Wait until the upload is being written (to the temporary file), then break it.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let temp = fs::read_dir(root.join("sub")).unwrap().find_map(|e| {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                name.starts_with(TEMP_PREFIX)
                    .then(|| e.metadata().unwrap().len())
            });
            if temp == Some(300_000) || Instant::now() > deadline {
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
        reset(s);
    };
    let (result, ()) = transfer(&tree.storage, kind, &AbortHandle::new(), client);
    assert_eq!(result, Err(TransferError::ConnectionLost));
    assert_eq!(tree.read("sub/f"), b"precious old contents");
    assert_eq!(tree.names("sub"), ["f"]);
}

/// Runs the upload `kind`, sends `data`, waits until the file `rel` holds all of it, then
/// resets the connection without ending the upload; the transfer's result.
fn upload_then_reset(
    tree: &Tree,
    kind: TransferKind,
    rel: &str,
    data: &[u8],
) -> Result<u64, TransferError> {
    let (client_side, server_side) = socket_pair();
    let sent = data.to_vec();
    let peer = thread::spawn(move || {
        let mut s = client_side;
        s.write_all(&sent).unwrap();
        s
    });
    let storage = tree.storage.clone();
    let server =
        thread::spawn(move || run_transfer(&storage, &kind, server_side, &AbortHandle::new()));
    let client = peer.join().unwrap();
    wait_for_size(tree, rel, data.len() as u64);
    reset(client);
    server.join().unwrap()
}

#[test]
fn a_broken_upload_of_a_new_file_keeps_what_arrived() {
    let tree = Tree::new();
    let data = pattern(200_000);
    let kind = receive("/partial", WriteMode::Replace, false);
    assert_eq!(
        upload_then_reset(&tree, kind, "partial", &data),
        Err(TransferError::ConnectionLost)
    );
    assert!(
        tree.read("partial") == data,
        "the partial upload was not kept"
    );
}

#[test]
fn resume_keeps_the_head_and_cuts_the_tail() {
    let tree = Tree::new();
    tree.write("r", b"0123456789");
    let kind = receive("/r", WriteMode::Resume(4), false);
    let (result, ()) = transfer(
        &tree.storage,
        kind,
        &AbortHandle::new(),
        send(b"abc".to_vec()),
    );
    assert_eq!(result, Ok(3));
    assert_eq!(tree.read("r"), b"0123abc");
    // Resuming a file that does not exist is refused rather than padded with zeroes.
    let kind = receive("/nothing", WriteMode::Resume(4), false);
    let (result, ()) = transfer(&tree.storage, kind, &AbortHandle::new(), send(Vec::new()));
    assert_eq!(result, Err(TransferError::Fs(FsError::NotFound)));
}

#[test]
fn resume_after_a_broken_upload_completes_the_file() {
    let tree = Tree::new();
    let data = pattern(1_000_000);
    tree.write("big", &data[..400_000]);
    let rest = data[400_000..].to_vec();
    let kind = receive("/big", WriteMode::Resume(400_000), false);
    let (result, ()) = transfer(&tree.storage, kind, &AbortHandle::new(), send(rest));
    assert_eq!(result, Ok(600_000));
    assert!(tree.read("big") == data);
}

#[test]
fn append_adds_to_the_end_or_creates() {
    let tree = Tree::new();
    tree.write("a", b"abc");
    let kind = receive("/a", WriteMode::Append, false);
    let (result, ()) = transfer(
        &tree.storage,
        kind,
        &AbortHandle::new(),
        send(b"def".to_vec()),
    );
    assert_eq!(result, Ok(3));
    assert_eq!(tree.read("a"), b"abcdef");
    // A large append goes through the same path as a large upload (splice where it can).
    let more = pattern(1_500_000);
    let kind = receive("/a", WriteMode::Append, false);
    let (result, ()) = transfer(&tree.storage, kind, &AbortHandle::new(), send(more.clone()));
    assert_eq!(result, Ok(more.len() as u64));
    let got = tree.read("a");
    assert!(got[..6] == *b"abcdef" && got[6..] == more[..]);
    let kind = receive("/fresh", WriteMode::Append, false);
    let (result, ()) = transfer(
        &tree.storage,
        kind,
        &AbortHandle::new(),
        send(b"x".to_vec()),
    );
    assert_eq!(result, Ok(1));
    assert_eq!(tree.read("fresh"), b"x");
}

#[test]
fn new_writes_into_the_file_made_by_create_unique() {
    let tree = Tree::new();
    let Ok(FsReply::Created(path)) = tree.storage.execute(&FsOp::CreateUnique { dir: vp("/") })
    else {
        panic!("CreateUnique failed")
    };
    let kind = TransferKind::ReceiveFile {
        path: path.clone(),
        mode: WriteMode::New,
        ascii: false,
    };
    let (result, ()) = transfer(
        &tree.storage,
        kind,
        &AbortHandle::new(),
        send(b"unique".to_vec()),
    );
    assert_eq!(result, Ok(6));
    assert_eq!(tree.read(path.relative()), b"unique");
    // Without the file there is nothing to write into.
    let kind = receive("/gone", WriteMode::New, false);
    let (result, ()) = transfer(&tree.storage, kind, &AbortHandle::new(), send(Vec::new()));
    assert_eq!(result, Err(TransferError::Fs(FsError::NotFound)));
}

/// A `STOU` cut short leaves nothing behind, even when the session is gone and the core can no
/// longer ask for its file to be removed (the control connection closed, the server stopping).
#[test]
fn a_broken_upload_into_a_unique_file_removes_it() {
    let tree = Tree::new();
    let Ok(FsReply::Created(path)) = tree.storage.execute(&FsOp::CreateUnique { dir: vp("/") })
    else {
        panic!("CreateUnique failed")
    };
    let rel = path.relative().to_owned();
    let data = pattern(200_000);
    let kind = TransferKind::ReceiveFile {
        path,
        mode: WriteMode::New,
        ascii: false,
    };
    assert_eq!(
        upload_then_reset(&tree, kind, &rel, &data),
        Err(TransferError::ConnectionLost)
    );
    assert!(
        !tree.root().join(&rel).exists(),
        "the partial unique file was kept"
    );
}

#[test]
fn upload_onto_a_directory_is_refused() {
    let tree = Tree::new();
    fs::create_dir(tree.root().join("d")).unwrap();
    let kind = receive("/d", WriteMode::Replace, false);
    let (result, ()) = transfer(
        &tree.storage,
        kind,
        &AbortHandle::new(),
        send(b"x".to_vec()),
    );
    assert_eq!(result, Err(TransferError::Fs(FsError::IsADirectory)));
    assert!(tree.root().join("d").is_dir());
}

#[test]
fn abort_stops_a_stalled_download_at_once() {
    let tree = Tree::new();
    tree.write("big", &pattern(32 * 1024 * 1024));
    let abort = AbortHandle::new();
    let (client_side, server_side) = socket_pair();
    let storage = tree.storage.clone();
    let handle = abort.clone();
    let server = thread::spawn(move || {
        run_transfer(&storage, &send_file("/big", 0, false), server_side, &handle)
    });
    // The client reads nothing: the server blocks once the socket buffers are full.
    thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    abort.abort();
    assert_eq!(server.join().unwrap(), Err(TransferError::Aborted));
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(client_side);
}

#[test]
fn abort_of_a_replace_upload_leaves_the_old_file() {
    let tree = Tree::new();
    tree.write("f", b"old");
    let abort = AbortHandle::new();
    let (mut client_side, server_side) = socket_pair();
    let storage = tree.storage.clone();
    let handle = abort.clone();
    let kind = receive("/f", WriteMode::Replace, false);
    let server = thread::spawn(move || run_transfer(&storage, &kind, server_side, &handle));
    client_side.write_all(b"partial new contents").unwrap();
    thread::sleep(Duration::from_millis(100));
    // The client keeps the connection open: only the abort ends the transfer. Its shutdown reads
    // as an end of file on the server, which must not count as a complete upload.
    abort.abort();
    assert_eq!(server.join().unwrap(), Err(TransferError::Aborted));
    assert_eq!(tree.read("f"), b"old");
    assert_eq!(tree.names(""), ["f"]);
}

#[test]
fn abort_before_the_start_stops_at_once() {
    let tree = Tree::new();
    tree.write("f", b"data");
    let abort = AbortHandle::new();
    abort.abort();
    let (result, got) = transfer(&tree.storage, send_file("/f", 0, false), &abort, read_all);
    assert_eq!(result, Err(TransferError::Aborted));
    assert!(got.len() <= 4);
}

#[test]
fn a_client_leaving_a_download_early_is_a_lost_connection() {
    let tree = Tree::new();
    tree.write("big", &pattern(32 * 1024 * 1024));
    let client = |mut s: TcpStream| {
        let mut buf = [0u8; 1000];
        s.read_exact(&mut buf).unwrap();
        reset(s);
    };
    let (result, ()) = transfer(
        &tree.storage,
        send_file("/big", 0, false),
        &AbortHandle::new(),
        client,
    );
    assert_eq!(result, Err(TransferError::ConnectionLost));
}

#[test]
fn a_stalled_client_times_out() {
    let tree = Tree::new();
    tree.write("big", &pattern(32 * 1024 * 1024));
    let (client_side, server_side) = socket_pair();
    server_side
        .set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let started = Instant::now();
    let result = run_transfer(
        &tree.storage,
        &send_file("/big", 0, false),
        server_side,
        &AbortHandle::new(),
    );
    assert_eq!(result, Err(TransferError::ConnectionLost));
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(client_side);
}

/// Binary transfers on local disk stay inside the kernel (`sendfile`, `splice`) only while the
/// storage's streams hand out their files: a back-end refactor that lost them would still
/// pass every other test, copying through a buffer.
#[test]
fn local_streams_hand_out_their_files_for_sendfile_and_splice() {
    use std::io::Seek;
    let tree = Tree::new();
    tree.write("f", b"0123456789");
    let s = &tree.storage;
    assert!(s.capabilities().local_fd && s.capabilities().local);
    let mut read = s.open_read(&vp("/f"), 4).unwrap();
    let file = read.local_file().expect("the file, for sendfile");
    assert_eq!(file.stream_position().unwrap(), 4, "at the offset");
    for mode in [WriteMode::Replace, WriteMode::Append, WriteMode::Resume(2)] {
        let mut upload = s.open_write(&vp("/f"), mode).unwrap();
        assert!(
            upload.local_file().is_some(),
            "{mode:?}: the file, for splice"
        );
    }
    // Dropped once started: the replacement's temporary file is gone, the append added
    // nothing, and the resumed upload (from inside the file, so through a temporary copy)
    // left the file exactly as it was, as a broken one does.
    assert_eq!(tree.read("f"), b"0123456789");
    no_temp_files(&tree, "");
}
