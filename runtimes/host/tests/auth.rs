//! Users: command-line passwords, the users file with argon2 hashes, anonymous access.

use thinftp::{AuthResult, Permissions, VirtualPath};
use thinftp_host::auth::{hash_password, Users, UsersError};

fn accepted(result: AuthResult) -> Permissions {
    match result {
        AuthResult::Accepted(p) => p,
        other => panic!("not accepted: {other:?}"),
    }
}

#[test]
fn plain_passwords() {
    let mut users = Users::new();
    users
        .add_plain("u", "p", Permissions::read_write())
        .unwrap();
    assert_eq!(accepted(users.check("u", "p")), Permissions::read_write());
    assert_eq!(users.check("u", "P"), AuthResult::Refused);
    assert_eq!(users.check("u", "p "), AuthResult::Refused);
    assert_eq!(users.check("u", ""), AuthResult::Refused);
    assert_eq!(users.check("U", "p"), AuthResult::Refused);
    assert_eq!(users.check("nobody", "p"), AuthResult::Refused);
    assert!(matches!(
        users.add_plain("u", "q", Permissions::read_only()),
        Err(UsersError::Duplicate(_))
    ));
}

#[test]
fn hashed_passwords() {
    let hash = hash_password("s3cret").unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert_ne!(hash, hash_password("s3cret").unwrap(), "salted");
    let mut users = Users::new();
    users
        .add_hashed("alice", &hash, Permissions::read_only())
        .unwrap();
    assert_eq!(
        accepted(users.check("alice", "s3cret")),
        Permissions::read_only()
    );
    assert_eq!(users.check("alice", "s3cret!"), AuthResult::Refused);
    assert_eq!(users.check("bob", "s3cret"), AuthResult::Refused);
    for bad in ["", "s3cret", "$md5$abc", "$argon2id$v=19$garbage"] {
        assert!(
            matches!(
                users.add_hashed("x", bad, Permissions::read_only()),
                Err(UsersError::BadHash(_))
            ),
            "{bad:?} was accepted"
        );
    }
}

#[test]
fn users_file() {
    let alice = hash_password("wonderland").unwrap();
    let bob = hash_password("builder").unwrap();
    let text = format!(
        r#"
        [[user]]
        name = "alice"
        password_hash = "{alice}"
        home = "/home/alice"
        write = true

        [[user]]
        name = "bob"
        password_hash = "{bob}"
        "#
    );
    let mut users = Users::new();
    users.load_toml(&text).unwrap();
    assert_eq!(users.named_count(), 2);
    let p = accepted(users.check("alice", "wonderland"));
    assert_eq!(p.home, VirtualPath::root().resolve("/home/alice").unwrap());
    assert!(p.write);
    // Defaults: home at the root, read-only.
    assert_eq!(
        accepted(users.check("bob", "builder")),
        Permissions::read_only()
    );
    assert_eq!(users.check("bob", "wonderland"), AuthResult::Refused);
    users.make_read_only();
    assert!(!accepted(users.check("alice", "wonderland")).write);
}

#[test]
fn users_file_errors() {
    let mut users = Users::new();
    let unknown_field = "[[user]]\nname = \"a\"\npassword = \"clear\"\n";
    assert!(matches!(
        users.load_toml(unknown_field),
        Err(UsersError::Parse(..))
    ));
    assert!(matches!(
        users.load_toml("[[user]]\nname = 3"),
        Err(UsersError::Parse(..))
    ));
    let bad_hash = "[[user]]\nname = \"a\"\npassword_hash = \"nope\"\n";
    assert!(matches!(
        users.load_toml(bad_hash),
        Err(UsersError::BadHash(_))
    ));
    let missing = users.load_file(std::path::Path::new("/nonexistent/users.toml"));
    assert!(matches!(missing, Err(UsersError::Read(..))));
    // An empty file is valid: no users.
    users.load_toml("").unwrap();
    assert_eq!(users.named_count(), 0);
}

#[test]
fn anonymous_users() {
    let mut users = Users::new();
    assert_eq!(
        users.check("anonymous", "me@example.com"),
        AuthResult::Refused
    );
    users.allow_anonymous(Permissions::read_only());
    for name in ["anonymous", "ftp", "Anonymous", "FTP"] {
        assert_eq!(
            accepted(users.check(name, "any")),
            Permissions::read_only(),
            "{name}"
        );
    }
    assert_eq!(accepted(users.check("ftp", "")), Permissions::read_only());
    assert_eq!(users.check("anon", "x"), AuthResult::Refused);
    users.allow_anonymous(Permissions::read_write());
    users.make_read_only();
    assert!(!accepted(users.check("ftp", "x")).write);
    // A named user called "ftp" wins over the anonymous one.
    let mut users = Users::new();
    users.allow_anonymous(Permissions::read_only());
    users
        .add_plain("ftp", "pw", Permissions::read_write())
        .unwrap();
    assert_eq!(users.check("ftp", "other"), AuthResult::Refused);
    assert!(accepted(users.check("ftp", "pw")).write);
}

#[test]
fn debug_output_never_shows_passwords() {
    let mut users = Users::new();
    users
        .add_plain("u", "hunter2", Permissions::read_write())
        .unwrap();
    let hash = hash_password("other").unwrap();
    users
        .add_hashed("h", &hash, Permissions::read_only())
        .unwrap();
    let shown = format!("{users:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains(&hash),
        "{shown}"
    );
}

/// A host from these command-line options, serving a fresh temporary root.
fn host(args: &[&str]) -> (tempfile::TempDir, thinftp_host::Host) {
    let root = tempfile::tempdir().unwrap();
    let mut all = vec!["thinftp-test", "--root", root.path().to_str().unwrap()];
    all.extend_from_slice(args);
    let options = thinftp_host::Options::try_parse_args(all).unwrap();
    let host = thinftp_host::Host::from_options(&options).unwrap();
    (root, host)
}

#[test]
fn a_banned_address_is_refused_before_its_password_is_checked() {
    let (_root, host) = host(&["--user", "u:p", "--ban-after", "2", "--ban-user-after", "0"]);
    let attacker = host
        .admission()
        .try_admit("192.0.2.1".parse().unwrap())
        .unwrap();
    assert_eq!(
        host.authenticate_session(&attacker, "u", "x"),
        AuthResult::Refused
    );
    assert_eq!(
        host.authenticate_session(&attacker, "v", "y"),
        AuthResult::Refused
    );
    // Banned now: the right password too, on this session or a new one.
    assert_eq!(
        host.authenticate_session(&attacker, "u", "p"),
        AuthResult::Unavailable
    );
    let again = host
        .admission()
        .try_admit("192.0.2.1".parse().unwrap())
        .unwrap();
    assert_eq!(
        host.authenticate_session(&again, "u", "p"),
        AuthResult::Unavailable
    );
    // An IPv6 client is banned by its /64.
    let v6 = |s: &str| host.admission().try_admit(s.parse().unwrap()).unwrap();
    assert_eq!(
        host.authenticate_session(&v6("2001:db8::1"), "u", "x"),
        AuthResult::Refused
    );
    assert_eq!(
        host.authenticate_session(&v6("2001:db8::2"), "u", "x"),
        AuthResult::Refused
    );
    assert_eq!(
        host.authenticate_session(&v6("2001:db8::ffff"), "u", "p"),
        AuthResult::Unavailable
    );
    let other = v6("2001:db8:0:1::1");
    assert!(matches!(
        host.authenticate_session(&other, "u", "p"),
        AuthResult::Accepted(_)
    ));
}

#[test]
fn bans_can_be_turned_off() {
    let (_root, host) = host(&["--user", "u:p", "--ban-after", "0", "--ban-user-after", "0"]);
    let session = host
        .admission()
        .try_admit("192.0.2.1".parse().unwrap())
        .unwrap();
    for _ in 0..50 {
        assert_eq!(
            host.authenticate_session(&session, "u", "x"),
            AuthResult::Refused
        );
    }
    assert!(matches!(
        host.authenticate_session(&session, "u", "p"),
        AuthResult::Accepted(_)
    ));
}

#[test]
fn a_login_frees_the_share_of_sessions_not_logged_in() {
    let (_root, host) = host(&["--user", "u:p", "--max-unauthenticated-sessions", "1"]);
    let ip = "192.0.2.1".parse().unwrap();
    let first = host.admission().try_admit(ip).unwrap();
    assert!(host.admission().try_admit(ip).is_none());
    assert_eq!(
        host.authenticate_session(&first, "u", "x"),
        AuthResult::Refused
    );
    assert!(
        host.admission().try_admit(ip).is_none(),
        "a failed login does not count"
    );
    assert!(matches!(
        host.authenticate_session(&first, "u", "p"),
        AuthResult::Accepted(_)
    ));
    assert!(host.admission().try_admit(ip).is_some());
}
