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

    use crate::scenario::{Action, Home, Setup, TlsSetup, Wire};

    fn tls_setup(implicit: bool) -> Setup {
        Setup {
            ipv6: false,
            home: Home::Root,
            max_line_len: None,
            max_pending_input: None,
            max_login_failures: 3,
            passive_address: None,
            tls: Some(TlsSetup {
                implicit,
                control: thinftp::TlsRequirement::Optional,
                data: thinftp::TlsRequirement::Optional,
                allow_ccc: true,
                override_u: None,
            }),
        }
    }

    /// The model's FTPS rules on the injection case (CVE-2011-0411): lines in the chunk of
    /// `AUTH TLS`, or fed during the handshake, must not run once it is reported (the driver
    /// panics if anything comes out right after `ControlSecured`), in explicit and implicit
    /// FTPS; then a real login, `CCC` and a second `AUTH` go through the same checks.
    #[test]
    fn lines_before_the_handshake_never_run() {
        for implicit in [false, true] {
            let actions = vec![
                Action::Raw(Wire(b"AUTH TLS\r\nNOOP\r\nUSER u\r\nPASS p\r\nPW".to_vec())),
                Action::Raw(Wire(b"D\r\nSTAT\r\n".to_vec())),
                Action::Handshake { ok: true },
                Action::Handshake { ok: true },
                Action::Login { write: true },
                Action::Raw(Wire(b"CCC\r\nAUTH TLS\r\nNOOP\r\n".to_vec())),
                Action::Handshake { ok: true },
                Action::Raw(Wire(b"NOOP\r\n".to_vec())),
            ];
            crate::run(crate::Scenario {
                setup: tls_setup(implicit),
                actions,
            });
        }
    }

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
