//! The transfer log (`--transfer-log FILE`): one line per finished transfer, in the xferlog
//! format of wu-ftpd and vsftpd (what log analysers and fail2ban read) or as JSON lines
//! (`--transfer-log-format json`).
//!
//! Sessions never write the file: they format the line and hand it to a writer thread over a
//! bounded queue, so a slow disk never holds a session up; when the queue is full the line is
//! dropped and a (throttled) warning says so. SIGHUP reopens the file by name (after logrotate
//! moved it).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread;
use std::time::{Duration, SystemTime};

use super::clock::Utc;
use crate::throttle::Throttle;

/// Lines waiting for the writer at most; past it, lines are dropped rather than wait.
const QUEUE: usize = 4096;

/// At most one "transfer log queue full" warning per this long.
static DROPPED_LOG: Throttle = Throttle::new(Duration::from_secs(5));

/// The format of the transfer log's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// wu-ftpd/vsftpd xferlog: `DATE SECS HOST BYTES PATH TYPE _ DIR MODE USER ftp 0 * STATUS`.
    #[default]
    Xferlog,
    /// One JSON object per line.
    Json,
}

/// Which way a transfer went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// RETR: from the server to the client.
    Download,
    /// STOR, APPE, STOU: from the client to the server.
    Upload,
}

/// How a transfer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every byte moved.
    Complete,
    /// Stopped by ABOR (or the session's end, or shutdown).
    Aborted,
    /// The data connection broke, or the file could not be read or written.
    Failed,
}

impl Status {
    /// The word for logs and metrics labels: `complete`, `aborted`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Complete => "complete",
            Status::Aborted => "aborted",
            Status::Failed => "failed",
        }
    }
}

/// One finished transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// When it ended.
    pub time: SystemTime,
    /// The session's id.
    pub session: u64,
    /// The client's address.
    pub client: IpAddr,
    /// Who was logged in.
    pub user: String,
    /// Whether that is the anonymous user.
    pub anonymous: bool,
    /// The file, as the client sees it (beneath its home).
    pub path: String,
    /// Which way.
    pub direction: Direction,
    /// TYPE A.
    pub ascii: bool,
    /// Bytes moved (0 when the transfer was cut and the count is not known).
    pub bytes: u64,
    /// From the `150` to the end.
    pub seconds: f64,
    /// How it ended.
    pub status: Status,
}

impl Record {
    /// The line in `format`, without its line end.
    pub fn line(&self, format: Format) -> String {
        match format {
            Format::Xferlog => self.xferlog(),
            Format::Json => self.json(),
        }
    }

    /// `current-time transfer-time remote-host file-size filename transfer-type
    /// special-action-flag direction access-mode username service-name authentication-method
    /// authenticated-user-id completion-status`, as vsftpd writes it: the time in whole
    /// seconds, at least 1; the file name with blanks and control characters made `_` so that
    /// the line keeps its fields.
    fn xferlog(&self) -> String {
        let secs = (self.seconds.round() as u64).max(1);
        let name: String = self
            .path
            .chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let user: String = self
            .user
            .chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        format!(
            "{} {secs} {} {} {name} {} _ {} {} {} ftp 0 * {}",
            Utc::of(self.time).ctime(),
            self.client,
            self.bytes,
            if self.ascii { 'a' } else { 'b' },
            match self.direction {
                Direction::Download => 'o',
                Direction::Upload => 'i',
            },
            if self.anonymous { 'a' } else { 'r' },
            if user.is_empty() { "*" } else { &user },
            if self.status == Status::Complete {
                'c'
            } else {
                'i'
            },
        )
    }

    fn json(&self) -> String {
        format!(
            "{{\"time\":\"{}\",\"session\":{},\"client\":\"{}\",\"user\":{},\"anonymous\":{},\
             \"path\":{},\"direction\":\"{}\",\"type\":\"{}\",\"bytes\":{},\"seconds\":{:.3},\
             \"status\":\"{}\"}}",
            Utc::of(self.time).rfc3339(),
            self.session,
            self.client,
            json_string(&self.user),
            self.anonymous,
            json_string(&self.path),
            match self.direction {
                Direction::Download => "download",
                Direction::Upload => "upload",
            },
            if self.ascii { "ascii" } else { "binary" },
            self.bytes,
            self.seconds,
            self.status.as_str(),
        )
    }
}

/// `s` as a JSON string, quoted and escaped.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

enum Message {
    Line(String),
    Reopen,
}

/// The open transfer log: a handle to its writer thread (cheap to clone).
#[derive(Debug, Clone)]
pub struct TransferLog {
    tx: SyncSender<Message>,
    format: Format,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Line(_) => "Line",
            Message::Reopen => "Reopen",
        })
    }
}

impl TransferLog {
    /// Opens (creates, or appends to) `path` and starts the writer thread.
    pub fn open(path: &Path, format: Format) -> io::Result<TransferLog> {
        let file = open_append(path)?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let path = path.to_owned();
        thread::Builder::new()
            .name("transfer-log".into())
            .spawn(move || write_lines(&path, file, &rx))?;
        Ok(TransferLog { tx, format })
    }

    /// Logs `record` (without waiting for the disk).
    pub fn record(&self, record: &Record) {
        let mut line = record.line(self.format);
        line.push('\n');
        self.send(Message::Line(line));
    }

    /// Reopens the file by its name once the lines before are written (SIGHUP, after
    /// logrotate moved it away).
    pub fn reopen(&self) {
        self.send(Message::Reopen);
    }

    fn send(&self, message: Message) {
        match self.tx.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                if let Some(suppressed) = DROPPED_LOG.admit(std::time::Instant::now()) {
                    tracing::warn!(
                        suppressed,
                        "transfer log: the disk is too slow, a line was dropped"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::warn!("transfer log: the writer has stopped");
            }
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The writer thread: writes what comes, flushing whenever the queue is empty.
fn write_lines(path: &Path, file: File, rx: &Receiver<Message>) {
    let mut out = io::BufWriter::new(file);
    let mut failed = false;
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Line(line) => {
                    if let Err(e) = out.write_all(line.as_bytes()) {
                        if !std::mem::replace(&mut failed, true) {
                            tracing::error!(path = %path.display(), "cannot write the transfer log: {e}");
                        }
                    }
                }
                Message::Reopen => {
                    let _ = out.flush();
                    match open_append(path) {
                        Ok(file) => {
                            out = io::BufWriter::new(file);
                            failed = false;
                        }
                        Err(e) => tracing::error!(
                            path = %path.display(),
                            "cannot reopen the transfer log, writing on to the old file: {e}"
                        ),
                    }
                }
            }
            next = rx.try_recv().ok();
        }
        if let Err(e) = out.flush() {
            if !std::mem::replace(&mut failed, true) {
                tracing::error!(path = %path.display(), "cannot write the transfer log: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn record() -> Record {
        Record {
            time: UNIX_EPOCH + Duration::from_secs(1_796_125_883),
            session: 7,
            client: [192, 0, 2, 9].into(),
            user: "alice".into(),
            anonymous: false,
            path: "/up/my file.bin".into(),
            direction: Direction::Upload,
            ascii: false,
            bytes: 1234,
            seconds: 0.2,
            status: Status::Complete,
        }
    }

    #[test]
    fn xferlog_lines_have_the_wu_ftpd_fields() {
        assert_eq!(
            record().line(Format::Xferlog),
            "Tue Dec  1 11:51:23 2026 1 192.0.2.9 1234 /up/my_file.bin b _ i r alice ftp 0 * c"
        );
        let cut = Record {
            direction: Direction::Download,
            anonymous: true,
            ascii: true,
            seconds: 3.6,
            status: Status::Aborted,
            ..record()
        };
        let line = cut.line(Format::Xferlog);
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 18, "{line}");
        assert_eq!(
            &fields[5..],
            [
                "4",
                "192.0.2.9",
                "1234",
                "/up/my_file.bin",
                "a",
                "_",
                "o",
                "a",
                "alice",
                "ftp",
                "0",
                "*",
                "i"
            ]
        );
    }

    #[test]
    fn json_lines_escape_what_they_must() {
        let r = Record {
            path: "/a\"b\\c\nd".into(),
            ..record()
        };
        assert_eq!(
            r.line(Format::Json),
            "{\"time\":\"2026-12-01T11:51:23.000Z\",\"session\":7,\"client\":\"192.0.2.9\",\
             \"user\":\"alice\",\"anonymous\":false,\"path\":\"/a\\\"b\\\\c\\nd\",\
             \"direction\":\"upload\",\"type\":\"binary\",\"bytes\":1234,\"seconds\":0.200,\
             \"status\":\"complete\"}"
        );
    }

    #[test]
    fn lines_reach_the_file_and_a_reopen_follows_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xferlog");
        let log = TransferLog::open(&path, Format::Xferlog).unwrap();
        log.record(&record());
        let rotated = dir.path().join("xferlog.1");
        let wait = |p: &Path, lines: usize| {
            for _ in 0..500 {
                if std::fs::read_to_string(p).is_ok_and(|t| t.lines().count() == lines) {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
            panic!("{} never had {lines} line(s)", p.display());
        };
        wait(&path, 1);
        std::fs::rename(&path, &rotated).unwrap();
        log.reopen();
        log.record(&record());
        wait(&path, 1);
        wait(&rotated, 1);
    }
}
