//! oxftpd's config file: `Config::from_toml`, parsing and validation.
//!
//! Properties:
//! - no panic on any text;
//! - a refused config has at least one error, and every error names a key
//!   or a line (what `check-config` prints is actionable); a line in the
//!   config text is within the text; messages are not empty; the errors
//!   display.
//!
//! Relative paths resolve in a scratch directory holding `srv/pub/incoming`,
//! `users.toml` and `users.json`, so valid configs reach the deeper checks.
//! Inputs that name device or kernel files (`/dev`, `/proc`, `/sys`) are
//! skipped: reading `/dev/stdin` would block, and they test nothing of ours.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oxftpd::config::{Config, Overrides};

fn base() -> &'static PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        // One fixed directory: every run writes the same kind of files into it.
        let dir = std::env::temp_dir().join("oxftp-fuzz-config");
        std::fs::create_dir_all(dir.join("srv/pub/incoming")).expect("scratch dir");
        let hash = oxftp_auth_file::hash_password("fuzz");
        let users = format!("[[user]]\nname = \"alice\"\npassword_hash = \"{hash}\"\nhome = \"/pub\"\n");
        std::fs::write(dir.join("users.toml"), users).expect("users.toml");
        std::fs::write(dir.join("users.json"), r#"[{"username": "bob", "password": "x"}]"#).expect("users.json");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
        return;
    }
    let lines = text.split('\n').count();
    match Config::from_toml(text, base(), &Overrides::default()) {
        Ok(config) => {
            assert!(!config.server.listen.is_empty() || config.tls.is_some());
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "refused without a reason");
            for error in &errors.0 {
                assert!(error.key.is_some() || error.line.is_some(), "error without key or line: {error:?}");
                assert!(!error.message.is_empty(), "{error:?}");
                if error.file.is_none()
                    && let Some(line) = error.line
                {
                    assert!((1..=lines).contains(&line), "line {line} of {lines}: {error:?}");
                }
            }
            let _ = errors.to_string();
        }
    }
});
