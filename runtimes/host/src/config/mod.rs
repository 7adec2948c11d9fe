//! Where the options come from besides the command line: the `--config` file ([`mod@file`]), and
//! reading them again on SIGHUP ([`reload`]).

pub mod file;
pub mod reload;

pub use file::ConfigError;
pub use reload::Reloader;
