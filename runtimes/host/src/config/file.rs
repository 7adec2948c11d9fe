//! The `--config FILE` TOML file: each key is the long name of a command-line option
//! (`passive-ports = "50000-50100"`, `anonymous = true`, `user = ["alice:secret"]`).
//!
//! Each key becomes the argument(s) it stands for, and clap parses them like the command line:
//! no option can be missed or read differently from a file than from a flag. A key that is not
//! an option, or a value the option refuses, is an error naming the key and its line.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::{ArgAction, Command};
use toml::de::{DeTable, DeValue};

/// Options that have no key: they are not settings of a running server (`config` would name
/// another file; `hash-password` hashes a password and exits).
pub const NOT_IN_A_FILE: [&str; 4] = ["config", "hash-password", "help", "version"];

/// Why a config file cannot be used: it names the file and, where known, the line and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// The line (from 1) the error is on.
    pub line: Option<usize>,
    /// The key at fault.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config file {}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The command-line arguments one key of a config file stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileArg {
    /// The clap id of the option (what `ArgMatches` knows it by).
    pub id: String,
    /// The key, as written in the file.
    pub key: String,
    /// The line of the key.
    pub line: usize,
    /// The arguments, such as `--passive-ports=50000-50100`; none for a flag set to false.
    pub args: Vec<OsString>,
}

/// Reads the config file at `path` for the options of `command`.
pub fn read(path: &Path, command: &Command) -> Result<Vec<FileArg>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: path.to_owned(),
        line: None,
        key: None,
        message: format!("cannot read it: {e}"),
    })?;
    parse(path, &text, command)
}

/// Turns the TOML `text` of the file at `path` into arguments for `command`, each key checked
/// on its own by clap (so that an error names its key and line).
pub fn parse(path: &Path, text: &str, command: &Command) -> Result<Vec<FileArg>, ConfigError> {
    let error = |line, key: Option<&str>, message: String| ConfigError {
        path: path.to_owned(),
        line,
        key: key.map(str::to_owned),
        message,
    };
    let table = DeTable::parse(text).map_err(|e| {
        let line = e.span().map(|span| line_of(text, span.start));
        error(line, None, e.message().trim_end().to_owned())
    })?;
    let mut keys: Vec<_> = table.get_ref().iter().collect();
    keys.sort_by_key(|(key, _)| key.span().start);
    let mut file_args = Vec::with_capacity(keys.len());
    for (key, value) in keys {
        let name: &str = key.get_ref();
        let line = line_of(text, key.span().start);
        let fail = |message: String| error(Some(line), Some(name), message);
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(name) && !NOT_IN_A_FILE.contains(&name))
            .ok_or_else(|| fail("unknown key: not an option of this server (see --help)".into()))?;
        let args = to_args(name, arg.get_action(), value.get_ref()).map_err(fail)?;
        let argv = std::iter::once(OsString::from(command.get_name())).chain(args.clone());
        if let Err(e) = command.clone().try_get_matches_from(argv) {
            return Err(fail(clap_message(&e)));
        }
        file_args.push(FileArg {
            id: arg.get_id().as_str().to_owned(),
            key: name.to_owned(),
            line,
            args,
        });
    }
    Ok(file_args)
}

/// The first line of a clap error, without its `error: ` prefix or usage.
pub fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// The arguments that the value of key `name` (an option with `action`) stands for.
fn to_args(name: &str, action: &ArgAction, value: &DeValue<'_>) -> Result<Vec<OsString>, String> {
    let flag = || OsString::from(format!("--{name}"));
    match action {
        ArgAction::SetTrue => match value {
            DeValue::Boolean(true) => Ok(vec![flag()]),
            DeValue::Boolean(false) => Ok(Vec::new()),
            other => Err(format!(
                "expected true or false, found {}",
                other.type_str()
            )),
        },
        ArgAction::Count => match value {
            DeValue::Integer(_) => {
                let n: u8 = scalar(value)?
                    .parse()
                    .map_err(|_| "expected a count from 0 to 255".to_owned())?;
                Ok((0..n).map(|_| flag()).collect())
            }
            other => Err(format!("expected a count, found {}", other.type_str())),
        },
        ArgAction::Append => match value {
            DeValue::Array(values) => values
                .iter()
                .map(|v| Ok(format!("--{name}={}", scalar(v.get_ref())?).into()))
                .collect(),
            single => Ok(vec![format!("--{name}={}", scalar(single)?).into()]),
        },
        _ => match value {
            DeValue::Array(_) => Err("expected one value, not an array".to_owned()),
            single => Ok(vec![format!("--{name}={}", scalar(single)?).into()]),
        },
    }
}

/// A string, integer or boolean as the text it would be on the command line.
fn scalar(value: &DeValue<'_>) -> Result<String, String> {
    match value {
        DeValue::String(s) => Ok(s.to_string()),
        DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
            .map(|n| n.to_string())
            .map_err(|_| "integer out of range".to_owned()),
        DeValue::Boolean(b) => Ok(b.to_string()),
        other => Err(format!(
            "expected a string, an integer or a boolean, found {}",
            other.type_str()
        )),
    }
}

/// The line (from 1) of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;
    use clap::CommandFactory;

    fn parse_text(text: &str) -> Result<Vec<FileArg>, ConfigError> {
        parse(Path::new("test.toml"), text, &Options::command())
    }

    /// A value for each option's key that differs from its default. An option added without a
    /// sample here fails `every_option_is_a_key`: add one.
    fn sample(key: &str) -> Option<&'static str> {
        Some(match key {
            "listen" => r#"["127.0.0.1:0", "[::1]:0"]"#,
            "root" => r#""/srv/ftp""#,
            "user" => r#"["alice:secret", "bob:pw"]"#,
            "users-file" => r#""/etc/thinftp/users.toml""#,
            "umask" => r#""077""#,
            "passive-ports" => r#""50000-50100""#,
            "passive-address" => r#""192.0.2.1""#,
            "proxy-protocol-from" => r#"["10.0.0.0/8", "192.0.2.7"]"#,
            "banner" => r#""Welcome""#,
            "max-rate" => r#""down=20M,up=5M""#,
            "max-rate-per-session" => r#""10M""#,
            "verbose" | "quiet" => "2",
            "max-passive-per-ip"
            | "max-sessions"
            | "max-sessions-per-ip"
            | "idle-timeout"
            | "busy-poll"
            | "data-timeout"
            | "login-timeout"
            | "max-login-failures"
            | "ban-after"
            | "ban-user-after"
            | "ban-window"
            | "ban-time"
            | "max-pending-logins"
            | "max-pending-logins-per-ip"
            | "max-unauthenticated-sessions"
            | "shutdown-grace" => "7",
            "anonymous" | "anonymous-write" | "read-only" => "true",
            "ftps"
            | "tls-self-signed"
            | "tls-allow-ccc"
            | "tls-no-session-reuse-required"
            | "tls-reuse-same-user" => "true",
            "implicit-listen" => r#"["127.0.0.1:990"]"#,
            "tls-cert" => r#""/etc/thinftp/cert.pem""#,
            "tls-key" => r#""/etc/thinftp/key.pem""#,
            "tls-client-ca" => r#""/etc/thinftp/clients.pem""#,
            "tls-required-control" | "tls-required-data" => r#""accounts""#,
            "storage" => r#""s3://bucket/ftp""#,
            "s3-endpoint" => r#""http://127.0.0.1:9000""#,
            "s3-region" => r#""eu-west-1""#,
            "s3-path-style" => "false",
            "metrics-listen" => r#""127.0.0.1:9121""#,
            "transfer-log" => r#""/var/log/thinftp/xferlog""#,
            "transfer-log-format" => r#""json""#,
            "node-id" => r#""node-a""#,
            "atomic-uploads" => "true",
            _ => return None,
        })
    }

    #[test]
    fn every_option_is_a_key() {
        let command = Options::command();
        let default = format!("{:?}", Options::try_parse_args(["t"]).unwrap());
        let mut checked = 0;
        for arg in command.get_arguments() {
            let Some(key) = arg.get_long() else { continue };
            if NOT_IN_A_FILE.contains(&key) {
                continue;
            }
            let value = sample(key).unwrap_or_else(|| panic!("no sample value for --{key}"));
            let file_args = parse_text(&format!("{key} = {value}\n"))
                .unwrap_or_else(|e| panic!("{key} = {value}: {e}"));
            let argv = std::iter::once(OsString::from("t")).chain(file_args[0].args.clone());
            let options = Options::try_parse_args(argv).unwrap();
            assert_ne!(
                format!("{options:?}"),
                default,
                "{key} = {value} changed nothing"
            );
            checked += 1;
        }
        assert!(checked > 20, "only {checked} options found");
    }

    #[test]
    fn keys_that_are_not_settings_are_refused() {
        for key in ["config", "hash-password", "help", "nonsense"] {
            let e = parse_text(&format!("# a comment\n{key} = true\n")).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key));
            assert_eq!(e.line, Some(2), "{e}");
            assert!(e.to_string().contains("unknown key"), "{e}");
        }
    }

    #[test]
    fn a_bad_value_names_its_key_and_line() {
        let text = "anonymous = true\n\npassive-ports = \"9-1\"\n";
        let e = parse_text(text).unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.key.as_deref(), Some("passive-ports"));
        assert!(e.message.contains("FIRST <= LAST"), "{e}");
        let shown = e.to_string();
        assert!(
            shown.starts_with("config file test.toml line 3, key `passive-ports`"),
            "{shown}"
        );

        for (text, needle) in [
            ("anonymous = \"yes\"\n", "expected true or false"),
            ("max-sessions = -1\n", "invalid value"),
            ("max-sessions = [1, 2]\n", "not an array"),
            ("idle-timeout = 1.5\n", "found float"),
            ("user = [\"nocolon\"]\n", "NAME:PASSWORD"),
        ] {
            let e = parse_text(text).unwrap_err();
            assert_eq!(e.line, Some(1), "{text}: {e}");
            assert!(e.message.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn broken_toml_names_its_line() {
        let e = parse_text("anonymous = true\nmax-sessions = \n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert_eq!(e.key, None);
    }

    #[test]
    fn values_become_the_arguments_they_stand_for() {
        let args = parse_text(
            "user = [\"a:b\", \"c:d\"]\nanonymous = false\nverbose = 2\nbanner = \"-x\"\n\
             max-sessions = 0x10\n",
        )
        .unwrap();
        let flat: Vec<Vec<OsString>> = args.into_iter().map(|a| a.args).collect();
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            flat,
            vec![
                os(&["--user=a:b", "--user=c:d"]),
                os(&[]),
                os(&["--verbose", "--verbose"]),
                os(&["--banner=-x"]),
                os(&["--max-sessions=16"]),
            ]
        );
    }
}
