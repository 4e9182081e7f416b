//! The parts of `oxftpd` that other code may drive without starting the
//! daemon: the config file parser and validator, so `fuzz/` can feed it
//! arbitrary text. The binary (`main.rs`) uses this module from here.

pub mod config;
