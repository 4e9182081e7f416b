//! Summaries of repeated measurements.

/// Median of `values` (mean of the middle two for an even count); `None` when empty.
///
/// The median, not the mean, because one run disturbed by another process on
/// a shared 2-core machine should not move the result.
pub fn median(values: &[f64]) -> Option<f64> {
    percentile(values, 50.0)
}

/// The `p`-th percentile (0..=100) by linear interpolation between the two
/// nearest ranks; `None` when empty. NaNs sort last (total order), so they
/// never panic the sort.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = sorted.len().checked_sub(1)?;
    let rank = (p.clamp(0.0, 100.0) / 100.0) * last as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let (a, b) = (sorted.get(lo)?, sorted.get(hi)?);
    Some(a + (b - a) * (rank - lo as f64))
}

/// The smallest and the largest of a set of runs: the spread a table shows
/// next to the median.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Range {
    /// Whether the two ranges share at least one value (touching ends count):
    /// then the runs cannot tell the two apart, whatever their medians say.
    pub fn overlaps(&self, other: &Range) -> bool {
        self.min <= other.max && other.min <= self.max
    }
}

/// Min and max of `values`, NaNs left out; `None` when no number is left.
pub fn range(values: &[f64]) -> Option<Range> {
    let mut numbers = values.iter().copied().filter(|v| !v.is_nan());
    let first = numbers.next()?;
    Some(numbers.fold(Range { min: first, max: first }, |r, v| Range { min: r.min.min(v), max: r.max.max(v) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn percentiles_interpolate_and_clamp() {
        let v: Vec<f64> = (1..=101).map(f64::from).collect();
        assert_eq!(percentile(&v, 99.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 250.0), Some(101.0));
        assert_eq!(percentile(&[1.0, 2.0], 75.0), Some(1.75));
    }

    #[test]
    fn nan_does_not_panic() {
        assert_eq!(median(&[f64::NAN, 1.0, 2.0]), Some(2.0));
    }

    #[test]
    fn range_ignores_nan_and_order() {
        assert_eq!(range(&[3.0, f64::NAN, 1.0, 2.0]), Some(Range { min: 1.0, max: 3.0 }));
        assert_eq!(range(&[5.0]), Some(Range { min: 5.0, max: 5.0 }));
        assert_eq!(range(&[]), None);
        assert_eq!(range(&[f64::NAN]), None);
    }

    #[test]
    fn overlap_is_symmetric_and_counts_touching_ends() {
        let a = Range { min: 1.0, max: 2.0 };
        let b = Range { min: 2.0, max: 3.0 };
        let c = Range { min: 2.5, max: 4.0 };
        let inside = Range { min: 1.2, max: 1.3 };
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c) && !c.overlaps(&a));
        assert!(b.overlaps(&c));
        assert!(a.overlaps(&inside) && inside.overlaps(&a));
    }
}
