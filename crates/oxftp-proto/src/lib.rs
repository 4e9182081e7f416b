//! oxftp's pure FTP protocol layer: command parser, replies, virtual paths,
//! glob matching, the ASCII (CRLF) codec and listing formats. No I/O, no runtime.
//!
//! Everything here is a pure function of its input or a small state machine
//! fed by the caller, so the engine can drive it from any runtime and every
//! part can be tested (and fuzzed) without sockets. No function panics on
//! any input, and every buffer is bounded.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod addr;
pub mod ascii;
pub mod command;
pub mod glob;
pub mod line;
pub mod listing;
pub mod path;
pub mod proxy;
pub mod reply;
pub mod time;
