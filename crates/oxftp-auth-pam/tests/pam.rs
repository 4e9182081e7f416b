//! Real PAM logins against the services scripts/pam-setup creates:
//! `oxftp-test` (pam_unix, system user `oxftp-pam-test`) and `oxftp-virtual`
//! (pam_pwdfile, virtual user `virt`). Every verdict is cross-checked with
//! pamtester, so a failure says whether PAM or our binding disagrees.
//!
//! Without root or without the setup these tests skip with a message; with
//! `OXFTP_REQUIRE_PAM=1` (scripts/test sets it after running pam-setup) they
//! fail loudly instead.

use std::io::Write;
use std::process::{Command, Stdio};

use oxftp_auth_pam::{PamAuthenticator, PamClass, PamConfig, PamSetupError};
use oxftp_core::auth::{AccessClass, AuthError, Authenticator, Credentials};
use oxftp_proto::path::VPath;

const SYSTEM_SERVICE: &str = "oxftp-test";
const VIRTUAL_SERVICE: &str = "oxftp-virtual";
const SYSTEM_USER: &str = "oxftp-pam-test";
const SYSTEM_PASS: &str = "oxftp-pam-test-pw";
const VIRTUAL_USER: &str = "virt";
const VIRTUAL_PASS: &str = "virtpass";

/// Whether the machine is set up; skips (or fails, when required) otherwise.
fn ready(test: &str) -> bool {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("not running as root (pam_unix can only check other users' passwords as root)".to_string());
    }
    for service in [SYSTEM_SERVICE, VIRTUAL_SERVICE] {
        if !std::path::Path::new("/etc/pam.d").join(service).is_file() {
            missing.push(format!("/etc/pam.d/{service} is missing"));
        }
    }
    if !matches!(nix::unistd::User::from_name(SYSTEM_USER), Ok(Some(_))) {
        missing.push(format!("system user {SYSTEM_USER} is missing"));
    }
    if Command::new("pamtester").arg("--version").output().is_err() {
        missing.push("pamtester is not installed".to_string());
    }
    if missing.is_empty() {
        return true;
    }
    let why = missing.join("; ");
    if std::env::var("OXFTP_REQUIRE_PAM").as_deref() == Ok("1") {
        panic!("{test}: OXFTP_REQUIRE_PAM=1 but PAM test setup is incomplete: {why}. Run scripts/pam-setup as root.");
    }
    eprintln!("{test}: skipped: {why} (run scripts/pam-setup as root; set OXFTP_REQUIRE_PAM=1 to make this fatal)");
    false
}

/// pamtester's verdict for the same login: true when both the auth and the
/// account step pass. pamtester reads the password from stdin.
fn pamtester(service: &str, user: &str, password: &str) -> bool {
    let mut child = Command::new("pamtester")
        .args([service, user, "authenticate", "acct_mgmt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pamtester runs");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{password}");
    }
    child.wait().expect("pamtester finishes").success()
}

fn creds(user: &str, password: &str) -> Credentials {
    Credentials::new(user, password, "127.0.0.1:40000".parse().unwrap())
}

fn system_auth(home_from_passwd: bool) -> PamAuthenticator {
    let mut config = PamConfig::new(SYSTEM_SERVICE);
    config.home_from_passwd = home_from_passwd;
    PamAuthenticator::new(config).expect("service exists")
}

#[tokio::test]
async fn right_password_is_accepted() {
    if !ready("right_password_is_accepted") {
        return;
    }
    assert!(pamtester(SYSTEM_SERVICE, SYSTEM_USER, SYSTEM_PASS), "pamtester itself refuses the test user");
    let id = system_auth(false).authenticate(&creds(SYSTEM_USER, SYSTEM_PASS)).await.unwrap();
    assert_eq!((id.user.as_str(), id.class, id.read_only), (SYSTEM_USER, AccessClass::Guest, false));
    assert_eq!(id.home, VPath::root());
}

#[tokio::test]
async fn wrong_password_is_refused() {
    if !ready("wrong_password_is_refused") {
        return;
    }
    let auth = system_auth(false);
    for wrong in ["wrong", "", "oxftp-pam-test-pw ", "OXFTP-PAM-TEST-PW"] {
        assert!(!pamtester(SYSTEM_SERVICE, SYSTEM_USER, wrong), "pamtester accepts {wrong:?}");
        let r = auth.authenticate(&creds(SYSTEM_USER, wrong)).await;
        assert!(matches!(r, Err(AuthError::BadPassword)), "{wrong:?}: {r:?}");
    }
}

#[tokio::test]
async fn unknown_user_is_refused() {
    if !ready("unknown_user_is_refused") {
        return;
    }
    let user = "oxftp-no-such-user-7d1";
    assert!(!pamtester(SYSTEM_SERVICE, user, "x"));
    let r = system_auth(false).authenticate(&creds(user, "x")).await;
    // pam_unix reports an unknown user as an auth error, which is the point:
    // both verdicts get the same reply from the engine.
    assert!(matches!(r, Err(AuthError::UnknownUser | AuthError::BadPassword)), "{r:?}");
}

#[tokio::test]
async fn virtual_user_via_pam_pwdfile() {
    if !ready("virtual_user_via_pam_pwdfile") {
        return;
    }
    assert!(pamtester(VIRTUAL_SERVICE, VIRTUAL_USER, VIRTUAL_PASS), "pamtester refuses the virtual user");
    let mut config = PamConfig::new(VIRTUAL_SERVICE);
    config.home = "/virtual/%u".into();
    config.class = PamClass::User;
    config.read_only = true;
    let auth = PamAuthenticator::new(config).unwrap();
    let id = auth.authenticate(&creds(VIRTUAL_USER, VIRTUAL_PASS)).await.unwrap();
    assert_eq!((id.user.as_str(), id.class, id.read_only), (VIRTUAL_USER, AccessClass::User, true));
    assert_eq!(id.home, VPath::parse(b"/virtual/virt").unwrap());

    assert!(!pamtester(VIRTUAL_SERVICE, VIRTUAL_USER, "nope"));
    assert!(matches!(auth.authenticate(&creds(VIRTUAL_USER, "nope")).await, Err(AuthError::BadPassword)));
    // The system user is not in the pwdfile: this service does not know it.
    let r = auth.authenticate(&creds(SYSTEM_USER, SYSTEM_PASS)).await;
    assert!(r.is_err(), "{r:?}");

    // A virtual user has no passwd entry to take a home from.
    let mut config = PamConfig::new(VIRTUAL_SERVICE);
    config.home_from_passwd = true;
    let r = PamAuthenticator::new(config).unwrap().authenticate(&creds(VIRTUAL_USER, VIRTUAL_PASS)).await;
    assert!(matches!(r, Err(AuthError::NotAllowed(_))), "{r:?}");
}

#[tokio::test]
async fn home_from_passwd() {
    if !ready("home_from_passwd") {
        return;
    }
    let id = system_auth(true).authenticate(&creds(SYSTEM_USER, SYSTEM_PASS)).await.unwrap();
    // Cross-check with getent rather than with the same getpwnam call.
    let out = Command::new("getent").args(["passwd", SYSTEM_USER]).output().expect("getent runs");
    let line = String::from_utf8(out.stdout).unwrap();
    let dir = line.trim_end().split(':').nth(5).expect("passwd line has a home field");
    assert_eq!(id.home, VPath::parse(dir.as_bytes()).unwrap());
    assert_eq!(dir, format!("/home/{SYSTEM_USER}"));
}

/// SFTP key logins: the key file decides who the client is, PAM's account
/// step whether the account may log in (pam_unix knows the system user,
/// and not a name that has a key file but no account).
#[tokio::test]
async fn public_key_login_runs_the_account_step() {
    if !ready("public_key_login_runs_the_account_step") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = oxftp_core::auth::PublicKey::parse(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJh9azjS/44Yhx8E3l69wI8ClNJKZ+4hkovo/J685NkV test",
    )
    .unwrap();
    let ghost = "oxftp-no-such-user-7d2";
    for user in [SYSTEM_USER, ghost] {
        std::fs::write(dir.path().join(user), format!("{}\n", key.to_openssh())).unwrap();
    }
    let mut config = PamConfig::new(SYSTEM_SERVICE);
    config.home = "/keys/%u".into();
    config.authorized_keys = Some(format!("{}/%u", dir.path().display()));
    let auth = PamAuthenticator::new(config).unwrap();
    let peer = "127.0.0.1:40000".parse().unwrap();
    let id = auth.public_key_login(SYSTEM_USER, &key, peer).await.unwrap();
    assert_eq!(id.home, VPath::parse(format!("/keys/{SYSTEM_USER}").as_bytes()).unwrap());
    let r = auth.public_key_login(ghost, &key, peer).await;
    assert!(r.is_err(), "a key file without an account: {r:?}");
    std::fs::write(dir.path().join(SYSTEM_USER), "# no keys\n").unwrap();
    let r = auth.public_key_login(SYSTEM_USER, &key, peer).await;
    assert!(matches!(r, Err(AuthError::NotAllowed(_))), "{r:?}");
    // Without authorized_keys in the settings, no key logs in.
    let r = system_auth(false).public_key_login(SYSTEM_USER, &key, peer).await;
    assert!(matches!(r, Err(AuthError::NotAllowed(_))), "{r:?}");
}

#[test]
fn unknown_service_name_is_refused_at_construction() {
    // Needs no setup: the point is that nothing is tried at all.
    let e = PamAuthenticator::new(PamConfig::new("oxftp-tset")).unwrap_err();
    assert!(matches!(e, PamSetupError::ServiceMissing { .. }), "{e}");
    for bad in ["../pam.d/oxftp-test", "oxftp-test/..", ".."] {
        let e = PamAuthenticator::new(PamConfig::new(bad)).unwrap_err();
        assert!(matches!(e, PamSetupError::InvalidService { .. }), "{bad}: {e}");
    }
}

#[tokio::test]
async fn concurrent_logins_all_finish() {
    if !ready("concurrent_logins_all_finish") {
        return;
    }
    let auth = std::sync::Arc::new(system_auth(false));
    let mut tasks = Vec::new();
    for i in 0..12 {
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let password = if i % 2 == 0 { SYSTEM_PASS } else { "wrong" };
            (i, auth.authenticate(&creds(SYSTEM_USER, password)).await)
        }));
    }
    for task in tasks {
        let (i, r) = task.await.unwrap();
        assert_eq!(r.is_ok(), i % 2 == 0, "login {i}: {r:?}");
    }
}
