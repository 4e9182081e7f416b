//! Delivering one event: an HTTP(S) POST or a program run.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use ring::hmac;
use tokio::io::AsyncWriteExt;

use crate::config::{HookConfig, HookConfigError, Target};
use crate::payload::{hex, to_env};

/// The header with the body's HMAC-SHA256, as `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Oxftp-Signature";
/// The header with the event id (also in the body), for receivers that
/// deduplicate before parsing.
pub const EVENT_ID_HEADER: &str = "X-Oxftp-Event-Id";
/// The header with the event kind.
pub const EVENT_KIND_HEADER: &str = "X-Oxftp-Event";

/// The `PATH` a command hook runs with (its environment is otherwise only
/// the event's `OXFTP_*` variables).
const COMMAND_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How one hook delivers.
#[derive(Debug)]
pub(crate) enum Deliverer {
    Webhook { client: reqwest::Client, url: Box<reqwest::Url>, key: Option<hmac::Key> },
    Command { program: String, args: Vec<String> },
}

/// Signs `body` with `secret` the way receivers should check it:
/// `sha256=` and the lower-case hex of HMAC-SHA256(secret, body).
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    format!("sha256={}", hex(hmac::sign(&key, body).as_ref()))
}

impl Deliverer {
    pub(crate) fn new(config: &HookConfig, target: Target, timeout: Duration) -> Result<Deliverer, HookConfigError> {
        Ok(match target {
            Target::Command { program, args } => Deliverer::Command { program, args },
            Target::Webhook { url } => {
                let tls = client_tls(config)?;
                let client = reqwest::Client::builder()
                    .tls_backend_preconfigured(tls)
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    // A receiver must answer itself: a redirect could send
                    // events (and their signatures) somewhere else.
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("oxftp-hooks/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| HookConfigError {
                        key: "url",
                        message: format!("cannot build the HTTP client: {e}"),
                    })?;
                let key = config.secret.as_ref().map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes()));
                Deliverer::Webhook { client, url: Box::new(url), key }
            }
        })
    }

    /// Delivers `body` (event `id` of `kind`); the error says why not.
    pub(crate) async fn deliver(&self, id: &str, kind: &str, body: &[u8], timeout: Duration) -> Result<(), String> {
        match self {
            Deliverer::Webhook { client, url, key } => {
                let mut request = client
                    .post(url.as_ref().clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(EVENT_ID_HEADER, id)
                    .header(EVENT_KIND_HEADER, kind);
                if let Some(key) = key {
                    request =
                        request.header(SIGNATURE_HEADER, format!("sha256={}", hex(hmac::sign(key, body).as_ref())));
                }
                let response = request.body(body.to_vec()).send().await.map_err(|e| describe_http_error(&e))?;
                let status = response.status();
                if status.is_success() { Ok(()) } else { Err(format!("the receiver answered {status}")) }
            }
            Deliverer::Command { program, args } => run_command(program, args, body, timeout).await,
        }
    }
}

/// reqwest's errors say little at the top level; the source chain says why.
fn describe_http_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The system's roots plus the hook's `ca_file`.
fn client_tls(config: &HookConfig) -> Result<rustls::ClientConfig, HookConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    // Certificates the system store cannot parse are skipped, as browsers do.
    let _ = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = &config.ca_file {
        use rustls_pki_types::pem::PemObject;
        let bad = |message: String| HookConfigError { key: "ca_file", message };
        let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(format!("{}: {e}", path.display())))?
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("{}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(bad(format!("{}: no PEM certificate in it", path.display())));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HookConfigError { key: "url", message: format!("TLS set-up failed: {e}") })?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Runs the program without a shell: the event as JSON on stdin and as
/// `OXFTP_*` variables; success is exit status 0 within `timeout`.
async fn run_command(program: &str, args: &[String], body: &[u8], timeout: Duration) -> Result<(), String> {
    let env = to_env(body).ok_or("the spooled event is not a JSON object")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", COMMAND_PATH)
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program:?}: {e}"))?;
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A program that does not read its input is fine.
            let _ = stdin.write_all(body).await;
        }
        child.wait_with_output().await
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Err(format!("{program:?} did not finish within {} s (killed)", timeout.as_secs())),
        Ok(Err(e)) => Err(format!("waiting for {program:?} failed: {e}")),
        Ok(Ok(output)) if output.status.success() => Ok(()),
        Ok(Ok(output)) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.lines().last().unwrap_or("").chars().take(200).collect::<String>();
            Err(format!("{program:?} exited with {}: {last}", output.status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[tokio::test]
    async fn commands_get_the_event_and_their_status_counts() {
        let body = br#"{"id":"abc","kind":"upload","path":"/a b"}"#;
        let out = tempfile::NamedTempFile::new().unwrap();
        let script = format!(
            "import os,sys; open({:?},'w').write(os.environ['OXFTP_PATH'] + '|' + sys.stdin.read())",
            out.path().to_str().unwrap()
        );
        let args = vec!["-c".to_string(), script];
        run_command("python3", &args, body, Duration::from_secs(20)).await.unwrap();
        let written = std::fs::read_to_string(out.path()).unwrap();
        assert_eq!(written, format!("/a b|{}", std::str::from_utf8(body).unwrap()));

        let e = run_command("false", &[], body, Duration::from_secs(20)).await.unwrap_err();
        assert!(e.contains("exited"), "{e}");
        let e = run_command("sleep", &["30".into()], body, Duration::from_millis(300)).await.unwrap_err();
        assert!(e.contains("did not finish"), "{e}");
        let e = run_command("/nonexistent/prog", &[], body, Duration::from_secs(5)).await.unwrap_err();
        assert!(e.contains("cannot run"), "{e}");
    }
}
