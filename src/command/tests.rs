//! Parser tests: every verb, every error class, and re-encoding round trips.
use super::*;
use Command as C;
use ParseError::*;

fn p(line: &str) -> Result<Command, ParseError> {
    parse(line.as_bytes())
}

fn s(x: &str) -> String {
    x.to_owned()
}

fn v4(a: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((a, port))
}

fn list(flags: &str, path: Option<&str>) -> ListArgs {
    ListArgs {
        flags: s(flags),
        path: path.map(s),
    }
}

fn opts(option: &str, args: &str) -> Result<Command, ParseError> {
    Ok(C::Opts {
        option: s(option),
        args: s(args),
    })
}

/// Checks `VERB arg` for each space-separated `arg` in `args`.
fn each(verb: &str, args: &str, want: Result<Command, ParseError>) {
    for arg in args.split(' ') {
        assert_eq!(p(&format!("{verb} {arg}")), want, "{verb} {arg}");
    }
}

#[test]
fn every_verb_with_its_argument() {
    let cases = [
        ("USER bob", C::User(s("bob")), "USER"),
        ("PASS secret", C::Pass(s("secret")), "PASS"),
        ("ACCT acc", C::Acct(s("acc")), "ACCT"),
        ("REIN", C::Rein, "REIN"),
        ("QUIT", C::Quit, "QUIT"),
        ("PWD", C::Pwd, "PWD"),
        ("XPWD", C::Pwd, "PWD"),
        ("CWD /a", C::Cwd(s("/a")), "CWD"),
        ("XCWD /a", C::Cwd(s("/a")), "CWD"),
        ("CDUP", C::Cdup, "CDUP"),
        ("XCUP", C::Cdup, "CDUP"),
        ("MKD d", C::Mkd(s("d")), "MKD"),
        ("XMKD d", C::Mkd(s("d")), "MKD"),
        ("RMD d", C::Rmd(s("d")), "RMD"),
        ("XRMD d", C::Rmd(s("d")), "RMD"),
        ("DELE f", C::Dele(s("f")), "DELE"),
        ("RNFR f", C::Rnfr(s("f")), "RNFR"),
        ("RNTO g", C::Rnto(s("g")), "RNTO"),
        ("SIZE f", C::Size(s("f")), "SIZE"),
        ("MDTM f", C::Mdtm(s("f")), "MDTM"),
        ("TYPE I", C::Type(TransferType::Image), "TYPE"),
        ("MODE S", C::Mode, "MODE"),
        ("STRU F", C::Stru, "STRU"),
        ("ALLO 100", C::Allo, "ALLO"),
        ("ALLO", C::Allo, "ALLO"),
        ("REST 42", C::Rest(42), "REST"),
        ("RETR f", C::Retr(s("f")), "RETR"),
        ("STOR f", C::Stor(s("f")), "STOR"),
        ("APPE f", C::Appe(s("f")), "APPE"),
        ("STOU", C::Stou, "STOU"),
        ("STOU whatever", C::Stou, "STOU"),
        ("PASV", C::Pasv, "PASV"),
        ("EPSV", C::Epsv(EpsvArg::Default), "EPSV"),
        ("PORT 1,2,3,4,5,6", C::Port(v4([1, 2, 3, 4], 1286)), "PORT"),
        ("EPRT |1|1.2.3.4|21|", C::Eprt(v4([1, 2, 3, 4], 21)), "EPRT"),
        ("ABOR", C::Abor, "ABOR"),
        ("LIST", C::List(ListArgs::default()), "LIST"),
        ("NLST", C::Nlst(ListArgs::default()), "NLST"),
        ("MLSD", C::Mlsd(None), "MLSD"),
        ("MLSD d", C::Mlsd(Some(s("d"))), "MLSD"),
        ("MLST", C::Mlst(None), "MLST"),
        ("MLST f", C::Mlst(Some(s("f"))), "MLST"),
        ("FEAT", C::Feat, "FEAT"),
        ("SYST", C::Syst, "SYST"),
        ("STAT", C::Stat(None), "STAT"),
        ("STAT f", C::Stat(Some(s("f"))), "STAT"),
        ("HELP", C::Help(None), "HELP"),
        ("HELP retr", C::Help(Some(s("retr"))), "HELP"),
        ("NOOP", C::Noop, "NOOP"),
        ("CLNT", C::Clnt(s("")), "CLNT"),
        (
            "CLNT WinSCP-release-5.21.5",
            C::Clnt(s("WinSCP-release-5.21.5")),
            "CLNT",
        ),
        ("clnt  two  spaces ", C::Clnt(s(" two  spaces ")), "CLNT"),
        ("SITE CHMOD 755 f", C::Site(s("CHMOD 755 f")), "SITE"),
    ];
    for (line, want, verb) in cases {
        assert_eq!(p(line), Ok(want.clone()), "{line}");
        assert_eq!(want.verb(), verb, "{line}");
    }
    assert_eq!(p("OPTS UTF8 ON"), opts("UTF8", "ON"));
    assert_eq!(p("OPTS UTF8 ON").unwrap().verb(), "OPTS");
}

#[test]
fn verbs_are_case_insensitive() {
    assert_eq!(p("user bob"), Ok(C::User(s("bob"))));
    assert_eq!(p("uSeR Bob"), Ok(C::User(s("Bob"))));
    assert_eq!(p("xpwd"), Ok(C::Pwd));
    assert_eq!(p("Noop"), Ok(C::Noop));
    assert_eq!(p("type a"), Ok(C::Type(TransferType::Ascii)));
    assert_eq!(p("epsv all"), Ok(C::Epsv(EpsvArg::All)));
    assert_eq!(p("mode s"), Ok(C::Mode));
    assert_eq!(p("stru f"), Ok(C::Stru));
    assert_eq!(p("smnt x"), Err(NotImplemented("SMNT")));
}

#[test]
fn argument_is_kept_exactly() {
    assert_eq!(p("RETR my file.txt"), Ok(C::Retr(s("my file.txt"))));
    assert_eq!(p("STOR  lead"), Ok(C::Stor(s(" lead"))));
    assert_eq!(p("STOR trail  "), Ok(C::Stor(s("trail  "))));
    assert_eq!(p("CWD a  b"), Ok(C::Cwd(s("a  b"))));
    assert_eq!(p("DELE \u{e9}t\u{e9}"), Ok(C::Dele(s("\u{e9}t\u{e9}"))));
    assert_eq!(p("MLSD  "), Ok(C::Mlsd(Some(s(" ")))));
    assert_eq!(p("SITE  x "), Ok(C::Site(s(" x "))));
    // Argument-less commands are lenient, like vsftpd.
    assert_eq!(p("PWD extra words"), Ok(C::Pwd));
    assert_eq!(p("QUIT now"), Ok(C::Quit));
    assert_eq!(parse(b"PASV \xff"), Ok(C::Pasv));
}

#[test]
fn unknown_verbs() {
    let lines = [
        "",
        " ",
        " USER bob",
        "FOO",
        "FOO bar",
        "USERX bob",
        "US3R",
        "ÜSER x",
        "USER\tbob",
        "PWD\r",
        "\u{0}",
        "LISTING",
        "X",
    ];
    for line in lines {
        assert_eq!(p(line), Err(Unknown), "{line:?}");
    }
    assert_eq!(parse(b"\xff\xfe"), Err(Unknown));
    assert_eq!(parse(b"\xffOO bar"), Err(Unknown));
}

#[test]
fn not_implemented_verbs() {
    let unimplemented = verbs::VERBS.iter().filter(|v| !v.implemented);
    assert!(unimplemented.clone().count() >= 11);
    for verb in unimplemented.map(|v| v.name) {
        assert_eq!(p(verb), Err(NotImplemented(verb)));
        assert_eq!(
            p(&format!("{} arg", verb.to_lowercase())),
            Err(NotImplemented(verb))
        );
    }
    assert_eq!(p("ADAT x"), Err(NotImplemented("ADAT")));
}

#[test]
fn ftps_commands() {
    use super::{AuthMechanism, ProtectionLevel};
    assert_eq!(p("AUTH TLS"), Ok(Command::Auth(AuthMechanism::Tls)));
    assert_eq!(p("auth ssl"), Ok(Command::Auth(AuthMechanism::Ssl)));
    assert_eq!(p("AUTH tls-c "), Ok(Command::Auth(AuthMechanism::TlsC)));
    assert_eq!(p("AUTH GSSAPI"), Err(UnsupportedParameter("AUTH")));
    assert_eq!(p("AUTH TLS-P"), Err(UnsupportedParameter("AUTH")));
    assert_eq!(p("AUTH"), Err(Syntax("AUTH")));
    assert_eq!(p("PBSZ 0"), Ok(Command::Pbsz(0)));
    assert_eq!(p("PBSZ 16384"), Ok(Command::Pbsz(16384)));
    assert_eq!(p("PBSZ -1"), Err(Syntax("PBSZ")));
    assert_eq!(p("PBSZ"), Err(Syntax("PBSZ")));
    assert_eq!(p("PBSZ 99999999999999999999999"), Err(Syntax("PBSZ")));
    assert_eq!(p("PROT P"), Ok(Command::Prot(ProtectionLevel::Private)));
    assert_eq!(p("prot c"), Ok(Command::Prot(ProtectionLevel::Clear)));
    assert_eq!(p("PROT S"), Ok(Command::Prot(ProtectionLevel::Safe)));
    assert_eq!(
        p("PROT E"),
        Ok(Command::Prot(ProtectionLevel::Confidential))
    );
    assert_eq!(p("PROT X"), Err(UnsupportedParameter("PROT")));
    assert_eq!(p("PROT PP"), Err(UnsupportedParameter("PROT")));
    assert_eq!(p("PROT"), Err(Syntax("PROT")));
    assert_eq!(p("CCC"), Ok(Command::Ccc));
    for line in ["auth tls-c", "PBSZ 007", "prot e", "ccc"] {
        assert_eq!(p(&p(line).unwrap().to_string()), p(line), "{line}");
    }
}

#[test]
fn every_implemented_verb_and_alias_parses_to_its_own_command() {
    // A table row with no parser arm would be refused as not implemented.
    for verb in verbs::VERBS.iter().filter(|v| v.implemented) {
        for name in std::iter::once(verb.name).chain(verb.aliases.iter().copied()) {
            let got = p(&format!("{name} 1"))
                .or_else(|_| p(name))
                .map(|c| c.verb());
            assert!(
                !matches!(got, Err(NotImplemented(_))),
                "{name} has no parser arm"
            );
            if let Ok(canonical) = got {
                assert_eq!(canonical, verb.name, "{name}");
            }
        }
    }
}

#[test]
fn missing_arguments_are_syntax_errors() {
    let verbs = "USER CWD MKD RMD DELE RNFR RNTO SIZE MDTM RETR STOR APPE TYPE MODE STRU REST \
        PORT EPRT SITE ACCT OPTS";
    for verb in verbs.split(' ') {
        assert_eq!(p(verb), Err(Syntax(verb)), "{verb}");
        assert_eq!(p(&format!("{verb} ")), Err(Syntax(verb)), "{verb} + space");
    }
    for alias in ["XCWD", "XMKD", "XRMD"] {
        assert_eq!(p(alias), Err(Syntax(&alias[1..])), "{alias}");
    }
    assert_eq!(p("PASS"), Ok(C::Pass(String::new())));
    assert_eq!(p("PASS "), Ok(C::Pass(String::new())));
    assert_eq!(p("PASS  "), Ok(C::Pass(s(" "))));
}

#[test]
fn arguments_must_be_utf8() {
    assert_eq!(parse(b"RETR caf\xe9"), Err(Syntax("RETR")));
    assert_eq!(parse(b"xcwd \xc3"), Err(Syntax("CWD")));
    assert_eq!(parse(b"PASS \xff"), Err(Syntax("PASS")));
    assert_eq!(parse(b"LIST \xff"), Err(Syntax("LIST")));
    assert_eq!(parse(b"MLST \x80"), Err(Syntax("MLST")));
    assert_eq!(parse(b"EPSV \xff"), Err(Syntax("EPSV")));
    assert_eq!(parse(b"RETR caf\xc3\xa9"), Ok(C::Retr(s("caf\u{e9}"))));
}

#[test]
fn type_mode_stru() {
    for arg in ["A", "a", "A N", "a n", " A  N "] {
        assert_eq!(
            p(&format!("TYPE {arg}")),
            Ok(C::Type(TransferType::Ascii)),
            "{arg}"
        );
    }
    for arg in ["I", "i", "L 8", "l 8", "L8", "L 008"] {
        assert_eq!(
            p(&format!("TYPE {arg}")),
            Ok(C::Type(TransferType::Image)),
            "{arg}"
        );
    }
    let unsupported = [
        "A T",
        "a c",
        "E",
        "E N",
        "e t",
        "L 7",
        "L 16",
        "L 99999999999999999999",
    ];
    for arg in unsupported {
        assert_eq!(
            p(&format!("TYPE {arg}")),
            Err(UnsupportedParameter("TYPE")),
            "{arg}"
        );
    }
    for arg in [
        "X", "A X", "A N N", "I N", "L", "L x", "L -8", "L +8", "AN", "II", "E X",
    ] {
        assert_eq!(p(&format!("TYPE {arg}")), Err(Syntax("TYPE")), "{arg}");
    }
    each("MODE", "S s", Ok(C::Mode));
    each("MODE", "B b C", Err(UnsupportedParameter("MODE")));
    each("MODE", "X SS", Err(Syntax("MODE")));
    each("STRU", "F f", Ok(C::Stru));
    each("STRU", "R p", Err(UnsupportedParameter("STRU")));
    each("STRU", "S FF", Err(Syntax("STRU")));
}

#[test]
fn rest_offsets() {
    assert_eq!(p("REST 0"), Ok(C::Rest(0)));
    assert_eq!(p("REST 18446744073709551615"), Ok(C::Rest(u64::MAX)));
    assert_eq!(p("REST  7 "), Ok(C::Rest(7)));
    each(
        "REST",
        "18446744073709551616 -1 +1 1.5 x 0x10",
        Err(Syntax("REST")),
    );
    assert_eq!(p("REST 1 2"), Err(Syntax("REST")));
}

#[test]
fn port_edge_cases() {
    assert_eq!(
        p("PORT 127,0,0,1,0,21"),
        Ok(C::Port(v4([127, 0, 0, 1], 21)))
    );
    assert_eq!(
        p("PORT 255,255,255,255,255,255"),
        Ok(C::Port(v4([255; 4], 65535)))
    );
    assert_eq!(p("PORT 0,0,0,0,0,0"), Ok(C::Port(v4([0; 4], 0))));
    assert_eq!(
        p("PORT  10, 0 ,0,1 ,4, 1 "),
        Ok(C::Port(v4([10, 0, 0, 1], 1025)))
    );
    assert_eq!(p("PORT 010,0,0,1,0,1"), Ok(C::Port(v4([10, 0, 0, 1], 1))));
    let bad = "1,2,3,4,5 1,2,3,4,5,6,7 1,2,3,4,5,256 1,2,3,4,5,-1 1,2,3,4,5,+1 1,2,3,4,,6 \
        1.2.3.4.5.6 a,b,c,d,e,f 1,2,3,4,5,6, ,1,2,3,4,5 1,2,3,4,5,6\t7";
    each("PORT", bad, Err(Syntax("PORT")));
}

#[test]
fn eprt_edge_cases() {
    assert_eq!(
        p("EPRT |1|132.235.1.2|6275|"),
        Ok(C::Eprt(v4([132, 235, 1, 2], 6275)))
    );
    let v6: SocketAddr = "[1080::8:800:200c:417a]:5282".parse().unwrap();
    assert_eq!(p("EPRT |2|1080::8:800:200C:417A|5282|"), Ok(C::Eprt(v6)));
    // Any delimiter character, even a multi-byte one.
    assert_eq!(p("EPRT !1!1.2.3.4!80!"), Ok(C::Eprt(v4([1, 2, 3, 4], 80))));
    assert_eq!(p("EPRT é1é1.2.3.4é80é"), Ok(C::Eprt(v4([1, 2, 3, 4], 80))));
    assert_eq!(p("EPRT  1 1.2.3.4 80 "), Ok(C::Eprt(v4([1, 2, 3, 4], 80))));
    assert_eq!(p("EPRT |2|::|0|"), Ok(C::Eprt("[::]:0".parse().unwrap())));
    let mapped: SocketAddr = "[::ffff:1.2.3.4]:9".parse().unwrap();
    assert_eq!(p("EPRT |2|::ffff:1.2.3.4|9|"), Ok(C::Eprt(mapped)));
    let unsupported = "|3|1.2.3.4|80| |0|x|y| |99999999999999999999|::|1|";
    each("EPRT", unsupported, Err(UnsupportedProtocol("EPRT")));
    let bad = "|1|::1|80| |2|1.2.3.4|80| |1|1.2.3.4|80 |1|1.2.3.4|80|| |1|1.2.3.4|65536| \
        |1|1.2.3.4|| |1|1.2.3.4|-1| ||1.2.3.4|80| |x|1.2.3.4|80| |1|\t1.2.3.4|80| \
        |2|fe80::1%eth0|80| :2:::1:80: | 1.2.3.4 |1|1.2.3.4|+80|";
    each("EPRT", bad, Err(Syntax("EPRT")));
}

#[test]
fn epsv_edge_cases() {
    assert_eq!(p("EPSV"), Ok(C::Epsv(EpsvArg::Default)));
    assert_eq!(p("EPSV "), Ok(C::Epsv(EpsvArg::Default)));
    assert_eq!(p("EPSV 1"), Ok(C::Epsv(EpsvArg::Protocol(1))));
    assert_eq!(p("EPSV 2"), Ok(C::Epsv(EpsvArg::Protocol(2))));
    assert_eq!(p("EPSV aLl"), Ok(C::Epsv(EpsvArg::All)));
    each(
        "EPSV",
        "3 0 123456789012345678901234",
        Err(UnsupportedProtocol("EPSV")),
    );
    each("EPSV", "x ALLX -1 |1| 1,2", Err(Syntax("EPSV")));
}

#[test]
fn list_flags_and_paths() {
    let cases = [
        ("LIST", list("", None)),
        ("LIST ", list("", None)),
        ("LIST -la", list("la", None)),
        ("LIST -la ", list("la", None)),
        ("LIST -la /tmp", list("la", Some("/tmp"))),
        ("LIST -la my dir", list("la", Some("my dir"))),
        ("LIST -la  x", list("la", Some(" x"))),
        ("LIST my dir", list("", Some("my dir"))),
        ("LIST  x", list("", Some(" x"))),
        ("LIST -", list("", None)),
        ("LIST - -odd", list("", Some("-odd"))),
        ("LIST -R", list("R", None)),
        ("LIST -alR1trFLA dir", list("alR1trFLA", Some("dir"))),
        ("LIST -al -x", list("al", Some("-x"))),
        // Not made of known flags: the whole argument is a path (tnftp's `mdelete -x*`).
        ("LIST --all", list("", Some("--all"))),
        ("LIST -leading*", list("", Some("-leading*"))),
        ("LIST -notes.txt", list("", Some("-notes.txt"))),
        ("LIST -lz dir", list("", Some("-lz dir"))),
        ("LIST -é", list("", Some("-é"))),
    ];
    for (line, want) in cases {
        assert_eq!(p(line), Ok(C::List(want.clone())), "{line}");
        let nlst = line.replacen("LIST", "nlst", 1);
        assert_eq!(p(&nlst), Ok(C::Nlst(want)), "{nlst}");
    }
}

#[test]
fn opts_and_site() {
    assert_eq!(p("OPTS utf8 on"), opts("UTF8", "on"));
    assert_eq!(p("OPTS UTF8"), opts("UTF8", ""));
    assert_eq!(p("OPTS UTF8 "), opts("UTF8", ""));
    assert_eq!(p("OPTS MLST type;size;"), opts("MLST", "type;size;"));
    assert_eq!(p("OPTS a b  c"), opts("A", "b  c"));
    assert_eq!(p("OPTS  UTF8"), Err(Syntax("OPTS")));
    assert_eq!(p("SITE HELP"), Ok(C::Site(s("HELP"))));
}

#[test]
fn parse_error_verb() {
    assert_eq!(Unknown.verb(), None);
    assert_eq!(p("REST x").unwrap_err().verb(), Some("REST"));
    assert_eq!(p("LPRT x").unwrap_err().verb(), Some("LPRT"));
}

/// Every line that parses re-encodes to a line that parses to the same command (the fuzzer's
/// property), over every verb crossed with awkward arguments.
#[test]
fn display_round_trips() {
    let verbs = "USER PASS ACCT REIN QUIT PWD XPWD CWD XCWD CDUP XCUP MKD XMKD RMD XRMD DELE \
        RNFR RNTO SIZE MDTM TYPE MODE STRU ALLO REST RETR STOR APPE STOU PASV EPSV PORT EPRT \
        ABOR LIST NLST MLSD MLST FEAT OPTS SYST STAT HELP NOOP SITE AUTH PBSZ PROT CCC";
    // One argument per line of this literal.
    let args: &[u8] = b"\n \n  \nx\n x \n-\n- \n- -x\n-la\n-la \n-la  my file \n--\n-- x\n\
        my file.txt\n\xc3\xa9t\xc3\xa9\n\xff\na N\nL 008\ni\ns\nf\n007\n 1 \nall\n\
        1,2,3,4,5,6\n 01, 2,3 ,4,255,0\n|1|10.0.0.1|21|\n|2|::ffff:10.0.0.1|21|\n\
        #2#fe80::1#00021#\n|01|1.2.3.4|1|\nutf8 on\nmlst type; size;\nUTF8 \na\rb\ntls\nSSL\ntls-c\np\nC\ne\n0\n";
    let mut parsed = 0;
    for verb in verbs.split(' ') {
        for arg in args.split(|&b| b == b'\n') {
            for line in [
                verb.as_bytes().to_vec(),
                [verb.as_bytes(), b" ", arg].concat(),
            ] {
                let Ok(cmd) = parse(&line) else { continue };
                parsed += 1;
                let text = cmd.to_string();
                assert_eq!(
                    parse(text.as_bytes()),
                    Ok(cmd.clone()),
                    "{line:?} -> {text:?}"
                );
                assert!(text.starts_with(cmd.verb()), "{text:?}");
            }
        }
    }
    // Guards the loop itself: most combinations must parse for the property to mean much.
    assert!(parsed > 600, "only {parsed} lines parsed");
}

#[test]
fn display_is_canonical() {
    let cases = [
        ("xmkd d", "MKD d"),
        ("type l 8", "TYPE I"),
        ("PORT 10,0,0,1,4,1", "PORT 10,0,0,1,4,1"),
        ("EPRT #2#::1#80#", "EPRT |2|::1|80|"),
        ("LIST - -x", "LIST - -x"),
        ("LIST -", "LIST"),
        ("PASS ", "PASS"),
        ("opts utf8 ", "OPTS UTF8"),
        ("epsv all", "EPSV ALL"),
    ];
    for (line, text) in cases {
        assert_eq!(p(line).unwrap().to_string(), text, "{line}");
    }
}

#[test]
fn attribute_and_digest_commands() {
    use crate::fs::HashAlgorithm;
    assert_eq!(
        p("MFMT 20200102030405 a b"),
        Ok(Command::Mfmt {
            time: "20200102030405".into(),
            unix_secs: 1_577_934_245,
            path: "a b".into()
        })
    );
    assert_eq!(p("MFMT 20200102030405"), Err(Syntax("MFMT")));
    assert_eq!(p("MFMT 20200230000000 a"), Err(Syntax("MFMT")));
    assert_eq!(
        p("xsha256 f"),
        Ok(Command::LegacyHash {
            algorithm: HashAlgorithm::Sha256,
            path: "f".into()
        })
    );
    assert_eq!(p("XSHA256"), Err(Syntax("XSHA256")));
    assert_eq!(p("HASH f"), Ok(Command::Hash("f".into())));
    assert_eq!(p("AVBL"), Ok(Command::Avbl(None)));
    // Digits only after a letter, and the longest verb is 7 characters.
    assert_eq!(p("1ABC x"), Err(Unknown));
    assert_eq!(p("XSHA2566 x"), Err(Unknown));
    for line in ["MFMT 19991231235959.5 x", "XCRC a", "AVBL d"] {
        assert_eq!(p(&p(line).unwrap().to_string()), p(line), "{line}");
    }
}
