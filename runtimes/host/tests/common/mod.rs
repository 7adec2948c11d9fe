//! Helpers shared by the host tests: temporary roots and socket pairs on 127.0.0.1.
#![allow(dead_code)] // each test file uses its own subset

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use tempfile::TempDir;
use thinftp::{
    FsError, FsOp, FsReply, Listing, Metadata, TransferError, TransferKind, VirtualPath, WriteMode,
};
use thinftp_host::{run_transfer, AbortHandle, LocalStorage, Storage};

/// A virtual path from text.
pub fn vp(path: &str) -> VirtualPath {
    VirtualPath::root()
        .resolve(path)
        .expect("test paths are valid")
}

/// A temporary directory holding `root/` (served) and `outside/` (not served, with a secret).
pub struct Tree {
    pub dir: TempDir,
    pub storage: LocalStorage,
}

impl Tree {
    pub fn new() -> Tree {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir(dir.path().join("root")).unwrap();
        fs::create_dir(dir.path().join("outside")).unwrap();
        fs::write(dir.path().join("outside/secret.txt"), b"SECRET").unwrap();
        let storage = LocalStorage::open(&dir.path().join("root")).expect("open root");
        Tree { dir, storage }
    }

    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }

    pub fn outside(&self) -> std::path::PathBuf {
        self.dir.path().join("outside")
    }

    /// Writes a file below the root.
    pub fn write(&self, rel: &str, data: &[u8]) {
        let path = self.root().join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, data).unwrap();
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.root().join(rel)).unwrap()
    }

    pub fn symlink(&self, target: impl AsRef<Path>, rel: &str) {
        std::os::unix::fs::symlink(target, self.root().join(rel)).unwrap();
    }

    /// Names in a directory below the root, sorted (hidden ones included).
    pub fn names(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.root().join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

/// A connected pair: (client side, server side).
pub fn socket_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// Closes `stream` with a reset (RST) instead of an orderly end of file: a broken connection.
pub fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
    drop(stream);
}

/// Metadata of `path` beneath `storage`.
pub fn stat(storage: &dyn Storage, path: &str) -> Result<Metadata, FsError> {
    match storage.execute(&FsOp::Stat(vp(path)))? {
        FsReply::Metadata(m) => Ok(m),
        other => panic!("unexpected reply {other:?}"),
    }
}

/// The listing of the directory `path` beneath `storage`.
pub fn list(storage: &dyn Storage, path: &str) -> Result<Listing, FsError> {
    match storage.execute(&FsOp::ListDir(vp(path)))? {
        FsReply::Listing(l) => Ok(l),
        other => panic!("unexpected reply {other:?}"),
    }
}

/// Downloads `path` over a real socket; the bytes, or the transfer's error.
pub fn download(storage: &dyn Storage, path: &str) -> Result<Vec<u8>, TransferError> {
    let (mut client, server) = socket_pair();
    let kind = TransferKind::SendFile {
        path: vp(path),
        offset: 0,
        ascii: false,
    };
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut client, &mut out);
        out
    });
    let result = run_transfer(storage, &kind, server, &AbortHandle::new());
    let data = reader.join().unwrap();
    result.map(|_| data)
}

/// Uploads `data` to `path` in `mode` over a real socket; the bytes received, or the error.
pub fn upload(
    storage: &dyn Storage,
    path: &str,
    mode: WriteMode,
    data: &[u8],
) -> Result<u64, TransferError> {
    let (mut client, server) = socket_pair();
    let kind = TransferKind::ReceiveFile {
        path: vp(path),
        mode,
        ascii: false,
    };
    let data = data.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut client, &data);
    });
    let result = run_transfer(storage, &kind, server, &AbortHandle::new());
    writer.join().unwrap();
    result
}
