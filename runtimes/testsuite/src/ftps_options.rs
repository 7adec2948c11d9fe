//! FTPS options end to end, beside [`ftps`](crate::ftps): `CCC` with curl (allowed, in
//! curl's passive and active modes, and refused by default), client certificates from
//! `--tls-client-ca` (a certificate of that CA is seen and logged, none is fine, one of
//! another CA is refused at the handshake), and `HELP` on an implicit FTPS session. Each
//! scenario is skipped (it prints why and passes) when its program is not installed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::ftps::FtpsServer;
use crate::util::{assert_same_bytes, random_bytes, require, run_tool, ToolRun};

/// How long one run of a client program may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

fn curl() -> Command {
    let mut cmd = Command::new("curl");
    cmd.args([
        "--silent",
        "--show-error",
        "--verbose",
        "--user",
        "u:p",
        "--max-time",
        "60",
        "--insecure",
        "--ssl-reqd",
    ]);
    cmd
}

fn run(cmd: &mut Command) -> ToolRun {
    run_tool(cmd, None, TOOL_TIMEOUT)
}

/// curl `--ftp-ssl-ccc` with `--tls-allow-ccc`: after the login the control connection goes
/// back to clear text (STAT says so) and the transfers still run under PROT P, in curl's
/// active mode (both sides send close_notify) and in its default passive mode (only the
/// server does). In passive mode OpenSSL marks the TLS session as not resumable (its
/// connection ended without its own close_notify), so the data connections cannot resume it:
/// refused while the reuse requirement is on (curl fails, nothing is stored), taken with
/// `--tls-no-session-reuse-required`. Without `--tls-allow-ccc` the `502` leaves curl on TLS,
/// and it goes on.
pub fn ftps_curl_ccc(bin: &Path) {
    if !require("curl", &["--version"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let content = random_bytes(120, (1 << 20) + 5);
    let local = work.path().join("local.bin");
    fs::write(&local, &content).unwrap();
    let down = work.path().join("down.bin");

    for (mode, extra) in [
        ("active", None),
        ("passive", Some("--tls-no-session-reuse-required")),
    ] {
        let mut args = vec!["--tls-allow-ccc"];
        args.extend(extra);
        let ftps = FtpsServer::start(bin, &args);
        let server = &ftps.server;
        let url = |name: &str| format!("ftp://{}/{name}", server.addr());
        let name = format!("{mode}.bin");
        let ccc = ["--ftp-ssl-ccc", "--ftp-ssl-ccc-mode", mode];
        let (_, log) = run(curl()
            .args(ccc)
            .args(["-Q", "STAT", "-T"])
            .arg(&local)
            .arg(url(&name)))
        .success();
        assert!(log.contains("< 200 CCC"), "{mode}: {log}");
        assert!(
            log.contains("Control connection: clear text after CCC"),
            "{mode}: the control connection did not go clear: {log}"
        );
        assert!(
            !log.contains("shutdown timeout"),
            "{mode}: curl waited for the server's close_notify: {log}"
        );
        assert!(log.contains("Data connections: PROT P"), "{mode}: {log}");
        assert_same_bytes(&fs::read(server.path(&name)).unwrap(), &content, &name);
        let _ = fs::remove_file(&down);
        run(curl().args(ccc).arg("-o").arg(&down).arg(url(&name))).success();
        assert_same_bytes(&fs::read(&down).unwrap(), &content, &name);
        let (list, _) = run(curl().args(ccc).arg(url(""))).success();
        assert!(
            list.lines().any(|l| l.ends_with(&format!(" {name}"))),
            "{list}"
        );

        if extra.is_none() {
            // Passive CCC while the data connections must resume: refused, cleanly.
            let refused = run(curl()
                .arg("--ftp-ssl-ccc")
                .arg("-T")
                .arg(&local)
                .arg(url("passive.bin")));
            assert!(
                !refused.status.is_some_and(|s| s.success()),
                "a data connection that did not resume was taken: {refused:?}"
            );
            assert!(refused.stderr.contains("< 200 CCC"), "{refused:?}");
            assert!(!server.path("passive.bin").exists(), "stored without reuse");
            server.wait_for_line(&["data connection refused: its TLS session"]);
        }
    }

    // Refused by default: curl hears 502, stays on TLS and goes on.
    let ftps = FtpsServer::start(bin, &[]);
    let server = &ftps.server;
    fs::write(server.path("f.bin"), &content).unwrap();
    let _ = fs::remove_file(&down);
    let (_, log) = run(curl()
        .arg("--ftp-ssl-ccc")
        .args(["-Q", "STAT", "-o"])
        .arg(&down)
        .arg(format!("ftp://{}/f.bin", server.addr())))
    .success();
    assert!(log.contains("< 502 CCC"), "{log}");
    assert!(log.contains("Control connection: TLSv1."), "{log}");
    assert_same_bytes(&fs::read(&down).unwrap(), &content, "after the refused CCC");
}

/// A certificate authority of a test: its certificate (PEM file) and what signs with it.
struct Authority {
    pem: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl Authority {
    fn new(dir: &Path, name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let pem = dir.join(format!("{name}-ca.pem"));
        fs::write(&pem, cert.pem()).unwrap();
        Authority {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A client certificate it signs: (cert.pem, key.pem, SHA-256 fingerprint as the server
    /// logs it).
    fn client(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let cert_pem = dir.join(format!("{name}.pem"));
        let key_pem = dir.join(format!("{name}.key"));
        fs::write(&cert_pem, cert.pem()).unwrap();
        fs::write(&key_pem, key.serialize_pem()).unwrap();
        let digest = Sha256::digest(cert.der());
        let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
        (cert_pem, key_pem, hex.join(":"))
    }
}

/// `--tls-client-ca`: curl with a certificate of that CA gets in, and the server logs its
/// fingerprint for the handshake; curl with none gets in too (client certificates are
/// optional); curl with a certificate of another CA is refused at the handshake.
pub fn ftps_client_certificates(bin: &Path) {
    if !require("curl", &["--version"]) {
        return;
    }
    let certs: TempDir = tempfile::tempdir().unwrap();
    let ours = Authority::new(certs.path(), "ours");
    let theirs = Authority::new(certs.path(), "theirs");
    let (cert, key, fingerprint) = ours.client(certs.path(), "alice");
    let (other_cert, other_key, other_fingerprint) = theirs.client(certs.path(), "mallory");
    let ca = ours.pem.to_str().unwrap().to_owned();
    let ftps = FtpsServer::start(bin, &["--tls-client-ca", &ca]);
    let server = &ftps.server;
    let content = random_bytes(121, 70_000);
    fs::write(server.path("f.bin"), &content).unwrap();
    let url = format!("ftp://{}/f.bin", server.addr());
    let work = tempfile::tempdir().unwrap();
    let down = work.path().join("down.bin");

    run(curl()
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg("-o")
        .arg(&down)
        .arg(&url))
    .success();
    assert_same_bytes(
        &fs::read(&down).unwrap(),
        &content,
        "with a client certificate",
    );
    let line = server.wait_for_line(&["TLS handshake on the control connection: full"]);
    assert!(
        line.contains(&fingerprint),
        "the client certificate is not in the handshake's log line: {line}"
    );

    let _ = fs::remove_file(&down);
    run(curl().arg("-o").arg(&down).arg(&url)).success();
    assert_same_bytes(&fs::read(&down).unwrap(), &content, "without one");
    let line = server.wait_for_line(&["TLS handshake on the control connection: full"]);
    assert!(line.contains("client_certificate=\"-\""), "{line}");

    let _ = fs::remove_file(&down);
    let refused = run(curl()
        .arg("--cert")
        .arg(&other_cert)
        .arg("--key")
        .arg(&other_key)
        .arg("-o")
        .arg(&down)
        .arg(&url));
    assert!(
        !refused.status.is_some_and(|s| s.success()),
        "a certificate of another CA was taken: {refused:?}"
    );
    assert!(!down.exists(), "downloaded with a foreign certificate");
    server.wait_for_line(&["TLS handshake on the control connection failed"]);
    assert!(
        !server
            .logged()
            .iter()
            .any(|l| l.contains(&other_fingerprint)),
        "the foreign certificate was accepted"
    );
}

/// `HELP` on an implicit FTPS session does not offer AUTH (TLS came first, AUTH is refused),
/// and still lists PBSZ and PROT.
pub fn ftps_implicit_help(bin: &Path) {
    if !require("python3", &["-c", "import ssl"]) {
        return;
    }
    let ftps = FtpsServer::start(bin, &[]);
    let (out, _) = run(Command::new("python3")
        .arg("-c")
        .arg(PYTHON_IMPLICIT_HELP)
        .arg(ftps.implicit.port().to_string()))
    .success();
    let help: Vec<&str> = out.split_whitespace().collect();
    assert!(help.contains(&"PBSZ") && help.contains(&"PROT"), "{out}");
    assert!(help.contains(&"RETR"), "{out}");
    assert!(
        !help.contains(&"AUTH"),
        "HELP offers AUTH on implicit FTPS: {out}"
    );
}

/// Connects with TLS first, reads the 220, sends HELP, prints the 214 reply.
const PYTHON_IMPLICIT_HELP: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30))
f = s.makefile("rb")
def reply():
    first = f.readline().decode()
    lines = [first]
    if first[3:4] == "-":
        while not (lines[-1][:3] == first[:3] and lines[-1][3:4] == " "):
            lines.append(f.readline().decode())
    return "".join(lines)
assert reply().startswith("220")
s.sendall(b"HELP\r\n")
help = reply()
assert help.startswith("214"), help
print(help)
s.sendall(b"QUIT\r\n")
reply()
"#;
