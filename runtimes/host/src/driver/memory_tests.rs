//! The driver on the in-memory storage: whole sessions (login, uploads, listings, downloads)
//! whose files live in a [`MemoryStorage`] with its clock set by the test, the data connections
//! real sockets on 127.0.0.1 and every job run in place. What the simulator will do, in small.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};

use super::*;
use crate::storage::{Capabilities, MemoryStorage};

const PEER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000));
const LOCAL: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2121));
const LISTENER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 50000));

/// 2023-11-14T22:13:20Z.
const NOW: i64 = 1_700_000_000;

struct NoWaiter;

impl Waiter for NoWaiter {
    fn accept_again(&mut self) {}
}

/// One session on a host serving `storage`, driven the way a runtime would, with the client's
/// end of the data connection.
struct Session {
    host: Arc<Host>,
    driver: Driver<TcpStream, NoWaiter>,
    /// The listener the last `PASV` asked for.
    listening: Option<thinftp::DataId>,
    data: Option<TcpStream>,
}

impl Session {
    fn new(storage: &MemoryStorage) -> Session {
        let options =
            crate::Options::try_parse_args(["thinftp-test", "--user", "u:p", "--busy-poll", "0"])
                .unwrap();
        let host = Arc::new(Host::with_storage(&options, Arc::new(storage.clone())).unwrap());
        let admission = Admission {
            id: 1,
            span: Span::none(),
            guard: host.admission().try_admit(PEER.ip()).unwrap(),
            proxied: false,
        };
        let driver = Driver::new(
            Arc::clone(&host),
            admission,
            PEER,
            LOCAL,
            Instant::now(),
            Blocking::Never,
        );
        let mut session = Session {
            host,
            driver,
            listening: None,
            data: None,
        };
        assert!(session.run().starts_with("220"));
        session
    }

    /// Carries out the driver's actions (jobs run here, one after the other) until it has none;
    /// the replies written meanwhile.
    fn run(&mut self) -> String {
        let mut replies = String::new();
        while let Some(action) = self.driver.poll_action(Instant::now()) {
            match action {
                Action::Write(bytes) => replies.push_str(&String::from_utf8_lossy(&bytes)),
                Action::Run(job) => {
                    let completion = job.run(&self.host);
                    self.driver.complete(completion);
                }
                Action::Listen { id, .. } => {
                    self.listening = Some(id);
                    self.driver.listening(id, Ok((NoWaiter, LISTENER)));
                }
                Action::Close => break,
                _ => {}
            }
        }
        replies
    }

    fn command(&mut self, line: &str) -> String {
        let line = format!("{line}\r\n");
        assert!(self.driver.read_control(&mut line.as_bytes()));
        self.run()
    }

    /// `PASV` and the client's data connection, accepted.
    fn connect_data(&mut self) {
        assert!(self.command("PASV").starts_with("227"));
        let id = self.listening.take().expect("PASV asks for a listener");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        self.driver.complete(Completion::Accepted {
            id,
            stream: server,
            peer: SocketAddr::new(PEER.ip(), 1235),
        });
        let _ = self.run();
        self.data = Some(client);
    }

    /// A transfer command whose data fits the socket buffers: `upload` is sent (and the
    /// connection's write side closed) first; the replies and what came back on it.
    fn transfer(&mut self, line: &str, upload: &[u8]) -> (String, Vec<u8>) {
        self.connect_data();
        let mut data = self.data.take().unwrap();
        data.write_all(upload).unwrap();
        data.shutdown(Shutdown::Write).unwrap();
        let replies = self.command(line);
        let mut received = Vec::new();
        let _ = data.read_to_end(&mut received);
        (replies, received)
    }
}

fn login(storage: &MemoryStorage) -> Session {
    let mut session = Session::new(storage);
    assert!(session.command("USER u").starts_with("331"));
    assert!(session.command("PASS p").starts_with("230"));
    assert!(session.command("TYPE I").starts_with("200"));
    session
}

#[test]
fn a_session_on_memory_storage_stores_lists_and_reads_back() {
    let storage = MemoryStorage::new();
    storage.set_now(NOW);
    let mut s = login(&storage);
    assert!(s.command("MKD d").starts_with("257"));
    let (replies, _) = s.transfer("STOR d/f.txt", b"hello memory");
    assert!(
        replies.starts_with("150") && replies.contains("226"),
        "{replies}"
    );
    assert_eq!(
        storage.file("/d/f.txt").as_deref(),
        Some(&b"hello memory"[..])
    );

    assert_eq!(s.command("SIZE d/f.txt"), "213 12\r\n");
    // The file's time is the storage's clock, not the machine's.
    assert_eq!(s.command("MDTM d/f.txt"), "213 20231114221320\r\n");
    let (replies, listing) = s.transfer("NLST d", b"");
    assert!(replies.contains("226"), "{replies}");
    assert_eq!(String::from_utf8(listing).unwrap(), "f.txt\r\n");
    let (_, listing) = s.transfer("LIST d", b"");
    let listing = String::from_utf8(listing).unwrap();
    assert!(
        listing.contains(" 12 Nov 14 22:13 f.txt\r\n"),
        "dated against the storage's clock: {listing}"
    );

    let (replies, got) = s.transfer("RETR d/f.txt", b"");
    assert!(replies.contains("226"), "{replies}");
    assert_eq!(got, b"hello memory");
    assert!(s.command("REST 6").starts_with("350"));
    let (_, got) = s.transfer("RETR d/f.txt", b"");
    assert_eq!(got, b"memory");

    // TYPE A through a stream with no file behind it: LF becomes CRLF, also from an offset.
    storage.put_file("/d/lines.txt", b"a\nb\n");
    assert!(s.command("TYPE A").starts_with("200"));
    let (_, got) = s.transfer("RETR d/lines.txt", b"");
    assert_eq!(got, b"a\r\nb\r\n");
    assert!(s.command("REST 2").starts_with("350"));
    let (_, got) = s.transfer("RETR d/lines.txt", b"");
    assert_eq!(got, b"b\r\n");
    assert!(s.command("DELE d/lines.txt").starts_with("250"));
    assert!(s.command("TYPE I").starts_with("200"));

    let (replies, _) = s.transfer("APPE d/f.txt", b"!");
    assert!(replies.contains("226"), "{replies}");
    assert_eq!(
        storage.file("/d/f.txt").as_deref(),
        Some(&b"hello memory!"[..])
    );
    assert!(s.command("DELE d/f.txt").starts_with("250"));
    assert!(s.command("RMD d").starts_with("250"));
    assert_eq!(storage.paths(), ["/"]);
}

#[test]
fn a_storage_without_append_rename_or_times_refuses_them_and_changes_nothing() {
    let storage = MemoryStorage::with_capabilities(Capabilities::none());
    storage.put_file("/f.txt", b"old");
    let mut s = login(&storage);
    let (replies, _) = s.transfer("APPE f.txt", b"more");
    assert!(
        replies.starts_with("502 "),
        "no 150, an honest refusal: {replies}"
    );
    assert!(s.command("REST 1").starts_with("350"));
    let (replies, _) = s.transfer("STOR f.txt", b"X");
    assert!(replies.starts_with("502 "), "REST+STOR: {replies}");
    assert!(s.command("RNFR f.txt").starts_with("350"));
    assert!(s.command("RNTO g.txt").starts_with("502 "));
    assert!(s.command("MFMT 20200101000000 f.txt").starts_with("502 "));
    assert_eq!(storage.file("/f.txt").as_deref(), Some(&b"old"[..]));
    assert_eq!(storage.paths(), ["/", "/f.txt"]);
    // A whole-file STOR any storage can do.
    let (replies, _) = s.transfer("STOR f.txt", b"new");
    assert!(replies.contains("226"), "{replies}");
    assert_eq!(storage.file("/f.txt").as_deref(), Some(&b"new"[..]));
}

#[test]
fn an_upload_cut_short_leaves_the_old_file_in_memory() {
    let storage = MemoryStorage::new();
    storage.put_file("/f.txt", b"old");
    let mut s = login(&storage);
    s.connect_data();
    let data = s.data.take().unwrap();
    // The client breaks the connection (a reset) instead of ending the upload.
    (&data).write_all(b"partial").unwrap();
    socket2::SockRef::from(&data)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
    drop(data);
    let replies = s.command("STOR f.txt");
    assert!(replies.contains("426"), "{replies}");
    assert_eq!(storage.file("/f.txt").as_deref(), Some(&b"old"[..]));
}
