//! FTPS (RFC 4217) end to end, with a certificate made by rcgen for each test: curl (explicit
//! and implicit, EPSV and PASV, and `--no-sessionid`, refused), lftp mirror both ways, Python's
//! ftplib `FTP_TLS` (a subclass that reuses the control session for data works; the plain one
//! is refused), rclone, a data connection from a second session, byte-exact transfers, ABOR
//! and the atomic-overwrite rule under `PROT P`. Each scenario is skipped (it prints why and
//! passes) when its program is not installed.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::server::Server;
use crate::util::{
    assert_same_bytes, assert_same_tree, make_tree, random_bytes, read_tree, require, run_tool,
    temp_files,
};

/// How long one run of a client program may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(180);

/// A server with FTPS on (explicit on its control port, implicit on a second listener), its
/// certificate files, and the implicit listener's address.
pub struct FtpsServer {
    /// The server (its `addr` is the explicit control port).
    pub server: Server,
    /// The implicit FTPS listener.
    pub implicit: SocketAddr,
    /// Holds the certificate and key.
    _certs: TempDir,
}

/// A fresh self-signed certificate for localhost: (directory, cert.pem, key.pem).
pub fn certificate() -> (TempDir, PathBuf, PathBuf) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let made = rcgen::generate_simple_self_signed(names).expect("make a certificate");
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    fs::write(&cert, made.cert.pem()).unwrap();
    fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (dir, cert, key)
}

impl FtpsServer {
    /// Starts `bin` with user `u:p`, FTPS on a new certificate, and `extra`.
    pub fn start(bin: &Path, extra: &[&str]) -> FtpsServer {
        let (certs, cert, key) = certificate();
        let mut args = vec![
            "--user",
            "u:p",
            "--ftps",
            "--implicit-listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let server = Server::start(bin, &args);
        let implicit = last_address(server.first_log_line())
            .unwrap_or_else(|| panic!("no implicit address in {:?}", server.first_log_line()));
        assert_ne!(implicit, server.addr());
        FtpsServer {
            server,
            implicit,
            _certs: certs,
        }
    }
}

/// The last address in `... listening on A, B: serving ...`.
fn last_address(line: &str) -> Option<SocketAddr> {
    let rest = line.split("listening on ").nth(1)?;
    let list = rest.split(": ").next()?;
    list.split(", ").last()?.trim().parse().ok()
}

#[track_caller]
fn run(cmd: &mut Command) -> String {
    run_tool(cmd, None, TOOL_TIMEOUT).success().0
}

fn curl() -> Command {
    let mut cmd = Command::new("curl");
    cmd.args([
        "--silent",
        "--show-error",
        "--user",
        "u:p",
        "--max-time",
        "60",
        "--insecure",
    ]);
    cmd
}

/// curl `--ssl-reqd -k`: upload, download and listing with EPSV and with PASV; `ftps://`
/// (implicit) both ways; `--no-sessionid` (a data connection that does not resume the control
/// connection's session) is refused and stores nothing.
pub fn ftps_curl(bin: &Path) {
    if !require("curl", &["--version"]) {
        return;
    }
    let ftps = FtpsServer::start(bin, &["--tls-required-control", "accounts"]);
    let server = &ftps.server;
    let work = tempfile::tempdir().unwrap();
    let content = random_bytes(110, (2 << 20) + 3);
    let local = work.path().join("local.bin");
    fs::write(&local, &content).unwrap();
    let down = work.path().join("down.bin");
    let explicit = |path: &str| format!("ftp://{}/{path}", server.addr());

    for (pasv, name) in [(false, "epsv.bin"), (true, "pasv.bin")] {
        let mode: &[&str] = if pasv {
            &["--ftp-pasv", "--disable-epsv"]
        } else {
            &[]
        };
        run(curl()
            .arg("--ssl-reqd")
            .args(mode)
            .arg("-T")
            .arg(&local)
            .arg(explicit(name)));
        assert_same_bytes(&fs::read(server.path(name)).unwrap(), &content, name);
        let _ = fs::remove_file(&down);
        run(curl()
            .arg("--ssl-reqd")
            .args(mode)
            .arg("-o")
            .arg(&down)
            .arg(explicit(name)));
        assert_same_bytes(&fs::read(&down).unwrap(), &content, name);
        let list = run(curl().arg("--ssl-reqd").args(mode).arg(explicit("")));
        assert!(
            list.lines().any(|l| l.ends_with(&format!(" {name}"))),
            "{list}"
        );
    }

    // Implicit FTPS: TLS first, PROT P implied.
    let implicit = |path: &str| format!("ftps://{}/{path}", ftps.implicit);
    run(curl().arg("-T").arg(&local).arg(implicit("implicit.bin")));
    assert_same_bytes(
        &fs::read(server.path("implicit.bin")).unwrap(),
        &content,
        "ftps:// upload",
    );
    let _ = fs::remove_file(&down);
    run(curl().arg("-o").arg(&down).arg(implicit("implicit.bin")));
    assert_same_bytes(&fs::read(&down).unwrap(), &content, "ftps:// download");

    // Without session reuse the data connection is refused, and nothing is stored.
    let refused = run_tool(
        curl()
            .args(["--ssl-reqd", "--no-sessionid", "-T"])
            .arg(&local)
            .arg(explicit("nosession.bin")),
        None,
        TOOL_TIMEOUT,
    );
    assert!(
        !refused.status.is_some_and(|s| s.success()),
        "--no-sessionid upload succeeded: {refused:?}"
    );
    assert!(
        !server.path("nosession.bin").exists(),
        "stored without reuse"
    );

    // The accounts policy: a login without TLS is refused.
    let clear = run_tool(
        curl().arg("-o").arg(&down).arg(explicit("epsv.bin")),
        None,
        TOOL_TIMEOUT,
    );
    assert!(
        !clear.status.is_some_and(|s| s.success()),
        "a clear login was let in: {clear:?}"
    );
}

/// curl `--no-sessionid` works once the reuse requirement is turned off.
pub fn ftps_reuse_requirement_can_be_turned_off(bin: &Path) {
    if !require("curl", &["--version"]) {
        return;
    }
    let ftps = FtpsServer::start(bin, &["--tls-no-session-reuse-required"]);
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("local.bin");
    let content = random_bytes(111, 100_000);
    fs::write(&local, &content).unwrap();
    let url = format!("ftp://{}/nosession.bin", ftps.server.addr());
    run(curl()
        .args(["--ssl-reqd", "--no-sessionid", "-T"])
        .arg(&local)
        .arg(&url));
    assert_same_bytes(
        &fs::read(ftps.server.path("nosession.bin")).unwrap(),
        &content,
        "upload without session reuse",
    );
}

/// lftp with `ftp:ssl-force` and `ssl:verify-certificate no`: mirror both ways over PROT P.
pub fn ftps_lftp_mirror_both_ways(bin: &Path) {
    if !require("lftp", &["--version"]) {
        return;
    }
    let ftps = FtpsServer::start(bin, &["--tls-required-data", "all"]);
    let server = &ftps.server;
    let remote = make_tree(&server.path("tree"), 60, 112);
    let work = tempfile::tempdir().unwrap();
    let down = work.path().join("down");
    let up = work.path().join("up");
    let local = make_tree(&up, 60, 113);
    let script = format!(
        "set ftp:ssl-force true; set ftp:ssl-protect-data true; \
         set ssl:verify-certificate no; set net:max-retries 1; set net:timeout 30; \
         set cmd:fail-exit yes; \
         open -u u,p -p {port} 127.0.0.1; \
         mirror tree \"{down}\"; \
         mirror -R \"{up}\" uploaded; \
         quit",
        port = server.addr().port(),
        down = down.display(),
        up = up.display(),
    );
    run(Command::new("lftp").arg("-c").arg(&script));
    assert_same_tree(&read_tree(&down), &remote, "lftp mirror over FTPS");
    assert_same_tree(
        &read_tree(&server.path("uploaded")),
        &local,
        "lftp mirror -R over FTPS",
    );
}

/// rclone `--ftp-explicit-tls --ftp-no-check-certificate`: copy up, check, copy back. rclone
/// keeps one TLS session cache for all its connections, so with several control connections a
/// data connection may resume another's session (refused): `--ftp-concurrency 1` keeps it to
/// one.
pub fn ftps_rclone_copy_check(bin: &Path) {
    rclone_copy_check(bin, &[], 1);
}

/// rclone with four connections at once, which resume each other's TLS sessions: refused by
/// default (`522`), served with `--tls-reuse-same-user` (the sessions are the same user's,
/// from the same address).
pub fn ftps_rclone_several_connections_with_reuse_same_user(bin: &Path) {
    rclone_copy_check(bin, &["--tls-reuse-same-user"], 4);
}

fn rclone_copy_check(bin: &Path, args: &[&str], concurrency: u32) {
    if !require("rclone", &["version"]) {
        return;
    }
    let ftps = FtpsServer::start(bin, args);
    let server = &ftps.server;
    let work = tempfile::tempdir().unwrap();
    let up = work.path().join("up");
    let local = make_tree(&up, 30, 114);
    let obscured = run(Command::new("rclone").args(["obscure", "p"]));
    let remote = format!(
        ":ftp,host=127.0.0.1,port={},user=u,pass={},explicit_tls=true,no_check_certificate=true,\
         concurrency={concurrency}:",
        server.addr().port(),
        obscured.trim()
    );
    let target = format!("{remote}copied");
    let up_s = up.to_str().unwrap();
    run(Command::new("rclone").args(["copy", up_s, &target]));
    assert_same_tree(&read_tree(&server.path("copied")), &local, "rclone copy");
    run(Command::new("rclone").args(["check", "--download", up_s, &target]));
    let back = work.path().join("back");
    run(Command::new("rclone").args(["copy", &target, back.to_str().unwrap()]));
    assert_same_tree(&read_tree(&back), &local, "rclone copy back");
}

/// Python's ftplib `FTP_TLS` with `prot_p()`: see [`PYTHON_FTPS`].
pub fn ftps_python_ftplib(bin: &Path) {
    if !require("python3", &["-c", "import ftplib, ssl"]) {
        return;
    }
    let ftps = FtpsServer::start(bin, &[]);
    let server = &ftps.server;
    fs::write(server.path("keep.bin"), b"the old content").unwrap();
    let out = run(Command::new("python3")
        .arg("-c")
        .arg(PYTHON_FTPS)
        .arg(server.addr().port().to_string()));
    assert_eq!(out.trim_end().lines().last(), Some("ftps ok"), "{out}");
    assert_eq!(
        fs::read(server.path("keep.bin")).unwrap(),
        b"the old content",
        "a failed TLS upload replaced the file"
    );
    assert_eq!(temp_files(server.root()), Vec::<String>::new());
}

/// The ftplib scenarios: sizes both ways, the plain `FTP_TLS` refused, a second session's data
/// connection refused, ABOR under TLS, failed uploads over `keep.bin`.
const PYTHON_FTPS: &str = r#"
import ftplib, socket, ssl, sys

port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

class Reuse(ftplib.FTP_TLS):
    """Data connections resume the control connection's TLS session."""
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

def login(cls=Reuse):
    f = cls(context=ctx)
    f.connect("127.0.0.1", port, timeout=30)
    f.login("u", "p")
    f.prot_p()
    return f

def fetch(f, name):
    got = bytearray()
    f.retrbinary("RETR " + name, got.extend)
    return bytes(got)

def refused(what, call, f):
    try:
        call()
    except ftplib.error_perm as e:
        assert str(e).startswith("522"), (what, e)
        return
    except (OSError, EOFError) as e:
        # The TLS layer saw the refusal first; the 522 still waits on the control connection.
        resp = f.getmultiline()
        assert resp.startswith("522"), (what, e, resp)
        return
    raise AssertionError(what + ": not refused")

f = login()
assert "TLS" in f.sock.version(), f.sock.version()
f.voidcmd("TYPE I")
sizes = [0, 1, 1 << 20, 64 << 20]
for n in sizes:
    data = (bytes(range(251)) * (n // 251 + 1))[:n]
    name = "size%d.bin" % n
    f.storbinary("STOR " + name, __import__("io").BytesIO(data), blocksize=1 << 20)
    assert f.size(name) == n, (name, f.size(name))
    assert fetch(f, name) == data, name
lines = []
f.retrlines("LIST", lines.append)
assert any(l.endswith(" size1.bin") for l in lines), lines
print("sizes ok")

# A plain FTP_TLS does not resume the control session on data connections: refused.
plain = login(ftplib.FTP_TLS)
refused("plain retr", lambda: fetch(plain, "size1.bin"), plain)
refused("plain stor", lambda: plain.storbinary("STOR keep.bin", __import__("io").BytesIO(b"new")), plain)
plain.voidcmd("NOOP")
plain.quit()
print("plain refused")

# A data connection from a second session (same address, its own TLS session) is refused.
other = login()
host, dport = ftplib.parse227(f.sendcmd("PASV"))
raw = socket.create_connection(("127.0.0.1", dport), timeout=30)
f.putcmd("RETR size1.bin")
assert f.getresp().startswith("150")
try:
    foreign = other.context.wrap_socket(raw, server_hostname="127.0.0.1", session=other.sock.session)
    assert foreign.recv(100) == b"", "the foreign connection got data"
except (OSError, ssl.SSLError):
    pass
resp = f.getmultiline()
assert resp.startswith("522"), resp
other.quit()
print("foreign refused")

# ABOR under TLS, in the middle of a 64 MiB download.
conn = f.transfercmd("RETR size%d.bin" % (64 << 20))
got = 0
while got < (1 << 20):
    chunk = conn.recv(65536)
    assert chunk, "download ended early"
    got += len(chunk)
f.sock.sendall(b"ABOR\r\n")
replies = {f.getmultiline()[:3], f.getmultiline()[:3]}
assert replies == {"426", "226"}, replies
conn.close()
f.voidcmd("NOOP")
print("abor ok")

# An upload cut without close_notify leaves keep.bin as it was.
conn = f.transfercmd("STOR keep.bin")
conn.sendall(b"x" * 100000)
socket.socket.shutdown(conn, socket.SHUT_RDWR)
conn.close()
resp = f.getmultiline()
assert resp[:1] == "4", resp
f.voidcmd("NOOP")
f.quit()
print("ftps ok")
"#;

/// SIGHUP reads the certificate files again: a session that was secured before goes on with
/// the old certificate, a new one gets the new certificate.
pub fn ftps_sighup_reloads_the_certificate(bin: &Path) {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    if !require("python3", &["-c", "import ftplib, ssl"]) {
        return;
    }
    let (certs, cert, key) = certificate();
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("f"), b"kept").unwrap();
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--user",
        "u:p",
        "--ftps",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let daemon = crate::operations::Daemon::start(crate::operations::server_command(
        bin,
        root.path(),
        &args,
    ));
    let mut python = Command::new("python3")
        .arg("-c")
        .arg(PYTHON_RELOAD)
        .arg(daemon.addr().port().to_string())
        .arg(&cert)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3");
    let mut lines = BufReader::new(python.stdout.take().unwrap()).lines();
    let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(next(), "old session secured");
    let (_new_dir, new_cert, new_key) = certificate();
    fs::copy(&new_cert, &cert).unwrap();
    fs::copy(&new_key, &key).unwrap();
    daemon.signal(rustix::process::Signal::HUP);
    daemon.wait_for_line("TLS certificate reloaded");
    writeln!(python.stdin.take().unwrap(), "go").unwrap();
    assert_eq!(next(), "reload ok");
    assert!(python.wait().unwrap().success());
    drop(certs);
}

/// Prints "old session secured", waits for a line, then checks that a new session gets the
/// certificate now in the file (argv[2]) and the old one, with the old certificate, still works.
const PYTHON_RELOAD: &str = r#"
import ftplib, hashlib, ssl, sys
port, cert = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
class Reuse(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size
def der(path):
    return ssl.PEM_cert_to_DER_cert(open(path).read())
def session():
    f = Reuse(context=ctx); f.connect("127.0.0.1", port, timeout=30); f.login("u", "p"); f.prot_p()
    return f
old = session()
first = old.sock.getpeercert(binary_form=True)
assert first == der(cert)
print("old session secured", flush=True)
sys.stdin.readline()
new = session()
second = new.sock.getpeercert(binary_form=True)
assert second == der(cert), "the new session got the old certificate"
assert second != first
got = bytearray(); old.retrbinary("RETR f", got.extend)
assert bytes(got) == b"kept"
old.quit(); new.quit()
print("reload ok", flush=True)
"#;

#[cfg(test)]
mod tests {
    use super::last_address;

    #[test]
    fn the_implicit_address_is_the_last_one() {
        let line = "INFO x: thinftp-std listening on 127.0.0.1:1, 127.0.0.1:2: serving /tmp";
        assert_eq!(last_address(line), Some("127.0.0.1:2".parse().unwrap()));
        assert_eq!(last_address("nothing"), None);
    }
}
