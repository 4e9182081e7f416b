//! Listing bombs against the real daemon (Pure-FTPd's recursive-listing
//! stack exhaustion, globbing DoS): a directory of 200,000 files lists with
//! LIST, NLST and MLSD in bounded memory (the daemon's peak RSS, read from
//! /proc, grows by a few MiB, not by the listing's size); globs are capped
//! and linear; a multi-level pattern like `*/*/*/*/*/*/*/*` over a deep
//! tree is not expanded level by level. (`LIST -R` is bounded by its own
//! work, with its tests.)

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{Control, Daemon, PASSWORD};

const FILES: usize = 200_000;

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .expect("a /proc status field")
}

/// Resets the peak RSS (VmHWM) to the current RSS (Linux 4.0+).
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("clear_refs");
}

/// Runs a listing command; its lines (CRLF-separated) and final code.
fn listing(ctl: &mut Control, command: &str) -> (Vec<u8>, u16) {
    let mut sock = ctl.epsv();
    ctl.expect(command, 150);
    let mut out = Vec::new();
    sock.read_to_end(&mut out).expect("read listing");
    (out, ctl.reply().expect("reply").expect("open").code)
}

fn lines(out: &[u8]) -> usize {
    out.windows(2).filter(|w| w == b"\r\n").count()
}

#[test]
fn a_directory_of_200000_files_lists_in_bounded_memory() {
    let d = Daemon::start();
    let huge = d.disk("alice/huge");
    std::fs::create_dir(&huge).unwrap();
    for i in 0..FILES {
        // 44-byte names: the whole LIST is about 15 MB.
        std::fs::File::create(huge.join(format!("quarterly-report-of-the-department-{i:08}"))).unwrap();
    }
    let mut ctl = Control::connect(d.port(), Duration::from_secs(120)).unwrap();
    ctl.login("alice", PASSWORD);
    ctl.expect("TYPE A", 200);
    // One warm-up listing: what a listing needs once (buffers, the blocking
    // pool's threads) is then in the baseline.
    let (_, code) = listing(&mut ctl, "NLST huge");
    assert_eq!(code, 226);
    let pid = d.pid();
    for command in ["LIST huge", "NLST huge", "MLSD huge", "LIST -la huge"] {
        let rss = status_kib(pid, "VmRSS:");
        reset_peak(pid);
        let started = Instant::now();
        let (out, code) = listing(&mut ctl, command);
        let took = started.elapsed();
        let peak = status_kib(pid, "VmHWM:");
        assert_eq!(code, 226, "{command}");
        let expected = if command == "MLSD huge" || command.contains("-la") { FILES + 2 } else { FILES };
        let n = lines(&out);
        assert!(n == FILES || n == expected, "{command}: {n} lines");
        let grown = peak.saturating_sub(rss);
        eprintln!("{command}: {n} lines, {} MB in {took:?}; daemon peak RSS +{grown} KiB", out.len() / 1_000_000);
        // Collected whole, the entries alone would be tens of MiB.
        assert!(
            grown < 8 * 1024,
            "{command}: the daemon's peak RSS grew {grown} KiB for a {} MB listing",
            out.len() >> 20
        );
    }

    // A glob is capped (10,000 names) and linear, whatever the pattern.
    for pattern in ["huge/*", "huge/*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "huge/[q][u]*[0-9]*[!x]"] {
        let started = Instant::now();
        let (out, code) = listing(&mut ctl, &format!("NLST {pattern}"));
        let took = started.elapsed();
        assert_eq!(code, 226, "{pattern}");
        assert!(lines(&out) <= 10_000, "{pattern}: {} names", lines(&out));
        assert!(took < Duration::from_secs(30), "{pattern}: {took:?}");
        eprintln!("NLST {pattern}: {} names in {took:?}", lines(&out));
    }
}

#[test]
fn multi_level_globs_are_not_expanded() {
    let d = Daemon::start();
    // 4 levels of 6 directories: 1,296 leaves, 1,554 directories.
    let base = d.disk("alice/tree");
    let mut level = vec![base.clone()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for dir in &level {
            for c in 'a'..='f' {
                let sub = dir.join(c.to_string());
                std::fs::create_dir_all(&sub).unwrap();
                next.push(sub);
            }
        }
        level = next;
    }
    let mut ctl = Control::connect(d.port(), Duration::from_secs(30)).unwrap();
    ctl.login("alice", PASSWORD);
    for pattern in ["tree/*/*/*/*/*/*/*/*", "*/*/*/*/*/*/*/*", "tree/*/*/*/*"] {
        let started = Instant::now();
        let mut sock = ctl.epsv();
        let reply = ctl.cmd(&format!("NLST {pattern}")).expect("reply").expect("open");
        let mut out = Vec::new();
        if reply.code == 150 {
            sock.read_to_end(&mut out).unwrap();
            let end = ctl.reply().unwrap().unwrap();
            assert_eq!(end.code, 226);
        } else {
            // The directory part is a path, not a pattern: no such directory.
            assert_eq!(reply.code, 550, "{pattern}: {reply:?}");
        }
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{pattern}: {took:?}");
        assert!(lines(&out) <= 6, "{pattern} expanded beyond one level: {} names", lines(&out));
    }
    // The session is fine afterwards.
    ctl.expect("NOOP", 200);
    let mut sock = ctl.epsv();
    ctl.expect("NLST tree/*", 150);
    let mut out = Vec::new();
    sock.read_to_end(&mut out).unwrap();
    assert_eq!(ctl.reply().unwrap().unwrap().code, 226);
    assert_eq!(lines(&out), 6);
    let _ = sock.write_all(b"");
}
