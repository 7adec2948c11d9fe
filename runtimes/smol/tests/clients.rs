//! Real FTP clients (curl, wget, lftp, Python's ftplib) against the `thinftp-smol` binary; each
//! is skipped when its program is not installed (see the `thinftp-testsuite` crate).

thinftp_testsuite::clients!(env!("CARGO_BIN_EXE_thinftp-smol"));
