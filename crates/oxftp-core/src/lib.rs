//! oxftp's engine.

pub mod auth;
pub mod storage;
