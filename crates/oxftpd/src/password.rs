//! `oxftpd hash-password`: read a password, print its argon2id hash.
//!
//! The password comes from `--password` or one line of stdin. On a terminal
//! the prompt turns echo off, so the password does not stay on screen.

use std::io::{BufRead, IsTerminal as _, Write as _};

use anyhow::{Context as _, bail};

/// Longest password accepted, in bytes: far beyond any passphrase, and it
/// bounds what a stray pipe (`hash-password < /dev/zero`) makes us buffer.
pub const MAX_PASSWORD_LEN: usize = 4096;

/// The password to hash: `given`, or one line of stdin without its line end.
pub fn read_password(given: Option<String>) -> anyhow::Result<String> {
    let password = match given {
        Some(password) => password,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() { prompt_without_echo(&stdin)? } else { read_line_bounded(&mut stdin.lock())? }
        }
    };
    check(&password)?;
    Ok(password)
}

/// Refuses passwords that cannot be what the admin meant.
fn check(password: &str) -> anyhow::Result<()> {
    if password.is_empty() {
        bail!("empty password: give one on stdin or with --password");
    }
    if password.len() > MAX_PASSWORD_LEN {
        bail!("password longer than {MAX_PASSWORD_LEN} bytes");
    }
    Ok(())
}

/// One line of `input` (at most [`MAX_PASSWORD_LEN`] bytes plus its line end),
/// without the trailing `\n` or `\r\n`.
pub fn read_line_bounded(input: impl BufRead) -> anyhow::Result<String> {
    let mut line = Vec::new();
    // One byte over the limit (plus CRLF) is enough to tell "too long".
    let limit = (MAX_PASSWORD_LEN + 3) as u64;
    std::io::Read::take(input, limit).read_until(b'\n', &mut line).context("cannot read the password from stdin")?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    } else if line.len() as u64 >= limit {
        bail!("password longer than {MAX_PASSWORD_LEN} bytes");
    }
    String::from_utf8(line).context("the password is not valid UTF-8")
}

/// Prompts on stderr and reads a line from the terminal with echo off,
/// restoring the terminal afterwards even if reading fails.
fn prompt_without_echo(stdin: &std::io::Stdin) -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};

    eprint!("Password: ");
    let _ = std::io::stderr().flush();
    let saved = tcgetattr(stdin).ok();
    if let Some(saved) = &saved {
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        // Failing to hide the echo is not worth refusing to hash.
        let _ = tcsetattr(stdin, OptionalActions::Flush, &quiet);
    }
    let line = read_line_bounded(&mut stdin.lock());
    if let Some(saved) = &saved {
        let _ = tcsetattr(stdin, OptionalActions::Flush, saved);
    }
    eprintln!();
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(input: &[u8]) -> anyhow::Result<String> {
        read_line_bounded(&mut &input[..])
    }

    #[test]
    fn line_ends_are_stripped_and_only_the_first_line_counts() {
        assert_eq!(line(b"secret\n").unwrap(), "secret");
        assert_eq!(line(b"secret\r\nsecond line\n").unwrap(), "secret");
        assert_eq!(line(b"no newline").unwrap(), "no newline");
        assert_eq!(line(b" spaces kept \n").unwrap(), " spaces kept ");
    }

    #[test]
    fn bounds_and_encoding_are_checked() {
        let long = vec![b'a'; MAX_PASSWORD_LEN + 10];
        assert!(line(&long).is_err());
        let exact = [vec![b'a'; MAX_PASSWORD_LEN], b"\r\n".to_vec()].concat();
        assert_eq!(line(&exact).unwrap().len(), MAX_PASSWORD_LEN);
        assert!(line(b"\xff\xfe\n").is_err());
    }

    #[test]
    fn empty_or_oversized_passwords_are_refused() {
        assert!(read_password(Some(String::new())).is_err());
        assert!(read_password(Some("x".repeat(MAX_PASSWORD_LEN + 1))).is_err());
        assert_eq!(read_password(Some("pw".into())).unwrap(), "pw");
    }
}
