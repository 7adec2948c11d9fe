//! Options that could break a session later are refused at start-up with a clear message.

use thinftp_host::Options;

fn parse(args: &[&str]) -> Result<Options, String> {
    Options::try_parse_args(std::iter::once("thinftp-test").chain(args.iter().copied()))
        .map_err(|e| e.to_string())
}

#[test]
fn durations_beyond_a_year_are_refused() {
    for option in ["--idle-timeout", "--data-timeout", "--shutdown-grace"] {
        for value in ["18446744073709551615", "31536001"] {
            let err = parse(&[option, value]).expect_err(&format!("{option} {value} accepted"));
            assert!(err.contains(option), "{option} {value}: {err}");
        }
        let options = parse(&[option, "31536000"]).unwrap_or_else(|e| panic!("{option}: {e}"));
        // The largest value still makes a configuration every session can use.
        let config = options.config();
        let now = std::time::Instant::now();
        assert!(now.checked_add(config.idle_timeout).is_some());
        assert!(now.checked_add(config.data_timeout).is_some());
    }
    assert!(parse(&["--idle-timeout", "0"]).is_err());
    assert!(parse(&["--shutdown-grace", "0"]).is_ok());
}

#[test]
fn the_umask_is_octal_and_at_most_777() {
    assert_eq!(parse(&[]).unwrap().umask, 0o022);
    assert_eq!(parse(&["--umask", "077"]).unwrap().umask, 0o077);
    assert_eq!(parse(&["--umask", "0"]).unwrap().umask, 0);
    for bad in ["1000", "8", "-1", "rwx"] {
        assert!(parse(&["--umask", bad]).is_err(), "--umask {bad} accepted");
    }
}
