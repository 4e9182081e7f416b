//! The `TYPE A` line-end codec (RFC 959 §3.1.1.1).
//!
//! In ASCII mode the data connection carries NVT-ASCII, whose line end is
//! CRLF; the local (Unix) form of a text file ends lines with LF. The encoder
//! turns local text into network text for RETR/LIST, the decoder turns
//! uploaded network text back into local text for STOR/APPE. Both keep their
//! state between chunks, so a CR at the end of one read and the LF at the
//! start of the next are still seen as one line end. Other bytes pass through
//! untouched: no character set conversion is done.

/// Local text to network text: a LF not preceded by CR becomes CRLF; an
/// existing CRLF is kept as is, so already-CRLF files are not doubled.
#[derive(Debug, Clone, Default)]
pub struct AsciiEncoder {
    /// The last input byte was CR.
    after_cr: bool,
}

impl AsciiEncoder {
    /// A fresh encoder, at the start of a file.
    pub fn new() -> Self {
        AsciiEncoder::default()
    }

    /// Append the network form of `input` to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 32);
        let mut rest = input;
        while let Some(lf) = rest.iter().position(|&b| b == b'\n') {
            let (before, after) = rest.split_at(lf);
            out.extend_from_slice(before);
            let cr_before = match before.last() {
                Some(&b) => b == b'\r',
                None => self.after_cr,
            };
            if !cr_before {
                out.push(b'\r');
            }
            out.push(b'\n');
            self.after_cr = false;
            rest = after.get(1..).unwrap_or_default();
        }
        out.extend_from_slice(rest);
        if let Some(&last) = rest.last() {
            self.after_cr = last == b'\r';
        }
    }

    /// The number of network bytes `input` encodes to, advancing the state
    /// exactly as [`AsciiEncoder::encode`] would (for computing the ASCII
    /// SIZE of a file read in chunks).
    pub fn count(&mut self, input: &[u8]) -> u64 {
        let mut extra = 0u64;
        for &b in input {
            if b == b'\n' && !self.after_cr {
                extra += 1;
            }
            self.after_cr = b == b'\r';
        }
        input.len() as u64 + extra
    }
}

/// Network text to local text: CRLF becomes LF; a CR not followed by LF is
/// kept. Call [`AsciiDecoder::finish`] at the end of the transfer to flush a
/// CR that was the very last byte.
#[derive(Debug, Clone, Default)]
pub struct AsciiDecoder {
    /// A CR ended the previous chunk and has not been written yet.
    pending_cr: bool,
}

impl AsciiDecoder {
    /// A fresh decoder, at the start of a file.
    pub fn new() -> Self {
        AsciiDecoder::default()
    }

    /// Append the local form of `input` to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + 1);
        let mut rest = input;
        if self.pending_cr {
            self.pending_cr = false;
            if rest.first() == Some(&b'\n') {
                // The CR was the first half of a CRLF split across chunks.
                out.push(b'\n');
                rest = rest.get(1..).unwrap_or_default();
            } else if !rest.is_empty() {
                out.push(b'\r');
            } else {
                self.pending_cr = true;
                return;
            }
        }
        while let Some(cr) = rest.iter().position(|&b| b == b'\r') {
            let (before, after) = rest.split_at(cr);
            out.extend_from_slice(before);
            match after.get(1) {
                Some(b'\n') => {
                    out.push(b'\n');
                    rest = after.get(2..).unwrap_or_default();
                }
                Some(_) => {
                    out.push(b'\r');
                    rest = after.get(1..).unwrap_or_default();
                }
                None => {
                    // Last byte of the chunk: wait for the next one.
                    self.pending_cr = true;
                    return;
                }
            }
        }
        out.extend_from_slice(rest);
    }

    /// End of input: write a trailing CR that was held back.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

/// The network size of local bytes in ASCII mode: each LF not preceded by a
/// CR counts two (what the encoder would send).
pub fn ascii_size(data: &[u8]) -> u64 {
    AsciiEncoder::new().count(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(chunks: &[&[u8]]) -> Vec<u8> {
        let mut e = AsciiEncoder::new();
        let mut out = Vec::new();
        for c in chunks {
            e.encode(c, &mut out);
        }
        out
    }

    fn dec(chunks: &[&[u8]]) -> Vec<u8> {
        let mut d = AsciiDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.decode(c, &mut out);
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn encoder_adds_cr_only_where_missing() {
        assert_eq!(enc(&[b"a\nb\n"]), b"a\r\nb\r\n");
        assert_eq!(enc(&[b"a\r\nb"]), b"a\r\nb");
        assert_eq!(enc(&[b"\n\n"]), b"\r\n\r\n");
        assert_eq!(enc(&[b"a\r", b"\nb"]), b"a\r\nb");
        assert_eq!(enc(&[b"a\r", b"", b"\n"]), b"a\r\n");
        assert_eq!(enc(&[b"a\rb", b"\n"]), b"a\rb\r\n");
        assert_eq!(enc(&[b"\r\r\n"]), b"\r\r\n");
    }

    #[test]
    fn decoder_removes_cr_only_before_lf() {
        assert_eq!(dec(&[b"a\r\nb\r\n"]), b"a\nb\n");
        assert_eq!(dec(&[b"a\rb"]), b"a\rb");
        assert_eq!(dec(&[b"a\nb"]), b"a\nb");
        assert_eq!(dec(&[b"a\r", b"\nb"]), b"a\nb");
        assert_eq!(dec(&[b"a\r", b"", b"\n"]), b"a\n");
        assert_eq!(dec(&[b"a\r", b"b"]), b"a\rb");
        assert_eq!(dec(&[b"a\r"]), b"a\r");
        assert_eq!(dec(&[b"\r\r\n"]), b"\r\n");
        assert_eq!(dec(&[b"\r", b"\r", b"\n"]), b"\r\n");
    }

    #[test]
    fn sizes() {
        assert_eq!(ascii_size(b""), 0);
        assert_eq!(ascii_size(b"a\nb\n"), 6);
        assert_eq!(ascii_size(b"a\r\nb"), 4);
        let mut e = AsciiEncoder::new();
        assert_eq!(e.count(b"a\r") + e.count(b"\n"), 3);
    }

    /// Split `data` at the given cut points (taken modulo its length).
    fn split<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> =
            cuts.iter().map(|c| if data.is_empty() { 0 } else { c % (data.len() + 1) }).collect();
        points.push(0);
        points.push(data.len());
        points.sort_unstable();
        points.windows(2).map(|w| &data[w[0]..w[1]]).collect()
    }

    proptest! {
        #[test]
        fn round_trip_without_cr(text in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), any::<u8>()], 0..300)) {
            let text: Vec<u8> = text.into_iter().filter(|&b| b != b'\r').collect();
            let wire = enc(&[&text]);
            prop_assert_eq!(ascii_size(&text), wire.len() as u64);
            prop_assert_eq!(dec(&[&wire]), text);
        }

        #[test]
        fn chunking_never_changes_the_result(
            data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..200),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let pieces = split(&data, &cuts);
            prop_assert_eq!(enc(&pieces), enc(&[&data]));
            prop_assert_eq!(dec(&pieces), dec(&[&data]));
            let mut e = AsciiEncoder::new();
            let counted: u64 = pieces.iter().map(|p| e.count(p)).sum();
            prop_assert_eq!(counted, enc(&[&data]).len() as u64);
        }
    }
}
