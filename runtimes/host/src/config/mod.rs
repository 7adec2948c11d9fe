//! Where the options come from besides the command line: the `--config` file ([`mod@file`]),
//! taken together with the command line ([`merge`]), and read again on SIGHUP ([`reload`]).

pub mod file;
pub mod merge;
pub mod reload;

pub use file::ConfigError;
pub use reload::Reloader;
