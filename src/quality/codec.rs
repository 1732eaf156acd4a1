//! Codec parameters for the E-model (quality-metrics.md §5, codec table).
//!
//! The table is data: one [`CodecRow`] per row of the document, with the equipment impairment
//! `Ie`, the packet-loss robustness `Bpl`, the default packetisation time, the codec look-ahead
//! and where the numbers come from ([`ParamStatus`]). [`params_for`] maps what the RTP stage and
//! SDP know about a stream (rtpmap name, payload type, fmtp) to a row; it returns `None` for
//! everything that is not scored (video, T.38, telephone-event, comfort noise, FEC/RTX, and a
//! dynamic payload type without rtpmap, whose clock is unknown — quality-metrics.md §1.2).

/// Where a row's numbers come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamStatus {
    /// Ie and Bpl as published in ITU-T G.113 Appendix I.
    G113,
    /// At least one value is an assumption of callscope (quality-metrics.md §5 marks it
    /// **assumption**); the numbers are plausible, not standardised.
    Assumption,
}

/// Identity of a codec-table row (quality-metrics.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodecId {
    /// G.711 µ-law / A-law with packet-loss concealment (callscope default for G.711).
    G711Plc,
    /// G.711 without PLC (endpoint known to insert silence).
    G711NoPlc,
    /// G.722, scored on the narrowband scale like G.711 + PLC.
    G722,
    /// G.729 (full complexity) without VAD.
    G729NoVad,
    /// G.729 Annex A without VAD (`annexb=no`).
    G729aNoVad,
    /// G.729 Annex A with VAD/CNG (Annex B, the RFC 4856 default `annexb=yes`).
    G729aVad,
    /// G.723.1 at 6.3 kbit/s (the default).
    G723Rate63,
    /// G.723.1 at 5.3 kbit/s (`bitrate=5.3`).
    G723Rate53,
    /// GSM 06.10 full rate.
    GsmFr,
    /// GSM-EFR, and AMR (12.2 kbit/s is the same codec; other modes share the row).
    GsmEfrAmr,
    /// iLBC.
    Ilbc,
    /// Opus, scored on the narrowband scale like G.711 + PLC.
    Opus,
    /// Any other audio codec: generic values, stream flagged `mos_assumed_codec`.
    OtherAudio,
}

/// One row of the codec table.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct CodecRow {
    /// Row identity.
    pub id: CodecId,
    /// Human label shown in reports.
    pub label: &'static str,
    /// Equipment impairment factor Ie (G.107/G.113).
    pub ie: f64,
    /// Packet-loss robustness factor Bpl.
    pub bpl: f64,
    /// Default packetisation time in ms; `None` = use the measured timestamp step ("measured").
    pub ptime_default_ms: Option<f64>,
    /// Codec look-ahead in ms (part of the delay budget Ta).
    pub lookahead_ms: f64,
    /// Where Ie/Bpl come from.
    pub status: ParamStatus,
}

/// The codec table of quality-metrics.md §5, in document order.
#[rustfmt::skip] // one row per line, as in the document
pub const CODEC_TABLE: &[CodecRow] = &[
    // id                label            Ie    Bpl   ptime       look-ahead status
    row(CodecId::G711Plc,    "G.711 + PLC",   0.0, 25.1, Some(20.0), 0.0, ParamStatus::G113),
    row(CodecId::G711NoPlc,  "G.711 no PLC",  0.0,  4.3, Some(20.0), 0.0, ParamStatus::G113),
    // Wideband codec on the narrowband scale: a wideband score needs G.107.1 (assumption).
    row(CodecId::G722,       "G.722",         0.0, 25.1, Some(20.0), 1.5, ParamStatus::Assumption),
    // Bpl 19.0 is G.113's for G.729A + VAD; reusing it without VAD is an assumption.
    row(CodecId::G729NoVad,  "G.729",        10.0, 19.0, Some(20.0), 5.0, ParamStatus::Assumption),
    row(CodecId::G729aNoVad, "G.729A",       11.0, 19.0, Some(20.0), 5.0, ParamStatus::Assumption),
    row(CodecId::G729aVad,   "G.729A + VAD", 11.0, 19.0, Some(20.0), 5.0, ParamStatus::G113),
    row(CodecId::G723Rate63, "G.723.1 6.3k", 15.0, 16.1, Some(30.0), 7.5, ParamStatus::G113),
    // Bpl of the 6.3 kbit/s mode reused for 5.3 kbit/s (assumption).
    row(CodecId::G723Rate53, "G.723.1 5.3k", 19.0, 16.1, Some(30.0), 7.5, ParamStatus::Assumption),
    // Bpl borrowed from GSM-EFR (assumption).
    row(CodecId::GsmFr,      "GSM-FR",       20.0, 10.0, Some(20.0), 0.0, ParamStatus::Assumption),
    row(CodecId::GsmEfrAmr,  "GSM-EFR",       5.0, 10.0, Some(20.0), 0.0, ParamStatus::G113),
    // No ITU-T value; treated like G.729A (assumption). 30 ms frames with `mode=30`.
    row(CodecId::Ilbc,       "iLBC",         11.0, 19.0, Some(20.0), 5.0, ParamStatus::Assumption),
    // No ITU-T value; treated like G.711 + PLC on the narrowband scale (assumption).
    row(CodecId::Opus,       "Opus",          0.0, 25.1, Some(20.0), 6.5, ParamStatus::Assumption),
    OTHER_AUDIO_ROW,
];

/// "other audio": generic values, ptime measured, stream flagged `mos_assumed_codec`.
#[rustfmt::skip]
const OTHER_AUDIO_ROW: CodecRow =
    row(CodecId::OtherAudio, "other audio",   0.0, 25.1, None,       0.0, ParamStatus::Assumption);

const fn row(
    id: CodecId,
    label: &'static str,
    ie: f64,
    bpl: f64,
    ptime_default_ms: Option<f64>,
    lookahead_ms: f64,
    status: ParamStatus,
) -> CodecRow {
    CodecRow { id, label, ie, bpl, ptime_default_ms, lookahead_ms, status }
}

/// E-model inputs for one stream's codec: a table row plus what the stream's SDP changed.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct CodecParams {
    /// The table row (Ie, Bpl, look-ahead, status).
    pub row: CodecRow,
    /// Packetisation time to use when SDP has no `a=ptime` and none was measured.
    pub ptime_default_ms: Option<f64>,
    /// True for [`CodecId::OtherAudio`]: the stream's MOS rests on generic values
    /// (output field `mos_assumed_codec`).
    pub mos_assumed_codec: bool,
}

impl CodecParams {
    /// Equipment impairment Ie.
    pub fn ie(&self) -> f64 {
        self.row.ie
    }

    /// Packet-loss robustness Bpl.
    pub fn bpl(&self) -> f64 {
        self.row.bpl
    }

    /// Look-ahead in ms.
    pub fn lookahead_ms(&self) -> f64 {
        self.row.lookahead_ms
    }

    /// True when any of the row's numbers is an assumption.
    pub fn is_assumption(&self) -> bool {
        self.row.status == ParamStatus::Assumption
    }
}

/// The parameters of one table row, unchanged by SDP.
pub fn params(id: CodecId) -> CodecParams {
    let row = CODEC_TABLE
        .iter()
        .copied()
        .find(|r| r.id == id)
        // Every CodecId has a row (tested); the fallback only keeps this total.
        .unwrap_or(OTHER_AUDIO_ROW);
    CodecParams { row, ptime_default_ms: row.ptime_default_ms, mos_assumed_codec: id == CodecId::OtherAudio }
}

/// rtpmap names that are not scored: video, fax, events, comfort noise, redundancy/FEC/RTX.
const NOT_SCORED: &[&str] = &[
    "telephone-event",
    "tone",
    "cn",
    "t38",
    "red",
    "ulpfec",
    "flexfec",
    "rtx",
    "h261",
    "h263",
    "h263-1998",
    "h263-2000",
    "h264",
    "h264-svc",
    "h265",
    "vp8",
    "vp9",
    "av1",
    "mp4v-es",
    "mpv",
    "mp2t",
    "jpeg",
    "celb",
    "nv",
    "theora",
    "raw",
];

/// Static payload types that are video or not audio codecs (RFC 3551), plus CN (13, 19).
fn static_pt_not_scored(pt: u8) -> bool {
    matches!(pt, 13 | 19 | 25 | 26 | 28 | 31 | 32 | 33 | 34)
}

/// Value of `key` in an fmtp parameter string (`a=fmtp:<pt> k=v; k2=v2`, the part after the
/// payload type), key compared case-insensitively, value trimmed.
fn fmtp_value<'a>(fmtp: Option<&'a str>, key: &str) -> Option<&'a str> {
    fmtp?.split(';').find_map(|param| {
        let (k, v) = param.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
    })
}

/// Maps a stream's codec to its E-model parameters (quality-metrics.md §5).
///
/// `name` is the rtpmap encoding name (case-insensitive; empty when there is no rtpmap), `pt`
/// the payload type, `fmtp` the `a=fmtp` parameters after the payload number. The name wins
/// over a static payload number; a dynamic payload type (96–127) without a name has an unknown
/// clock and gets no MOS. G.711 defaults to the PLC row; use [`params`] with
/// [`CodecId::G711NoPlc`] when the endpoint is known to insert silence.
pub fn params_for(name: &str, pt: u8, fmtp: Option<&str>) -> Option<CodecParams> {
    let name = name.trim();
    if name.is_empty() {
        return params_for_static_pt(pt, fmtp);
    }
    if NOT_SCORED.iter().any(|n| n.eq_ignore_ascii_case(name)) {
        return None;
    }
    let is = |n: &str| name.eq_ignore_ascii_case(n);
    let id = if is("PCMU") || is("PCMA") {
        CodecId::G711Plc
    } else if is("G722") {
        CodecId::G722
    } else if is("G729") || is("G729A") {
        g729_id(fmtp)
    } else if is("G723") {
        g723_id(fmtp)
    } else if is("GSM") {
        CodecId::GsmFr
    } else if is("GSM-EFR") || is("AMR") {
        CodecId::GsmEfrAmr
    } else if is("iLBC") {
        CodecId::Ilbc
    } else if is("opus") {
        CodecId::Opus
    } else {
        // AMR-WB, G.722.1, Speex, EVS, L16, SILK, ...: no table row (quality-metrics.md §5,
        // "other audio"): generic values and the mos_assumed_codec flag.
        CodecId::OtherAudio
    };
    Some(with_fmtp(id, name, fmtp))
}

fn params_for_static_pt(pt: u8, fmtp: Option<&str>) -> Option<CodecParams> {
    if static_pt_not_scored(pt) || pt >= 35 {
        // 35–95 are unassigned or RTCP-colliding; 96–127 need an rtpmap for their clock.
        return None;
    }
    let id = match pt {
        0 | 8 => CodecId::G711Plc,
        3 => CodecId::GsmFr,
        4 => g723_id(fmtp),
        9 => CodecId::G722,
        18 => g729_id(fmtp),
        // DVI4, LPC, L16, QCELP, G728, MPA and the unassigned 1, 2, 20–24, 27, 29, 30.
        _ => CodecId::OtherAudio,
    };
    Some(with_fmtp(id, "", fmtp))
}

/// RFC 4856 §2.1.9: `annexb` defaults to "yes" when absent.
fn g729_id(fmtp: Option<&str>) -> CodecId {
    match fmtp_value(fmtp, "annexb") {
        Some(v) if v.eq_ignore_ascii_case("no") => CodecId::G729aNoVad,
        _ => CodecId::G729aVad,
    }
}

/// RFC 4856 §2.1.8 `bitrate=5.3|6.3`; 6.3 kbit/s is callscope's default.
fn g723_id(fmtp: Option<&str>) -> CodecId {
    match fmtp_value(fmtp, "bitrate") {
        Some("5.3") => CodecId::G723Rate53,
        _ => CodecId::G723Rate63,
    }
}

fn with_fmtp(id: CodecId, name: &str, fmtp: Option<&str>) -> CodecParams {
    let mut p = params(id);
    // RFC 3952: iLBC `mode=30` selects 30 ms frames.
    if id == CodecId::Ilbc && fmtp_value(fmtp, "mode") == Some("30") {
        p.ptime_default_ms = Some(30.0);
    }
    // AMR modes other than 12.2 kbit/s (mode 7) reuse the GSM-EFR row: an assumption unless
    // the mode-set pins 12.2.
    if id == CodecId::GsmEfrAmr && name.eq_ignore_ascii_case("AMR") {
        if fmtp_value(fmtp, "mode-set") != Some("7") {
            p.row.status = ParamStatus::Assumption;
        }
        p.row.label = "AMR";
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_has_exactly_one_row() {
        let ids = [
            CodecId::G711Plc,
            CodecId::G711NoPlc,
            CodecId::G722,
            CodecId::G729NoVad,
            CodecId::G729aNoVad,
            CodecId::G729aVad,
            CodecId::G723Rate63,
            CodecId::G723Rate53,
            CodecId::GsmFr,
            CodecId::GsmEfrAmr,
            CodecId::Ilbc,
            CodecId::Opus,
            CodecId::OtherAudio,
        ];
        for id in ids {
            assert_eq!(CODEC_TABLE.iter().filter(|r| r.id == id).count(), 1, "{id:?}");
            assert_eq!(params(id).row.id, id);
        }
        assert_eq!(CODEC_TABLE.len(), ids.len());
    }

    #[test]
    fn g711_defaults_to_plc_by_name_and_static_pt() {
        for p in
            [params_for("PCMU", 0, None), params_for("pcma", 8, None), params_for("", 0, None), params_for("", 8, None)]
        {
            let p = p.unwrap();
            assert_eq!(p.row.id, CodecId::G711Plc);
            assert_eq!((p.ie(), p.bpl(), p.lookahead_ms()), (0.0, 25.1, 0.0));
            assert_eq!(p.ptime_default_ms, Some(20.0));
            assert!(!p.is_assumption());
            assert!(!p.mos_assumed_codec);
        }
        assert_eq!(params(CodecId::G711NoPlc).bpl(), 4.3);
    }

    #[test]
    fn g729_annexb_selects_the_row() {
        let vad = params_for("G729", 18, None).unwrap();
        assert_eq!(vad.row.id, CodecId::G729aVad);
        assert_eq!((vad.ie(), vad.bpl(), vad.lookahead_ms()), (11.0, 19.0, 5.0));
        assert_eq!(vad.row.status, ParamStatus::G113);
        let yes = params_for("", 18, Some("annexb=yes")).unwrap();
        assert_eq!(yes.row.id, CodecId::G729aVad);
        let no = params_for("G729", 18, Some("ANNEXB = No")).unwrap();
        assert_eq!(no.row.id, CodecId::G729aNoVad);
        assert!(no.is_assumption());
        assert_eq!(params(CodecId::G729NoVad).ie(), 10.0);
    }

    #[test]
    fn g723_rate_from_fmtp() {
        let d = params_for("", 4, None).unwrap();
        assert_eq!((d.ie(), d.bpl(), d.lookahead_ms()), (15.0, 16.1, 7.5));
        assert_eq!(d.ptime_default_ms, Some(30.0));
        let low = params_for("G723", 4, Some("annexa=no; bitrate=5.3")).unwrap();
        assert_eq!(low.row.id, CodecId::G723Rate53);
        assert_eq!(low.ie(), 19.0);
        assert!(low.is_assumption());
    }

    #[test]
    fn gsm_family_ilbc_opus_g722() {
        let fr = params_for("GSM", 3, None).unwrap();
        assert_eq!((fr.ie(), fr.bpl()), (20.0, 10.0));
        assert!(fr.is_assumption());
        let efr = params_for("GSM-EFR", 96, None).unwrap();
        assert_eq!((efr.ie(), efr.bpl(), efr.row.status), (5.0, 10.0, ParamStatus::G113));
        let amr = params_for("AMR", 97, Some("octet-align=1")).unwrap();
        assert_eq!((amr.ie(), amr.row.status), (5.0, ParamStatus::Assumption));
        let amr122 = params_for("AMR", 97, Some("mode-set=7")).unwrap();
        assert_eq!(amr122.row.status, ParamStatus::G113);
        let ilbc = params_for("iLBC", 98, Some("mode=30")).unwrap();
        assert_eq!((ilbc.ie(), ilbc.bpl(), ilbc.ptime_default_ms), (11.0, 19.0, Some(30.0)));
        assert_eq!(params_for("ilbc", 98, None).unwrap().ptime_default_ms, Some(20.0));
        let opus = params_for("opus", 111, Some("useinbandfec=1")).unwrap();
        assert_eq!((opus.ie(), opus.bpl(), opus.lookahead_ms()), (0.0, 25.1, 6.5));
        assert!(opus.is_assumption() && !opus.mos_assumed_codec);
        let g722 = params_for("", 9, None).unwrap();
        assert_eq!((g722.ie(), g722.lookahead_ms()), (0.0, 1.5));
    }

    #[test]
    fn other_audio_is_flagged_assumed() {
        for (name, pt) in [("AMR-WB", 100), ("speex", 101), ("", 5), ("", 15), ("EVS", 102)] {
            let p = params_for(name, pt, None).unwrap();
            assert_eq!(p.row.id, CodecId::OtherAudio, "{name} {pt}");
            assert!(p.mos_assumed_codec);
            assert_eq!(p.ptime_default_ms, None);
            assert_eq!((p.ie(), p.bpl()), (0.0, 25.1));
        }
    }

    #[test]
    fn video_fax_events_and_unknown_clock_get_none() {
        for (name, pt) in [
            ("telephone-event", 101),
            ("H264", 99),
            ("VP8", 100),
            ("t38", 96),
            ("CN", 13),
            ("", 13),
            ("", 19),
            ("", 34),
            ("", 26),
            ("", 96), // dynamic without rtpmap: unknown clock
            ("", 72), // collides with RTCP
            ("red", 110),
        ] {
            assert!(params_for(name, pt, None).is_none(), "{name} {pt}");
        }
    }
}
