//! The web client's counters ([`oxftp_web::WebStats`]) as Prometheus
//! metrics, read at each scrape: the web client does not depend on the
//! metrics crate, the daemon composes the two.

use oxftp_core::metrics::prometheus_client::collector::Collector;
use oxftp_core::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use oxftp_core::metrics::prometheus_client::metrics::counter::ConstCounter;
use oxftp_core::metrics::prometheus_client::metrics::gauge::ConstGauge;
use oxftp_web::{WebServer, WebStats};

/// Collects `web_*` metrics from a web client: gauges `web_connections_open`,
/// `web_sessions`, `web_idle_ftp_connections`; counters `web_requests_total`,
/// `web_bans_total` and `web_refusals_total{reason=...}`.
#[derive(Debug)]
pub struct WebCollector {
    server: WebServer,
}

impl WebCollector {
    /// Reads `server`'s stats at each scrape.
    pub fn new(server: WebServer) -> WebCollector {
        WebCollector { server }
    }
}

type Field = fn(&WebStats) -> u64;

/// The `reason` label of each refusal the web client counts.
const REFUSALS: [(&str, Field); 10] = [
    ("connections_full", |s| s.connections_refused),
    ("connections_per_ip", |s| s.connections_refused_per_ip),
    ("header_timeout", |s| s.header_timeouts),
    ("unknown_host", |s| s.unknown_hosts),
    ("part_headers_too_large", |s| s.oversized_part_headers),
    ("sessions_full", |s| s.sessions_refused),
    ("sessions_per_ip", |s| s.sessions_refused_per_ip),
    ("session_evicted", |s| s.sessions_evicted),
    ("login_throttled", |s| s.logins_throttled),
    ("login_banned", |s| s.logins_banned),
];

impl Collector for WebCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.server.stats();
        let gauges: [(&str, &str, usize); 3] = [
            ("web_connections_open", "Web client connections open now", stats.connections_open),
            ("web_sessions", "Web client sessions held now", stats.sessions),
            ("web_idle_ftp_connections", "FTP connections web sessions hold idle now", stats.idle_ftp_connections),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value as i64);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let counters: [(&str, &str, u64); 2] = [
            ("web_requests", "HTTP requests the web client received", stats.requests),
            ("web_bans", "Addresses the web client banned after failed logins", stats.bans),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        let kind = ConstCounter::new(0u64).metric_type();
        let mut family = encoder.encode_descriptor(
            "web_refusals",
            "Connections, requests and logins the web client refused, by reason",
            None,
            kind,
        )?;
        for (reason, field) in REFUSALS {
            let labels = [("reason", reason)];
            ConstCounter::new(field(&stats)).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
