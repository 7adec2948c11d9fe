//! The `--config` file: its keys are the options, the command line wins, and the example in
//! `dist/` is a file the server accepts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use thinftp_host::cli::OptionsError;
use thinftp_host::Options;

fn parse(args: &[&str]) -> Result<Options, OptionsError> {
    let args = std::iter::once("thinftp-test")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect();
    Options::parse_with_config("thinftp-test", args)
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("thinftp.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_example_file_in_dist_is_accepted() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/thinftp.toml");
    let options = parse(&["--config", path.to_str().unwrap()]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(options.listen, ["[::]:2121".parse().unwrap()]);
    assert_eq!(options.root.as_deref(), Some(Path::new("/srv/ftp")));
    let range = options.passive_ports.expect("passive-ports");
    assert_eq!((range.first, range.last), (50000, 50100));
    assert_eq!(options.umask, 0o022);
    assert!(!options.anonymous);
}

/// The README's service runs `dist/thinftp.service` with `dist/thinftp.toml`: the example
/// serves metrics and writes a transfer log, and the unit (`ProtectSystem=strict`: everything
/// else is read-only) lets the server write that log and the served root.
#[test]
fn the_example_unit_lets_the_example_config_write_its_log_and_root() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist");
    let config = dist.join("thinftp.toml");
    let options = parse(&["--config", config.to_str().unwrap()]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        options.metrics_listen,
        Some("127.0.0.1:9121".parse().unwrap())
    );
    let log = options
        .transfer_log
        .expect("the example writes a transfer log");
    let unit = std::fs::read_to_string(dist.join("thinftp.service")).unwrap();
    assert!(unit.lines().any(|l| l == "ProtectSystem=strict"), "{unit}");
    let writable: Vec<PathBuf> = unit
        .lines()
        .flat_map(|line| {
            let logs = line
                .strip_prefix("LogsDirectory=")
                .into_iter()
                .flat_map(str::split_whitespace)
                .map(|d| Path::new("/var/log").join(d));
            let paths = line
                .strip_prefix("ReadWritePaths=")
                .into_iter()
                .flat_map(str::split_whitespace)
                .map(PathBuf::from);
            logs.chain(paths).collect::<Vec<_>>()
        })
        .collect();
    for path in [log.as_path(), options.root.as_deref().unwrap()] {
        assert!(
            writable.iter().any(|dir| path.starts_with(dir)),
            "{} is read-only under the unit (writable: {writable:?})",
            path.display()
        );
    }
}

#[test]
fn the_command_line_wins_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "max-sessions = 10\nidle-timeout = 20\nuser = [\"a:1\", \"b:2\"]\n\
         listen = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\nanonymous = true\nverbose = 1\n",
    );
    let config = config.to_str().unwrap();

    let options = parse(&["--config", config]).unwrap();
    assert_eq!(options.max_sessions, 10);
    assert_eq!(options.idle_timeout, 20);
    let names: Vec<_> = options.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(options.listen.len(), 2);
    assert!(options.anonymous);
    assert_eq!(options.verbosity(), 1);

    // A flag before or after --config wins; a repeatable one replaces the file's list.
    let options = parse(&[
        "--max-sessions",
        "5",
        "--config",
        config,
        "--user",
        "c:3",
        "--listen",
        "127.0.0.1:3",
        "-q",
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(options.max_sessions, 5);
    assert_eq!(
        options.idle_timeout, 20,
        "what the command line leaves is the file's"
    );
    let names: Vec<_> = options.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["c"]);
    assert_eq!(options.listen, ["127.0.0.1:3".parse().unwrap()]);
    // -q on the command line replaces the file's verbose: they would conflict otherwise.
    assert_eq!(options.verbosity(), -1);
}

#[test]
fn errors_name_the_file_the_key_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "# users\nanonymous = true\nmax-sesions = 3\n");
    let e = parse(&["--config", config.to_str().unwrap()]).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains("thinftp.toml line 3, key `max-sesions`"),
        "{shown}"
    );
    assert!(shown.contains("unknown key"), "{shown}");

    let config = write_config(dir.path(), "idle-timeout = 0\n");
    let shown = parse(&["--config", config.to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(shown.contains("line 1, key `idle-timeout`"), "{shown}");

    let missing = dir.path().join("missing.toml");
    let shown = parse(&["--config", missing.to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(
        shown.contains("missing.toml") && shown.contains("cannot read"),
        "{shown}"
    );
}
