//! RTCP wire format: borrowed views over one compound datagram (RFC 3550 §6, RFC 4585 §6.1,
//! RFC 5506, quality-metrics.md §4 "Compound packets").
//!
//! [`RtcpCompound::parse`] walks the whole datagram once and checks every length (the compound
//! framing, report-block counts, SDES items, BYE reason, XR blocks). After `Ok`, the views and
//! iterators it hands out read only inside checked bounds; they still use `.get()` everywhere, so
//! even a logic slip cannot panic, it only ends an iterator early. Nothing here allocates.

use std::fmt;

use super::xr::ExtendedReport;

/// Bytes of the common header (V/P/count, PT, length).
pub const HEADER_LEN: usize = 4;
/// Bytes of the SR sender-info section (NTP, RTP timestamp, packet and octet counts).
pub const SENDER_INFO_LEN: usize = 20;
/// Bytes of one SR/RR report block.
pub const REPORT_BLOCK_LEN: usize = 24;

/// Reads a big-endian u32 at `at`, `None` when it does not fit.
#[inline]
pub(crate) fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// Reads a big-endian u16 at `at`, `None` when it does not fit.
#[inline]
pub(crate) fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(b))
}

/// Middle 32 bits of a 64-bit NTP timestamp, the unit of LSR/LRR (RFC 3550 §6.4.1).
#[inline]
pub fn ntp_middle(seconds: u32, fraction: u32) -> u32 {
    (seconds << 16) | (fraction >> 16)
}

/// RTCP packet type (the second header byte). Open enum: unknown values are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PacketType {
    /// 200, sender report (RFC 3550 §6.4.1).
    SenderReport,
    /// 201, receiver report (RFC 3550 §6.4.2).
    ReceiverReport,
    /// 202, source description (RFC 3550 §6.5).
    SourceDescription,
    /// 203, goodbye (RFC 3550 §6.6).
    Goodbye,
    /// 204, application-defined (RFC 3550 §6.7).
    App,
    /// 205, transport-layer feedback (RFC 4585 §6.2).
    TransportFeedback,
    /// 206, payload-specific feedback (RFC 4585 §6.3).
    PayloadFeedback,
    /// 207, extended report (RFC 3611).
    ExtendedReport,
    /// Any other value in the RTCP range 192–223.
    Other(u8),
}

impl From<u8> for PacketType {
    fn from(v: u8) -> Self {
        match v {
            200 => Self::SenderReport,
            201 => Self::ReceiverReport,
            202 => Self::SourceDescription,
            203 => Self::Goodbye,
            204 => Self::App,
            205 => Self::TransportFeedback,
            206 => Self::PayloadFeedback,
            207 => Self::ExtendedReport,
            n => Self::Other(n),
        }
    }
}

impl PacketType {
    /// The number on the wire.
    pub fn number(self) -> u8 {
        match self {
            Self::SenderReport => 200,
            Self::ReceiverReport => 201,
            Self::SourceDescription => 202,
            Self::Goodbye => 203,
            Self::App => 204,
            Self::TransportFeedback => 205,
            Self::PayloadFeedback => 206,
            Self::ExtendedReport => 207,
            Self::Other(n) => n,
        }
    }
}

/// Whether a UDP payload starts like RTCP: version 2 and a first packet type 200–207
/// (quality-metrics.md §4; the classify stage decides with ports and SDP, this is the byte test).
pub fn looks_like_rtcp(payload: &[u8]) -> bool {
    match payload {
        [b0, b1, ..] => b0 >> 6 == 2 && (200..=207).contains(b1),
        _ => false,
    }
}

/// Why a compound packet was rejected. Small and `Copy`; the caller adds frame context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MalformedReason {
    /// Empty payload.
    Empty,
    /// 1–3 bytes left after the last packet: the lengths do not add up to the payload.
    TrailingBytes,
    /// Version field is not 2.
    BadVersion,
    /// Packet type outside the RTCP range 192–223.
    NotRtcpType,
    /// `(length + 1)·4` runs past the end of the payload.
    LengthOverrun,
    /// Padding bit on a packet that is not the last of the compound (RFC 3550 §6.4.1).
    PaddingNotLast,
    /// Padding count of 0 or larger than the packet body.
    BadPadding,
    /// The report count needs more bytes than the length gives.
    ReportCountOverrun,
    /// The fixed part of the packet (SSRC, sender info, APP name, feedback SSRCs) does not fit.
    BodyTooShort,
    /// An SDES chunk or item runs past the packet, or lacks its terminating null item.
    SdesItemOverrun,
    /// BYE SSRC list or reason runs past the packet.
    ByeReasonOverrun,
    /// An XR block's length runs past the packet.
    XrBlockOverrun,
    /// An XR block of a known type has the wrong length for that type (RFC 3611 §4).
    XrBlockLength,
}

impl MalformedReason {
    /// Short snake_case text for warnings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TrailingBytes => "trailing_bytes",
            Self::BadVersion => "bad_version",
            Self::NotRtcpType => "not_rtcp_type",
            Self::LengthOverrun => "length_overrun",
            Self::PaddingNotLast => "padding_not_last",
            Self::BadPadding => "bad_padding",
            Self::ReportCountOverrun => "report_count_overrun",
            Self::BodyTooShort => "body_too_short",
            Self::SdesItemOverrun => "sdes_item_overrun",
            Self::ByeReasonOverrun => "bye_reason_overrun",
            Self::XrBlockOverrun => "xr_block_overrun",
            Self::XrBlockLength => "xr_block_length",
        }
    }
}

/// A compound packet that failed the checks, with the byte offset of the offending packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// Offset in the UDP payload of the RTCP packet where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub reason: MalformedReason,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed RTCP ({}) at byte {}", self.reason.as_str(), self.offset)
    }
}

/// One RTCP packet inside a compound: the common header and its body (padding removed).
#[derive(Clone, Copy, Debug)]
pub struct RtcpPacket<'a> {
    /// Whole packet, `(length + 1)·4` bytes, padding included.
    bytes: &'a [u8],
    /// After the 4-byte header, padding excluded.
    body: &'a [u8],
    /// Offset of the packet in the datagram.
    offset: usize,
}

impl<'a> RtcpPacket<'a> {
    /// Checks the header and padding of one packet of exactly `(length + 1)·4` bytes.
    fn new(bytes: &'a [u8], offset: usize) -> Result<Self, MalformedReason> {
        let b0 = *bytes.first().ok_or(MalformedReason::LengthOverrun)?;
        let after_header = bytes.get(HEADER_LEN..).ok_or(MalformedReason::LengthOverrun)?;
        let body = if b0 & 0x20 != 0 {
            // RFC 3550 §6.4.1: the last octet counts the padding octets, itself included.
            let pad = usize::from(*bytes.last().ok_or(MalformedReason::BadPadding)?);
            if pad == 0 || pad > after_header.len() {
                return Err(MalformedReason::BadPadding);
            }
            after_header.get(..after_header.len() - pad).ok_or(MalformedReason::BadPadding)?
        } else {
            after_header
        };
        Ok(RtcpPacket { bytes, body, offset })
    }

    /// Padding bit.
    #[inline]
    pub fn has_padding(&self) -> bool {
        self.bytes.first().is_some_and(|b| b & 0x20 != 0)
    }

    /// The 5-bit count field: RC (SR/RR), SC (SDES/BYE), subtype (APP), FMT (RTPFB/PSFB).
    #[inline]
    pub fn count(&self) -> u8 {
        self.bytes.first().map_or(0, |b| b & 0x1f)
    }

    /// Packet type.
    #[inline]
    pub fn packet_type(&self) -> PacketType {
        PacketType::from(self.bytes.get(1).copied().unwrap_or(0))
    }

    /// Length in bytes, `(length + 1)·4`.
    #[inline]
    pub fn len_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Offset of this packet in the datagram.
    #[inline]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Body after the common header, padding removed.
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The typed view of this packet, or why its body is inconsistent with its header.
    pub fn view(&self) -> Result<RtcpView<'a>, MalformedReason> {
        let count = self.count();
        Ok(match self.packet_type() {
            PacketType::SenderReport => RtcpView::SenderReport(SenderReport::new(self.body, count)?),
            PacketType::ReceiverReport => RtcpView::ReceiverReport(ReceiverReport::new(self.body, count)?),
            PacketType::SourceDescription => RtcpView::SourceDescription(Sdes::new(self.body, count)?),
            PacketType::Goodbye => RtcpView::Goodbye(Goodbye::new(self.body, count)?),
            PacketType::App => RtcpView::App(App::new(self.body, count)?),
            pt @ (PacketType::TransportFeedback | PacketType::PayloadFeedback) => {
                RtcpView::Feedback(Feedback::new(self.body, pt, count)?)
            }
            PacketType::ExtendedReport => RtcpView::ExtendedReport(ExtendedReport::new(self.body)?),
            PacketType::Other(_) => RtcpView::Other(*self),
        })
    }
}

/// A typed view of one RTCP packet.
#[derive(Clone, Copy, Debug)]
pub enum RtcpView<'a> {
    /// SR.
    SenderReport(SenderReport<'a>),
    /// RR.
    ReceiverReport(ReceiverReport<'a>),
    /// SDES.
    SourceDescription(Sdes<'a>),
    /// BYE.
    Goodbye(Goodbye<'a>),
    /// APP.
    App(App<'a>),
    /// RTPFB or PSFB (RFC 4585): recognised by type and FMT only.
    Feedback(Feedback<'a>),
    /// XR (RFC 3611).
    ExtendedReport(ExtendedReport<'a>),
    /// Any other RTCP packet type (kept whole, not decoded).
    Other(RtcpPacket<'a>),
}

/// A compound RTCP datagram whose framing and per-packet lengths were all checked.
#[derive(Clone, Copy, Debug)]
pub struct RtcpCompound<'a> {
    bytes: &'a [u8],
    packet_count: usize,
    first_type: PacketType,
}

impl<'a> RtcpCompound<'a> {
    /// Walks the datagram with `len_bytes = (length + 1)·4` and checks every packet
    /// (quality-metrics.md §4): version 2, types in 192–223, padding only on the last packet,
    /// lengths adding up to the payload exactly, counts bounded by the length.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Malformed> {
        if bytes.is_empty() {
            return Err(Malformed { offset: 0, reason: MalformedReason::Empty });
        }
        let mut offset = 0usize;
        let mut packet_count = 0usize;
        let mut first_type = PacketType::Other(0);
        while offset < bytes.len() {
            let fail = |reason| Malformed { offset, reason };
            let rest = bytes.get(offset..).ok_or(fail(MalformedReason::TrailingBytes))?;
            let (b0, pt, words) = match rest {
                [b0, pt, l0, l1, ..] => (*b0, *pt, u16::from_be_bytes([*l0, *l1])),
                _ => return Err(fail(MalformedReason::TrailingBytes)),
            };
            if b0 >> 6 != 2 {
                return Err(fail(MalformedReason::BadVersion));
            }
            if !(192..=223).contains(&pt) {
                return Err(fail(MalformedReason::NotRtcpType));
            }
            // At most 65536·4 bytes: no overflow in usize.
            let len_bytes = (usize::from(words) + 1) * 4;
            let packet_bytes = rest.get(..len_bytes).ok_or(fail(MalformedReason::LengthOverrun))?;
            let is_last = len_bytes == rest.len();
            if b0 & 0x20 != 0 && !is_last {
                return Err(fail(MalformedReason::PaddingNotLast));
            }
            let packet = RtcpPacket::new(packet_bytes, offset).map_err(fail)?;
            packet.view().map_err(fail)?;
            if packet_count == 0 {
                first_type = PacketType::from(pt);
            }
            packet_count += 1;
            offset += len_bytes;
        }
        Ok(RtcpCompound { bytes, packet_count, first_type })
    }

    /// Number of RTCP packets in the compound.
    pub fn packet_count(&self) -> usize {
        self.packet_count
    }

    /// Type of the first packet.
    pub fn first_type(&self) -> PacketType {
        self.first_type
    }

    /// True when the first packet is neither SR nor RR: allowed by RFC 5506 (reduced-size RTCP),
    /// recorded rather than rejected.
    pub fn is_reduced_size(&self) -> bool {
        !matches!(self.first_type, PacketType::SenderReport | PacketType::ReceiverReport)
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The packets, in order.
    pub fn packets(&self) -> Packets<'a> {
        Packets { bytes: self.bytes, offset: 0 }
    }

    /// The typed views of the packets, in order.
    pub fn views(&self) -> impl Iterator<Item = RtcpView<'a>> {
        self.packets().filter_map(|p| p.view().ok())
    }
}

/// Iterator over the packets of a checked compound.
#[derive(Clone, Debug)]
pub struct Packets<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for Packets<'a> {
    type Item = RtcpPacket<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let words = be16(self.bytes, self.offset.checked_add(2)?)?;
        let len_bytes = (usize::from(words) + 1) * 4;
        let end = self.offset.checked_add(len_bytes)?;
        let packet = RtcpPacket::new(self.bytes.get(self.offset..end)?, self.offset).ok()?;
        self.offset = end;
        Some(packet)
    }
}

/// One SR/RR report block (RFC 3550 §6.4.1), copied out: the owned summary of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportBlock {
    /// SSRC of the source this block reports on.
    pub source_ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (signed 24-bit; negative with duplicates).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (`cycles·65536 + max`).
    pub extended_highest_seq: u32,
    /// Interarrival jitter, RTP timestamp units (quality-metrics.md §1.7).
    pub jitter: u32,
    /// Last SR timestamp: middle 32 bits of the NTP time of the last SR received (0 = none).
    pub lsr: u32,
    /// Delay since last SR, 1/65536 s.
    pub dlsr: u32,
}

impl ReportBlock {
    /// Decodes 24 bytes; `None` when shorter.
    pub fn parse(bytes: &[u8]) -> Option<ReportBlock> {
        let lost_word = be32(bytes, 4)?;
        // Sign-extend the low 24 bits: shift them to the top, then arithmetic shift back.
        let cumulative_lost = ((lost_word << 8) as i32) >> 8;
        Some(ReportBlock {
            source_ssrc: be32(bytes, 0)?,
            fraction_lost: bytes.get(4).copied()?,
            cumulative_lost,
            extended_highest_seq: be32(bytes, 8)?,
            jitter: be32(bytes, 12)?,
            lsr: be32(bytes, 16)?,
            dlsr: be32(bytes, 20)?,
        })
    }

    /// Fraction lost as a percentage (`fraction/256·100`).
    pub fn fraction_lost_pct(&self) -> f64 {
        f64::from(self.fraction_lost) * 100.0 / 256.0
    }

    /// Jitter in ms for the stream's RTP clock (`value·1000/rate`, §1.7); `None` for clock 0.
    pub fn jitter_ms(&self, clock_hz: u32) -> Option<f64> {
        jitter_units_to_ms(self.jitter, clock_hz)
    }
}

/// `units·1000/clock_hz` (quality-metrics.md §1.7); `None` when the clock is unknown (0).
pub fn jitter_units_to_ms(units: u32, clock_hz: u32) -> Option<f64> {
    (clock_hz != 0).then(|| f64::from(units) * 1000.0 / f64::from(clock_hz))
}

/// Iterator over the report blocks of an SR or RR.
#[derive(Clone, Debug)]
pub struct ReportBlocks<'a> {
    bytes: &'a [u8],
    remaining: usize,
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        if self.remaining == 0 {
            return None;
        }
        let block = ReportBlock::parse(self.bytes)?;
        self.bytes = self.bytes.get(REPORT_BLOCK_LEN..).unwrap_or(&[]);
        self.remaining -= 1;
        Some(block)
    }
}

/// Checks that `count` report blocks fit after `fixed` bytes of `body`.
fn check_report_count(body: &[u8], fixed: usize, count: u8) -> Result<(), MalformedReason> {
    if body.len() < fixed {
        return Err(MalformedReason::BodyTooShort);
    }
    let needed = fixed + usize::from(count) * REPORT_BLOCK_LEN;
    if body.len() < needed {
        return Err(MalformedReason::ReportCountOverrun);
    }
    Ok(())
}

/// Sender report view (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug)]
pub struct SenderReport<'a> {
    body: &'a [u8],
    count: u8,
}

impl<'a> SenderReport<'a> {
    fn new(body: &'a [u8], count: u8) -> Result<Self, MalformedReason> {
        check_report_count(body, 4 + SENDER_INFO_LEN, count)?;
        Ok(SenderReport { body, count })
    }

    /// SSRC of the sender.
    pub fn sender_ssrc(&self) -> u32 {
        be32(self.body, 0).unwrap_or(0)
    }

    /// NTP timestamp, seconds.
    pub fn ntp_seconds(&self) -> u32 {
        be32(self.body, 4).unwrap_or(0)
    }

    /// NTP timestamp, fraction.
    pub fn ntp_fraction(&self) -> u32 {
        be32(self.body, 8).unwrap_or(0)
    }

    /// Middle 32 bits of the NTP timestamp: what receivers echo as LSR.
    pub fn ntp_middle(&self) -> u32 {
        ntp_middle(self.ntp_seconds(), self.ntp_fraction())
    }

    /// RTP timestamp of the same instant.
    pub fn rtp_timestamp(&self) -> u32 {
        be32(self.body, 12).unwrap_or(0)
    }

    /// Sender's packet count since it started.
    pub fn packet_count(&self) -> u32 {
        be32(self.body, 16).unwrap_or(0)
    }

    /// Sender's payload octet count since it started.
    pub fn octet_count(&self) -> u32 {
        be32(self.body, 20).unwrap_or(0)
    }

    /// The report blocks (RC of them).
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        let start = 4 + SENDER_INFO_LEN;
        ReportBlocks { bytes: self.body.get(start..).unwrap_or(&[]), remaining: usize::from(self.count) }
    }
}

/// Receiver report view (RFC 3550 §6.4.2).
#[derive(Clone, Copy, Debug)]
pub struct ReceiverReport<'a> {
    body: &'a [u8],
    count: u8,
}

impl<'a> ReceiverReport<'a> {
    fn new(body: &'a [u8], count: u8) -> Result<Self, MalformedReason> {
        check_report_count(body, 4, count)?;
        Ok(ReceiverReport { body, count })
    }

    /// SSRC of the packet's sender (the reporter).
    pub fn sender_ssrc(&self) -> u32 {
        be32(self.body, 0).unwrap_or(0)
    }

    /// The report blocks (RC of them).
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks { bytes: self.body.get(4..).unwrap_or(&[]), remaining: usize::from(self.count) }
    }
}

/// SDES item type (RFC 3550 §6.5). Open enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdesItemType {
    /// 1, canonical name.
    Cname,
    /// 2, user name.
    Name,
    /// 3, e-mail.
    Email,
    /// 4, phone.
    Phone,
    /// 5, location.
    Location,
    /// 6, tool.
    Tool,
    /// 7, note.
    Note,
    /// 8, private extension.
    Private,
    /// Other values.
    Other(u8),
}

impl From<u8> for SdesItemType {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::Cname,
            2 => Self::Name,
            3 => Self::Email,
            4 => Self::Phone,
            5 => Self::Location,
            6 => Self::Tool,
            7 => Self::Note,
            8 => Self::Private,
            n => Self::Other(n),
        }
    }
}

/// One SDES item: type and raw value (UTF-8 by the RFC, not checked here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// Item type.
    pub kind: SdesItemType,
    /// Value bytes.
    pub value: &'a [u8],
}

/// One SDES chunk: an SSRC and its items.
#[derive(Clone, Copy, Debug)]
pub struct SdesChunk<'a> {
    /// SSRC/CSRC described.
    pub ssrc: u32,
    /// Item bytes, from the first item up to (not including) the null item.
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// The items of this chunk.
    pub fn items(&self) -> SdesItems<'a> {
        SdesItems { bytes: self.items }
    }

    /// The CNAME item's value, if present.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items().find(|i| i.kind == SdesItemType::Cname).map(|i| i.value)
    }
}

/// Iterator over SDES items.
#[derive(Clone, Debug)]
pub struct SdesItems<'a> {
    bytes: &'a [u8],
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = SdesItem<'a>;

    fn next(&mut self) -> Option<SdesItem<'a>> {
        let (kind, len) = match self.bytes {
            [0, ..] | [] => return None,
            [kind, len, ..] => (*kind, usize::from(*len)),
            [_] => return None,
        };
        let value = self.bytes.get(2..2 + len)?;
        self.bytes = self.bytes.get(2 + len..).unwrap_or(&[]);
        Some(SdesItem { kind: SdesItemType::from(kind), value })
    }
}

/// Splits one chunk off the front of `bytes`: (chunk, rest after its 32-bit padding).
fn split_sdes_chunk(bytes: &[u8]) -> Result<(SdesChunk<'_>, &[u8]), MalformedReason> {
    let ssrc = be32(bytes, 0).ok_or(MalformedReason::SdesItemOverrun)?;
    let mut at = 4usize;
    // Items until the null item (RFC 3550 §6.5: "terminated by one or more null octets").
    loop {
        match bytes.get(at) {
            None => return Err(MalformedReason::SdesItemOverrun),
            Some(0) => break,
            Some(_) => {
                let len = usize::from(*bytes.get(at + 1).ok_or(MalformedReason::SdesItemOverrun)?);
                at += 2 + len;
                if at > bytes.len() {
                    return Err(MalformedReason::SdesItemOverrun);
                }
            }
        }
    }
    let items = bytes.get(4..at).ok_or(MalformedReason::SdesItemOverrun)?;
    // Skip the null octet, then pad to the next 32-bit boundary (the chunk starts aligned).
    // A final chunk whose alignment octets were cut by the packet end is still complete.
    let end = ((at + 1).div_ceil(4) * 4).min(bytes.len());
    let rest = bytes.get(end..).unwrap_or(&[]);
    Ok((SdesChunk { ssrc, items }, rest))
}

/// Source description view (RFC 3550 §6.5).
#[derive(Clone, Copy, Debug)]
pub struct Sdes<'a> {
    body: &'a [u8],
    count: u8,
}

impl<'a> Sdes<'a> {
    fn new(body: &'a [u8], count: u8) -> Result<Self, MalformedReason> {
        let mut rest = body;
        for _ in 0..count {
            rest = split_sdes_chunk(rest)?.1;
        }
        Ok(Sdes { body, count })
    }

    /// The chunks (SC of them).
    pub fn chunks(&self) -> SdesChunks<'a> {
        SdesChunks { bytes: self.body, remaining: self.count }
    }
}

/// Iterator over SDES chunks.
#[derive(Clone, Debug)]
pub struct SdesChunks<'a> {
    bytes: &'a [u8],
    remaining: u8,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = SdesChunk<'a>;

    fn next(&mut self) -> Option<SdesChunk<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let (chunk, rest) = split_sdes_chunk(self.bytes).ok()?;
        self.bytes = rest;
        self.remaining -= 1;
        Some(chunk)
    }
}

/// Goodbye view (RFC 3550 §6.6).
#[derive(Clone, Copy, Debug)]
pub struct Goodbye<'a> {
    body: &'a [u8],
    count: u8,
}

impl<'a> Goodbye<'a> {
    fn new(body: &'a [u8], count: u8) -> Result<Self, MalformedReason> {
        let list = usize::from(count) * 4;
        let rest = body.get(list..).ok_or(MalformedReason::ByeReasonOverrun)?;
        if let Some(&len) = rest.first() {
            if rest.len() < 1 + usize::from(len) {
                return Err(MalformedReason::ByeReasonOverrun);
            }
        }
        Ok(Goodbye { body, count })
    }

    /// The SSRCs leaving (SC of them).
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let body = self.body;
        (0..usize::from(self.count)).filter_map(move |i| be32(body, i * 4))
    }

    /// The optional reason for leaving (raw bytes; `None` when absent or empty).
    pub fn reason(&self) -> Option<&'a [u8]> {
        let rest = self.body.get(usize::from(self.count) * 4..)?;
        let len = usize::from(*rest.first()?);
        if len == 0 {
            return None;
        }
        rest.get(1..1 + len)
    }
}

/// Application-defined packet view (RFC 3550 §6.7).
#[derive(Clone, Copy, Debug)]
pub struct App<'a> {
    body: &'a [u8],
    subtype: u8,
}

impl<'a> App<'a> {
    fn new(body: &'a [u8], subtype: u8) -> Result<Self, MalformedReason> {
        if body.len() < 8 {
            return Err(MalformedReason::BodyTooShort);
        }
        Ok(App { body, subtype })
    }

    /// Subtype (the count field).
    pub fn subtype(&self) -> u8 {
        self.subtype
    }

    /// SSRC/CSRC of the sender.
    pub fn ssrc(&self) -> u32 {
        be32(self.body, 0).unwrap_or(0)
    }

    /// Four-character name.
    pub fn name(&self) -> [u8; 4] {
        match self.body.get(4..8) {
            Some([a, b, c, d]) => [*a, *b, *c, *d],
            _ => [0; 4],
        }
    }

    /// Application data.
    pub fn data(&self) -> &'a [u8] {
        self.body.get(8..).unwrap_or(&[])
    }
}

/// RTPFB/PSFB view (RFC 4585 §6.1): recognised by type and FMT; the FCI is not decoded.
#[derive(Clone, Copy, Debug)]
pub struct Feedback<'a> {
    body: &'a [u8],
    packet_type: PacketType,
    fmt: u8,
}

impl<'a> Feedback<'a> {
    fn new(body: &'a [u8], packet_type: PacketType, fmt: u8) -> Result<Self, MalformedReason> {
        if body.len() < 8 {
            return Err(MalformedReason::BodyTooShort);
        }
        Ok(Feedback { body, packet_type, fmt })
    }

    /// RTPFB (205) or PSFB (206).
    pub fn packet_type(&self) -> PacketType {
        self.packet_type
    }

    /// Feedback message type (e.g. RTPFB 1 = generic NACK, PSFB 1 = PLI).
    pub fn fmt(&self) -> u8 {
        self.fmt
    }

    /// SSRC of the packet sender.
    pub fn sender_ssrc(&self) -> u32 {
        be32(self.body, 0).unwrap_or(0)
    }

    /// SSRC of the media source.
    pub fn media_ssrc(&self) -> u32 {
        be32(self.body, 4).unwrap_or(0)
    }

    /// Feedback control information (not decoded).
    pub fn fci(&self) -> &'a [u8] {
        self.body.get(8..).unwrap_or(&[])
    }
}
