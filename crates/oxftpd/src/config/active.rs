//! `[active]`: whether PORT/EPRT are allowed and how they connect.

use serde::Deserialize;

/// `[active]`: whether PORT/EPRT are allowed and how they connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveConfig {
    /// PORT/EPRT allowed.
    pub enabled: bool,
    /// Connect from port 20 (needs privilege).
    pub source_port_20: bool,
}

impl Default for ActiveConfig {
    fn default() -> Self {
        ActiveConfig { enabled: true, source_port_20: false }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawActive {
    pub(super) enabled: Option<bool>,
    pub(super) source_port_20: Option<bool>,
}
