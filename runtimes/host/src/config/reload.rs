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
        // The TLS certificate files were read again by `Host::reload`, with the same rule: a
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
    check("node-id", old.node_id != new.node_id);
    check("atomic-uploads", old.atomic_uploads != new.atomic_uploads);
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
    check("ftps", old.ftps != new.ftps);
    check(
        "implicit-listen",
        old.implicit_listen != new.implicit_listen,
    );
    check("tls-cert", old.tls_cert != new.tls_cert);
    check("tls-key", old.tls_key != new.tls_key);
    check(
        "tls-self-signed",
        old.tls_self_signed != new.tls_self_signed,
    );
    check("tls-client-ca", old.tls_client_ca != new.tls_client_ca);
    check(
        "tls-no-session-reuse-required",
        old.tls_no_session_reuse_required != new.tls_no_session_reuse_required,
    );
    check(
        "tls-reuse-same-user",
        old.tls_reuse_same_user != new.tls_reuse_same_user,
    );
    check("metrics-listen", old.metrics_listen != new.metrics_listen);
    check("transfer-log", old.transfer_log != new.transfer_log);
    check(
        "transfer-log-format",
        old.transfer_log_format != new.transfer_log_format,
    );
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bans::BanPolicy;
    use std::time::Duration;

    #[test]
    fn a_reload_applies_bans_passive_ports_busy_poll_and_rates() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("thinftp.toml");
        let root = dir.path().to_str().unwrap().replace('\\', "/");
        let write = |extra: &str| {
            std::fs::write(&config, format!("root = \"{root}\"\n{extra}")).unwrap();
        };
        write("passive-ports = \"50000-50100\"\n");
        let args: Vec<OsString> = ["thinftp-test", "--config", config.to_str().unwrap()]
            .iter()
            .map(OsString::from)
            .collect();
        let options = Options::parse_with_config("thinftp-test", args.clone()).unwrap();
        let host = Arc::new(Host::from_options(&options).unwrap());
        let mut reloader = Reloader::new("thinftp-test", args, host.clone(), options);
        write(
            "passive-ports = \"50200-50209\"\nmax-passive-per-ip = 2\nbusy-poll = 0\n\
             ban-after = 3\nban-user-after = 4\nban-window = 5\nban-time = 6\n\
             max-rate = \"down=20M\"\nmax-rate-per-session = \"up=1M\"\n",
        );
        assert!(reloader.reload());
        let now = host.reloadable_settings();
        assert_eq!(
            now.bans,
            BanPolicy {
                per_address: 3,
                per_user: 4,
                window: Duration::from_secs(5),
                ban_for: Duration::from_secs(6),
            }
        );
        assert_eq!(now.passive_ports, Some(50200..=50209));
        assert_eq!(now.max_passive_per_ip, 2);
        assert_eq!(now.busy_poll, Duration::ZERO);
        assert_eq!(host.rate_buckets().limit().down, Some(20_000_000));
        assert_eq!(host.rate_per_session().up, Some(1_000_000));
        // None of these is reported as needing a restart any more.
        let old = Options::try_parse_args(["t"]).unwrap();
        let new = Options::try_parse_args([
            "t",
            "--passive-ports=1-2",
            "--max-passive-per-ip=1",
            "--busy-poll=0",
            "--ban-after=1",
            "--ban-user-after=1",
            "--ban-window=1",
            "--ban-time=1",
            "--max-rate=1",
            "--max-rate-per-session=1",
        ])
        .unwrap();
        assert_eq!(restart_only_changes(&old, &new), Vec::<&str>::new());
        // A broken file changes nothing.
        write("ban-after = \"many\"\n");
        assert!(!reloader.reload());
        assert_eq!(host.reloadable_settings().bans.per_address, 3);
    }
}
