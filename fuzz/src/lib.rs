//! The session fuzzer's harness: the scenario it plays ([`scenario`]), the model that knows which
//! inputs are legitimate and checks every output ([`driver`]), the answers it builds
//! ([`answers`]) and pure checks ([`checks`]).
//!
//! It lives in a library so that the `session` target stays one line and a crash can be replayed
//! from a test or a debugger with the same code.

pub mod answers;
pub mod checks;
pub mod driver;
pub mod scenario;

pub use driver::run;
pub use scenario::Scenario;

#[cfg(test)]
mod tests {
    use arbitrary::{Arbitrary, Unstructured};

    /// Plays scenarios built from a fixed pseudo-random byte stream: a quick stand-in for a
    /// fuzzing run where `cargo fuzz` is not installed (any broken rule panics here too).
    #[test]
    fn pseudo_random_scenarios_keep_every_rule() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut bytes = vec![0u8; 4096];
        for _ in 0..3000 {
            for b in bytes.iter_mut() {
                // xorshift64*: deterministic, no dependency.
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                *b = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
            }
            // Actions one by one: a random `Vec` would mostly be empty (arbitrary reads a
            // "one more?" bit before each element).
            let mut u = Unstructured::new(&bytes);
            let Ok(setup) = crate::scenario::Setup::arbitrary(&mut u) else {
                continue;
            };
            let actions: Vec<_> = (0..64)
                .map_while(|_| crate::scenario::Action::arbitrary(&mut u).ok())
                .collect();
            crate::run(crate::Scenario { setup, actions });
        }
    }
}
