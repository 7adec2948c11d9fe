//! PROXY protocol and two nodes behind HAProxy (issue 12), against thinftp-std.
//! `cargo test -p thinftp-std --test scale_out`.

thinftp_testsuite::scale_out!(env!("CARGO_BIN_EXE_thinftp-std"));
