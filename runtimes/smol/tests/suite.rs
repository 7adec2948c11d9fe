//! The end-to-end suite every runtime must pass (see the `thinftp-testsuite` crate), against the
//! `thinftp-smol` binary.

thinftp_testsuite::suite!(env!("CARGO_BIN_EXE_thinftp-smol"));
