//! Transcript snapshot tests: each `tests/transcripts/NAME.ftp` script drives a session through
//! the harness, and its transcript (every event, in order, with exact wire bytes) is snapshotted
//! as `tests/snapshots/script@NAME.ftp.snap`. See `harness/script.rs` for the script language
//! and `harness/run.rs` for the transcript notation.

mod harness;

#[test]
fn script() {
    let mut broken = Vec::new();
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::glob!("transcripts/*.ftp", |path| {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("?")
                .to_owned();
            let source = std::fs::read_to_string(path).expect("script is readable");
            let outcome = harness::run_script(&source)
                .unwrap_or_else(|e| panic!("{name}.ftp does not parse: {e}"));
            if outcome.anomalies > 0 {
                broken.push(format!("{name} ({} `!!` lines)", outcome.anomalies));
            }
            insta::assert_snapshot!(outcome.transcript);
        });
    });
    // A `!!` line is a broken rule of the contract (a panic, a DriveError for an honest answer,
    // a malformed reply, a transfer on no connection...), whatever the snapshot says.
    assert!(
        broken.is_empty(),
        "transcripts with core bugs:\n  {}",
        broken.join("\n  ")
    );
}
