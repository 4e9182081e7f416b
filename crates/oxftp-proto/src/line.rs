//! The control-channel line decoder.
//!
//! FTP commands travel over a Telnet connection (RFC 959 §4.1, RFC 854): each
//! command is one line ended by CRLF, and Telnet commands (`IAC x`) may appear
//! anywhere in the byte stream. Clients send `IAC IP` and `IAC DM` ("Synch")
//! before ABOR to interrupt a transfer, and a few old ones negotiate options
//! (`IAC WILL x`). This decoder strips all of that, splits the stream into
//! lines, and never buffers more than `max_len` bytes of a line, so a client
//! cannot make the server hold an unbounded amount of memory by never sending
//! a line end.

/// The default longest command line, in bytes, without its terminator.
/// Paths are at most 4096 bytes ([`crate::path::MAX_PATH`]); a verb and a
/// space beyond that are not worth a second allocation class.
pub const DEFAULT_MAX_LINE: usize = 4096;

/// Telnet "interpret as command".
const IAC: u8 = 0xFF;
/// Telnet "interrupt process".
const IP: u8 = 0xF4;
/// Telnet "data mark" (the end of a Synch).
const DM: u8 = 0xF2;
/// Telnet option negotiation commands, each followed by one option byte.
const WILL: u8 = 0xFB;
const DONT: u8 = 0xFE;

/// Something the decoder recognised in the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum LineEvent {
    /// One command line without its CRLF / LF terminator, Telnet bytes removed.
    Line(Vec<u8>),
    /// A line exceeded `max_len`; its bytes up to and including the next LF
    /// were discarded.
    TooLong,
    /// Telnet `IAC IP` or `IAC DM` was seen: the client signals "interrupt"
    /// (RFC 959 ABOR). Reported on its own, before the line goes on.
    Urgent,
}

/// Where the decoder is inside a Telnet command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    /// Plain data.
    Data,
    /// After `IAC`.
    Iac,
    /// After `IAC WILL/WONT/DO/DONT`: the next byte is the option code.
    Option,
}

/// Splits a control-channel byte stream into [`LineEvent`]s.
///
/// Feed it whatever the socket returned; it keeps the state of a line, a
/// Telnet sequence or a CR split across reads.
#[derive(Debug)]
pub struct LineDecoder {
    max_len: usize,
    buf: Vec<u8>,
    telnet: Telnet,
    /// A CR was seen and not yet stored: it is dropped if an LF follows.
    /// Holding it back (instead of storing it) keeps a line of exactly
    /// `max_len` bytes plus CRLF within the limit.
    pending_cr: bool,
    /// The current line is too long: discard until LF.
    overflow: bool,
}

impl LineDecoder {
    /// A decoder that accepts lines of at most `max_len` bytes (terminator
    /// not counted).
    pub fn new(max_len: usize) -> Self {
        LineDecoder { max_len, buf: Vec::new(), telnet: Telnet::Data, pending_cr: false, overflow: false }
    }

    /// The longest line this decoder accepts.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Bytes of an unfinished line held right now (useful to decide whether
    /// a closed connection cut a command in half).
    pub fn buffered(&self) -> usize {
        self.buf.len() + usize::from(self.pending_cr)
    }

    /// Consume bytes from `data` until one event is complete or `data` is
    /// exhausted. Returns (bytes consumed, event if one completed); call again
    /// with the rest of `data`.
    pub fn decode(&mut self, data: &[u8]) -> (usize, Option<LineEvent>) {
        for (i, &b) in data.iter().enumerate() {
            match self.telnet {
                Telnet::Option => {
                    // The option code is part of the negotiation, never data.
                    self.telnet = Telnet::Data;
                }
                Telnet::Iac => {
                    self.telnet = Telnet::Data;
                    match b {
                        IAC => self.push_data(IAC),
                        IP | DM => return (i + 1, Some(LineEvent::Urgent)),
                        WILL..=DONT => self.telnet = Telnet::Option,
                        _ => {}
                    }
                }
                Telnet::Data => match b {
                    IAC => self.telnet = Telnet::Iac,
                    b'\n' => return (i + 1, Some(self.end_line())),
                    b'\r' => {
                        if self.pending_cr {
                            self.push_byte(b'\r');
                        }
                        self.pending_cr = true;
                    }
                    _ => self.push_data(b),
                },
            }
        }
        (data.len(), None)
    }

    /// A data byte that is not CR: first store a CR held back before it.
    fn push_data(&mut self, b: u8) {
        if self.pending_cr {
            self.pending_cr = false;
            self.push_byte(b'\r');
        }
        self.push_byte(b);
    }

    fn push_byte(&mut self, b: u8) {
        if self.overflow {
            return;
        }
        if self.buf.len() >= self.max_len {
            self.overflow = true;
            self.buf = Vec::new();
            return;
        }
        if self.buf.len() == self.buf.capacity() {
            // Grow by doubling but never past max_len, so a long line costs
            // at most max_len bytes, not the next power of two.
            let want = (self.buf.capacity() * 2).max(64).min(self.max_len);
            self.buf.reserve_exact(want - self.buf.len());
        }
        self.buf.push(b);
    }

    fn end_line(&mut self) -> LineEvent {
        // A CR right before the LF is the terminator's; drop it.
        self.pending_cr = false;
        if self.overflow {
            self.overflow = false;
            self.buf = Vec::new();
            return LineEvent::TooLong;
        }
        LineEvent::Line(std::mem::take(&mut self.buf))
    }
}

impl Default for LineDecoder {
    fn default() -> Self {
        LineDecoder::new(DEFAULT_MAX_LINE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feed all of `input` in chunks of `chunk` bytes and collect the events.
    fn events(decoder: &mut LineDecoder, input: &[u8], chunk: usize) -> Vec<LineEvent> {
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            let mut rest = piece;
            loop {
                let (used, ev) = decoder.decode(rest);
                assert!(used <= rest.len());
                rest = &rest[used..];
                match ev {
                    Some(ev) => out.push(ev),
                    None => {
                        assert!(rest.is_empty());
                        break;
                    }
                }
            }
        }
        out
    }

    fn line(s: &[u8]) -> LineEvent {
        LineEvent::Line(s.to_vec())
    }

    #[test]
    fn splits_lines_on_crlf_and_lf() {
        let mut d = LineDecoder::new(100);
        let ev = events(&mut d, b"USER ann\r\nPASS x\nNOOP\r\n\r\n", 1000);
        assert_eq!(ev, vec![line(b"USER ann"), line(b"PASS x"), line(b"NOOP"), line(b"")]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn returns_after_each_event() {
        let mut d = LineDecoder::new(100);
        let (used, ev) = d.decode(b"A\r\nB\r\n");
        assert_eq!((used, ev), (3, Some(line(b"A"))));
        let (used, ev) = d.decode(b"B\r\n");
        assert_eq!((used, ev), (3, Some(line(b"B"))));
        assert_eq!(d.decode(b"partial"), (7, None));
        assert_eq!(d.buffered(), 7);
    }

    #[test]
    fn lone_cr_is_kept() {
        let mut d = LineDecoder::new(100);
        let ev = events(&mut d, b"a\rb\r\r\nc\r\r\r\n", 1000);
        assert_eq!(ev, vec![line(b"a\rb\r"), line(b"c\r\r")]);
    }

    #[test]
    fn telnet_sequences_are_removed() {
        let mut d = LineDecoder::new(100);
        // IAC IAC -> 0xFF; IAC WILL x, IAC DO x removed; IAC NOP removed.
        let input = b"a\xff\xffb\xff\xfb\x01c\xff\xfd\x0ad\xff\xf1e\r\n";
        assert_eq!(events(&mut d, input, 1000), vec![line(b"a\xffbcde")]);
    }

    #[test]
    fn interrupt_is_reported_before_the_line() {
        let mut d = LineDecoder::new(100);
        let input = b"\xff\xf4\xff\xf2ABOR\r\n";
        for chunk in [1, 2, 3, 100] {
            assert_eq!(
                events(&mut d, input, chunk),
                vec![LineEvent::Urgent, LineEvent::Urgent, line(b"ABOR")],
                "chunk {chunk}"
            );
        }
        // In the middle of a line the line goes on after the event.
        assert_eq!(events(&mut d, b"AB\xff\xf4OR\r\n", 100), vec![LineEvent::Urgent, line(b"ABOR")]);
    }

    #[test]
    fn cr_before_telnet_then_lf_is_a_terminator() {
        let mut d = LineDecoder::new(100);
        assert_eq!(events(&mut d, b"x\r\xff\xf1\n", 1), vec![line(b"x")]);
        assert_eq!(events(&mut d, b"x\r\xff\xffy\n", 1), vec![line(b"x\r\xffy")]);
    }

    #[test]
    fn too_long_lines_are_dropped_once() {
        let mut d = LineDecoder::new(8);
        let input = b"12345678\r\n123456789\r\nNOOP\r\n";
        for chunk in [1, 3, 100] {
            assert_eq!(events(&mut d, input, chunk), vec![line(b"12345678"), LineEvent::TooLong, line(b"NOOP")]);
        }
    }

    #[test]
    fn memory_stays_bounded_without_line_end() {
        let mut d = LineDecoder::new(1000);
        let junk = vec![b'x'; 64 * 1024];
        for _ in 0..100 {
            assert_eq!(d.decode(&junk), (junk.len(), None));
            assert!(d.buf.capacity() <= 1000);
        }
        assert_eq!(d.decode(b"\r\nQUIT\r\n"), (2, Some(LineEvent::TooLong)));
        assert_eq!(d.decode(b"QUIT\r\n"), (6, Some(line(b"QUIT"))));
    }

    #[test]
    fn capacity_never_exceeds_limit_while_growing() {
        let mut d = LineDecoder::new(100);
        let (_, ev) = d.decode(&[b'y'; 100]);
        assert_eq!(ev, None);
        assert!(d.buf.capacity() <= 100);
        assert_eq!(d.decode(b"\n").1, Some(LineEvent::Line(vec![b'y'; 100])));
    }

    #[test]
    fn zero_limit_rejects_everything_but_empty_lines() {
        let mut d = LineDecoder::new(0);
        assert_eq!(events(&mut d, b"\r\na\r\n", 10), vec![line(b""), LineEvent::TooLong]);
    }

    proptest! {
        #[test]
        fn never_panics_and_chunking_does_not_matter(
            input in proptest::collection::vec(any::<u8>(), 0..600),
            chunk in 1usize..40,
            max in 0usize..50,
        ) {
            let whole = events(&mut LineDecoder::new(max), &input, input.len().max(1));
            let mut d = LineDecoder::new(max);
            let pieces = events(&mut d, &input, chunk);
            prop_assert_eq!(&whole, &pieces);
            prop_assert!(d.buf.capacity() <= max.max(1));
            for ev in &whole {
                if let LineEvent::Line(l) = ev {
                    prop_assert!(l.len() <= max);
                    prop_assert!(!l.contains(&b'\n'));
                }
            }
        }

        #[test]
        fn plain_lines_round_trip(lines in proptest::collection::vec("[ -~]{0,30}", 0..10)) {
            let mut input = Vec::new();
            for l in &lines {
                input.extend_from_slice(l.as_bytes());
                input.extend_from_slice(b"\r\n");
            }
            let got = events(&mut LineDecoder::new(30), &input, 7);
            let want: Vec<LineEvent> = lines.iter().map(|l| line(l.as_bytes())).collect();
            prop_assert_eq!(got, want);
        }
    }
}
