//! The parts of `oxftpd` that other code may drive without starting the
//! daemon: the config file parser and validator, so `fuzz/` can feed it
//! arbitrary text, and `privileges`, which the config uses to look up the
//! `run_as` user. The binary (`main.rs`) uses these modules from here.

pub mod config;
pub mod privileges;
