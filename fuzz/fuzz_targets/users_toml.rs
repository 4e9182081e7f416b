//! The TOML users file (`oxftp-auth-file`) and the position helpers (`oxftp-diag`).
//!
//! Properties:
//! - no panic on any text;
//! - every refusal names a line or a key, the line lies within the text,
//!   and the message is not empty;
//! - `line_of` and `key_at` (used for every config error) never panic on
//!   any offset or span, and `line_of` stays within the text's lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxftp_auth_file::FileAuthenticator;
use oxftp_diag::{key_at, line_of};

fuzz_target!(|data: &[u8]| {
    let Some((&knob, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let lines = text.split('\n').count();
    match FileAuthenticator::from_toml(text) {
        Ok(auth) => assert!(auth.len() <= text.len() / 8),
        Err(e) => {
            assert!(e.line().is_some() || e.key().is_some(), "error without line or key: {e:?}");
            if let Some(line) = e.line() {
                assert!((1..=lines).contains(&line), "line {line} of {lines}: {e:?}");
            }
            assert!(!e.message().is_empty());
            let _ = e.to_string();
        }
    }
    // Arbitrary offsets, including inside a multi-byte character and past the end.
    let at = usize::from(knob) * text.len() / 255 + usize::from(knob & 1);
    let line = line_of(text, at);
    assert!((1..=lines).contains(&line));
    let _ = key_at(text, at..at + usize::from(knob % 7));
});
