//! The parser against the wire forms of every verb.

use std::net::Ipv4Addr;

use super::*;
use proptest::prelude::*;

fn ok(line: &str) -> Command {
    parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e:?}"))
}

fn err(line: &[u8]) -> ParseError {
    match parse(line) {
        Ok(c) => panic!("{:?} parsed as {c:?}", String::from_utf8_lossy(line)),
        Err(e) => e,
    }
}

fn code(line: &[u8]) -> u16 {
    err(line).reply().code
}

#[test]
fn verbs_are_case_insensitive_and_aliases_fold() {
    assert_eq!(ok("noop"), Command::Noop);
    assert_eq!(ok("NoOp"), Command::Noop);
    assert_eq!(ok("XCWD /a"), Command::Cwd { path: b"/a".to_vec() });
    assert_eq!(ok("xcup"), Command::Cdup);
    assert_eq!(ok("XPWD"), Command::Pwd);
    assert_eq!(ok("XMKD d"), Command::Mkd { path: b"d".to_vec() });
    assert_eq!(ok("XRMD d"), Command::Rmd { path: b"d".to_vec() });
    assert_eq!(ok("XRMD d").verb(), Verb::Rmd);
}

#[test]
fn empty_and_unknown() {
    assert_eq!(err(b""), ParseError::Empty);
    assert_eq!(err(b" NOOP"), ParseError::Empty);
    assert_eq!(code(b""), 500);
    assert_eq!(err(b"FOO bar"), ParseError::Unknown("FOO".into()));
    assert_eq!(code(b"FOO"), 502);
    assert_eq!(err(b"NO0P"), ParseError::Unknown("NO0P".into()));
    assert_eq!(err(b"\xffx"), ParseError::Unknown("?X".into()));
    assert!(matches!(err(&[b'A'; 17]), ParseError::Unknown(v) if v.len() == 16));
    assert_eq!(err(b"LPSV"), ParseError::Unknown("LPSV".into()));
}

#[test]
fn invalid_characters() {
    for line in [&b"NOOP\r"[..], b"RETR a\rb", b"RETR a\0b", b"RETR a\nb", b"\r"] {
        assert_eq!(err(line), ParseError::Syntax("Invalid character in command line.".into()));
        assert_eq!(code(line), 501);
    }
}

#[test]
fn arguments_are_verbatim() {
    assert_eq!(ok("CWD  my dir "), Command::Cwd { path: b" my dir ".to_vec() });
    assert_eq!(parse(b"RETR caf\xe9.txt").unwrap(), Command::Retr { path: b"caf\xe9.txt".to_vec() });
    assert_eq!(ok("STOR a b"), Command::Stor { path: b"a b".to_vec() });
    assert_eq!(ok("DELE x"), Command::Dele { path: b"x".to_vec() });
    assert_eq!(ok("RNFR x"), Command::Rnfr { path: b"x".to_vec() });
    assert_eq!(ok("RNTO y"), Command::Rnto { path: b"y".to_vec() });
    assert_eq!(ok("APPE y"), Command::Appe { path: b"y".to_vec() });
    assert_eq!(ok("SIZE y"), Command::Size { path: b"y".to_vec() });
    assert_eq!(ok("MDTM y"), Command::Mdtm { path: b"y".to_vec() });
}

#[test]
fn argument_presence_is_checked() {
    for line in ["NOOP x", "PWD x", "CDUP ..", "QUIT now", "REIN x", "ABOR x", "PASV 1", "SYST x", "FEAT x", "CCC x"] {
        assert_eq!(code(line.as_bytes()), 501, "{line}");
    }
    assert_eq!(ok("NOOP "), Command::Noop);
    for line in [
        "CWD", "CWD ", "RETR", "STOR  ", "USER", "MKD", "SIZE", "REST", "TYPE", "MODE", "PORT", "EPRT", "SITE", "HOST",
        "AUTH", "MFMT", "OPTS",
    ] {
        assert_eq!(code(line.as_bytes()), 501, "{line}");
    }
}

#[test]
fn login_commands() {
    assert_eq!(ok("USER anonymous"), Command::User { name: "anonymous".into() });
    assert_eq!(ok("PASS"), Command::Pass { password: String::new() });
    assert_eq!(ok("PASS "), Command::Pass { password: String::new() });
    assert_eq!(ok("PASS  se cret "), Command::Pass { password: " se cret ".into() });
    assert_eq!(ok("ACCT x"), Command::Acct { account: "x".into() });
    assert_eq!(code(b"USER \xff"), 501);
    assert_eq!(code(b"PASS \xc3"), 501);
}

#[test]
fn optional_paths() {
    assert_eq!(ok("STOU"), Command::Stou { path: None });
    assert_eq!(ok("STOU f"), Command::Stou { path: Some(b"f".to_vec()) });
    assert_eq!(ok("MLSD"), Command::Mlsd { path: None });
    assert_eq!(ok("MLSD "), Command::Mlsd { path: None });
    assert_eq!(ok("MLST a b"), Command::Mlst { path: Some(b"a b".to_vec()) });
    assert_eq!(ok("STAT"), Command::Stat { path: None });
    assert_eq!(ok("STAT /x"), Command::Stat { path: Some(b"/x".to_vec()) });
    assert_eq!(ok("LIST"), Command::List { args: vec![] });
    assert_eq!(ok("LIST -la /a b"), Command::List { args: b"-la /a b".to_vec() });
    assert_eq!(ok("NLST -CF"), Command::Nlst { args: b"-CF".to_vec() });
}

#[test]
fn rest_offsets() {
    assert_eq!(ok("REST 0"), Command::Rest { offset: 0 });
    assert_eq!(ok("REST 18446744073709551615"), Command::Rest { offset: u64::MAX });
    assert_eq!(ok("REST 100 "), Command::Rest { offset: 100 });
    for bad in ["REST abc", "REST -1", "REST +1", "REST 18446744073709551616", "REST 1 2", "REST 0x10"] {
        assert_eq!(code(bad.as_bytes()), 501, "{bad}");
    }
}

#[test]
fn types_modes_structures() {
    assert_eq!(ok("TYPE A"), Command::Type(TransferType::Ascii));
    assert_eq!(ok("TYPE a n"), Command::Type(TransferType::Ascii));
    assert_eq!(ok("TYPE I"), Command::Type(TransferType::Image));
    assert_eq!(ok("TYPE L 8"), Command::Type(TransferType::Image));
    for unsupported in ["TYPE E", "TYPE A T", "TYPE A C", "TYPE L 16", "TYPE E N"] {
        assert_eq!(code(unsupported.as_bytes()), 504, "{unsupported}");
    }
    for bad in ["TYPE X", "TYPE I N", "TYPE L", "TYPE L x", "TYPE L 0", "TYPE A N X", "TYPE A Q"] {
        assert_eq!(code(bad.as_bytes()), 501, "{bad}");
    }
    assert_eq!(ok("MODE S"), Command::Mode);
    assert_eq!(ok("mode s"), Command::Mode);
    assert_eq!(code(b"MODE B"), 504);
    assert_eq!(code(b"MODE Z"), 504);
    assert_eq!(code(b"MODE X"), 501);
    assert_eq!(code(b"MODE SS"), 501);
    assert_eq!(ok("STRU F"), Command::Stru);
    assert_eq!(code(b"STRU R"), 504);
    assert_eq!(code(b"STRU P"), 504);
    assert_eq!(code(b"STRU Q"), 501);
    assert_eq!(ok("ALLO 1000"), Command::Allo);
    assert_eq!(ok("ALLO"), Command::Allo);
}

#[test]
fn port_and_eprt() {
    let v4 = |a, b, c, d, p| SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), p);
    assert_eq!(ok("PORT 127,0,0,1,4,1"), Command::Port(v4(127, 0, 0, 1, 1025)));
    assert_eq!(ok("PORT 10, 0 ,0,2,255,255"), Command::Port(v4(10, 0, 0, 2, 65535)));
    for bad in [
        "PORT 1,2,3,4,5",
        "PORT 1,2,3,4,5,6,7",
        "PORT 256,0,0,1,0,1",
        "PORT a,b,c,d,e,f",
        "PORT 1,2,3,4,5,",
        "PORT 1,,3,4,5,6",
        "PORT -1,2,3,4,5,6",
    ] {
        assert_eq!(code(bad.as_bytes()), 501, "{bad}");
    }
    assert_eq!(ok("EPRT |1|132.235.1.2|6275|"), Command::Eprt("132.235.1.2:6275".parse().unwrap()));
    assert_eq!(
        ok("EPRT |2|1080::8:800:200C:417A|5282|"),
        Command::Eprt("[1080::8:800:200C:417A]:5282".parse().unwrap())
    );
    assert_eq!(ok("EPRT !1!10.0.0.1!21!"), Command::Eprt("10.0.0.1:21".parse().unwrap()));
    assert_eq!(err(b"EPRT |3|1.2.3.4|5|"), ParseError::NotImplementedParameter(NET_PROTO_NOT_SUPPORTED.into()));
    assert_eq!(code(b"EPRT |3|1.2.3.4|5|"), 522);
    for bad in [
        "EPRT |1|::1|5|",
        "EPRT |2|1.2.3.4|5|",
        "EPRT |1|1.2.3.4|70000|",
        "EPRT |1|1.2.3.4|5",
        "EPRT |1|1.2.3.4|5|x",
        "EPRT 1|1.2.3.4|5|",
        "EPRT |x|1.2.3.4|5|",
        "EPRT |1|1.2.3.4||",
        "EPRT ||||",
    ] {
        assert_eq!(code(bad.as_bytes()), 501, "{bad}");
    }
}

#[test]
fn epsv_arguments() {
    assert_eq!(ok("EPSV"), Command::Epsv(EpsvArg::None));
    assert_eq!(ok("EPSV all"), Command::Epsv(EpsvArg::All));
    assert_eq!(ok("EPSV 1"), Command::Epsv(EpsvArg::Protocol(1)));
    assert_eq!(ok("EPSV 2"), Command::Epsv(EpsvArg::Protocol(2)));
    assert_eq!(ok("EPSV 7"), Command::Epsv(EpsvArg::Protocol(7)));
    assert_eq!(code(b"EPSV x"), 501);
    assert_eq!(code(b"EPSV 300"), 501);
}

#[test]
fn mfmt() {
    assert_eq!(
        ok("MFMT 20231114221320 my file"),
        Command::Mfmt { unix_secs: 1_700_000_000, path: b"my file".to_vec() }
    );
    assert_eq!(ok("MFMT 20231114221320.123 f"), Command::Mfmt { unix_secs: 1_700_000_000, path: b"f".to_vec() });
    for bad in ["MFMT 20231114221320", "MFMT 20231114221320 ", "MFMT 20231314221320 f", "MFMT x f"] {
        assert_eq!(code(bad.as_bytes()), 501, "{bad}");
    }
}

#[test]
fn opts_help_and_text_commands() {
    assert_eq!(ok("OPTS utf8 on"), Command::Opts { option: "UTF8".into(), value: "on".into() });
    assert_eq!(ok("OPTS MLST type;size; "), Command::Opts { option: "MLST".into(), value: "type;size;".into() });
    assert_eq!(ok("OPTS UTF8"), Command::Opts { option: "UTF8".into(), value: String::new() });
    assert_eq!(ok("HELP"), Command::Help { topic: None });
    assert_eq!(ok("HELP SITE"), Command::Help { topic: Some("SITE".into()) });
    assert_eq!(ok("CLNT lftp 4.9"), Command::Clnt { client: "lftp 4.9".into() });
    assert_eq!(ok("AUTH tls"), Command::Auth(AuthMechanism::Tls));
    assert_eq!(ok("AUTH ssl"), Command::Auth(AuthMechanism::Ssl));
    assert_eq!(ok("AUTH tls-p"), Command::Auth(AuthMechanism::TlsP));
    assert_eq!(ok("AUTH kerberos"), Command::Auth(AuthMechanism::Other("KERBEROS".into())));
    assert!(AuthMechanism::TlsC.is_tls() && !AuthMechanism::Other("X".into()).is_tls());
    assert_eq!(ok("PBSZ 0"), Command::Pbsz(Some(0)));
    assert_eq!(ok("PBSZ big"), Command::Pbsz(None));
    assert_eq!(ok("PROT p"), Command::Prot(ProtLevel::Private));
    assert_eq!(ok("PROT c"), Command::Prot(ProtLevel::Clear));
    assert_eq!(ok("PROT s"), Command::Prot(ProtLevel::Safe));
    assert_eq!((ProtLevel::Safe.to_string(), ProtLevel::Confidential.as_str()), ("S".to_string(), "E"));
    assert_eq!(ok("PROT x"), Command::Prot(ProtLevel::Other("X".into())));
    assert_eq!(ok("CCC"), Command::Ccc);
    assert_eq!(code(b"HELP \xff"), 501);
}

#[test]
fn site_commands() {
    assert_eq!(
        ok("SITE CHMOD 755 my dir"),
        Command::Site(SiteCommand::Chmod { mode: 0o755, path: b"my dir".to_vec() })
    );
    assert_eq!(ok("site chmod 0644 f"), Command::Site(SiteCommand::Chmod { mode: 0o644, path: b"f".to_vec() }));
    assert_eq!(ok("SITE CHMOD 7777 f"), Command::Site(SiteCommand::Chmod { mode: 0o7777, path: b"f".to_vec() }));
    for bad in
        ["SITE CHMOD 10000 f", "SITE CHMOD 8 f", "SITE CHMOD 644", "SITE CHMOD 644 ", "SITE CHMOD", "SITE CHMOD x f"]
    {
        assert_eq!(code(bad.as_bytes()), 501, "{bad}");
    }
    assert_eq!(
        parse(b"SITE CHMOD 600 \xff").unwrap(),
        Command::Site(SiteCommand::Chmod { mode: 0o600, path: b"\xff".to_vec() })
    );
    assert_eq!(ok("SITE HELP"), Command::Site(SiteCommand::Help { topic: None }));
    assert_eq!(ok("SITE help chmod"), Command::Site(SiteCommand::Help { topic: Some("chmod".into()) }));
    assert_eq!(ok("SITE idle 60"), Command::Site(SiteCommand::Other { name: "IDLE".into(), args: "60".into() }));
    assert_eq!(ok("SITE UMASK"), Command::Site(SiteCommand::Other { name: "UMASK".into(), args: String::new() }));
}

#[test]
fn host_names() {
    assert_eq!(ok("HOST ftp.example.com"), Command::Host { host: "ftp.example.com".into() });
    assert_eq!(ok("HOST ftp.example.com."), Command::Host { host: "ftp.example.com.".into() });
    assert_eq!(ok("HOST 192.0.2.1"), Command::Host { host: "192.0.2.1".into() });
    assert_eq!(ok("HOST [2001:db8::1]"), Command::Host { host: "[2001:db8::1]".into() });
    for bad in ["HOST a b", "HOST [2001:db8::1", "HOST [x]", "HOST -a.com", "HOST a..b", "HOST a/b"] {
        assert_eq!(code(bad.as_bytes()), 501, "{bad}");
    }
}

#[test]
fn error_replies() {
    assert_eq!(ParseError::Syntax("bad".into()).reply().to_bytes(), b"501 bad\r\n");
    assert_eq!(ParseError::NotImplementedParameter("no".into()).reply().code, 504);
    assert_eq!(ParseError::Unknown("FOO".into()).reply().to_bytes(), b"502 Command not implemented: FOO.\r\n");
}

proptest! {
    #[test]
    fn never_panics(line in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Err(e) = parse(&line) {
            let bytes = e.reply().to_bytes();
            prop_assert!(bytes.ends_with(b"\r\n"));
        }
    }

    #[test]
    fn never_panics_on_known_verbs(
        verb in prop_oneof![Just("PORT"), Just("EPRT"), Just("SITE"), Just("MFMT"), Just("TYPE"), Just("HOST"), Just("REST"), Just("OPTS"), Just("EPSV")],
        arg in proptest::collection::vec(prop_oneof![Just(b'|'), Just(b','), Just(b' '), Just(b'1'), any::<u8>()], 0..60),
    ) {
        let mut line = verb.as_bytes().to_vec();
        line.push(b' ');
        line.extend_from_slice(&arg);
        let _ = parse(&line);
    }

    #[test]
    fn paths_round_trip(path in proptest::collection::vec(any::<u8>().prop_filter("no CR/LF/NUL", |b| !matches!(b, b'\r' | b'\n' | 0)), 1..100)) {
        prop_assume!(path.iter().any(|&b| b != b' '));
        let mut line = b"RETR ".to_vec();
        line.extend_from_slice(&path);
        prop_assert_eq!(parse(&line), Ok(Command::Retr { path }));
    }
}

#[test]
fn stat_needs_a_login_only_with_a_path() {
    assert!(!ok("STAT").needs_login());
    assert!(ok("STAT /x").needs_login());
    assert!(ok("RETR x").needs_login());
    assert!(!ok("FEAT").needs_login());
}

#[test]
fn mdtm_set_form_needs_a_time_word_and_a_path() {
    assert_eq!(mdtm_set_form(b"20200102030405 a file.txt"), Some((1_577_934_245, b"a file.txt".to_vec())));
    assert_eq!(mdtm_set_form(b"20200102030405.123 x").map(|(t, _)| t), Some(1_577_934_245));
    assert_eq!(mdtm_set_form(b"20200102030405"), None, "a bare time is a file name");
    assert_eq!(mdtm_set_form(b"2020010203040 x"), None);
    assert_eq!(mdtm_set_form(b"20201302030405 x"), None, "month 13");
    assert_eq!(mdtm_set_form(b"report.txt"), None);
}

#[test]
fn every_listed_site_command_parses_as_itself() {
    for (name, ..) in SITE_COMMANDS {
        let line = format!("SITE {name} 644 x");
        assert!(!matches!(parse(line.as_bytes()), Ok(Command::Site(SiteCommand::Other { .. }))), "{name}");
    }
}

#[test]
fn digest_commands_take_a_path_maybe_quoted() {
    assert_eq!(ok("XMD5 a b.txt"), Command::Digest { verb: Verb::Xmd5, path: b"a b.txt".to_vec() });
    assert_eq!(ok("xsha256 \"a b.txt\" 0"), Command::Digest { verb: Verb::Xsha256, path: b"a b.txt".to_vec() });
    assert_eq!(ok("XCRC \"x\""), Command::Digest { verb: Verb::Xcrc, path: b"x".to_vec() });
    assert_eq!(err(b"XCRC \"x\" 10 20").reply().code, 504);
    assert_eq!(err(b"XMD5").reply().code, 501);
    assert!(matches!(err(b"1ABC"), ParseError::Unknown(_)));
}
