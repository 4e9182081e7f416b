//! Event hooks for oxftp: every upload, download, login and change a front
//! end reports can start someone's pipeline, by webhook or by command, and
//! none is lost.
//!
//! - [`Hooks`] is an [`EventSink`](oxftp_core::events::EventSink): give it to
//!   the server's options. It writes each event the hooks want to an on-disk
//!   spool before the client hears the final reply, and delivers from there.
//! - A webhook POSTs the event as JSON, signed with HMAC-SHA256 in
//!   `X-Oxftp-Signature: sha256=<hex>` when the hook has a `secret`
//!   (see [`signature`]); a command runs without a shell, with the JSON on
//!   stdin and `OXFTP_<KEY>` environment variables.
//! - Delivery is at least once: an event leaves the spool only when its
//!   receiver took it (HTTP 2xx, exit status 0); failures are retried with
//!   exponential backoff; a restart resends what is left. Receivers
//!   deduplicate by the event's `id`.
//! - The spool is bounded (`max_spooled`): when it is full the oldest event
//!   is dropped with an error log, or operations the hook would report are
//!   refused (`on_full = "refuse"`).
//! - [`Hooks::collector`] puts each hook's counters ([`HookStats`]) in a
//!   Prometheus registry (`oxftp_hook_*`).

#![warn(missing_docs)]

mod config;
mod deliver;
mod filter;
mod hooks;
mod metrics;
mod payload;
mod spool;

pub use config::{HookConfig, HookConfigError, OnFull};
pub use deliver::{EVENT_ID_HEADER, EVENT_KIND_HEADER, SIGNATURE_HEADER, signature};
pub use hooks::{HookStats, Hooks, HooksError};
pub use metrics::HooksCollector;
