//! RFC 3551 static payload types: codec name and RTP clock (quality-metrics.md §1.2).

/// Name and clock of a static payload type, `None` for dynamic or unassigned numbers.
pub fn static_codec(pt: u8) -> Option<(&'static str, u32)> {
    let _ = pt;
    None
}
