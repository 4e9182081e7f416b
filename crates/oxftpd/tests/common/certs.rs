//! Test PKI made with the `openssl` command-line tool at test time (keys are
//! never committed): a P-256 CA, a server certificate for localhost and the
//! loopback addresses, a client certificate for alice, and, for
//! `check-config` tests, an expired server certificate and a key that
//! belongs to no certificate.
//!
//! The openssl CLI rather than a Rust crate: the clients under test link
//! OpenSSL or GnuTLS, so material from the usual administrator's tool is the
//! realistic input, and it is fast (well under a second for the whole set).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::client::{require_tool, run};

/// Where each file of a generated PKI lives.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The directory holding everything.
    pub dir: PathBuf,
    /// CA certificate (trust anchor for clients, and client CA for the server).
    pub ca: PathBuf,
    /// Server certificate (CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1).
    pub server_cert: PathBuf,
    /// Server private key.
    pub server_key: PathBuf,
    /// Client certificate, CN=alice.
    pub client_cert: PathBuf,
    /// Client private key.
    pub client_key: PathBuf,
    /// A server certificate valid only on 2020-01-01 (long expired).
    pub expired_cert: PathBuf,
    /// Its key.
    pub expired_key: PathBuf,
    /// A P-256 key that matches no certificate here.
    pub stray_key: PathBuf,
}

/// Upper bound for one openssl invocation.
const OPENSSL_TIMEOUT: Duration = Duration::from_secs(30);

/// A minimal `openssl ca` setup: used only for the expired certificate,
/// because `openssl x509` in OpenSSL 3.0 cannot set dates in the past.
const CA_CONF: &str = "[ca]\ndefault_ca = test\n\n[test]\ndatabase = db/index.txt\nnew_certs_dir = db\n\
                       serial = db/serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n\
                       copy_extensions = copy\n\n[any]\ncommonName = supplied\n";

/// Generates a fresh PKI in `dir` (created if needed).
pub fn generate(dir: &Path) -> Pki {
    require_tool("openssl");
    std::fs::create_dir_all(dir.join("db")).expect("create pki dir");
    let p = |name: &str| dir.join(name);
    let pki = Pki {
        dir: dir.to_path_buf(),
        ca: p("ca.pem"),
        server_cert: p("server.pem"),
        server_key: p("server.key"),
        client_cert: p("client.pem"),
        client_key: p("client.key"),
        expired_cert: p("expired.pem"),
        expired_key: p("expired.key"),
        stray_key: p("stray.key"),
    };
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3",
            "-subj",
            "/CN=oxftp test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    std::fs::write(
        p("server.ext"),
        "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1\n",
    )
    .expect("write server.ext");
    std::fs::write(
        p("client.ext"),
        "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = clientAuth\n",
    )
    .expect("write client.ext");
    for (name, subject, ext, serial) in
        [("server", "/CN=localhost", "server.ext", "1001"), ("client", "/CN=alice", "client.ext", "1002")]
    {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let cert = format!("{name}.pem");
        new_key_and_csr(dir, &key, &csr, subject);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                serial,
                "-days",
                "3",
                "-extfile",
                ext,
                "-out",
                &cert,
            ],
        );
    }
    // Expired: signed through `openssl ca`, which accepts explicit dates.
    std::fs::write(p("ca.cnf"), CA_CONF).expect("write ca.cnf");
    std::fs::write(p("db/index.txt"), "").expect("write index");
    std::fs::write(p("db/serial"), "2001\n").expect("write serial");
    new_key_and_csr(dir, "expired.key", "expired.csr", "/CN=localhost");
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            "expired.csr",
            "-out",
            "expired.pem",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
            "-notext",
        ],
    );
    openssl(dir, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "stray.key"]);
    pki
}

/// A new P-256 key (unencrypted PKCS#8) and a certificate request for it.
fn new_key_and_csr(dir: &Path, key: &str, csr: &str, subject: &str) {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key,
            "-out",
            csr,
            "-subj",
            subject,
        ],
    );
}

/// Runs `openssl ARGS` in `dir`, failing the test with its output on error.
fn openssl(dir: &Path, args: &[&str]) {
    let out = run(Command::new("openssl").args(args).current_dir(dir), OPENSSL_TIMEOUT);
    out.assert_success(&format!("openssl {}", args.first().copied().unwrap_or("")));
}
