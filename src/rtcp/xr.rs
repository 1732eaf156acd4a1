//! RTCP extended reports (RFC 3611): the XR packet view, its report blocks, and full decoding of
//! the blocks callscope uses — Receiver Reference Time (4) and DLRR (5) for the receiver-side
//! round trip, VoIP Metrics (7) for quality-metrics.md §4. Types 1–3 and 6 are recognised by
//! type and checked for length only.

use super::wire::{be16, be32, ntp_middle, MalformedReason};

/// XR block type (RFC 3611 §4). Open enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum XrBlockType {
    /// 1, loss RLE report.
    LossRle,
    /// 2, duplicate RLE report.
    DuplicateRle,
    /// 3, packet receipt times.
    PacketReceiptTimes,
    /// 4, receiver reference time.
    ReceiverReferenceTime,
    /// 5, DLRR.
    Dlrr,
    /// 6, statistics summary.
    StatisticsSummary,
    /// 7, VoIP metrics.
    VoipMetrics,
    /// Any other block type.
    Other(u8),
}

impl From<u8> for XrBlockType {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::LossRle,
            2 => Self::DuplicateRle,
            3 => Self::PacketReceiptTimes,
            4 => Self::ReceiverReferenceTime,
            5 => Self::Dlrr,
            6 => Self::StatisticsSummary,
            7 => Self::VoipMetrics,
            n => Self::Other(n),
        }
    }
}

/// Checks a block's length field (in 32-bit words after the 4-byte block header) against its type.
fn check_block_words(block_type: XrBlockType, words: u16) -> Result<(), MalformedReason> {
    let ok = match block_type {
        // SSRC + begin/end seq, then optional chunks (§4.1–§4.3).
        XrBlockType::LossRle | XrBlockType::DuplicateRle | XrBlockType::PacketReceiptTimes => words >= 2,
        XrBlockType::ReceiverReferenceTime => words == 2,
        // Sub-blocks of 3 words (SSRC, LRR, DLRR), §4.5.
        XrBlockType::Dlrr => words % 3 == 0,
        XrBlockType::StatisticsSummary => words == 9,
        XrBlockType::VoipMetrics => words == 8,
        XrBlockType::Other(_) => true,
    };
    if ok {
        Ok(())
    } else {
        Err(MalformedReason::XrBlockLength)
    }
}

/// XR packet view: the reporter's SSRC and its report blocks.
#[derive(Clone, Copy, Debug)]
pub struct ExtendedReport<'a> {
    body: &'a [u8],
}

impl<'a> ExtendedReport<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, MalformedReason> {
        let mut rest = body.get(4..).ok_or(MalformedReason::BodyTooShort)?;
        while !rest.is_empty() {
            let (block, after) = split_block(rest)?;
            check_block_words(block.block_type, block.words())?;
            rest = after;
        }
        Ok(ExtendedReport { body })
    }

    /// SSRC of the reporter.
    pub fn sender_ssrc(&self) -> u32 {
        be32(self.body, 0).unwrap_or(0)
    }

    /// The report blocks, in order.
    pub fn blocks(&self) -> XrBlocks<'a> {
        XrBlocks { bytes: self.body.get(4..).unwrap_or(&[]) }
    }
}

/// Splits one block off the front: (block, rest).
fn split_block(bytes: &[u8]) -> Result<(XrBlock<'_>, &[u8]), MalformedReason> {
    let (bt, type_specific) = match bytes {
        [bt, ts, _, _, ..] => (*bt, *ts),
        _ => return Err(MalformedReason::XrBlockOverrun),
    };
    let words = be16(bytes, 2).ok_or(MalformedReason::XrBlockOverrun)?;
    let end = 4 + usize::from(words) * 4;
    let body = bytes.get(4..end).ok_or(MalformedReason::XrBlockOverrun)?;
    let rest = bytes.get(end..).ok_or(MalformedReason::XrBlockOverrun)?;
    Ok((XrBlock { block_type: XrBlockType::from(bt), type_specific, body }, rest))
}

/// Iterator over XR report blocks.
#[derive(Clone, Debug)]
pub struct XrBlocks<'a> {
    bytes: &'a [u8],
}

impl<'a> Iterator for XrBlocks<'a> {
    type Item = XrBlock<'a>;

    fn next(&mut self) -> Option<XrBlock<'a>> {
        let (block, rest) = split_block(self.bytes).ok()?;
        self.bytes = rest;
        Some(block)
    }
}

/// One XR report block: type, type-specific byte and body (after the 4-byte block header).
#[derive(Clone, Copy, Debug)]
pub struct XrBlock<'a> {
    /// Block type.
    pub block_type: XrBlockType,
    /// The type-specific header byte (e.g. `thinning` for types 1–3).
    pub type_specific: u8,
    body: &'a [u8],
}

impl<'a> XrBlock<'a> {
    /// The length field: body size in 32-bit words.
    pub fn words(&self) -> u16 {
        u16::try_from(self.body.len() / 4).unwrap_or(u16::MAX)
    }

    /// Body bytes.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// SSRC of the source reported on, for the block types that carry one (1, 2, 3, 6, 7).
    pub fn source_ssrc(&self) -> Option<u32> {
        match self.block_type {
            XrBlockType::LossRle
            | XrBlockType::DuplicateRle
            | XrBlockType::PacketReceiptTimes
            | XrBlockType::StatisticsSummary
            | XrBlockType::VoipMetrics => be32(self.body, 0),
            _ => None,
        }
    }

    /// Receiver reference time (block 4): the 64-bit NTP timestamp as (seconds, fraction).
    pub fn receiver_reference_time(&self) -> Option<(u32, u32)> {
        (self.block_type == XrBlockType::ReceiverReferenceTime).then_some(())?;
        Some((be32(self.body, 0)?, be32(self.body, 4)?))
    }

    /// DLRR sub-blocks (block 5); empty for other types.
    pub fn dlrr_items(&self) -> DlrrItems<'a> {
        let bytes = if self.block_type == XrBlockType::Dlrr { self.body } else { &[] };
        DlrrItems { bytes }
    }

    /// VoIP metrics (block 7), fully decoded.
    pub fn voip_metrics(&self) -> Option<VoipMetrics> {
        (self.block_type == XrBlockType::VoipMetrics).then_some(())?;
        VoipMetrics::parse(self.body)
    }
}

/// Middle 32 bits of a receiver reference time, the value echoed as LRR (RFC 3611 §4.5).
pub fn rrt_middle(seconds: u32, fraction: u32) -> u32 {
    ntp_middle(seconds, fraction)
}

/// One DLRR sub-block (RFC 3611 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DlrrItem {
    /// SSRC of the receiver whose RRT block this answers.
    pub receiver_ssrc: u32,
    /// Middle 32 bits of that RRT block's NTP time (0 = none received).
    pub last_rr: u32,
    /// Delay since that RRT block, 1/65536 s.
    pub delay_since_last_rr: u32,
}

/// Iterator over DLRR sub-blocks.
#[derive(Clone, Debug)]
pub struct DlrrItems<'a> {
    bytes: &'a [u8],
}

impl Iterator for DlrrItems<'_> {
    type Item = DlrrItem;

    fn next(&mut self) -> Option<DlrrItem> {
        let item = DlrrItem {
            receiver_ssrc: be32(self.bytes, 0)?,
            last_rr: be32(self.bytes, 4)?,
            delay_since_last_rr: be32(self.bytes, 8)?,
        };
        self.bytes = self.bytes.get(12..).unwrap_or(&[]);
        Some(item)
    }
}

/// Packet loss concealment method in the VoIP metrics RX config (RFC 3611 §4.7.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlcMethod {
    /// 00.
    Unspecified,
    /// 01.
    Disabled,
    /// 10.
    Enhanced,
    /// 11.
    Standard,
}

/// Jitter buffer adaptivity in the VoIP metrics RX config (RFC 3611 §4.7.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitterBufferKind {
    /// 00.
    Unknown,
    /// 01 (reserved by RFC 3611).
    Reserved,
    /// 10.
    NonAdaptive,
    /// 11.
    Adaptive,
}

/// The "unavailable" code of RFC 3611 §4.7 for 8-bit metrics.
const UNAVAILABLE: u8 = 127;

fn available(v: u8) -> Option<u8> {
    (v != UNAVAILABLE).then_some(v)
}

/// VoIP Metrics report block (RFC 3611 §4.7, block type 7), every field. Fields whose value 127
/// means "unavailable" are `Option`s (quality-metrics.md §4 table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoipMetrics {
    /// SSRC of the stream reported on.
    pub source_ssrc: u32,
    /// Loss rate, ⌊256·fraction⌋ of expected packets.
    pub loss_rate: u8,
    /// Discard rate, ⌊256·fraction⌋ (late/early at the jitter buffer).
    pub discard_rate: u8,
    /// Burst density, ⌊256·fraction⌋ (§2).
    pub burst_density: u8,
    /// Gap density, ⌊256·fraction⌋ (§2).
    pub gap_density: u8,
    /// Mean burst duration, ms.
    pub burst_duration_ms: u16,
    /// Mean gap duration, ms.
    pub gap_duration_ms: u16,
    /// Round trip delay between the RTP interfaces, ms.
    pub round_trip_delay_ms: u16,
    /// The reporter's own end system delay, ms.
    pub end_system_delay_ms: u16,
    /// Signal level, dBm0 (signed).
    pub signal_level_dbm0: Option<i8>,
    /// Noise level, dBm0 (signed).
    pub noise_level_dbm0: Option<i8>,
    /// Residual echo return loss, dB.
    pub rerl_db: Option<u8>,
    /// Burst threshold Gmin used.
    pub gmin: u8,
    /// R factor (0–100).
    pub r_factor: Option<u8>,
    /// External R factor (0–100).
    pub ext_r_factor: Option<u8>,
    /// MOS-LQ × 10.
    pub mos_lq_x10: Option<u8>,
    /// MOS-CQ × 10.
    pub mos_cq_x10: Option<u8>,
    /// Packet loss concealment (RX config bits 7–6).
    pub plc: PlcMethod,
    /// Jitter buffer adaptivity (RX config bits 5–4).
    pub jitter_buffer: JitterBufferKind,
    /// Jitter buffer adjustment rate (RX config bits 3–0).
    pub jitter_buffer_rate: u8,
    /// Jitter buffer nominal delay, ms.
    pub jb_nominal_ms: u16,
    /// Jitter buffer maximum delay, ms.
    pub jb_maximum_ms: u16,
    /// Jitter buffer absolute maximum delay, ms.
    pub jb_abs_max_ms: u16,
}

impl VoipMetrics {
    /// Decodes the 32-byte block body (after the block header).
    pub fn parse(b: &[u8]) -> Option<VoipMetrics> {
        let byte = |i: usize| b.get(i).copied();
        let level = |i: usize| byte(i).and_then(available).map(|v| i8::from_be_bytes([v]));
        let rx = byte(24)?;
        Some(VoipMetrics {
            source_ssrc: be32(b, 0)?,
            loss_rate: byte(4)?,
            discard_rate: byte(5)?,
            burst_density: byte(6)?,
            gap_density: byte(7)?,
            burst_duration_ms: be16(b, 8)?,
            gap_duration_ms: be16(b, 10)?,
            round_trip_delay_ms: be16(b, 12)?,
            end_system_delay_ms: be16(b, 14)?,
            signal_level_dbm0: level(16),
            noise_level_dbm0: level(17),
            rerl_db: byte(18).and_then(available),
            gmin: byte(19)?,
            r_factor: byte(20).and_then(available),
            ext_r_factor: byte(21).and_then(available),
            mos_lq_x10: byte(22).and_then(available),
            mos_cq_x10: byte(23).and_then(available),
            plc: match rx >> 6 {
                3 => PlcMethod::Standard,
                2 => PlcMethod::Enhanced,
                1 => PlcMethod::Disabled,
                _ => PlcMethod::Unspecified,
            },
            jitter_buffer: match (rx >> 4) & 3 {
                3 => JitterBufferKind::Adaptive,
                2 => JitterBufferKind::NonAdaptive,
                1 => JitterBufferKind::Reserved,
                _ => JitterBufferKind::Unknown,
            },
            jitter_buffer_rate: rx & 0x0f,
            // Byte 25 is reserved.
            jb_nominal_ms: be16(b, 26)?,
            jb_maximum_ms: be16(b, 28)?,
            jb_abs_max_ms: be16(b, 30)?,
        })
    }

    /// Loss rate as a percentage of expected packets (`loss_rate/256·100`).
    pub fn loss_rate_pct(&self) -> f64 {
        f64::from(self.loss_rate) * 100.0 / 256.0
    }

    /// Discard rate as a percentage.
    pub fn discard_rate_pct(&self) -> f64 {
        f64::from(self.discard_rate) * 100.0 / 256.0
    }

    /// MOS-LQ on the 1–5 scale.
    pub fn mos_lq(&self) -> Option<f64> {
        self.mos_lq_x10.map(|v| f64::from(v) / 10.0)
    }

    /// MOS-CQ on the 1–5 scale.
    pub fn mos_cq(&self) -> Option<f64> {
        self.mos_cq_x10.map(|v| f64::from(v) / 10.0)
    }
}
