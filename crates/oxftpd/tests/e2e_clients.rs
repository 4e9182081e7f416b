//! More real clients against oxftpd on its defaults, each as a user over
//! plain FTP and, where the client speaks it, explicit and implicit FTPS,
//! with the data checked by digest:
//!
//! - Python's aioftp, which starts a data connection's TLS handshake before
//!   it sends the command;
//! - node's basic-ftp (installed from npm into a cache in the target dir);
//! - Apache Commons Net's `FTPSClient` (Java), which never resumes TLS
//!   sessions: allowed by an account's `tls_session_reuse = "off"` or a
//!   `tls.session_reuse_off_listen` listener, and refused elsewhere;
//! - wget (downloads, recursive over `LIST -a`, FTPS) and ncftp's batch
//!   tools (`ncftpput`, `ncftpget -R`).
//!
//! The client programs live in `tests/clients/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{
    Daemon, DaemonConfig, Outcome, PASSWORD, TlsOptions, assert_same_tree, pattern_bytes, read, require_tool, run,
    write,
};

const TIMEOUT: Duration = Duration::from_secs(120);

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("clients")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Explicit,
    Implicit,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Explicit => "explicit",
            Mode::Implicit => "implicit",
        }
    }
}

/// A daemon with TLS on its defaults (explicit on the control port, plus an
/// implicit listener), and `extra` lines in `[tls]`.
fn ftps_daemon(extra: &[&str], users_extra: String) -> Daemon {
    let tls = TlsOptions { implicit: true, extra: extra.iter().map(|s| s.to_string()).collect() };
    Daemon::start_with(DaemonConfig { tls: Some(tls), users_extra, ..DaemonConfig::default() })
}

fn port_for(d: &Daemon, mode: Mode) -> u16 {
    if mode == Mode::Implicit { d.implicit_port() } else { d.port() }
}

/// Runs a client program with the arguments every script here takes.
fn script(d: &Daemon, program: &mut Command, mode: Mode, port: u16, user: &str) -> Outcome {
    let work = d.scratch("work");
    let ca = if mode == Mode::Plain { PathBuf::from("-") } else { d.pki().ca.clone() };
    program.arg(mode.name()).arg(port.to_string()).arg(user).arg(PASSWORD).arg(ca).arg(work);
    run(program, TIMEOUT)
}

// --- aioftp -----------------------------------------------------------------

fn aioftp(d: &Daemon, mode: Mode) -> Outcome {
    require_tool("python3");
    let mut cmd = Command::new("python3");
    cmd.arg(clients_dir().join("aioftp_round_trip.py")).env("PYTHONDONTWRITEBYTECODE", "1");
    script(d, &mut cmd, mode, port_for(d, mode), "alice")
}

/// aioftp in implicit mode never sends PBSZ/PROT and starts TLS on data
/// connections anyway (it takes implicit FTPS to mean protected data), so
/// only plain FTP and explicit FTPS are its modes here.
#[test]
fn aioftp_over_plain_and_explicit_ftps() {
    let d = ftps_daemon(&[], String::new());
    for mode in [Mode::Plain, Mode::Explicit] {
        let out = aioftp(&d, mode);
        out.assert_success(&format!("aioftp {mode:?}"));
        out.assert_output_contains("downloaded");
        assert_eq!(read(d.disk(&format!("alice/aio-{}/payload.bin", mode.name()))).len(), 3 * 1024 * 1024 + 17);
    }
}

// --- node basic-ftp -----------------------------------------------------------

/// basic-ftp's version, installed once into the target dir.
const BASIC_FTP: &str = "basic-ftp@5.0.5";

/// The `node_modules` folder holding basic-ftp, installed with npm on first use.
fn basic_ftp_modules() -> &'static Path {
    static MODULES: OnceLock<PathBuf> = OnceLock::new();
    MODULES.get_or_init(|| {
        require_tool("npm");
        let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join(BASIC_FTP.replace('@', "-"));
        let modules = prefix.join("node_modules");
        if !modules.join("basic-ftp/package.json").is_file() {
            let staging = prefix.with_extension(format!("staging-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&staging);
            std::fs::create_dir_all(&staging).unwrap();
            let out = run(
                Command::new("npm")
                    .args(["install", "--silent", "--no-audit", "--no-fund", "--no-package-lock", "--prefix"])
                    .arg(&staging)
                    .arg(BASIC_FTP),
                Duration::from_secs(300),
            );
            out.assert_success("npm install basic-ftp");
            let _ = std::fs::remove_dir_all(&prefix);
            std::fs::rename(&staging, &prefix).unwrap();
        }
        modules
    })
}

#[test]
fn basic_ftp_over_plain_and_ftps() {
    require_tool("node");
    let modules = basic_ftp_modules();
    let d = ftps_daemon(&[], String::new());
    for mode in [Mode::Plain, Mode::Explicit, Mode::Implicit] {
        let mut cmd = Command::new("node");
        cmd.arg(clients_dir().join("basic_ftp_round_trip.mjs")).env("NODE_PATH", modules);
        let out = script(&d, &mut cmd, mode, port_for(&d, mode), "alice");
        out.assert_success(&format!("basic-ftp {mode:?}"));
        out.assert_output_contains("round trip ok");
        assert_eq!(read(d.disk(&format!("alice/bf-{}/b.txt", mode.name()))), b"hello\n");
    }
}

// --- Apache Commons Net ---------------------------------------------------------

const COMMONS_NET_JAR: &str = "/usr/share/java/commons-net.jar";

/// The compiled test program, cached in the target dir by a digest of its source.
fn commons_net_classes() -> &'static Path {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES.get_or_init(|| {
        require_tool("javac");
        assert!(
            Path::new(COMMONS_NET_JAR).is_file(),
            "{COMMONS_NET_JAR} is missing: scripts/test installs libcommons-net-java"
        );
        let source = clients_dir().join("CommonsNetRoundTrip.java");
        let text = std::fs::read(&source).unwrap();
        let digest =
            text.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("commons-net-{digest:016x}"));
        if !dir.join("CommonsNetRoundTrip.class").is_file() {
            let staging = dir.with_extension(format!("staging-{}", std::process::id()));
            std::fs::create_dir_all(&staging).unwrap();
            let out = run(
                Command::new("javac").args(["-cp", COMMONS_NET_JAR, "-d"]).arg(&staging).arg(&source),
                Duration::from_secs(300),
            );
            out.assert_success("javac CommonsNetRoundTrip.java");
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&staging, &dir).unwrap();
        }
        dir
    })
}

fn commons_net(d: &Daemon, mode: Mode, port: u16, user: &str) -> Outcome {
    require_tool("java");
    let classpath = format!("{COMMONS_NET_JAR}:{}", commons_net_classes().display());
    let mut cmd = Command::new("java");
    cmd.args(["-cp", &classpath, "CommonsNetRoundTrip"]);
    script(d, &mut cmd, mode, port, user)
}

/// `partner`: alice's home, with `tls_session_reuse = "off"`.
fn partner_account() -> String {
    let hash = common::daemon::password_hash();
    format!(
        "\n[[user]]\nname = \"partner\"\npassword_hash = \"{hash}\"\nclass = \"guest\"\nhome = \"/alice\"\n\
         tls_session_reuse = \"off\"\n"
    )
}

#[test]
fn commons_net_works_for_an_account_allowed_to_skip_session_reuse() {
    let d = ftps_daemon(&[], partner_account());
    for mode in [Mode::Explicit, Mode::Implicit] {
        let out = commons_net(&d, mode, port_for(&d, mode), "partner");
        out.assert_success(&format!("Commons Net {mode:?} as partner"));
        assert_eq!(read(d.disk(&format!("alice/cn-{}-partner/payload.bin", mode.name()))).len(), 1024 * 1024 + 5);
    }
    // Everyone else stays under the default rule: alice's transfers are refused,
    // and the log says why.
    let out = commons_net(&d, Mode::Explicit, d.port(), "alice");
    assert!(!out.success(), "Commons Net got through without resuming\n{}", out.dump());
    let log = d.log();
    assert!(
        log.contains("status: failed")
            && log.contains("reason: 522 TLS session of the data connection was not resumed"),
        "the refusal's reason is not in the log at info:\n{log}"
    );
    // The debug log shows every command and reply, never a password.
    assert!(log.contains("line: PASS ****") && log.contains("reply: 230"), "{log}");
    assert!(!log.contains(PASSWORD), "the password is in the log:\n{log}");
}

#[test]
fn commons_net_works_on_a_listener_that_skips_session_reuse() {
    let d = ftps_daemon(&["session_reuse_off_listen = [\"127.0.0.1:0\"]"], String::new());
    let out = commons_net(&d, Mode::Explicit, d.session_reuse_off_port(), "alice");
    out.assert_success("Commons Net on the session-reuse-off listener");
    assert_eq!(read(d.disk("alice/cn-explicit-alice/payload.bin")).len(), 1024 * 1024 + 5);
}

// --- wget ---------------------------------------------------------------------

#[test]
fn wget_downloads_files_and_trees_over_plain_and_ftps() {
    require_tool("wget");
    let d = ftps_daemon(&[], String::new());
    let big = pattern_bytes(2 * 1024 * 1024 + 9, 5);
    write(d.disk("alice/w/big.bin"), &big);
    write(d.disk("alice/w/sub/small.txt"), b"small\n");
    write(d.disk("pub/readme.txt"), b"public\n");

    // Anonymous, plain FTP.
    let local = d.scratch("wget-anon");
    let out = run(Command::new("wget").args(["-q", "-P"]).arg(&local).arg(d.url("/readme.txt")), TIMEOUT);
    out.assert_success("wget anonymous");
    assert_eq!(read(local.join("readme.txt")), b"public\n");

    for (mode, scheme) in [(Mode::Plain, "ftp"), (Mode::Explicit, "ftps")] {
        // A user, a whole tree (wget lists with LIST -a), by its home-relative path.
        let local = d.scratch("wget-tree");
        let url = format!("{scheme}://alice:{PASSWORD}@127.0.0.1:{}/w/", d.port());
        let mut cmd = Command::new("wget");
        cmd.args(["-q", "-r", "-nH", "--no-parent", "-P"]).arg(&local);
        if mode != Mode::Plain {
            cmd.arg(format!("--ca-certificate={}", d.pki().ca.display()));
        }
        let out = run(cmd.arg(&url), TIMEOUT);
        out.assert_success(&format!("wget -r {mode:?}"));
        assert_eq!(read(local.join("w/big.bin")), big, "{mode:?}");
        assert_eq!(read(local.join("w/sub/small.txt")), b"small\n", "{mode:?}");
    }
}

// --- ncftp ----------------------------------------------------------------------

#[test]
fn ncftp_puts_and_gets_a_tree() {
    require_tool("ncftpput");
    require_tool("ncftpget");
    let d = Daemon::start();
    let up = d.scratch("nc-up");
    write(up.join("tree/a.bin"), pattern_bytes(500_000, 1));
    write(up.join("tree/sub/b.txt"), b"bee\n");
    let port = d.port().to_string();
    let auth = ["-u", "alice", "-p", PASSWORD, "-P", &port, "-t", "30"];
    let out = run(Command::new("ncftpput").args(auth).args(["-R", "127.0.0.1", "."]).arg(up.join("tree")), TIMEOUT);
    out.assert_success("ncftpput -R");
    assert_same_tree(&up.join("tree"), &d.disk("alice/tree"));
    let down = d.scratch("nc-down");
    let out = run(Command::new("ncftpget").args(auth).args(["-R", "127.0.0.1"]).arg(&down).arg("tree"), TIMEOUT);
    out.assert_success("ncftpget -R");
    assert_same_tree(&up.join("tree"), &down.join("tree"));
}

// --- LIST -R ------------------------------------------------------------------

/// `LIST -R` lists every subdirectory after its parent, as `ls -lR` does,
/// and stops 16 levels down.
#[test]
fn list_r_walks_subdirectories_within_its_depth_limit() {
    require_tool("curl");
    let d = Daemon::start();
    write(d.disk("alice/walk/top.txt"), b"t");
    write(d.disk("alice/walk/b/in-b.txt"), b"b");
    let mut deep = String::from("alice/walk/a");
    for level in 1..=20 {
        deep.push_str(&format!("/l{level}"));
    }
    write(d.disk(&format!("{deep}/bottom.txt")), b"x");
    let out = run(
        Command::new("curl")
            .args(["-sS", "--max-time", "30", "-u"])
            .arg(format!("alice:{PASSWORD}"))
            .arg(d.url("/walk/"))
            .args(["-X", "LIST -R"]),
        TIMEOUT,
    );
    out.assert_success("curl LIST -R");
    let listing = out.stdout_str().replace("\r\n", "\n");
    for needle in ["top.txt", "\n./b:\n", "in-b.txt", "./a/l1/l2/l3/l4/l5/l6/l7/l8/l9/l10/l11/l12/l13/l14/l15:"] {
        assert!(listing.contains(needle), "{needle:?} missing from:\n{listing}");
    }
    assert!(!listing.contains("/l16:") && !listing.contains("bottom.txt"), "went below 16 levels:\n{listing}");
    // Plain LIST stays flat.
    let flat = run(
        Command::new("curl")
            .args(["-sS", "--max-time", "30", "-u"])
            .arg(format!("alice:{PASSWORD}"))
            .arg(d.url("/walk/")),
        TIMEOUT,
    );
    assert!(!flat.stdout_str().contains("in-b.txt"), "{}", flat.dump());
}
