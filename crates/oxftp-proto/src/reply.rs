//! Server replies, formatted as RFC 959 §4.2 says.
//!
//! A reply is a three-digit code and one or more lines of text. On the wire a
//! single line is `NNN text\r\n`; several lines are `NNN-first\r\n`, the middle
//! lines, and `NNN last\r\n`. A client finds the end of a reply by looking for a
//! line that starts with the code and a space, so the encoder makes sure no
//! middle line can look like that, and no text can ever contain CR or LF: a file
//! name or a user name echoed back can never inject a reply of its own.

/// One reply: a code and its text lines (without line terminators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code (100..=599).
    pub code: u16,
    /// The text lines, first to last. CR and LF inside a line are replaced by
    /// spaces when encoding; an empty list is sent as one empty line.
    pub lines: Vec<Vec<u8>>,
}

impl Reply {
    /// A reply whose text is split into lines at CRLF, LF or a lone CR, so
    /// that text with embedded line breaks becomes a well-formed multi-line
    /// reply instead of a second, forged reply. A trailing line break does not
    /// add an empty last line.
    pub fn new(code: u16, text: impl AsRef<[u8]>) -> Reply {
        let text = text.as_ref();
        let mut lines = Vec::new();
        let mut current = Vec::new();
        let mut i = 0;
        while let Some(&b) = text.get(i) {
            match b {
                b'\r' | b'\n' => {
                    lines.push(std::mem::take(&mut current));
                    // A CRLF pair is one line break, not two.
                    if b == b'\r' && text.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                }
                _ => current.push(b),
            }
            i += 1;
        }
        if !current.is_empty() || lines.is_empty() {
            lines.push(current);
        }
        Reply { code, lines }
    }

    /// A reply from lines given one by one (for example FEAT or HELP output).
    pub fn multi(code: u16, lines: Vec<Vec<u8>>) -> Reply {
        Reply { code, lines }
    }

    /// Whether the code is a positive preliminary, completion or intermediate
    /// reply (1yz, 2yz, 3yz).
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// Append the reply's wire bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        // Codes outside three digits would break every client's parser.
        let code = self.code.min(999);
        let code_digits = [b'0' + (code / 100) as u8, b'0' + (code / 10 % 10) as u8, b'0' + (code % 10) as u8];
        let last = self.lines.len().saturating_sub(1);
        if self.lines.is_empty() {
            out.extend_from_slice(&code_digits);
            out.extend_from_slice(b" \r\n");
            return;
        }
        for (i, line) in self.lines.iter().enumerate() {
            if i == 0 || i == last {
                out.extend_from_slice(&code_digits);
                out.push(if i == last { b' ' } else { b'-' });
            } else if line.first().is_none_or(|b| b.is_ascii_digit()) {
                // RFC 959: a middle line must not start like an end line
                // (`NNN `); an indent also keeps empty lines visible.
                out.push(b' ');
            }
            push_clean(line, out);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The reply's wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.lines.iter().map(|l| l.len() + 6).sum::<usize>());
        self.encode(&mut out);
        out
    }
}

/// Copy `line` to `out` with CR and LF turned into spaces, so a line can
/// never end early on the wire.
fn push_clean(line: &[u8], out: &mut Vec<u8>) {
    out.extend(line.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn single_line() {
        assert_eq!(Reply::new(200, "NOOP ok.").to_bytes(), b"200 NOOP ok.\r\n");
        assert_eq!(Reply::new(200, "").to_bytes(), b"200 \r\n");
        assert_eq!(Reply::new(226, "done\r\n").to_bytes(), b"226 done\r\n");
        assert_eq!(Reply::multi(200, vec![]).to_bytes(), b"200 \r\n");
    }

    #[test]
    fn text_with_breaks_becomes_multi_line() {
        let r = Reply::new(550, "no such file\r\n550 forged\rthird\nlast");
        assert_eq!(r.lines.len(), 4);
        assert_eq!(r.to_bytes(), b"550-no such file\r\n 550 forged\r\nthird\r\n550 last\r\n".to_vec());
    }

    #[test]
    fn multi_line_layout() {
        let r = Reply::multi(
            211,
            vec![b"Features:".to_vec(), b" MDTM".to_vec(), b"".to_vec(), b"123 x".to_vec(), b"End".to_vec()],
        );
        assert_eq!(r.to_bytes(), b"211-Features:\r\n MDTM\r\n \r\n 123 x\r\n211 End\r\n".to_vec());
        let two = Reply::multi(230, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(two.to_bytes(), b"230-a\r\n230 b\r\n");
    }

    #[test]
    fn line_breaks_inside_lines_are_neutralised() {
        let r = Reply::multi(257, vec![b"\"/a\nb\" created\r".to_vec()]);
        assert_eq!(r.to_bytes(), b"257 \"/a b\" created \r\n");
    }

    #[test]
    fn odd_codes_stay_three_digits() {
        assert_eq!(Reply::new(5, "x").to_bytes(), b"005 x\r\n");
        assert_eq!(Reply::new(60000, "x").to_bytes(), b"999 x\r\n");
        assert!(Reply::new(331, "x").is_positive());
        assert!(!Reply::new(530, "x").is_positive());
    }

    proptest! {
        #[test]
        fn encoded_lines_are_well_formed(
            code in 100u16..600,
            lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
            text in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            for reply in [Reply::multi(code, lines.clone()), Reply::new(code, &text)] {
                let bytes = reply.to_bytes();
                prop_assert!(bytes.ends_with(b"\r\n"));
                let body = &bytes[..bytes.len() - 2];
                let wire_lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
                let n = wire_lines.len();
                for (i, l) in wire_lines.iter().enumerate() {
                    // Every line but the last had its LF consumed by split; it must end with CR.
                    let content = if i + 1 < n {
                        prop_assert!(l.ends_with(b"\r"));
                        &l[..l.len() - 1]
                    } else {
                        *l
                    };
                    prop_assert!(!content.contains(&b'\r'));
                    let code_str = format!("{code}");
                    let is_end = content.len() >= 4 && &content[..3] == code_str.as_bytes() && content[3] == b' ';
                    // Exactly the last line looks like an end line.
                    prop_assert_eq!(is_end, i + 1 == n);
                }
            }
        }
    }
}
