//! `cargo fuzz run session`: arbitrary control bytes, answers (fitting, wrong, stale, forged),
//! data events, clock jumps and EOF fed to a `Session`. See `thinftp_fuzz::driver` for every
//! property checked. `cargo fuzz fmt session <artifact>` prints a crash's scenario.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|scenario: thinftp_fuzz::Scenario| thinftp_fuzz::run(scenario));
