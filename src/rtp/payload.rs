//! RFC 3551 static payload types (codec name and RTP clock, quality-metrics.md §1.2) and what
//! the RTP stage resolves of a payload type ([`PayloadType`]).
//!
//! Names are the output contract's codec names. Numbers 35–71 and 77–95 are unassigned and
//! 72–76 collide with RTCP (RFC 5761 §4); 96–127 are dynamic and need SDP. PT 19 is reserved
//! (the old CN number) and is treated as CN, matches tshark (`STAT_FLAG_PT_CN` covers 13 and 19).

/// Name and clock of a static payload type, `None` for dynamic or unassigned numbers.
pub const fn static_codec(pt: u8) -> Option<(&'static str, u32)> {
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

/// Codecs whose payload level can be read directly (ITU-T G.711, RFC 3551 §4.5.11 L16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadCodec {
    /// G.711 µ-law (PCMU).
    Pcmu,
    /// G.711 A-law (PCMA).
    Pcma,
    /// Linear 16-bit big-endian samples (L16, any rate or channel count).
    L16,
    /// Anything else: not judged.
    Other,
}

impl PayloadCodec {
    /// The codec of an rtpmap encoding name (case-insensitive): `PCMU`, `PCMA`, `L16`.
    pub fn from_name(name: &str) -> Self {
        if name.eq_ignore_ascii_case("PCMU") {
            PayloadCodec::Pcmu
        } else if name.eq_ignore_ascii_case("PCMA") {
            PayloadCodec::Pcma
        } else if name.eq_ignore_ascii_case("L16") {
            PayloadCodec::L16
        } else {
            PayloadCodec::Other
        }
    }
}

/// What the RTP stage needs of a payload type, resolved from its encoding name once (when an
/// SDP is learned, or from the static table) rather than by comparing names for every packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadType {
    /// Clock rate, Hz, with tshark's rules: 0 (unknown: no jitter) for telephone-event and
    /// for types neither an rtpmap nor the static table names.
    pub clock_hz: u32,
    /// RFC 4733 telephone-event: counted in `events`, never played through the buffer models.
    pub is_event: bool,
    /// Whether (and how) the payload level can be judged for `silent_payload`.
    pub codec: PayloadCodec,
}

impl PayloadType {
    /// The type an `a=rtpmap` names.
    pub fn from_rtpmap(name: &str, clock_hz: u32) -> PayloadType {
        let is_event = name.eq_ignore_ascii_case("telephone-event");
        PayloadType { clock_hz: if is_event { 0 } else { clock_hz }, is_event, codec: PayloadCodec::from_name(name) }
    }

    /// The type of `pt` without an rtpmap: RFC 3551's static table, else unknown.
    pub fn of_static(pt: u8) -> PayloadType {
        STATIC_TYPES[usize::from(pt & 0x7F)]
    }
}

/// [`PayloadType::of_static`] for every 7-bit payload type (the judged codecs by number: the
/// static names PCMU, PCMA and L16).
const STATIC_TYPES: [PayloadType; 128] = {
    let mut table = [PayloadType { clock_hz: 0, is_event: false, codec: PayloadCodec::Other }; 128];
    let mut pt = 0;
    while pt < 128 {
        if let Some((_, clock_hz)) = static_codec(pt as u8) {
            let codec = match pt {
                0 => PayloadCodec::Pcmu,
                8 => PayloadCodec::Pcma,
                10 | 11 => PayloadCodec::L16,
                _ => PayloadCodec::Other,
            };
            table[pt] = PayloadType { clock_hz, is_event: false, codec };
        }
        pt += 1;
    }
    table
};

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

    #[test]
    fn static_types_are_what_their_names_resolve_to() {
        for pt in 0..128u8 {
            let by_name = static_codec(pt)
                .map_or(PayloadType { clock_hz: 0, is_event: false, codec: PayloadCodec::Other }, |(name, hz)| {
                    PayloadType::from_rtpmap(name, hz)
                });
            assert_eq!(PayloadType::of_static(pt), by_name, "pt {pt}");
        }
        assert_eq!(PayloadType::of_static(0).codec, PayloadCodec::Pcmu);
        let event = PayloadType::from_rtpmap("Telephone-Event", 8000);
        assert_eq!((event.clock_hz, event.is_event, event.codec), (0, true, PayloadCodec::Other));
        assert_eq!(PayloadType::from_rtpmap("pcma", 8000).codec, PayloadCodec::Pcma);
    }
}
