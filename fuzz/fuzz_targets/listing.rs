//! LIST / NLST / MLSD lines for hostile names and facts.
//!
//! Properties:
//! - each formatted line ends in CRLF and has no other CR or LF, whatever
//!   the name (CR, LF, NUL, invalid UTF-8, very long) or the owner, group,
//!   unique id, perm and type strings hold;
//! - the name is the end of the line, byte for byte (CR/LF shown as `?`);
//! - an `ls -l` line has exactly eight blank-separated columns before the
//!   name; an MLSx line has `fact=value;` pairs, one space, then the name;
//! - sent in TYPE A the lines are unchanged (they already end in CRLF);
//! - as a STAT reply over the control channel (one reply line per listing
//!   line), only the final line starts with "213 ": no name forges a reply;
//! - `parse_list_args` returns a path that is a suffix of its input.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use oxftp_proto::ascii::AsciiEncoder;
use oxftp_proto::listing::{FileInfo, FileKind, MlstFacts, list_line, mlsx_line_with, nlst_line, parse_list_args};
use oxftp_proto::reply::Reply;

#[derive(Debug, Arbitrary)]
struct Input {
    name: Vec<u8>,
    /// Repeat the name this many times (reaches very long names cheaply).
    repeat: u8,
    kind: u8,
    size: u64,
    mtime: Option<i64>,
    mode: Option<u32>,
    nlink: u64,
    owner: Option<String>,
    group: Option<String>,
    unique: Option<String>,
    perm: String,
    type_override: Option<String>,
    facts: u8,
    now: i64,
    args: Vec<u8>,
}

fn shown(name: &[u8]) -> Vec<u8> {
    name.iter().map(|&b| if b == b'\r' || b == b'\n' { b'?' } else { b }).collect()
}

fn assert_one_line(line: &[u8], name: &[u8]) {
    assert!(line.ends_with(b"\r\n"), "{line:?}");
    assert_eq!(line.iter().filter(|&&b| b == b'\r' || b == b'\n').count(), 2, "{line:?}");
    assert!(line[..line.len() - 2].ends_with(&shown(name)));
}

fuzz_target!(|input: Input| {
    let name: Vec<u8> = input.name.repeat(usize::from(input.repeat % 8) + 1);
    let kind = match input.kind % 4 {
        0 => FileKind::File,
        1 => FileKind::Dir,
        2 => FileKind::Symlink,
        _ => FileKind::Other,
    };
    let info = FileInfo {
        kind,
        size: input.size,
        mtime: input.mtime,
        mode: input.mode,
        nlink: input.nlink,
        owner: input.owner,
        group: input.group,
        unique: input.unique,
    };
    let f = input.facts;
    let facts = MlstFacts {
        kind: f & 1 != 0,
        size: f & 2 != 0,
        modify: f & 4 != 0,
        perm: f & 8 != 0,
        unique: f & 16 != 0,
        unix_mode: f & 32 != 0,
    };

    let mut long = Vec::new();
    list_line(&name, &info, input.now, &mut long);
    assert_one_line(&long, &name);
    let columns = &long[..long.len() - 2 - name.len()];
    let columns = std::str::from_utf8(columns).expect("columns are text");
    assert!(columns.ends_with(' '));
    assert_eq!(columns.split_ascii_whitespace().count(), 8, "{columns:?}");

    let mut names = Vec::new();
    nlst_line(&name, &mut names);
    assert_one_line(&names, &name);
    assert_eq!(names.len(), name.len() + 2);

    let mut mlsx = Vec::new();
    mlsx_line_with(&name, &info, &input.perm, input.type_override.as_deref(), facts, &mut mlsx);
    assert_one_line(&mlsx, &name);
    let space = mlsx.iter().position(|&b| b == b' ').expect("facts end with a space");
    assert_eq!(&mlsx[space + 1..mlsx.len() - 2], shown(&name).as_slice());
    let fact_part = &mlsx[..space];
    if !fact_part.is_empty() {
        assert!(fact_part.ends_with(b";"));
        for fact in fact_part[..fact_part.len() - 1].split(|&b| b == b';') {
            assert!(fact.contains(&b'='), "{fact:?} in {mlsx:?}");
            assert!(fact.iter().all(|b| b.is_ascii_graphic()));
        }
    }

    // TYPE A leaves CRLF lines alone.
    let all = [long.as_slice(), &names, &mlsx].concat();
    let mut encoded = Vec::new();
    AsciiEncoder::new().encode(&all, &mut encoded);
    assert_eq!(encoded, all);

    // STAT path: listing lines become the middle lines of a 213 reply.
    let mut lines = vec![b"Status of /dir:".to_vec()];
    lines.extend(
        all.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec()),
    );
    lines.push(b"End of status.".to_vec());
    let count = lines.len();
    let wire = Reply::multi(213, lines).to_bytes();
    let wire_lines: Vec<&[u8]> = wire.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(wire_lines.len(), count);
    for (i, line) in wire_lines.iter().enumerate() {
        assert!(line.ends_with(b"\r") && !line[..line.len() - 1].contains(&b'\r'));
        assert_eq!(line.starts_with(b"213 "), i == count - 1, "line {i} of {wire:?}");
    }

    let (_, path) = parse_list_args(&input.args);
    if let Some(path) = path {
        assert!(!path.is_empty() && input.args.ends_with(&path));
    }
});
