//! The old name of [`admission`](crate::admission), kept so existing
//! imports (`oxftp_core::limits::BanPolicy`) still work.

pub use crate::admission::BanPolicy;
