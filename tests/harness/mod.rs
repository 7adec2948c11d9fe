//! The transcript harness: runs a script (see [`script`]) against a `thinftp::Session` with no
//! sockets, an in-memory tree and a fake clock, and returns the transcript of every event.

pub mod memfs;
pub mod run;
pub mod script;
pub mod text;

use std::panic::{catch_unwind, AssertUnwindSafe};

/// A script's transcript, and how many `!!` lines (core bugs) it has.
pub struct Outcome {
    pub transcript: String,
    pub anomalies: usize,
}

/// Parses and runs one script. A panic in the session is caught and written into the
/// transcript (and counted), so one broken behaviour does not hide the others.
pub fn run_script(source: &str) -> Result<Outcome, String> {
    let script = script::parse(source)?;
    let runner = catch_unwind(|| run::Runner::new(&script));
    let mut runner = match runner {
        Ok(runner) => runner?,
        Err(panic) => {
            let msg = panic_message(panic.as_ref());
            return Ok(Outcome {
                transcript: format!("!! PANIC at the greeting: {msg}\n"),
                anomalies: 1,
            });
        }
    };
    for (text, step) in &script.steps {
        let result = catch_unwind(AssertUnwindSafe(|| runner.step(text, step)));
        if let Err(panic) = result {
            let msg = panic_message(panic.as_ref());
            return Ok(Outcome {
                transcript: format!(
                    "{}\n!! PANIC in step {text:?}: {msg}\n",
                    runner.log_so_far()
                ),
                anomalies: runner.anomalies + 1,
            });
        }
    }
    let anomalies = runner.anomalies;
    Ok(Outcome {
        transcript: runner.finish(),
        anomalies,
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
