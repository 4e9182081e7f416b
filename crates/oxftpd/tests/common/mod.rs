//! Shared scaffolding for the end-to-end tests: a real `oxftpd` process on a
//! throw-away storage tree, and a way to run external FTP clients that can
//! never hang the test run.
//!
//! Every `tests/e2e_*.rs` binary includes this module with `mod common;`; not
//! every binary uses every helper, hence the `dead_code` and
//! `unused_imports` allowances.
#![allow(dead_code, unused_imports)]

pub mod certs;
pub mod client;
pub mod control;
pub mod daemon;
pub mod python;
pub mod tree;

pub use client::{Outcome, require_tool, run, run_with_stdin};
pub use control::{Control, Reply};
pub use daemon::{Daemon, DaemonConfig, PASSWORD, TlsOptions};
pub use python::run_unittest;
pub use tree::{assert_same_tree, pattern_bytes, read, write};
