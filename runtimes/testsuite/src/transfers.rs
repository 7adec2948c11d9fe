//! Transfers: byte-exact RETR/STOR/APPE, the four ways to make a data connection, TYPE A, REST,
//! and ABOR while bytes are moving.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use crate::ftp::{Client, DataMode};
use crate::server::Server;
use crate::util::{assert_same_bytes, big_bytes, random_bytes, reset, temp_files};

/// RETR, STOR (new and replacing) and APPE (onto a file and creating one) of 0 B, 1 B and 1 MiB
/// of random bytes, compared with the disk.
pub fn byte_exact_small_files(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    let mut c = Client::login(server.addr(), "u", "p");
    for (seed, len) in [(1u64, 0usize), (2, 1), (3, 1 << 20)] {
        let content = random_bytes(seed, len);
        let what = |op: &str| format!("{op} of {len} bytes");

        fs::write(server.path(&format!("down-{len}")), &content).unwrap();
        let got = c.retr(DataMode::Pasv, &format!("down-{len}"));
        assert_same_bytes(&got, &content, &what("RETR"));

        c.stor(DataMode::Pasv, &format!("up-{len}"), &content);
        let disk = fs::read(server.path(&format!("up-{len}"))).unwrap();
        assert_same_bytes(&disk, &content, &what("STOR"));
        // Replacing it with other bytes of the same length.
        let other = random_bytes(seed + 100, len);
        c.stor(DataMode::Epsv, &format!("up-{len}"), &other);
        let disk = fs::read(server.path(&format!("up-{len}"))).unwrap();
        assert_same_bytes(&disk, &other, &what("STOR over a file"));
        // And back through the server.
        let got = c.retr(DataMode::Epsv, &format!("up-{len}"));
        assert_same_bytes(&got, &other, &what("RETR of an upload"));

        let prefix = random_bytes(seed + 200, 1000);
        fs::write(server.path(&format!("appe-{len}")), &prefix).unwrap();
        c.upload(DataMode::Pasv, &format!("APPE appe-{len}"), &content);
        let disk = fs::read(server.path(&format!("appe-{len}"))).unwrap();
        assert_same_bytes(&disk, &[prefix, content.clone()].concat(), &what("APPE"));
        c.upload(DataMode::Pasv, &format!("APPE new-{len}"), &content);
        let disk = fs::read(server.path(&format!("new-{len}"))).unwrap();
        assert_same_bytes(&disk, &content, &what("APPE of a new file"));
    }
    c.expect("QUIT", 221);
}

/// RETR, STOR and APPE of 64 MiB of random bytes, compared with the disk.
pub fn byte_exact_64_mib(bin: &Path) {
    let big = big_bytes();
    let server = Server::start(bin, &["--user", "u:p"]);
    fs::write(server.path("big"), big).unwrap();
    let mut c = Client::login(server.addr(), "u", "p");

    let got = c.retr(DataMode::Pasv, "big");
    assert_same_bytes(&got, big, "RETR of 64 MiB");
    drop(got);

    c.stor(DataMode::Epsv, "up", big);
    assert_same_bytes(&fs::read(server.path("up")).unwrap(), big, "STOR of 64 MiB");

    fs::write(server.path("appended"), b"x").unwrap();
    c.upload(DataMode::Port, "APPE appended", big);
    let disk = fs::read(server.path("appended")).unwrap();
    assert_eq!(disk.first(), Some(&b'x'), "APPE keeps what was there");
    assert_same_bytes(disk.get(1..).unwrap_or_default(), big, "APPE of 64 MiB");
    c.expect("QUIT", 221);
}

/// RETR, STOR, LIST and NLST over PASV, EPSV, PORT and EPRT data connections.
pub fn every_data_connection_mode(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    let content = random_bytes(10, 1 << 20);
    fs::write(server.path("file"), &content).unwrap();
    let mut c = Client::login(server.addr(), "u", "p");
    for mode in DataMode::ALL {
        let got = c.retr(mode, "file");
        assert_same_bytes(&got, &content, &format!("RETR over {mode:?}"));

        let name = format!("up-{mode:?}");
        let upload = random_bytes(mode as u64 + 20, 300_000);
        c.stor(mode, &name, &upload);
        let disk = fs::read(server.path(&name)).unwrap();
        assert_same_bytes(&disk, &upload, &format!("STOR over {mode:?}"));

        let list = String::from_utf8(c.download(mode, "LIST")).unwrap();
        assert!(list.contains(&name), "LIST over {mode:?}: {list:?}");
        let nlst = String::from_utf8(c.download(mode, "NLST")).unwrap();
        assert!(
            nlst.split("\r\n").any(|n| n == name),
            "NLST over {mode:?}: {nlst:?}"
        );
    }
    c.expect("QUIT", 221);
}

/// `TYPE A`: LF becomes CRLF on the way out and CRLF becomes LF on the way in, across buffer
/// boundaries; `TYPE I` sends the same file unchanged.
pub fn type_a_converts_both_ways(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    // Several of the server's conversion buffers long, with a CRLF already there and bare CRs.
    let mut text = Vec::new();
    for i in 0..25_000 {
        match i % 1000 {
            7 => text.extend_from_slice(b"a line that already ends in CRLF\r\n"),
            8 => text.extend_from_slice(b"a bare\rCR inside\n"),
            _ => text.extend_from_slice(format!("line {i}\n").as_bytes()),
        }
    }
    text.extend_from_slice(b"no line end at the end");
    fs::write(server.path("text.txt"), &text).unwrap();
    let mut c = Client::login(server.addr(), "u", "p");

    c.expect("TYPE A", 200);
    let wire = c.retr(DataMode::Pasv, "text.txt");
    assert_same_bytes(&wire, &to_crlf(&text), "RETR in TYPE A");
    c.expect("TYPE I", 200);
    let raw = c.retr(DataMode::Pasv, "text.txt");
    assert_same_bytes(&raw, &text, "RETR in TYPE I");

    let mut upload = to_crlf(&text);
    upload.extend_from_slice(b"\r\nends in a bare CR\r");
    c.expect("TYPE A", 200);
    c.stor(DataMode::Pasv, "up.txt", &upload);
    let disk = fs::read(server.path("up.txt")).unwrap();
    assert_same_bytes(&disk, &from_crlf(&upload), "STOR in TYPE A");
    c.expect("TYPE I", 200);
    c.stor(DataMode::Pasv, "raw.txt", &upload);
    let disk = fs::read(server.path("raw.txt")).unwrap();
    assert_same_bytes(&disk, &upload, "STOR in TYPE I");
    c.expect("QUIT", 221);
}

/// Every LF not preceded by CR gets one (what `TYPE A` sends for a file).
fn to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    let mut previous = 0u8;
    for &b in bytes {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
    out
}

/// Every CRLF becomes LF; bare CRs stay (what `TYPE A` stores for received bytes).
fn from_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// `REST` then `RETR` sends the rest of a file; `REST` then `STOR` (or `APPE`) completes a partial
/// one, also one that a broken upload left behind.
pub fn rest_resumes_both_ways(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    let content = random_bytes(30, 300_000);
    fs::write(server.path("file"), &content).unwrap();
    let mut c = Client::login(server.addr(), "u", "p");

    // Downloads.
    c.expect("REST 100000", 350);
    let got = c.retr(DataMode::Pasv, "file");
    assert_same_bytes(&got, &content[100_000..], "RETR after REST 100000");
    c.expect("REST 300000", 350);
    assert!(
        c.retr(DataMode::Epsv, "file").is_empty(),
        "REST at the end sends nothing"
    );
    c.expect("REST 300001", 350);
    let beyond = c.open_transfer(DataMode::Pasv, "RETR file").err();
    assert_eq!(beyond.map(|r| r.code), Some(554), "REST beyond the end");
    let got = c.retr(DataMode::Pasv, "file");
    assert_same_bytes(&got, &content, "REST applies to one RETR only");

    // Uploads: the first part is on the disk already.
    fs::write(server.path("partial"), &content[..123_457]).unwrap();
    c.expect("REST 123457", 350);
    c.stor(DataMode::Pasv, "partial", &content[123_457..]);
    let disk = fs::read(server.path("partial")).unwrap();
    assert_same_bytes(&disk, &content, "STOR after REST");

    // REST + STOR over a longer file: the file ends where the upload ended.
    fs::write(server.path("longer"), &content).unwrap();
    c.expect("REST 1000", 350);
    c.stor(DataMode::Pasv, "longer", b"tail");
    let disk = fs::read(server.path("longer")).unwrap();
    assert_same_bytes(
        &disk,
        &[&content[..1000], b"tail"].concat(),
        "REST + STOR cuts",
    );

    // A new file's upload broken off by the client keeps what arrived; SIZE says how much, and
    // REST + STOR finishes it.
    let mut data = c
        .open_transfer(DataMode::Pasv, "STOR broken")
        .unwrap_or_else(|r| panic!("STOR broken got {r}"));
    data.write_all(&content[..150_000]).unwrap();
    reset(data);
    c.expect_reply(426, "a STOR whose data connection was reset");
    let size = c.expect("SIZE broken", 213);
    let size: usize = size
        .text
        .trim_start_matches("213 ")
        .trim()
        .parse()
        .expect("a size");
    assert!(size <= 150_000, "more bytes than were sent: {size}");
    let disk = fs::read(server.path("broken")).unwrap();
    assert_same_bytes(&disk, &content[..size], "what a broken upload kept");
    c.expect(&format!("REST {size}"), 350);
    c.stor(DataMode::Pasv, "broken", &content[size..]);
    let disk = fs::read(server.path("broken")).unwrap();
    assert_same_bytes(&disk, &content, "a broken upload resumed");
    assert!(temp_files(server.root()).is_empty());

    // APPE resumes too.
    fs::write(server.path("appended"), &content[..1000]).unwrap();
    c.upload(DataMode::Pasv, "APPE appended", &content[1000..]);
    let disk = fs::read(server.path("appended")).unwrap();
    assert_same_bytes(&disk, &content, "APPE resumes");
    c.expect("QUIT", 221);
}

/// ABOR while a 64 MiB download runs: `426` for the transfer, then `226` for the ABOR; the data
/// connection ends and the session goes on.
pub fn abor_mid_download(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    // Far more than socket buffers hold, so the transfer is still running when ABOR arrives.
    fs::write(server.path("big"), big_bytes()).unwrap();
    fs::write(server.path("small"), b"small").unwrap();
    let mut c = Client::login(server.addr(), "u", "p");

    for mode in [DataMode::Pasv, DataMode::Port] {
        let mut data = c
            .open_transfer(mode, "RETR big")
            .unwrap_or_else(|r| panic!("RETR big got {r}"));
        let mut first = [0u8; 4096];
        data.read_exact(&mut first).expect("the download starts");
        assert_eq!(&first[..], &big_bytes()[..4096]);
        c.send("ABOR");
        c.expect_reply(426, "the aborted RETR");
        c.expect_reply(226, "ABOR");
        // The server closed the data connection: what is left of it drains and ends.
        let mut rest = Vec::new();
        match data.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.len() < big_bytes().len() - 4096, "the whole file came"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        }
        c.expect("NOOP", 200);
        assert_eq!(c.retr(DataMode::Pasv, "small"), b"small");
    }
    c.expect("QUIT", 221);
}

/// ABOR while an upload runs: `426` then `226`; a file being replaced is left as it was, a new file
/// keeps what arrived, and no temporary file remains.
pub fn abor_mid_upload(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    let old = random_bytes(40, 1 << 20);
    fs::write(server.path("existing"), &old).unwrap();
    let upload = random_bytes(41, 256 * 1024);
    let mut c = Client::login(server.addr(), "u", "p");

    for name in ["existing", "new"] {
        let mut data = c
            .open_transfer(DataMode::Pasv, &format!("STOR {name}"))
            .unwrap_or_else(|r| panic!("STOR {name} got {r}"));
        // The data connection stays open: the upload has not ended when ABOR arrives.
        data.write_all(&upload).unwrap();
        c.send("ABOR");
        c.expect_reply(426, "the aborted STOR");
        c.expect_reply(226, "ABOR");
        drop(data);
        c.expect("NOOP", 200);
    }
    let disk = fs::read(server.path("existing")).unwrap();
    assert_same_bytes(&disk, &old, "a file whose replacement was aborted");
    let disk = fs::read(server.path("new")).unwrap();
    assert_same_bytes(
        &disk,
        &upload[..disk.len()],
        "what an aborted new upload kept",
    );
    assert!(
        temp_files(server.root()).is_empty(),
        "{:?}",
        temp_files(server.root())
    );
    c.expect("QUIT", 221);
}
