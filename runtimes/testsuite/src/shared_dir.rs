//! Two nodes on one local directory, as processes: a node starting does not sweep the
//! temporary file of another node's running upload (each sweeps only its own `--node-id`), and
//! under `--atomic-uploads` a node killed in the middle of the upload of a new file leaves
//! nothing at the name; its next start sweeps the temporary file.

use std::io::Write;
use std::path::Path;

use tempfile::TempDir;

use crate::util::{temp_files, wait_until};
use crate::{Client, DataMode, Server};

/// A node of `bin` on `dir` with `--node-id id` and `--atomic-uploads`.
fn node(bin: &Path, dir: &TempDir, id: &str) -> Server {
    let root = dir.path().to_str().expect("a UTF-8 path");
    Server::start_on_storage(
        bin,
        &[
            "--root",
            root,
            "--node-id",
            id,
            "--atomic-uploads",
            "--user",
            "u:p",
        ],
    )
}

/// A greeting from `server`: its accept loop runs, so its start-up sweep is over.
fn greeted(server: &Server) {
    let mut c = Client::connect(server.addr());
    c.expect_reply(220, "greeting");
}

/// Node a starts the upload of a new file (atomic: to its own temporary file); node b starts on
/// the same directory and leaves that file alone; a is killed mid-upload: nothing at the name;
/// a starts again and sweeps its temporary file; the name was never visible.
pub fn killed_node_leaves_no_partial_new_file(bin: &Path) {
    let dir = tempfile::Builder::new()
        .prefix("thinftp-shared.")
        .tempdir()
        .unwrap();
    let mut a = node(bin, &dir, "a");
    let mut c = Client::login(a.addr(), "u", "p");
    c.expect("TYPE I", 200);
    let mut data = c
        .open_transfer(DataMode::Pasv, "STOR new.bin")
        .unwrap_or_else(|r| panic!("STOR: {r}"));
    data.write_all(&[7u8; 100_000]).unwrap();
    wait_until("node a's temporary file", || {
        temp_files(dir.path())
            .iter()
            .any(|n| n.starts_with(".thinftp-part.a."))
    });
    assert!(!dir.path().join("new.bin").exists(), "visible mid-upload");

    let b = node(bin, &dir, "b");
    greeted(&b);
    assert_eq!(
        temp_files(dir.path()).len(),
        1,
        "node b swept node a's upload"
    );

    a.kill();
    drop(data);
    assert!(
        !dir.path().join("new.bin").exists(),
        "the killed upload is visible"
    );
    let mut other = Client::login(b.addr(), "u", "p");
    assert_eq!(other.nlst(""), Vec::<String>::new(), "seen through node b");
    assert_eq!(temp_files(dir.path()).len(), 1, "left for a's next start");

    let a = node(bin, &dir, "a");
    greeted(&a);
    assert_eq!(temp_files(dir.path()), Vec::<String>::new(), "swept by a");
    assert!(!dir.path().join("new.bin").exists());
    // And an upload that ends cleanly is there, whole.
    let mut c = Client::login(a.addr(), "u", "p");
    c.stor(DataMode::Pasv, "new.bin", b"whole");
    assert_eq!(other.retr(DataMode::Pasv, "new.bin"), b"whole");
}
