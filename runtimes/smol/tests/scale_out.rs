//! PROXY protocol and two nodes behind HAProxy (issue 12), against thinftp-smol.
//! `cargo test -p thinftp-smol --test scale_out`.

thinftp_testsuite::scale_out!(env!("CARGO_BIN_EXE_thinftp-smol"));
