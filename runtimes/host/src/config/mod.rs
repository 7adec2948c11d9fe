//! Where the options come from besides the command line: the `--config` file ([`mod@file`]).

pub mod file;

pub use file::ConfigError;
