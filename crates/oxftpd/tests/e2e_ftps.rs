//! End-to-end FTPS tests with real clients against a real `oxftpd` with a
//! `[tls]` table: curl (explicit AUTH TLS over EPSV and PASV, implicit
//! `ftps://`, client certificates), lftp (mirror both ways, active mode),
//! the `ftp-ssl` client, Python's ftplib.FTP_TLS (session reuse and the
//! RFC 4217 policy replies, in tests/py/test_ftps.py), and `check-config`
//! on broken certificate setups. Certificates are made with the openssl CLI
//! for each daemon (see tests/common/certs.rs).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{
    Daemon, DaemonConfig, Outcome, PASSWORD, TlsOptions, assert_same_tree, certs, pattern_bytes, read, require_tool,
    run, run_unittest, run_with_stdin, write,
};

/// Longer than the clients' own timeouts, so they report their own failures.
const TIMEOUT: Duration = Duration::from_secs(90);

// Ignored tests. The TLS 1.3 variants of multi-transfer tests wait for an
// engine fix (reported to the lead): under TLS 1.3 rustls resumes from the
// per-session stateful cache with `take`, so each ticket the control
// connection received serves one data connection only; clients that resume
// the control connection's session (OpenSSL, GnuTLS, ftplib with `session=`)
// get 522 from the second protected transfer on. The TLS 1.2 variants
// (reusable session IDs) pass and keep the coverage meanwhile. Run the
// ignored ones with `cargo test -p oxftpd --test e2e_ftps -- --ignored`.
//
// The same engine cause makes TLS 1.3 uploads flaky: the data acceptor sends
// NewSessionTicket messages on every data connection, an uploading client
// never reads them, and closing a socket with unread data sends a TCP RST
// that can destroy the upload's last bytes at the server (426 "Connection
// reset by peer"). So curl runs capped at TLS 1.2 here; its TLS 1.3 round
// trip is ignored until the data connections stop sending tickets.

/// An OpenSSL config capping clients that link OpenSSL (ftp-ssl) at TLS 1.2.
const OPENSSL_TLS12_CONF: &str = "openssl_conf = conf\n[conf]\nssl_conf = ssl_sect\n[ssl_sect]\n\
                                  system_default = sys\n[sys]\nMaxProtocol = TLSv1.2\n";

/// Which TLS versions a client may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Versions {
    /// Whatever the client prefers (TLS 1.3 with all of them here).
    Default,
    /// At most TLS 1.2.
    Tls12,
}

/// A daemon with FTPS on and these `[tls]` lines.
fn ftps(extra: &[&str], implicit: bool) -> Daemon {
    Daemon::start_with(DaemonConfig {
        tls: Some(TlsOptions { extra: extra.iter().map(|s| s.to_string()).collect(), implicit }),
        ..DaemonConfig::default()
    })
}

/// A daemon where the control and data connections must be protected for
/// everyone: a successful transfer proves TLS was used on both.
fn strict(implicit: bool) -> Daemon {
    ftps(&["control = \"all\"", "data = \"all\""], implicit)
}

// ---------------------------------------------------------------------------
// curl

/// Runs curl verbosely (the transcript lands on stderr) with no user config,
/// trusting only the daemon's test CA, offering at most TLS 1.2 (see the
/// note at the top).
fn curl(d: &Daemon, args: &[&str]) -> Outcome {
    curl_versions(d, Versions::Tls12, args)
}

/// [`curl`] with a choice of TLS versions.
fn curl_versions(d: &Daemon, versions: Versions, args: &[&str]) -> Outcome {
    require_tool("curl");
    let ca = d.pki().ca.to_str().expect("utf-8 path").to_string();
    let mut cmd = Command::new("curl");
    cmd.args(["-q", "-sS", "-v", "--max-time", "45", "--connect-timeout", "10", "--cacert", &ca]);
    if versions == Versions::Tls12 {
        cmd.args(["--tls-max", "1.2"]);
    }
    cmd.args(args).env("HOME", d.dir());
    run(&mut cmd, TIMEOUT)
}

/// The commands curl sent, from its `-v` transcript.
fn sent(out: &Outcome) -> Vec<String> {
    out.stderr_str().lines().filter_map(|l| l.strip_prefix("> ")).map(str::to_string).collect()
}

fn assert_sent(out: &Outcome, verb: &str) {
    let cmds = sent(out);
    assert!(cmds.iter().any(|c| c.starts_with(verb)), "curl never sent {verb}; it sent {cmds:?}\n{}", out.dump());
}

fn alice() -> String {
    format!("alice:{PASSWORD}")
}

/// Explicit FTPS download then upload with `flags`; checks bytes on both sides.
fn curl_round_trip(versions: Versions, flags: &[&str], data_verb: &str) {
    let d = strict(false);
    let data = pattern_bytes(1024 * 1024 + 3, 21);
    write(d.disk("alice/data.bin"), &data);
    let local = d.scratch("curl");
    let got = local.join("got.bin");
    let url = d.url("/data.bin");
    let user = alice();
    let mut args = vec!["--ssl-reqd", "-u", &user, "-o", got.to_str().unwrap(), &url];
    args.extend_from_slice(flags);
    let out = curl_versions(&d, versions, &args);
    out.assert_success("curl FTPS download");
    assert_sent(&out, "AUTH");
    assert_sent(&out, "PROT P");
    assert_sent(&out, data_verb);
    assert!(read(&got) == data, "downloaded bytes differ");

    let up = pattern_bytes(700_001, 22);
    write(local.join("up.bin"), &up);
    let up_url = d.url("/up.bin");
    let up_path = local.join("up.bin");
    let mut args = vec!["--ssl-reqd", "-u", &user, "-T", up_path.to_str().unwrap(), &up_url];
    args.extend_from_slice(flags);
    let out = curl_versions(&d, versions, &args);
    out.assert_success("curl FTPS upload");
    assert_sent(&out, "STOR up.bin");
    assert!(read(d.disk("alice/up.bin")) == up, "uploaded bytes differ");
}

#[test]
fn curl_explicit_epsv_download_and_upload() {
    curl_round_trip(Versions::Tls12, &[], "EPSV");
}

#[test]
fn curl_explicit_pasv_download_and_upload() {
    curl_round_trip(Versions::Tls12, &["--disable-epsv"], "PASV");
}

#[test]
fn curl_explicit_download_and_upload_tls13() {
    for _ in 0..5 {
        curl_round_trip(Versions::Default, &[], "EPSV");
    }
}

#[test]
fn curl_implicit_ftps_download_and_upload() {
    let d = strict(true);
    let data = pattern_bytes(512 * 1024 + 1, 23);
    write(d.disk("alice/imp.bin"), &data);
    let local = d.scratch("curl-implicit");
    let got = local.join("got.bin");
    let url = format!("ftps://127.0.0.1:{}/imp.bin", d.implicit_port());
    let user = alice();
    let out = curl(&d, &["-u", &user, "-o", got.to_str().unwrap(), &url]);
    out.assert_success("curl implicit FTPS download");
    assert!(!sent(&out).iter().any(|c| c.starts_with("AUTH")), "implicit FTPS needs no AUTH: {:?}", sent(&out));
    assert_sent(&out, "PROT P");
    assert!(read(&got) == data, "downloaded bytes differ");

    write(local.join("up.bin"), b"implicit upload\n");
    let up_url = format!("ftps://127.0.0.1:{}/imp-up.txt", d.implicit_port());
    let out = curl(&d, &["-u", &user, "-T", local.join("up.bin").to_str().unwrap(), &up_url]);
    out.assert_success("curl implicit FTPS upload");
    assert_eq!(read(d.disk("alice/imp-up.txt")), b"implicit upload\n");

    // The plain listener is still there, and still requires AUTH TLS.
    let out = curl(&d, &["-u", &user, "-o", got.to_str().unwrap(), &d.url("/imp.bin")]);
    assert!(!out.success(), "plain FTP login succeeded although control = all\n{}", out.dump());
    out.assert_output_contains("534");
}

#[test]
fn curl_client_certificate_required() {
    let d = ftps(&["client_certs = \"require\""], false);
    write(d.disk("alice/c.txt"), b"for certificate holders\n");
    let got = d.scratch("curl-cert").join("c.txt");
    let user = alice();
    let url = d.url("/c.txt");
    let (cert, key) = (d.pki().client_cert.to_str().unwrap(), d.pki().client_key.to_str().unwrap());
    let out = curl(&d, &["--ssl-reqd", "--cert", cert, "--key", key, "-u", &user, "-o", got.to_str().unwrap(), &url]);
    out.assert_success("curl with a client certificate");
    assert_eq!(read(&got), b"for certificate holders\n");
    assert!(d.log().contains("alice"), "the daemon did not log the certificate's CN");

    let _ = std::fs::remove_file(&got);
    let out = curl(&d, &["--ssl-reqd", "-u", &user, "-o", got.to_str().unwrap(), &url]);
    assert!(!out.success(), "curl without a client certificate got in\n{}", out.dump());
    assert!(!got.exists(), "a file was downloaded without a client certificate");
    // An unrelated certificate (the server's own, not a client cert of this CA's
    // client profile) is refused too.
    let (scert, skey) = (d.pki().server_cert.to_str().unwrap(), d.pki().server_key.to_str().unwrap());
    let out = curl(&d, &["--ssl-reqd", "--cert", scert, "--key", skey, "-u", &user, "-o", got.to_str().unwrap(), &url]);
    assert!(!out.success(), "a server-auth-only certificate was accepted as a client certificate\n{}", out.dump());
}

#[test]
fn curl_client_certificate_requested_is_optional() {
    let d = ftps(&["client_certs = \"request\""], false);
    write(d.disk("alice/r.txt"), b"requested\n");
    let got = d.scratch("curl-req").join("r.txt");
    let user = alice();
    let out = curl(&d, &["--ssl-reqd", "-u", &user, "-o", got.to_str().unwrap(), &d.url("/r.txt")]);
    out.assert_success("curl without a certificate when certificates are only requested");
    assert_eq!(read(&got), b"requested\n");
}

#[test]
fn curl_refuses_a_server_it_cannot_verify() {
    // The client side of the setup matters as much: without the CA, curl
    // must not trust the test certificate (proves the CA option is in use).
    let d = strict(false);
    require_tool("curl");
    let out = run(
        Command::new("curl")
            .args(["-q", "-sS", "--max-time", "20", "--ssl-reqd", "-u", &alice(), &d.url("/")])
            .env("HOME", d.dir()),
        TIMEOUT,
    );
    assert!(!out.success(), "curl trusted an unknown CA\n{}", out.dump());
    assert_eq!(out.code(), Some(60), "expected curl's certificate error (60)\n{}", out.dump());
}

// ---------------------------------------------------------------------------
// lftp

/// Runs `lftp -c` as alice with FTPS forced on control and data, trusting the
/// test CA, with short retries.
fn lftp(d: &Daemon, local: &Path, versions: Versions, settings: &str, commands: &str) -> Outcome {
    require_tool("lftp");
    let home = d.scratch("lftp-home");
    // lftp links GnuTLS, whose priority strings pick the versions.
    let priority = match versions {
        Versions::Default => "",
        Versions::Tls12 => "set ssl:priority NORMAL:-VERS-TLS1.3;",
    };
    let script = format!(
        "set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; \
         set cmd:fail-exit yes; set cmd:interactive no; \
         set ftp:ssl-force true; set ftp:ssl-protect-data true; set ftp:ssl-protect-list true; \
         set ssl:verify-certificate true; set ssl:ca-file {ca}; {priority} {settings} \
         open -u alice,{PASSWORD} ftp://127.0.0.1:{port}; {commands}",
        ca = d.pki().ca.display(),
        port = d.port()
    );
    let mut cmd = Command::new("lftp");
    cmd.arg("-d").arg("-c").arg(script).current_dir(local).env("HOME", &home);
    cmd.env("XDG_CONFIG_HOME", home.join(".config")).env("XDG_DATA_HOME", home.join(".local/share"));
    cmd.env("XDG_CACHE_HOME", home.join(".cache"));
    run(&mut cmd, TIMEOUT)
}

fn make_tree(base: &Path) {
    write(base.join("a.txt"), b"top-level text\n");
    write(base.join("sub/b.bin"), pattern_bytes(400_009, 31));
    write(base.join("sub/deeper/c.txt"), b"deep\n");
    write(base.join("sub/deeper/empty"), b"");
    std::fs::create_dir_all(base.join("empty-dir")).unwrap();
}

/// lftp mirrors a tree down and back up, every transfer protected.
fn lftp_mirror(versions: Versions) {
    let d = strict(false);
    make_tree(&d.disk("alice/tree"));
    let local = d.scratch("lftp-mirror");
    let out = lftp(&d, &local, versions, "", "mirror tree tree");
    out.assert_success("lftp FTPS mirror");
    assert_same_tree(&d.disk("alice/tree"), &local.join("tree"));
    assert!(out.stderr_str().contains("AUTH TLS"), "lftp did not use AUTH TLS\n{}", out.dump());

    let out = lftp(&d, &local, versions, "", "mirror -R tree uptree");
    out.assert_success("lftp FTPS mirror -R");
    assert_same_tree(&local.join("tree"), &d.disk("alice/uptree"));
}

#[test]
fn lftp_mirror_down_and_up_over_tls12() {
    lftp_mirror(Versions::Tls12);
}

#[test]
fn lftp_mirror_down_and_up_over_tls13() {
    lftp_mirror(Versions::Default);
}

/// lftp in active mode (PORT): a download, an upload and a listing.
fn lftp_active(versions: Versions) {
    let d = strict(false);
    let data = pattern_bytes(600_007, 32);
    write(d.disk("alice/act.bin"), &data);
    let local = d.scratch("lftp-active");
    write(local.join("up.bin"), pattern_bytes(300_001, 33));
    let out = lftp(&d, &local, versions, "set ftp:passive-mode false;", "get act.bin; put up.bin; cls -1");
    out.assert_success("lftp active FTPS");
    let transcript = out.stderr_str();
    assert!(transcript.contains("PORT") || transcript.contains("EPRT"), "lftp did not use active mode\n{}", out.dump());
    assert!(!transcript.contains("---> PASV"), "lftp used passive mode\n{}", out.dump());
    assert!(read(local.join("act.bin")) == data, "active download differs");
    assert!(read(d.disk("alice/up.bin")) == read(local.join("up.bin")), "active upload differs");
}

#[test]
fn lftp_active_mode_over_tls12() {
    lftp_active(Versions::Tls12);
}

#[test]
fn lftp_active_mode_over_tls13() {
    lftp_active(Versions::Default);
}

// ---------------------------------------------------------------------------
// ftp-ssl (netkit ftp with OpenSSL)

/// Runs the `ftp-ssl` client (netkit ftp with OpenSSL) as alice with a
/// command script, TLS required and the server verified against the test CA.
fn ftp_ssl(d: &Daemon, local: &Path, versions: Versions, commands: &str) -> Outcome {
    require_tool("ftp-ssl");
    let script = format!("user alice {PASSWORD}\nbinary\npassive\n{commands}bye\n");
    let cacert = format!("cacert={}", d.pki().ca.display());
    let mut cmd = Command::new("ftp-ssl");
    cmd.args(["-z", "secure", "-z", "verify=1", "-z", &cacert, "-n", "-v", "127.0.0.1"])
        .arg(d.port().to_string())
        .current_dir(local)
        .env("HOME", local);
    if versions == Versions::Tls12 {
        // ftp-ssl has no version option; OpenSSL's config file caps it.
        let conf = local.join("openssl-tls12.cnf");
        write(&conf, OPENSSL_TLS12_CONF);
        cmd.env("OPENSSL_CONF", conf);
    }
    run_with_stdin(&mut cmd, script.as_bytes(), TIMEOUT)
}

/// The 3-digit replies in an ftp-ssl transcript (it prints them verbatim).
fn replies(out: &Outcome) -> Vec<String> {
    out.stdout_str()
        .lines()
        .filter(|l| l.len() >= 4 && l.as_bytes()[..3].iter().all(u8::is_ascii_digit) && l.as_bytes()[3] == b' ')
        .map(str::to_string)
        .collect()
}

/// Two downloads in one session: the second must resume the session too.
fn ftp_ssl_gets(versions: Versions) {
    let d = strict(false);
    let data = pattern_bytes(250_003, 41);
    write(d.disk("alice/s.bin"), &data);
    let local = d.scratch("ftp-ssl");
    let out = ftp_ssl(&d, &local, versions, "get s.bin got1.bin\nget s.bin got2.bin\n");
    out.assert_success("ftp-ssl");
    let codes = replies(&out);
    assert!(codes.iter().any(|l| l.starts_with("234")), "no AUTH TLS\n{}", out.dump());
    assert_eq!(codes.iter().filter(|l| l.starts_with("226")).count(), 2, "two transfers expected\n{}", out.dump());
    assert!(read(local.join("got1.bin")) == data, "ftp-ssl download differs\n{}", out.dump());
    assert!(read(local.join("got2.bin")) == data, "second ftp-ssl download differs\n{}", out.dump());
}

#[test]
fn ftp_ssl_downloads_over_tls12() {
    ftp_ssl_gets(Versions::Tls12);
}

#[test]
fn ftp_ssl_downloads_over_tls13() {
    ftp_ssl_gets(Versions::Default);
}

#[test]
fn ftp_ssl_upload() {
    let d = strict(false);
    let local = d.scratch("ftp-ssl-put");
    write(local.join("u.bin"), pattern_bytes(123_457, 42));
    let out = ftp_ssl(&d, &local, Versions::Tls12, "put u.bin\n");
    out.assert_success("ftp-ssl put");
    assert!(replies(&out).iter().any(|l| l.starts_with("226")), "upload not completed\n{}", out.dump());
    assert!(read(d.disk("alice/u.bin")) == read(local.join("u.bin")), "ftp-ssl upload differs\n{}", out.dump());
}

// ---------------------------------------------------------------------------
// Python ftplib.FTP_TLS

fn ftplib(d: &Daemon, class: &str, extra_env: &[(&str, String)]) {
    let mut env = vec![("OXFTP_CA", d.pki().ca.display().to_string())];
    env.extend(extra_env.iter().cloned());
    run_unittest(d, &format!("test_ftps.{class}"), &env);
}

#[test]
fn ftplib_session_reuse_is_required() {
    let d = ftps(&[], false);
    ftplib(&d, "ReuseTest", &[]);
}

#[test]
fn ftplib_session_reuse_with_tls12() {
    let d = ftps(&[], false);
    ftplib(&d, "ReuseTest", &[("OXFTP_TLS_MAX", "1.2".to_string())]);
}

#[test]
fn ftplib_many_transfers_in_one_session_tls12() {
    let d = ftps(&[], false);
    ftplib(&d, "RepeatTest", &[("OXFTP_TLS_MAX", "1.2".to_string())]);
}

#[test]
fn ftplib_many_transfers_in_one_session_tls13() {
    let d = ftps(&[], false);
    ftplib(&d, "RepeatTest", &[]);
}

#[test]
fn ftplib_without_required_reuse() {
    let d = ftps(&["require_session_reuse = false"], false);
    ftplib(&d, "NoReuseTest", &[]);
}

#[test]
fn ftplib_policy_all() {
    let d = strict(false);
    ftplib(&d, "AllTest", &[]);
}

#[test]
fn ftplib_policy_accounts() {
    let d = ftps(&["control = \"accounts\"", "data = \"accounts\""], false);
    ftplib(&d, "AccountsTest", &[]);
}

#[test]
fn ftplib_implicit() {
    let d = ftps(&[], true);
    ftplib(&d, "ImplicitTest", &[("OXFTP_IMPLICIT_PORT", d.implicit_port().to_string())]);
}

// ---------------------------------------------------------------------------
// check-config and start-up with broken certificates

/// Writes a config whose `[tls]` table (starting on line 4) names `cert` and
/// `key`, and returns its path.
fn broken_config(dir: &Path, cert: &Path, key: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("root")).unwrap();
    let path = dir.join("oxftpd.toml");
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n\n[storage]\nroot = \"root\"\n",
        cert.display(),
        key.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `oxftpd check-config` and `oxftpd --config` both refuse `config`, with
/// stderr naming `file:line: key:` and containing `why`.
fn assert_refused(config: &Path, line: usize, key: &str, why: &str) {
    let bin = common::daemon::oxftpd_bin();
    let prefix = format!("{}:{line}: {key}: ", config.display());
    let out = run(Command::new(&bin).arg("check-config").arg(config), TIMEOUT);
    assert_eq!(out.code(), Some(1), "check-config accepted a broken setup\n{}", out.dump());
    let err = out.stderr_str();
    assert!(
        err.contains(&prefix) && err.contains(why),
        "expected {prefix:?}…{why:?} from check-config\n{}",
        out.dump()
    );
    let out = run(Command::new(&bin).arg("--config").arg(config), TIMEOUT);
    assert_eq!(out.code(), Some(1), "oxftpd started with a broken setup\n{}", out.dump());
    let err = out.stderr_str();
    assert!(err.contains(&prefix) && err.contains(why), "expected {prefix:?}…{why:?} at start-up\n{}", out.dump());
    assert!(!out.stdout_str().contains("listening"), "oxftpd listened anyway\n{}", out.dump());
}

#[test]
fn check_config_reports_certificate_problems_with_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::generate(&dir.path().join("pki"));

    let good = broken_config(dir.path(), &pki.server_cert, &pki.server_key);
    let out = run(Command::new(common::daemon::oxftpd_bin()).arg("check-config").arg(&good), TIMEOUT);
    out.assert_success("check-config on a good TLS setup");
    assert!(out.stdout_str().contains(": OK"), "{}", out.dump());

    let config = broken_config(dir.path(), &dir.path().join("absent.pem"), &pki.server_key);
    assert_refused(&config, 5, "tls.cert_file", "No such file");

    let config = broken_config(dir.path(), &pki.server_cert, &pki.stray_key);
    assert_refused(&config, 6, "tls.key_file", "does not match");

    let config = broken_config(dir.path(), &pki.expired_cert, &pki.expired_key);
    assert_refused(&config, 5, "tls.cert_file", "expired");

    // A key that is no key at all.
    let config = broken_config(dir.path(), &pki.server_cert, &pki.ca);
    assert_refused(&config, 6, "tls.key_file", "private key");
}
