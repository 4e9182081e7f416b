//! The hooks' counters as Prometheus metrics, read from [`Hooks::stats`]
//! at each scrape (so delivering an event costs no metric update).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::hooks::{HookStats, Hooks};

/// A [`Collector`] of every hook's [`HookStats`], labelled `hook="<name>"`:
/// `hook_pending` (events in the spool now), and the counters
/// `hook_delivered_total`, `hook_failed_attempts_total`,
/// `hook_given_up_total`, `hook_dropped_total` and `hook_refused_total`.
/// Register it in the registry's `oxftp` sub-registry to get the `oxftp_`
/// prefix.
#[derive(Debug)]
pub struct HooksCollector {
    hooks: Hooks,
}

impl Hooks {
    /// A collector of these hooks' counters, for a Prometheus registry.
    pub fn collector(&self) -> HooksCollector {
        HooksCollector { hooks: self.clone() }
    }
}

type Field = fn(&HookStats) -> u64;

/// The counters: name, help, value.
const COUNTERS: [(&str, &str, Field); 5] = [
    ("hook_delivered", "Events delivered, per hook", |s| s.delivered),
    ("hook_failed_attempts", "Delivery attempts that failed, per hook", |s| s.failed_attempts),
    ("hook_given_up", "Events moved to failed/ after their last attempt, per hook", |s| s.given_up),
    ("hook_dropped", "Events deleted unsent because the spool was full, per hook", |s| s.dropped),
    ("hook_refused", "Operations refused because the spool was full, per hook", |s| s.refused),
];

impl Collector for HooksCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.hooks.stats();
        let gauge = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "hook_pending",
            "Events waiting in the spool, per hook",
            None,
            gauge.metric_type(),
        )?;
        for hook in &stats {
            let labels = [("hook", hook.name.as_str())];
            ConstGauge::new(hook.pending as i64).encode(family.encode_family(&labels)?)?;
        }
        for (name, help, field) in COUNTERS {
            let counter = ConstCounter::new(0u64);
            let mut family = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            for hook in &stats {
                let labels = [("hook", hook.name.as_str())];
                ConstCounter::new(field(hook)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
