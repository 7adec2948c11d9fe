//! Observability: Prometheus [`metrics`] (served by [`http`] on `--metrics-listen`), the
//! [`transfer_log`] (`--transfer-log`), audit lines (target [`AUDIT_TARGET`]) and what one
//! session contributes to all three ([`SessionObserver`]). Log lines carry the session's span
//! fields (id, client, user) from [`logging::session_span`](crate::logging::session_span).

mod clock;
mod commands;
pub mod http;
pub mod metrics;
mod session;
pub mod transfer_log;

pub use metrics::Metrics;
pub use session::{SessionObserver, AUDIT_TARGET};
pub use transfer_log::TransferLog;

/// What every session reports to: the metrics, and the transfer log if there is one (cheap to
/// clone).
#[derive(Debug, Clone, Default)]
pub struct Observe {
    /// The counters.
    pub metrics: Metrics,
    /// `--transfer-log`.
    pub transfer_log: Option<TransferLog>,
}

impl Observe {
    /// The metrics, and the transfer log the options name (opened now, so that a path that
    /// cannot be written stops the start).
    pub fn from_options(options: &crate::Options) -> Result<Observe, crate::StartupError> {
        let transfer_log = match &options.transfer_log {
            Some(path) => Some(
                TransferLog::open(path, options.transfer_log_format)
                    .map_err(|e| crate::StartupError::TransferLog(path.clone(), e))?,
            ),
            None => None,
        };
        Ok(Observe {
            metrics: Metrics::new(),
            transfer_log,
        })
    }
}
