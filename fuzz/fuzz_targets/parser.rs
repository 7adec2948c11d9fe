//! `cargo fuzz run parser`: the command parser never panics, and whatever it accepts re-encodes
//! (with `Display`) into a line that parses back to an equal command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thinftp::command::parse;

fuzz_target!(|line: &[u8]| {
    match parse(line) {
        Ok(command) => {
            let verb = command.verb();
            let encoded = command.to_string();
            let again = parse(encoded.as_bytes());
            assert_eq!(
                again.as_ref(),
                Ok(&command),
                "{:?} parsed as {command:?}, re-encoded as {encoded:?}",
                String::from_utf8_lossy(line),
            );
            // The canonical verb survives the round trip too (XPWD and PWD both say PWD).
            assert_eq!(again.map(|c| c.verb()).ok(), Some(verb));
        }
        Err(error) => {
            let _ = error.verb();
        }
    }
});
