//! SIGHUP: the options are read again (the command line as it was given, the config file and
//! the users file as they are now), and those that can change while sessions run are put in
//! force ([`Host::reload`]). Anything wrong is logged and the old settings stay.

use std::ffi::OsString;
use std::sync::Arc;

use crate::{Host, Options};

/// What a reload needs: how the server was started, and the options in force.
#[derive(Debug)]
pub struct Reloader {
    bin: &'static str,
    args: Vec<OsString>,
    host: Arc<Host>,
    current: Options,
}

impl Reloader {
    /// For the server `bin` started with `args` (the program name first), whose `host` was
    /// built from `options`.
    pub fn new(bin: &'static str, args: Vec<OsString>, host: Arc<Host>, options: Options) -> Self {
        Reloader {
            bin,
            args,
            host,
            current: options,
        }
    }

    /// Reads the options again and puts what can change in force for what starts from now on;
    /// no session is dropped. Returns whether it did: a file that cannot be read or holds an
    /// error is logged, and the old settings stay in force.
    pub fn reload(&mut self) -> bool {
        let options = match Options::parse_with_config(self.bin, self.args.clone()) {
            Ok(options) => options,
            Err(e) => {
                tracing::error!("reload failed, the old settings stay in force: {e}");
                return false;
            }
        };
        if let Err(e) = self.host.reload(&options) {
            tracing::error!("reload failed, the old settings stay in force: {e}");
            return false;
        }
        for option in restart_only_changes(&self.current, &options) {
            tracing::warn!("--{option} changed: it takes effect when the server is restarted");
        }
        // TLS certificates (once FTPS exists) are read again here, with the same rule: a
        // broken one is reported and the old one stays.
        tracing::info!("reloaded: {}", self.host.describe());
        self.host.warn_missing_homes();
        self.current = options;
        true
    }
}

/// The options that differ between `old` and `new` but are fixed while the server runs.
fn restart_only_changes(old: &Options, new: &Options) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("listen", old.listen != new.listen);
    check("root", old.root != new.root);
    check("umask", old.umask != new.umask);
    check("passive-ports", old.passive_ports != new.passive_ports);
    check(
        "max-passive-per-ip",
        old.max_passive_per_ip != new.max_passive_per_ip,
    );
    check("busy-poll", old.busy_poll != new.busy_poll);
    check("ban-after", old.ban_after != new.ban_after);
    check("ban-user-after", old.ban_user_after != new.ban_user_after);
    check("ban-window", old.ban_window != new.ban_window);
    check("ban-time", old.ban_time != new.ban_time);
    check(
        "max-pending-logins",
        old.max_pending_logins != new.max_pending_logins,
    );
    check(
        "max-pending-logins-per-ip",
        old.max_pending_logins_per_ip != new.max_pending_logins_per_ip,
    );
    check("shutdown-grace", old.shutdown_grace != new.shutdown_grace);
    check(
        "proxy-protocol-from",
        old.proxy_protocol_from != new.proxy_protocol_from,
    );
    check("verbose", old.verbosity() != new.verbosity());
    check("metrics-listen", old.metrics_listen != new.metrics_listen);
    check("transfer-log", old.transfer_log != new.transfer_log);
    check(
        "transfer-log-format",
        old.transfer_log_format != new.transfer_log_format,
    );
    changed
}
