//! The TYPE A codec.
//!
//! The exact round-trip property: decode(encode(x)) == x with every CRLF
//! pair replaced by LF. (The encoder keeps an existing CRLF and turns a bare
//! LF into CRLF; the decoder turns CRLF into LF and keeps a lone CR, so a
//! local CRLF cannot survive the trip: it arrives as LF.) In particular,
//! local text without a CR directly before an LF comes back unchanged.
//! Also:
//! - neither direction depends on how the data is split into reads;
//! - `count`/`ascii_size` equal the encoded length;
//! - every LF on the wire is preceded by CR, and encoding is idempotent;
//! - the decoder never grows its input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxftp_proto::ascii::{AsciiDecoder, AsciiEncoder, ascii_size};

fn pieces<'a>(data: &'a [u8], cuts: &[u16]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|&c| usize::from(c) % (data.len() + 1)).collect();
    points.push(0);
    points.push(data.len());
    points.sort_unstable();
    points.windows(2).map(|w| &data[w[0]..w[1]]).collect()
}

fn encode(chunks: &[&[u8]]) -> Vec<u8> {
    let mut e = AsciiEncoder::new();
    let mut out = Vec::new();
    for c in chunks {
        e.encode(c, &mut out);
    }
    out
}

fn decode(chunks: &[&[u8]]) -> Vec<u8> {
    let mut d = AsciiDecoder::new();
    let mut out = Vec::new();
    for c in chunks {
        d.decode(c, &mut out);
    }
    d.finish(&mut out);
    out
}

/// `x` with each CRLF pair (left to right) replaced by LF.
fn crlf_to_lf(x: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len());
    let mut i = 0;
    while i < x.len() {
        if x[i] == b'\r' && x.get(i + 1) == Some(&b'\n') {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(x[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|input: (Vec<u8>, Vec<u16>)| {
    let (data, cuts) = input;
    let split = pieces(&data, &cuts);

    let wire = encode(&[&data]);
    assert_eq!(encode(&split), wire);
    assert_eq!(ascii_size(&data), wire.len() as u64);
    let mut counter = AsciiEncoder::new();
    assert_eq!(split.iter().map(|p| counter.count(p)).sum::<u64>(), wire.len() as u64);
    for (i, &b) in wire.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && wire[i - 1] == b'\r', "bare LF on the wire at {i}");
        }
    }
    assert_eq!(encode(&[&wire]), wire, "encoding twice changed the data");

    let back = decode(&[&wire]);
    assert_eq!(back, crlf_to_lf(&data));
    if !data.windows(2).any(|w| w == b"\r\n") {
        assert_eq!(back, data);
    }

    let local = decode(&[&data]);
    assert_eq!(decode(&split), local);
    assert!(local.len() <= data.len());
    assert_eq!(local, crlf_to_lf(&data));
});
