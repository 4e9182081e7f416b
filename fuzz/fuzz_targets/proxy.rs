//! The PROXY protocol header parser (`oxftp_proto::proxy`).
//!
//! Properties, for any bytes and any v2 length limit:
//! - `Incomplete` asks for at least one byte, and only while fewer than
//!   the longest possible header have been seen;
//! - a `Complete` header is at least MIN_LEN bytes, within the buffer, within
//!   V1_MAX_LEN (v1) or the limit (v2), and parsing exactly its bytes gives
//!   the same header: bytes after it are never looked at;
//! - every strict prefix of a complete header is `Incomplete`, and its
//!   `needed` never reaches past the header's end (a listener reading exactly
//!   `needed` bytes never swallows application data);
//! - once invalid, always invalid: more bytes never rescue a bad header;
//! - the TLV iterator covers exactly the TLV area;
//! - writing the parsed header back (v1 or v2) and parsing again gives the
//!   same command, transport and addresses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxftp_proto::proxy::{
    Addresses, Command, MIN_LEN, Parsed, Tlv, V1_MAX_LEN, V2_FIXED_LEN, V2_MAX_LEN, Version, parse_with_limit,
    tlv_type, write_v1, write_v2,
};

fuzz_target!(|data: &[u8]| {
    let Some((&knob, buf)) = data.split_first() else { return };
    let limit = if knob < 0x80 { V2_MAX_LEN } else { V2_FIXED_LEN + usize::from(knob - 0x80) * 4 };
    let result = parse_with_limit(buf, limit);
    match &result {
        Ok(Parsed::Incomplete { needed }) => {
            assert!(*needed >= 1);
            assert!(buf.len() + needed <= V1_MAX_LEN.max(limit), "{} + {needed}", buf.len());
        }
        Ok(Parsed::Complete(header)) => {
            let len = header.len;
            assert!(len >= MIN_LEN && len <= buf.len());
            match header.version {
                Version::V1 => assert!(len <= V1_MAX_LEN && header.tlv_range().is_empty()),
                Version::V2 => assert!(len >= V2_FIXED_LEN && len <= limit),
            }
            let bytes = &buf[..len];
            assert_eq!(parse_with_limit(bytes, limit), result);
            // Every strict prefix (all of them for short headers, a spread for long ones).
            let step = (len / 512).max(1);
            for cut in (0..len).step_by(step).chain(len.saturating_sub(40)..len) {
                match parse_with_limit(&bytes[..cut], limit) {
                    Ok(Parsed::Incomplete { needed }) => {
                        assert!(needed >= 1 && cut + needed <= len, "cut {cut} needed {needed} len {len}")
                    }
                    other => panic!("prefix of {cut}/{len} bytes gave {other:?}"),
                }
            }
            let range = header.tlv_range();
            assert!(range.end <= len);
            let tlvs: Vec<Tlv<'_>> = header.tlvs(bytes).collect();
            assert_eq!(tlvs.iter().map(|t| 3 + t.value.len()).sum::<usize>(), range.len());

            // Write it back and parse again.
            let rewritten = match header.version {
                Version::V1 => write_v1(match header.addresses {
                    Addresses::Inet { source, destination } => Some((source, destination)),
                    _ => None,
                }),
                Version::V2 => {
                    let checksum = tlvs.iter().any(|t| t.kind == tlv_type::CRC32C);
                    let plain: Vec<Tlv<'_>> = tlvs.iter().copied().filter(|t| t.kind != tlv_type::CRC32C).collect();
                    write_v2(header.command, header.transport, &header.addresses, &plain, checksum)
                }
            };
            let rewritten = rewritten.expect("a parsed header can be written back");
            match parse_with_limit(&rewritten, V2_MAX_LEN) {
                Ok(Parsed::Complete(again)) => {
                    assert_eq!(again.len, rewritten.len());
                    assert_eq!((again.command, again.transport), (header.command, header.transport));
                    assert_eq!(again.addresses, header.addresses);
                    if header.command == Command::Local {
                        assert_eq!(again.addresses, Addresses::Unspecified);
                    }
                }
                other => panic!("rewritten header {rewritten:?} gave {other:?}"),
            }
        }
        Err(_) => {
            for tail in [&b"\r\n"[..], b"\n", b"\0", b" 1 2\r\n"] {
                let longer = [buf, tail].concat();
                assert!(parse_with_limit(&longer, limit).is_err(), "{buf:?} + {tail:?} became valid");
            }
        }
    }
});
