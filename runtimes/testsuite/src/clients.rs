//! Real FTP clients against the server: curl, wget, lftp and Python's ftplib. Each scenario is
//! skipped (it prints why and passes) when its program is not installed.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::server::Server;
use crate::util::{
    assert_same_bytes, assert_same_tree, make_tree, random_bytes, read_tree, require, run_tool,
};

/// How long one run of a client program may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `cmd` to its end (killing it after [`TOOL_TIMEOUT`]) and returns its standard output;
/// fails the test, with both outputs, if it fails.
#[track_caller]
fn run(cmd: &mut Command) -> String {
    run_tool(cmd, None, TOOL_TIMEOUT).success().0
}

/// `ftp://127.0.0.1:PORT/path`
fn url(server: &Server, path: &str) -> String {
    format!("ftp://{}/{path}", server.addr())
}

/// curl with the options every run here uses.
fn curl() -> Command {
    let mut cmd = Command::new("curl");
    cmd.args([
        "--silent",
        "--show-error",
        "--user",
        "u:p",
        "--max-time",
        "60",
    ]);
    cmd
}

/// curl: upload, download and listings over passive connections (EPSV, and PASV with
/// `--ftp-pasv --disable-epsv`).
pub fn curl_upload_download_list(bin: &Path) {
    if !require("curl", &["--version"]) {
        return;
    }
    let server = Server::start(bin, &["--user", "u:p"]);
    let work = tempfile::tempdir().unwrap();
    let content = random_bytes(90, 3 << 20);
    let local = work.path().join("local.bin");
    fs::write(&local, &content).unwrap();

    run(curl().arg("-T").arg(&local).arg(url(&server, "up.bin")));
    assert_same_bytes(
        &fs::read(server.path("up.bin")).unwrap(),
        &content,
        "curl upload",
    );
    run(curl()
        .args(["--ftp-pasv", "--disable-epsv", "-T"])
        .arg(&local)
        .arg(url(&server, "up-pasv.bin")));
    assert_same_bytes(
        &fs::read(server.path("up-pasv.bin")).unwrap(),
        &content,
        "curl upload (PASV)",
    );

    let down = work.path().join("down.bin");
    run(curl().arg("-o").arg(&down).arg(url(&server, "up.bin")));
    assert_same_bytes(&fs::read(&down).unwrap(), &content, "curl download");
    run(curl()
        .args(["--ftp-pasv", "--disable-epsv", "-o"])
        .arg(&down)
        .arg(url(&server, "up-pasv.bin")));
    assert_same_bytes(&fs::read(&down).unwrap(), &content, "curl download (PASV)");

    let list = run(curl().arg(url(&server, "")));
    for name in ["up.bin", "up-pasv.bin"] {
        let line = list
            .lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("{name} not in curl's listing {list:?}"));
        assert!(line.contains(&content.len().to_string()), "{line}");
    }
    let names = run(curl().arg("--list-only").arg(url(&server, "")));
    let mut names: Vec<&str> = names.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["up-pasv.bin", "up.bin"]);

    // A command of curl's own (-Q) after the transfer: the file is deleted.
    run(curl()
        .args(["-Q", "-DELE up-pasv.bin"])
        .arg(url(&server, "up.bin"))
        .arg("-o")
        .arg(&down));
    assert!(!server.path("up-pasv.bin").exists(), "curl's DELE");
}

/// curl in active mode (`-P -`: curl picks the port), with EPRT and with PORT.
pub fn curl_active_mode(bin: &Path) {
    if !require("curl", &["--version"]) {
        return;
    }
    let server = Server::start(bin, &["--user", "u:p"]);
    let work = tempfile::tempdir().unwrap();
    let content = random_bytes(91, 1 << 20);
    let local = work.path().join("local.bin");
    fs::write(&local, &content).unwrap();
    let down = work.path().join("down.bin");

    for (extra, name) in [(None, "eprt.bin"), (Some("--disable-eprt"), "port.bin")] {
        let mut upload = curl();
        upload.args(["-P", "-"]).args(extra).arg("-T").arg(&local);
        run(upload.arg(url(&server, name)));
        assert_same_bytes(&fs::read(server.path(name)).unwrap(), &content, name);

        let _ = fs::remove_file(&down);
        let mut download = curl();
        download.args(["-P", "-"]).args(extra).arg("-o").arg(&down);
        run(download.arg(url(&server, name)));
        assert_same_bytes(&fs::read(&down).unwrap(), &content, name);

        let mut list = curl();
        list.args(["-P", "-", "--list-only"]).args(extra);
        let names = run(list.arg(url(&server, "")));
        assert!(names.lines().any(|n| n == name), "{names:?}");
    }
}

/// curl `--ftp-create-dirs`: an upload into directories that do not exist yet creates them.
pub fn curl_create_dirs(bin: &Path) {
    if !require("curl", &["--version"]) {
        return;
    }
    let server = Server::start(bin, &["--user", "u:p"]);
    let work = tempfile::tempdir().unwrap();
    let content = random_bytes(92, 100_000);
    let local = work.path().join("local.bin");
    fs::write(&local, &content).unwrap();

    run(curl()
        .arg("--ftp-create-dirs")
        .arg("-T")
        .arg(&local)
        .arg(url(&server, "a/b/c/file.bin")));
    assert_same_bytes(
        &fs::read(server.path("a/b/c/file.bin")).unwrap(),
        &content,
        "curl upload",
    );
    // Once more into the directories that now exist, and one new one beside them.
    run(curl()
        .arg("--ftp-create-dirs")
        .arg("-T")
        .arg(&local)
        .arg(url(&server, "a/b/d/other.bin")));
    assert_same_bytes(
        &fs::read(server.path("a/b/d/other.bin")).unwrap(),
        &content,
        "curl upload",
    );
    // Without the option, a missing directory is an error.
    let failed = curl()
        .arg("-T")
        .arg(&local)
        .arg(url(&server, "x/y.bin"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(
        !failed.success(),
        "an upload into a missing directory succeeded"
    );
    assert!(!server.path("x").exists());
}

/// wget downloads a file (passive, and active with `--no-passive-ftp`).
pub fn wget_download(bin: &Path) {
    if !require("wget", &["--version"]) {
        return;
    }
    let server = Server::start(bin, &["--user", "u:p"]);
    let content = random_bytes(93, 2 << 20);
    fs::create_dir(server.path("dir")).unwrap();
    fs::write(server.path("dir/file.bin"), &content).unwrap();
    let work = tempfile::tempdir().unwrap();
    for (extra, name) in [
        (None, "passive.bin"),
        (Some("--no-passive-ftp"), "active.bin"),
    ] {
        let out = work.path().join(name);
        run(Command::new("wget")
            .args([
                "--quiet",
                "--tries=1",
                "--timeout=60",
                "--user=u",
                "--password=p",
            ])
            .args(extra)
            .arg("-O")
            .arg(&out)
            .arg(url(&server, "dir/file.bin")));
        assert_same_bytes(&fs::read(&out).unwrap(), &content, &format!("wget {name}"));
    }
}

/// lftp `mirror` of a tree of 200 files in nested directories from the server, and `mirror -R`
/// of another one to it; both compared byte for byte.
pub fn lftp_mirror_both_ways(bin: &Path) {
    if !require("lftp", &["--version"]) {
        return;
    }
    let server = Server::start(bin, &["--user", "u:p"]);
    let remote = make_tree(&server.path("tree"), 200, 94);
    let work = tempfile::tempdir().unwrap();
    let down = work.path().join("down");
    let up = work.path().join("up");
    let local = make_tree(&up, 200, 95);
    for tree in [&remote, &local] {
        assert_eq!(
            tree.values().filter(|f| f.is_some()).count(),
            200,
            "files in a test tree"
        );
    }
    let script = format!(
        "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 30; \
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
    assert_same_tree(&read_tree(&down), &remote, "lftp mirror");
    assert_same_tree(
        &read_tree(&server.path("uploaded")),
        &local,
        "lftp mirror -R",
    );
}

/// Python's ftplib: login, storbinary, retrbinary, mlsd, rename, delete (and an active-mode
/// upload).
pub fn python_ftplib(bin: &Path) {
    if !require("python3", &["-c", "import ftplib"]) {
        return;
    }
    let server = Server::start(bin, &["--user", "u:p"]);
    let out = run(Command::new("python3")
        .arg("-c")
        .arg(PYTHON_SCRIPT)
        .arg(server.addr().port().to_string()));
    assert_eq!(out.trim_end().lines().last(), Some("ftplib ok"), "{out}");
    // What the script left: only its active-mode upload.
    let names: Vec<_> = fs::read_dir(server.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["active.bin"]);
    assert_eq!(
        fs::read(server.path("active.bin")).unwrap(),
        b"sent in active mode"
    );
}

const PYTHON_SCRIPT: &str = r#"
import ftplib, io, sys

ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=30)
print(ftp.getwelcome())
ftp.login("u", "p")
data = bytes(range(256)) * 4099
ftp.storbinary("STOR py.bin", io.BytesIO(data))
got = io.BytesIO()
ftp.retrbinary("RETR py.bin", got.write)
assert got.getvalue() == data, "retrbinary returned other bytes"
facts = dict(ftp.mlsd())
assert facts["py.bin"]["type"] == "file", facts
assert int(facts["py.bin"]["size"]) == len(data), facts
ftp.rename("py.bin", "renamed.bin")
names = [name for name, _ in ftp.mlsd()]
assert "renamed.bin" in names and "py.bin" not in names, names
# SIZE answers in TYPE I only, and mlsd (retrlines) left TYPE A.
ftp.voidcmd("TYPE I")
assert ftp.size("renamed.bin") == len(data)
ftp.mkd("sub")
ftp.cwd("sub")
assert ftp.pwd() == "/sub", ftp.pwd()
ftp.cwd("/")
ftp.rmd("sub")
ftp.delete("renamed.bin")
try:
    ftp.delete("renamed.bin")
    raise AssertionError("deleted twice")
except ftplib.error_perm as e:
    assert str(e).startswith("550"), e
ftp.set_pasv(False)
ftp.storbinary("STOR active.bin", io.BytesIO(b"sent in active mode"))
ftp.quit()
print("ftplib ok")
"#;
