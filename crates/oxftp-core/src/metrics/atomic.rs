//! Metric types the hot path updates with atomics only.
//!
//! prometheus-client's own histogram takes a mutex on every observation;
//! [`AtomicHistogram`] keeps one atomic counter per bucket instead, and is
//! encoded through the crate's encoder like any other metric, so the text
//! format stays the crate's. [`SourceGauge`] reads its value when scraped,
//! for numbers that change by themselves (bans expire with time).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// A histogram with fixed buckets, updated with atomics. Cheap to clone
/// (clones share their counts).
#[derive(Debug, Clone)]
pub struct AtomicHistogram {
    inner: Arc<HistogramCounts>,
}

#[derive(Debug)]
struct HistogramCounts {
    /// Upper bounds, increasing; observations above the last go to `+Inf`.
    bounds: Vec<f64>,
    /// Observations per bucket (not cumulative); one more than `bounds` for `+Inf`.
    buckets: Vec<AtomicU64>,
    /// The sum of observations, as the bits of an f64.
    sum: AtomicU64,
}

impl AtomicHistogram {
    /// A histogram with these upper bounds (sorted here; NaN left out).
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> AtomicHistogram {
        let mut bounds: Vec<f64> = bounds.into_iter().filter(|b| !b.is_nan()).collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        AtomicHistogram { inner: Arc::new(HistogramCounts { bounds, buckets, sum: AtomicU64::new(0f64.to_bits()) }) }
    }

    /// Counts `value` in its bucket and adds it to the sum.
    pub fn observe(&self, value: f64) {
        let counts = &self.inner;
        let index = counts.bounds.iter().position(|bound| value <= *bound).unwrap_or(counts.bounds.len());
        counts.buckets[index].fetch_add(1, Ordering::Relaxed);
        let _ = counts
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + value).to_bits()));
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.inner.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The sum of the observations so far.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.inner.sum.load(Ordering::Relaxed))
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let counts = &self.inner;
        let mut buckets = Vec::with_capacity(counts.buckets.len());
        for (i, bucket) in counts.buckets.iter().enumerate() {
            let bound = counts.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, bucket.load(Ordering::Relaxed)));
        }
        // The count is the buckets' total, so a scrape in the middle of an
        // observation never shows a count that disagrees with the buckets.
        let count = buckets.iter().map(|(_, n)| n).sum();
        encoder.encode_histogram::<NoLabelSet>(self.sum(), count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Reads a value (`None`: the source is gone).
pub type Source = Box<dyn Fn() -> Option<i64> + Send + Sync>;

/// A gauge whose value is the sum of its sources, read at each scrape.
/// Sources that answer `None` are dropped.
#[derive(Clone, Default)]
pub struct SourceGauge {
    sources: Arc<Mutex<Vec<Source>>>,
}

impl std::fmt::Debug for SourceGauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceGauge").finish_non_exhaustive()
    }
}

impl SourceGauge {
    /// Adds `source` to what the gauge sums.
    pub fn add(&self, source: Source) {
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).push(source);
    }

    /// The sum of the live sources now.
    pub fn value(&self) -> i64 {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = 0i64;
        sources.retain(|source| match source() {
            Some(value) => {
                total = total.saturating_add(value);
                true
            }
            None => false,
        });
        total
    }
}

impl TypedMetric for SourceGauge {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for SourceGauge {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.value())
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_bucket_and_sum() {
        let h = AtomicHistogram::new([1.0, 0.1, 10.0]);
        for v in [0.05, 0.1, 0.5, 20.0] {
            h.observe(v);
        }
        assert_eq!(h.count(), 4);
        assert!((h.sum() - 20.65).abs() < 1e-9);
        let per_bucket: Vec<u64> = h.inner.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        assert_eq!(per_bucket, [2, 1, 0, 1]);
    }

    #[test]
    fn sources_are_summed_and_dropped_when_gone() {
        let gauge = SourceGauge::default();
        let live = Arc::new(3i64);
        let weak = Arc::downgrade(&live);
        gauge.add(Box::new(move || weak.upgrade().map(|v| *v)));
        gauge.add(Box::new(|| Some(2)));
        assert_eq!(gauge.value(), 5);
        drop(live);
        assert_eq!(gauge.value(), 2);
        assert_eq!(gauge.sources.lock().unwrap().len(), 1);
    }
}
