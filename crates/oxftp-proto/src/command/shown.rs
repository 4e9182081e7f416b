//! Command lines and replies as a log may show them.
//!
//! A debug log of the control connection is only useful if it shows what
//! went over the wire, and only safe if it never shows a secret: the argument
//! of `PASS` (a password) and of `ACCT` (account information, which some
//! sites use as a second password) are replaced by `****`. Bytes that are not
//! printable ASCII or UTF-8 are escaped, so a hostile name cannot forge log
//! lines or terminal escapes.

use std::fmt;

use crate::reply::Reply;

/// Longest part of a line shown; the rest is summarised as `...`.
const MAX_SHOWN: usize = 512;

/// A command line as the log shows it (see the module doc). Formatting is
/// lazy: nothing is built unless the record is written.
#[derive(Debug, Clone, Copy)]
pub struct ShownCommand<'a>(pub &'a [u8]);

impl fmt::Display for ShownCommand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.0;
        let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        let verb = &line[..verb_end];
        if verb.eq_ignore_ascii_case(b"PASS") || verb.eq_ignore_ascii_case(b"ACCT") {
            write_escaped(f, verb)?;
            // Even an empty password is shown as masked: its length is a secret too.
            return f.write_str(" ****");
        }
        write_escaped(f, line)
    }
}

/// A reply as the log shows it: `code text`, lines joined with ` | `.
#[derive(Debug, Clone, Copy)]
pub struct ShownReply<'a>(pub &'a Reply);

impl fmt::Display for ShownReply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.code)?;
        for (i, line) in self.0.lines.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { " | " })?;
            write_escaped(f, line)?;
        }
        Ok(())
    }
}

/// Printable ASCII and valid UTF-8 as they are; anything else as `\xNN`;
/// at most [`MAX_SHOWN`] bytes.
fn write_escaped(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    let (shown, cut) = if bytes.len() > MAX_SHOWN { (&bytes[..MAX_SHOWN], true) } else { (bytes, false) };
    for chunk in shown.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                write!(f, "\\x{:02x}", u32::from(c) & 0xff)?;
            } else {
                write!(f, "{c}")?;
            }
        }
        for b in chunk.invalid() {
            write!(f, "\\x{b:02x}")?;
        }
    }
    if cut { f.write_str("...") } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_the_rest_is_shown() {
        assert_eq!(ShownCommand(b"PASS hunter2").to_string(), "PASS ****");
        assert_eq!(ShownCommand(b"pass").to_string(), "pass ****");
        assert_eq!(ShownCommand(b"Acct secret code").to_string(), "Acct ****");
        assert_eq!(ShownCommand(b"USER alice").to_string(), "USER alice");
        assert_eq!(ShownCommand(b"PASSX y").to_string(), "PASSX y");
        assert_eq!(ShownCommand(b"RETR caf\xc3\xa9\x1b[2J\xff").to_string(), "RETR café\\x1b[2J\\xff");
        let long = [b'a'; 600];
        assert!(ShownCommand(&long).to_string().ends_with("a..."));
    }

    #[test]
    fn replies_show_code_and_lines() {
        assert_eq!(ShownReply(&Reply::new(230, "Login successful.")).to_string(), "230 Login successful.");
        let multi = Reply::multi(211, vec![b"Features:".to_vec(), b" MDTM".to_vec(), b"End".to_vec()]);
        assert_eq!(ShownReply(&multi).to_string(), "211 Features: |  MDTM | End");
    }
}
