//! The small tokio runtime an object store owns, so that blocking callers can use OpenDAL.
//!
//! OpenDAL is async and its HTTP client (reqwest, hyper) needs tokio's I/O and timer drivers.
//! Neither runtime of thinftp is tokio: both run filesystem work and transfers on threads made
//! for blocking (a helper thread in thinftp-std, `blocking::unblock` in thinftp-smol). Those
//! threads call [`Blocking::run`], which drives one future to its end on the calling thread
//! while the runtime's own two worker threads keep the drivers and OpenDAL's background tasks
//! (concurrent multipart parts) going. So many sessions can wait on the store at once, each on
//! its own job thread, and the runtime stays small.

use std::future::Future;
use std::sync::Arc;

/// Worker threads of the runtime: they run the I/O driver and OpenDAL's spawned tasks (upload
/// parts in flight); the requests themselves are driven by the job threads that wait on them.
const WORKER_THREADS: usize = 2;

/// A handle on the store's runtime. Cheap to clone; the runtime stops when the last clone is
/// dropped.
#[derive(Debug, Clone)]
pub(crate) struct Blocking {
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Blocking {
    /// Starts the runtime.
    pub(crate) fn start() -> std::io::Result<Blocking> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("thinftp-object-store")
            .enable_all()
            .build()?;
        Ok(Blocking {
            runtime: Arc::new(runtime),
        })
    }

    /// Runs `future` to its end, blocking the calling thread. Call it from a thread made for
    /// blocking work, never from inside an async task (tokio refuses that with a panic).
    pub(crate) fn run<F: Future>(&self, future: F) -> F::Output {
        self.runtime.handle().block_on(future)
    }
}
