//! Capture time: a nanosecond count since the Unix epoch, formatted as the output contract asks.

use std::fmt;

/// A capture timestamp in nanoseconds since 1970-01-01T00:00:00Z (UTC).
///
/// Kept as an integer so that ordering, merging and differences are exact; floating point only
/// appears where a metric is defined in milliseconds (quality-metrics.md §1.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Builds a timestamp from whole seconds and nanoseconds.
    pub fn from_parts(secs: i64, nanos: u32) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(i64::from(nanos)))
    }

    /// Whole seconds since the epoch (floor).
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// Nanoseconds within the second.
    pub fn subsec_nanos(self) -> u32 {
        // rem_euclid of a positive divisor is in 0..1e9, which fits u32.
        u32::try_from(self.0.rem_euclid(1_000_000_000)).unwrap_or(0)
    }

    /// Milliseconds from `earlier` to `self`, as tshark computes relative times
    /// (`secs·1000 + nsecs/10⁶` in double precision, quality-metrics.md §1.6).
    pub fn ms_since(self, earlier: Timestamp) -> f64 {
        let d = self.0.saturating_sub(earlier.0);
        let secs = d.div_euclid(1_000_000_000);
        let nanos = d.rem_euclid(1_000_000_000);
        secs as f64 * 1000.0 + nanos as f64 / 1e6
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-24T14:21:30.712491Z`.
    pub fn rfc3339(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const FORMAT: &[time::format_description::FormatItem<'static>] =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
        let dt = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0)).map_err(|_| fmt::Error)?;
        let s = dt.format(FORMAT).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_microseconds() {
        // frame 1 of sipnab-sip-rtp-g711.pcap: epoch 1480171979.666393000
        let t = Timestamp::from_parts(1_480_171_979, 666_393_000);
        assert_eq!(t.rfc3339(), "2016-11-26T14:52:59.666393Z");
    }

    #[test]
    fn ms_since_matches_tshark_arithmetic() {
        let a = Timestamp::from_parts(10, 500_000_000);
        let b = Timestamp::from_parts(12, 250_000_001);
        assert!((b.ms_since(a) - 1750.000001).abs() < 1e-9);
    }
}
