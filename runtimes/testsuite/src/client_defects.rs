//! Defects real clients hit (issue 8), each shown with the client that hit it: tnftp's `mdelete`
//! of names that start with `-`, Python ftplib after the last failed login. Each scenario is
//! skipped (it prints why and passes) when its program is not installed.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::ftp::{Client, DataMode};
use crate::server::Server;
use crate::util::{installed, run_tool};

/// How long one run of a client program may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `cmd` with `input` on its standard input, to its end (killing it after
/// [`TOOL_TIMEOUT`]), and returns its standard output and error; fails the test if it fails.
#[track_caller]
pub(crate) fn run_with_input(cmd: &mut Command, input: &str) -> (String, String) {
    run_tool(cmd, Some(input), TOOL_TIMEOUT).success()
}

/// The names in the server's root.
pub(crate) fn names(server: &Server) -> BTreeSet<String> {
    fs::read_dir(server.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// tnftp's `mdelete` of names that start with `-`: it sends `NLST <name>` and deletes every name
/// that comes back. thinftp took `-leading*` for `ls` flags and listed the whole directory, so
/// tnftp deleted every file in it. Only the matching file may go.
pub fn tnftp_mdelete_dash_names(bin: &Path) {
    let Some(program) = ["tnftp", "ftp"]
        .into_iter()
        .find(|p| installed("sh", &["-c", &format!("command -v {p} >/dev/null")]))
    else {
        println!("skipped: tnftp not installed");
        return;
    };
    let server = Server::start(bin, &["--user", "u:p"]);
    // `-leading*` matches only the file of that very name here, with or without server-side
    // globbing; the others look like flags (`-la`, `-l`, `-R`) or hold the text elsewhere.
    let tree = [
        "-leading*",
        "-la",
        "-l",
        "-R",
        "-one",
        "-two",
        "keep.txt",
        "notes-leading",
    ];
    for name in tree {
        fs::write(server.path(name), name).unwrap();
    }
    let port = server.addr().port().to_string();
    let script = "user u p\nmdelete -leading*\nmdelete -one\nbye\n";
    let (out, err) = run_with_input(
        Command::new(program).args(["-n", "-i", "-v", "127.0.0.1", &port]),
        script,
    );
    let left = names(&server);
    let want: BTreeSet<String> = ["-la", "-l", "-R", "-two", "keep.txt", "notes-leading"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        left, want,
        "{program}'s mdelete deleted other files than it named\nstdout:\n{out}\nstderr:\n{err}"
    );
}

/// Python ftplib after its last allowed failed login: one reply, a `421`, and the session
/// ends. thinftp sent `530` and then `421`, so ftplib took the `530` for the login's answer and
/// the stale `421` for the answer to its next command.
pub fn python_ftplib_last_failed_login(bin: &Path) {
    if !installed("python3", &["-c", "import ftplib"]) {
        println!("skipped: python3 not installed");
        return;
    }
    let server = Server::start(bin, &["--user", "u:p"]);
    let port = server.addr().port().to_string();
    let (out, err) = run_with_input(
        Command::new("python3")
            .arg("-c")
            .arg(PYTHON_LAST_FAILED_LOGIN)
            .arg(&port),
        "",
    );
    assert_eq!(
        out.trim_end().lines().last(),
        Some("ftplib ok"),
        "stdout:\n{out}\nstderr:\n{err}"
    );
}

const PYTHON_LAST_FAILED_LOGIN: &str = r#"
import ftplib, sys

ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=30)
replies = []
for attempt in range(10):
    # Each USER must get its own 331, never a reply left over from the PASS before it.
    user = ftp.sendcmd("USER u")
    assert user.startswith("331"), "USER got %r after %r" % (user, replies)
    try:
        ftp.sendcmd("PASS wrong")
        raise AssertionError("logged in with a wrong password")
    except ftplib.error_perm as e:
        assert str(e).startswith("530"), e
        replies.append("530")
    except ftplib.error_temp as e:
        # The last one: a 421 alone, which says the login failed, and then the end.
        assert str(e).startswith("421 Login incorrect"), e
        replies.append("421")
        break
else:
    raise AssertionError("never closed: %r" % replies)
try:
    rest = ftp.sock.recv(1024)
except OSError:
    rest = b""
assert rest == b"", "more after the 421: %r" % rest
print(replies)
print("ftplib ok")
"#;

/// `REST` + `RETR` in `TYPE A` from an offset between a CR and its LF: the client already has
/// the CR, so the LF goes out alone. The runtime started its encoder knowing nothing of the
/// byte before the offset and sent another CR.
pub fn ascii_rest_between_cr_and_lf(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    fs::write(server.path("crlf.txt"), b"dos\r\nline\r\nunix\n").unwrap();
    let mut c = Client::login(server.addr(), "u", "p");
    c.expect("TYPE A", 200);
    let whole = c.download(DataMode::Pasv, "RETR crlf.txt");
    assert_eq!(whole, b"dos\r\nline\r\nunix\r\n");
    for offset in [4usize, 3, 5, 10, 15] {
        c.expect(&format!("REST {offset}"), 350);
        let got = c.download(DataMode::Pasv, "RETR crlf.txt");
        // Up to byte 15 every LF of the file follows a CR, so an offset in the file is the same
        // offset on the wire: the rest of the whole download is what must come.
        assert_eq!(
            got,
            whole[offset..],
            "REST {offset} in TYPE A sent {:?}",
            String::from_utf8_lossy(&got)
        );
    }
}
