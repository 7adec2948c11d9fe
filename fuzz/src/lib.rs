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
