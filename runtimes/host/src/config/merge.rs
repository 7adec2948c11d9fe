//! The command line and the `--config` file together: the file's keys count as if they were
//! given before the command line, except for the options the command line gives itself (a
//! repeatable one given there replaces the file's list) or conflicts with (`-q` over the file's
//! `verbose`).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command};

use super::{file, ConfigError};
use crate::cli::OptionsError;

/// Parses `args` (the first is the program name) for `command`, with the file that
/// `--config` names, if any.
pub fn matches(command: &Command, args: &[OsString]) -> Result<ArgMatches, OptionsError> {
    let cli = command.clone().try_get_matches_from(args)?;
    let Some(path) = cli.get_one::<PathBuf>("config") else {
        return Ok(cli);
    };
    let from_file = file::read(path, command)?;
    let given = |id: &str| cli.value_source(id) == Some(ValueSource::CommandLine);
    let mut merged: Vec<OsString> = args.iter().take(1).cloned().collect();
    for arg in from_file {
        if !given(&arg.id) && !conflicts_with_given(command, &arg.id, &given) {
            merged.extend(arg.args);
        }
    }
    merged.extend(args.iter().skip(1).cloned());
    // Each key was checked alone; what fails now is a combination of keys (such as `verbose`
    // and `quiet`), or of keys and flags.
    command.clone().try_get_matches_from(merged).map_err(|e| {
        OptionsError::Config(ConfigError {
            path: path.clone(),
            line: None,
            key: None,
            message: format!("with the command line: {}", file::clap_message(&e)),
        })
    })
}

/// Whether the option `id` conflicts with one that `given` says the command line gives; a
/// conflict is declared on either of the two.
fn conflicts_with_given(command: &Command, id: &str, given: &dyn Fn(&str) -> bool) -> bool {
    let declared = |a: &Arg| -> Vec<String> {
        command
            .get_arg_conflicts_with(a)
            .into_iter()
            .map(|c| c.get_id().as_str().to_owned())
            .collect()
    };
    let Some(arg) = command.get_arguments().find(|a| a.get_id() == id) else {
        return false;
    };
    let its = declared(arg);
    command
        .get_arguments()
        .filter(|a| a.get_id() != id && given(a.get_id().as_str()))
        .any(|a| {
            its.iter().any(|c| c == a.get_id().as_str()) || declared(a).iter().any(|c| c == id)
        })
}
