//! Every command over the wire at least once, with its reply codes and its effect on the disk.
//! Transfers in depth are in [`transfers`](crate::transfers).

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::ftp::{Client, DataMode};
use crate::server::Server;
use crate::util::assert_same_bytes;

/// Every command the server implements, as `HELP` should list them.
const VERBS: [&str; 47] = [
    "ABOR", "ACCT", "ALLO", "APPE", "CDUP", "CWD", "DELE", "EPRT", "EPSV", "FEAT", "HELP", "LIST",
    "MDTM", "MKD", "MLSD", "MLST", "MODE", "NLST", "NOOP", "OPTS", "PASS", "PASV", "PORT", "PWD",
    "QUIT", "REIN", "REST", "RETR", "RMD", "RNFR", "RNTO", "SITE", "SIZE", "STAT", "STOR", "STOU",
    "STRU", "SYST", "TYPE", "USER", "AVBL", "HASH", "MFMT", "XCRC", "XMD5", "XSHA1", "XSHA256",
];

/// USER, PASS, ACCT, REIN, QUIT and the informational and setting commands, before and after a
/// login.
pub fn commands_around_login(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p", "--banner", "hello from the suite"]);
    let mut c = Client::connect(server.addr());
    let greeting = c.expect_reply(220, "the greeting");
    assert!(greeting.text.contains("hello from the suite"), "{greeting}");

    // Before a login only a few commands run.
    for line in [
        "PWD",
        "CWD /",
        "LIST",
        "RETR x",
        "MKD d",
        "ACCT billing",
        "PASV",
    ] {
        c.expect(line, 530);
    }
    let syst = c.expect("SYST", 215);
    assert!(syst.text.contains("UNIX"), "{syst}");
    let feat = c.expect("FEAT", 211);
    for feature in [
        "EPRT",
        "EPSV",
        "MDTM",
        "MLST ",
        "PASV",
        "REST STREAM",
        "SIZE",
        "UTF8",
    ] {
        assert!(
            feat.text.contains(&format!("\r\n {feature}")),
            "FEAT lacks {feature}: {feat}"
        );
    }
    let help = c.expect("HELP", 214);
    for verb in VERBS {
        assert!(help.text.contains(verb), "HELP lacks {verb}: {help}");
    }
    c.expect("NOOP", 200);
    c.expect("OPTS UTF8 ON", 200);
    c.expect("PASS p", 503); // no USER yet

    // A wrong password is refused (after the server's delay); the session goes on.
    c.expect("USER u", 331);
    c.expect("PASS wrong", 530);
    c.expect("PWD", 530);
    // Unknown users get the same 331 as known ones.
    c.expect("USER nobody", 331);
    c.expect("USER u", 331);
    c.expect("PASS p", 230);
    c.expect("PASS p", 503);
    c.expect("ACCT billing", 202);

    c.expect("TYPE I", 200);
    let stat = c.expect("STAT", 211);
    assert!(stat.text.contains("Logged in as u"), "{stat}");
    assert!(stat.text.contains("BINARY"), "{stat}");
    c.expect("TYPE A", 200);
    let stat = c.expect("STAT", 211);
    assert!(stat.text.contains("ASCII"), "{stat}");
    c.expect("TYPE L 8", 200);
    c.expect("TYPE E", 504);
    c.expect("MODE S", 200);
    c.expect("MODE B", 504);
    c.expect("STRU F", 200);
    c.expect("STRU R", 504);
    c.expect("ALLO 1000", 202);
    c.expect("REST 100", 350);
    c.expect("REST abc", 501);
    c.expect("HELP RETR", 214);
    c.expect("HELP BOGUS", 501);
    c.expect("SITE HELP", 214);
    c.expect("SITE EXEC x", 504);
    c.expect("SITE CHMOD 755 missing", 550);
    let opts = c.expect("OPTS MLST type;size;", 200);
    assert!(opts.text.contains("type;size;"), "{opts}");
    c.expect("OPTS UTF8 OFF", 504);
    c.expect("XYZZY", 500);
    c.expect("SMNT /", 502);

    // REIN: logged out again, and a new login works.
    c.expect("REIN", 220);
    c.expect("PWD", 530);
    c.expect("USER u", 331);
    c.expect("PASS p", 230);
    let pwd = c.expect("PWD", 257);
    assert!(pwd.text.contains("\"/\""), "{pwd}");

    c.expect("QUIT", 221);
    c.expect_closed();

    // QUIT before a login too.
    let mut c = Client::open(server.addr());
    c.expect("QUIT", 221);
    c.expect_closed();
}

/// PWD, CWD, CDUP, MKD, RMD, DELE, RNFR, RNTO, SIZE, MDTM, MLST and STOU, checked on the disk.
pub fn file_management_commands(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    let content = b"twelve bytes".to_vec();
    fs::write(server.path("file.txt"), &content).unwrap();
    // 2001-02-03 04:05:06 UTC, for MDTM.
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(981_173_106);
    fs::File::options()
        .write(true)
        .open(server.path("file.txt"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let mut c = Client::login(server.addr(), "u", "p");

    // Directories.
    let pwd = c.expect("PWD", 257);
    assert!(pwd.text.contains("\"/\""), "{pwd}");
    let mkd = c.expect("MKD dir", 257);
    assert!(mkd.text.contains("\"/dir\""), "{mkd}");
    assert!(server.path("dir").is_dir());
    c.expect("MKD dir", 550);
    c.expect("MKD missing/sub", 550);
    c.expect("CWD dir", 250);
    let pwd = c.expect("PWD", 257);
    assert!(pwd.text.contains("\"/dir\""), "{pwd}");
    c.expect("XMKD sub", 257);
    assert!(
        server.path("dir/sub").is_dir(),
        "MKD is relative to the current directory"
    );
    c.expect("CWD sub", 250);
    c.expect("CDUP", 250);
    let pwd = c.expect("XPWD", 257);
    assert!(pwd.text.contains("\"/dir\""), "{pwd}");
    c.expect("CDUP", 250);
    c.expect("CDUP", 250); // at the root already: stays there
    let pwd = c.expect("PWD", 257);
    assert!(pwd.text.contains("\"/\""), "{pwd}");
    c.expect("CWD ../../..", 250);
    c.expect("CWD missing", 550);
    c.expect("CWD file.txt", 550);
    c.expect("CWD /dir/sub", 250);
    c.expect("CWD /", 250);

    // Sizes, times, facts.
    let size = c.expect("SIZE file.txt", 213);
    assert_eq!(size.text.trim_end(), "213 12");
    c.expect("SIZE missing", 550);
    c.expect("SIZE dir", 550);
    let mdtm = c.expect("MDTM file.txt", 213);
    assert_eq!(mdtm.text.trim_end(), "213 20010203040506");
    c.expect("MDTM missing", 550);
    let mlst = c.expect("MLST file.txt", 250);
    assert!(mlst.text.contains("type=file;"), "{mlst}");
    assert!(mlst.text.contains("size=12;"), "{mlst}");
    assert!(mlst.text.contains("modify=20010203040506;"), "{mlst}");
    assert!(mlst.text.contains(" /file.txt\r\n"), "{mlst}");
    let mlst = c.expect("MLST dir", 250);
    assert!(mlst.text.contains("type=dir;"), "{mlst}");
    c.expect("MLST missing", 550);

    // Renames.
    c.expect("RNFR file.txt", 350);
    c.expect("RNTO dir/renamed.txt", 250);
    assert!(!server.path("file.txt").exists());
    assert_eq!(fs::read(server.path("dir/renamed.txt")).unwrap(), content);
    c.expect("RNTO again.txt", 503);
    c.expect("RNFR missing", 550);
    c.expect("RNFR dir/renamed.txt", 350);
    c.expect("NOOP", 200); // another command cancels the RNFR
    c.expect("RNTO again.txt", 503);
    c.expect("RNFR dir/sub", 350);
    c.expect("RNTO moved-sub", 250);
    assert!(server.path("moved-sub").is_dir());

    // Deletions.
    c.expect("RMD dir", 550); // not empty
    c.expect("DELE dir", 550); // a directory
    c.expect("DELE dir/renamed.txt", 250);
    assert!(!server.path("dir/renamed.txt").exists());
    c.expect("DELE dir/renamed.txt", 550);
    c.expect("RMD dir", 250);
    assert!(!server.path("dir").exists());
    c.expect("XRMD moved-sub", 250);
    c.expect("RMD moved-sub", 550);
    c.expect("RMD /", 550);

    // STOU: the server picks a new name and says it.
    let upload = b"stored under a unique name".to_vec();
    let texts = c.upload(DataMode::Pasv, "STOU", &upload);
    let name = texts
        .split("FILE: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no file name in {texts:?}"))
        .to_owned();
    assert_same_bytes(&fs::read(server.path(&name)).unwrap(), &upload, "STOU");
    let texts = c.upload(DataMode::Pasv, "STOU", b"another");
    assert!(
        !texts.contains(&format!("FILE: {name}\r\n")),
        "STOU reused {name}: {texts}"
    );
    let on_disk = fs::read_dir(server.root()).unwrap().count();
    assert_eq!(on_disk, 2, "two STOU files and nothing else");

    c.expect("QUIT", 221);
}

/// LIST, NLST, MLSD and STAT with a path.
pub fn listing_commands(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    fs::create_dir(server.path("docs")).unwrap();
    fs::write(server.path("a.txt"), b"aaa").unwrap();
    fs::write(server.path("with space.txt"), b"s").unwrap();
    fs::write(server.path("docs/inner.bin"), vec![7u8; 1234]).unwrap();
    let mut c = Client::login(server.addr(), "u", "p");

    assert_eq!(c.nlst(""), ["a.txt", "docs", "with space.txt"]);
    assert_eq!(c.nlst("docs"), ["inner.bin"]);

    let list = c.listing("LIST");
    let lines: Vec<&str> = list.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{list:?}");
    let docs = lines
        .iter()
        .find(|l| l.ends_with(" docs"))
        .expect("docs listed");
    assert!(docs.starts_with('d'), "{docs}");
    let a = lines
        .iter()
        .find(|l| l.ends_with(" a.txt"))
        .expect("a.txt listed");
    assert!(a.starts_with('-') && a.contains(" 3 "), "{a}");
    assert!(
        lines.iter().any(|l| l.ends_with(" with space.txt")),
        "{list:?}"
    );
    let list = c.listing("LIST -la docs");
    assert!(
        list.contains(" 1234 ") && list.contains("inner.bin"),
        "{list:?}"
    );
    let list = c.listing("LIST a.txt");
    assert_eq!(
        list.split("\r\n").filter(|l| !l.is_empty()).count(),
        1,
        "{list:?}"
    );

    let mlsd = c.listing("MLSD");
    let entry = mlsd
        .split("\r\n")
        .find(|l| l.ends_with("; a.txt"))
        .unwrap_or_else(|| panic!("a.txt in {mlsd:?}"));
    assert!(
        entry.contains("type=file;") && entry.contains("size=3;"),
        "{entry}"
    );
    assert!(
        mlsd.split("\r\n")
            .any(|l| l.contains("type=dir;") && l.ends_with("; docs")),
        "{mlsd:?}"
    );
    let mlsd = c.listing("MLSD docs");
    assert!(
        mlsd.contains("size=1234;") && mlsd.contains("; inner.bin\r\n"),
        "{mlsd:?}"
    );

    // Refusals use up the data channel, like the transfer would have.
    for line in ["LIST missing", "NLST missing", "MLSD missing"] {
        let refused = c.open_transfer(DataMode::Pasv, line).err();
        assert_eq!(refused.map(|r| r.code), Some(550), "{line}");
    }
    let refused = c.open_transfer(DataMode::Pasv, "MLSD a.txt").err();
    assert_eq!(refused.map(|r| r.code), Some(501), "MLSD of a file");
    c.expect("LIST", 425); // no data channel

    let stat = c.expect("STAT docs", 213);
    assert!(stat.text.contains("inner.bin"), "{stat}");
    c.expect("STAT missing", 550);
    c.expect("QUIT", 221);
}

/// PASV, EPSV, PORT, EPRT and ABOR without a transfer; their refusals.
pub fn data_channel_commands(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    fs::write(server.path("f"), b"data").unwrap();
    let mut c = Client::login(server.addr(), "u", "p");

    let pasv = c.pasv();
    assert_eq!(
        pasv.ip(),
        server.addr().ip(),
        "PASV names the control connection's address"
    );
    let epsv = c.epsv();
    assert_ne!(epsv.port(), 0);
    c.expect("EPSV 1", 229);
    c.expect("EPSV 2", 522);
    c.expect("ABOR", 225); // closes the listener; no transfer
    c.expect("RETR f", 425); // so there is no data channel now

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    c.expect(
        &format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xff),
        200,
    );
    c.expect(&format!("EPRT |1|127.0.0.1|{port}|"), 200);
    // Only to the client's own address, never to a privileged port, only IPv4 from IPv4.
    c.expect(
        &format!("PORT 127,0,0,2,{},{}", port >> 8, port & 0xff),
        501,
    );
    c.expect(&format!("EPRT |1|10.1.2.3|{port}|"), 501);
    c.expect("PORT 127,0,0,1,0,21", 501);
    c.expect("EPRT |2|::1|5000|", 522);
    c.expect("PORT 1,2,3", 501);
    c.expect("EPRT |1|127.0.0.1|x|", 501);
    // The refusals left the last good EPRT in place: the server connects to its listener.
    c.expect("RETR f", 150);
    let mut data = crate::util::accept(&listener);
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"data");
    c.expect_reply(226, "RETR f");

    c.expect("EPSV ALL", 200);
    c.expect("PASV", 503);
    c.expect(
        &format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xff),
        503,
    );
    assert_eq!(c.retr(DataMode::Epsv, "f"), b"data");
    c.expect("QUIT", 221);
}
