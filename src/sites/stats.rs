//! Small statistics over a few thousand values: percentiles, Pearson correlation, and the
//! concurrent-call sweep. Both aggregation paths (plain Rust and polars) use the definitions
//! here, so they agree to the last digit.

/// Rounds to 3 decimals (the precision of every number in the records), so JSON carries no
/// float noise and both aggregation paths compare equal.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Percentile `p` (0..=1) with linear interpolation between closest ranks (numpy's default,
/// polars' `QuantileMethod::Linear`). `None` for no values. NaNs are ignored.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = p.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let (a, b) = (v.get(lo).copied()?, v.get(hi).copied()?);
    Some(round3(a + (b - a) * (rank - lo as f64)))
}

/// Arithmetic mean, rounded; `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| round3(values.iter().sum::<f64>() / values.len() as f64))
}

/// Smallest value, `None` for no values.
pub fn min(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::min).map(round3)
}

/// Largest value, `None` for no values.
pub fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max).map(round3)
}

/// Pearson correlation coefficient of paired samples, rounded; `None` with fewer than 3 pairs or
/// when either side is constant (the coefficient is undefined).
pub fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 {
        return None;
    }
    let n = pairs.len() as f64;
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for &(x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| round3(sxy / (sxx.sqrt() * syy.sqrt())))
}

/// Most calls in progress at once among `intervals` (`[start, end]` in µs, inclusive) clipped to
/// the window `[lo, hi)`. A call starting at the instant another ends counts as overlapping
/// (starts sort before ends), so back-to-back calls on one line are not undercounted.
pub fn peak_concurrent(intervals: &[(i64, i64)], lo: i64, hi: i64) -> u32 {
    let mut events: Vec<(i64, i32)> = Vec::with_capacity(intervals.len() * 2);
    for &(s, e) in intervals {
        if s < hi && e >= lo {
            events.push((s.max(lo), -1)); // -1 sorts first: starts before ends at equal times
            events.push((e, 1));
        }
    }
    events.sort_unstable();
    let (mut now, mut peak) = (0i64, 0i64);
    for (_, kind) in events {
        now -= i64::from(kind);
        peak = peak.max(now);
    }
    u32::try_from(peak).unwrap_or(u32::MAX)
}

/// Calls in progress at an instant, for many instants: the interval starts and ends sorted
/// once, so that each question is two binary searches instead of a pass over every call.
pub struct ActiveCalls {
    starts: Vec<i64>,
    ends: Vec<i64>,
}

impl ActiveCalls {
    /// The `[start, end]` intervals (µs, inclusive); an interval ending before it starts is
    /// never in progress and is left out.
    pub fn new(intervals: &[(i64, i64)]) -> Self {
        let valid = || intervals.iter().filter(|(s, e)| s <= e);
        let mut starts: Vec<i64> = valid().map(|&(s, _)| s).collect();
        let mut ends: Vec<i64> = valid().map(|&(_, e)| e).collect();
        starts.sort_unstable();
        ends.sort_unstable();
        ActiveCalls { starts, ends }
    }

    /// Calls in progress at instant `t` (including one starting or ending exactly then): those
    /// started by `t` less those ended before it (an interval ended before `t` also started
    /// before it).
    pub fn at(&self, t: i64) -> u32 {
        let started = self.starts.partition_point(|&s| s <= t);
        let ended = self.ends.partition_point(|&e| e < t);
        u32::try_from(started - ended).unwrap_or(u32::MAX)
    }
}

/// Call-seconds carried inside `[lo, hi)` (traffic, the E.500 busy-hour tie-break).
pub fn carried_us(intervals: &[(i64, i64)], lo: i64, hi: i64) -> i64 {
    intervals.iter().map(|&(s, e)| (e.min(hi) - s.max(lo)).max(0)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(percentile(&v, 0.5), Some(3.0));
        assert_eq!(percentile(&v, 0.95), Some(8.8)); // numpy.percentile(v, 95) = 8.8
        assert_eq!(percentile(&v, 0.05), Some(1.2));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.95), Some(7.0));
    }

    #[test]
    fn pearson_of_a_line_is_one_and_constant_is_none() {
        assert_eq!(pearson(&[(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]), Some(1.0));
        assert_eq!(pearson(&[(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)]), Some(-1.0));
        assert_eq!(pearson(&[(1.0, 0.0), (2.0, 0.0), (3.0, 0.0)]), None);
    }

    #[test]
    fn concurrency_sweep_counts_touching_calls_and_clips() {
        let calls = [(0, 10), (10, 20), (5, 6), (30, 30)];
        assert_eq!(peak_concurrent(&calls, i64::MIN, i64::MAX), 2); // (0,10)+(5,6), or (0,10)+(10,20) touching
        assert_eq!(peak_concurrent(&calls, 11, 40), 1);
        let active = ActiveCalls::new(&calls);
        assert_eq!((active.at(10), active.at(-1), active.at(5), active.at(30), active.at(31)), (2, 0, 2, 1, 0));
        // An interval ending before it starts is never in progress.
        assert_eq!(ActiveCalls::new(&[(10, 5), (0, 20)]).at(7), 1);
        assert_eq!(carried_us(&calls, 0, 15), 10 + 5 + 1);
    }
}
