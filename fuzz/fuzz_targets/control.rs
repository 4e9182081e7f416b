//! The control channel: Telnet/IAC line decoder, then the command parser.
//!
//! Properties:
//! - the decoder's events do not depend on how the stream is split into reads;
//! - every line is at most `max_len` bytes and holds no LF;
//! - lines of plain bytes (IAC doubled, no CR/LF) come back verbatim, or as
//!   `TooLong` when longer than the limit;
//! - `parse` accepts no line with CR, LF or NUL; an accepted command's verb is
//!   the line's first word upper-cased (or its RFC 775 `X` alias); the verb's
//!   case never changes the result;
//! - every parse error maps to 500/501/502/504/522 and its reply is exactly
//!   one line on the wire (no text from the client can end it early).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxftp_proto::command::parse;
use oxftp_proto::line::{LineDecoder, LineEvent};

/// Feed `input` in `chunk`-byte reads and collect the events.
fn events(max_len: usize, input: &[u8], chunk: usize) -> Vec<LineEvent> {
    let mut decoder = LineDecoder::new(max_len);
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        let mut rest = piece;
        loop {
            let (used, event) = decoder.decode(rest);
            assert!(used <= rest.len());
            rest = &rest[used..];
            match event {
                Some(event) => out.push(event),
                None => {
                    assert!(rest.is_empty(), "decoder stopped before the end without an event");
                    break;
                }
            }
        }
        assert!(decoder.buffered() <= max_len + 1);
    }
    out
}

fn check_command(line: &[u8]) {
    let result = parse(line);
    match &result {
        Ok(command) => {
            assert!(!line.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0), "accepted {line:?}");
            let verb = command.verb();
            let word = line.split(|&b| b == b' ').next().unwrap_or_default().to_ascii_uppercase();
            // The word is the verb's name or one of its aliases (the verb table's row).
            let spelled = std::iter::once(verb.name()).chain(verb.aliases().iter().copied());
            assert!(
                spelled.into_iter().any(|s| s.as_bytes() == word.as_slice()),
                "{line:?} parsed as {verb}"
            );
        }
        Err(error) => {
            let reply = error.reply();
            assert!(matches!(reply.code, 500 | 501 | 502 | 504 | 522), "{error:?} -> {}", reply.code);
            let wire = reply.to_bytes();
            assert!(wire.ends_with(b"\r\n"), "{wire:?}");
            assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 1, "{wire:?}");
            assert_eq!(wire.iter().filter(|&&b| b == b'\r').count(), 1, "{wire:?}");
            assert_eq!(&wire[..4], format!("{} ", reply.code).as_bytes());
        }
    }
    // The verb is case-insensitive: flipping its case changes nothing.
    let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let mut flipped = line.to_vec();
    for b in &mut flipped[..verb_end] {
        if b.is_ascii_alphabetic() {
            *b ^= 0x20;
        }
    }
    assert_eq!(parse(&flipped), result, "case of {line:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, stream)) = data.split_first() else { return };
    // Small limits reach the too-long paths; 0x3F picks the default.
    let max_len = match knobs & 0x3F {
        0x3F => oxftp_proto::line::DEFAULT_MAX_LINE,
        n => usize::from(n) * 3,
    };
    let chunk = usize::from(knobs >> 6) * 5 + 1;

    let whole = events(max_len, stream, stream.len().max(1));
    assert_eq!(events(max_len, stream, chunk), whole, "chunks of {chunk} differ");
    for event in &whole {
        if let LineEvent::Line(line) = event {
            assert!(line.len() <= max_len);
            assert!(!line.contains(&b'\n'));
            check_command(line);
        }
    }

    // Plain lines: the stream's LF-separated pieces without CR or LF, with
    // every 0xFF sent as IAC IAC, each ended by CRLF.
    let plain: Vec<Vec<u8>> =
        stream.split(|&b| b == b'\n').map(|l| l.iter().copied().filter(|&b| b != b'\r').collect()).collect();
    let mut wire = Vec::new();
    for line in &plain {
        for &b in line {
            wire.push(b);
            if b == 0xFF {
                wire.push(0xFF);
            }
        }
        wire.extend_from_slice(b"\r\n");
    }
    let want: Vec<LineEvent> = plain
        .iter()
        .map(|l| if l.len() <= max_len { LineEvent::Line(l.clone()) } else { LineEvent::TooLong })
        .collect();
    assert_eq!(events(max_len, &wire, chunk), want);
});
