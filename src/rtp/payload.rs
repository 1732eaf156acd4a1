//! RFC 3551 static payload types: codec name and RTP clock (quality-metrics.md §1.2).
//!
//! Names are the output contract's codec names. Numbers 35–71 and 77–95 are unassigned and
//! 72–76 collide with RTCP (RFC 5761 §4); 96–127 are dynamic and need SDP. PT 19 is reserved
//! (the old CN number) and is treated as CN, matches tshark (`STAT_FLAG_PT_CN` covers 13 and 19).

/// Name and clock of a static payload type, `None` for dynamic or unassigned numbers.
pub fn static_codec(pt: u8) -> Option<(&'static str, u32)> {
    // RFC 3551 §6, Tables 4 and 5; G722's clock is 8000 (RFC 3551 §4.5.2 keeps the 8 kHz clock).
    let entry = match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        4 => ("G723", 8000),
        5 => ("DVI4", 8000),
        6 => ("DVI4", 16000),
        7 => ("LPC", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        10 | 11 => ("L16", 44100),
        12 => ("QCELP", 8000),
        13 | 19 => ("CN", 8000),
        14 => ("MPA", 90000),
        15 => ("G728", 8000),
        16 => ("DVI4", 11025),
        17 => ("DVI4", 22050),
        18 => ("G729", 8000),
        25 => ("CelB", 90000),
        26 => ("JPEG", 90000),
        28 => ("nv", 90000),
        31 => ("H261", 90000),
        32 => ("MPV", 90000),
        33 => ("MP2T", 90000),
        34 => ("H263", 90000),
        _ => return None,
    };
    Some(entry)
}

/// True for the comfort-noise payload types (13 and the reserved 19), which tshark excludes from
/// delta/jitter statistics together with the packet after them (quality-metrics.md §1.6).
pub fn is_comfort_noise(pt: u8) -> bool {
    matches!(pt, 13 | 19)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_table() {
        assert_eq!(static_codec(0), Some(("PCMU", 8000)));
        assert_eq!(static_codec(8), Some(("PCMA", 8000)));
        assert_eq!(static_codec(9), Some(("G722", 8000)));
        assert_eq!(static_codec(11), Some(("L16", 44100)));
        assert_eq!(static_codec(16), Some(("DVI4", 11025)));
        assert_eq!(static_codec(18), Some(("G729", 8000)));
        assert_eq!(static_codec(19), Some(("CN", 8000)));
        assert_eq!(static_codec(34), Some(("H263", 90000)));
        assert_eq!(static_codec(1), None);
        assert_eq!(static_codec(2), None);
        assert_eq!(static_codec(35), None);
        assert_eq!(static_codec(72), None);
        assert_eq!(static_codec(96), None);
        assert_eq!(static_codec(127), None);
        assert!(is_comfort_noise(13) && is_comfort_noise(19) && !is_comfort_noise(0));
    }
}
