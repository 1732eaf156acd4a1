//! Unit tests for the RTCP wire views, XR decoding and the table, on synthetic packets built
//! here byte by byte (every packet is "synthetic" unless its comment names a capture).

use std::net::SocketAddr;

use super::wire::{Malformed, MalformedReason, PacketType, ReportBlock, RtcpCompound, RtcpView};
use super::xr::{JitterBufferKind, PlcMethod, XrBlockType};
use super::{RtcpLimits, RtcpTable, RttMethod, RttStats};
use crate::capture::FrameRef;
use crate::time::Timestamp;

fn header(padding: bool, count: u8, pt: u8, body_len: usize) -> Vec<u8> {
    assert_eq!(body_len % 4, 0, "test builder: body must be 32-bit aligned");
    let words = u16::try_from(body_len / 4).unwrap();
    let b0 = 0x80 | if padding { 0x20 } else { 0 } | (count & 0x1f);
    let mut v = vec![b0, pt];
    v.extend_from_slice(&words.to_be_bytes());
    v
}

fn block_bytes(b: &ReportBlock) -> Vec<u8> {
    let mut v = b.source_ssrc.to_be_bytes().to_vec();
    let lost = (b.cumulative_lost as u32) & 0x00ff_ffff;
    v.extend_from_slice(&((u32::from(b.fraction_lost) << 24) | lost).to_be_bytes());
    for x in [b.extended_highest_seq, b.jitter, b.lsr, b.dlsr] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v
}

fn sr(ssrc: u32, ntp: (u32, u32), rtp_ts: u32, pkts: u32, octets: u32, blocks: &[ReportBlock]) -> Vec<u8> {
    let mut body = Vec::new();
    for x in [ssrc, ntp.0, ntp.1, rtp_ts, pkts, octets] {
        body.extend_from_slice(&x.to_be_bytes());
    }
    blocks.iter().for_each(|b| body.extend(block_bytes(b)));
    let mut v = header(false, blocks.len() as u8, 200, body.len());
    v.extend(body);
    v
}

fn rr(ssrc: u32, blocks: &[ReportBlock]) -> Vec<u8> {
    let mut body = ssrc.to_be_bytes().to_vec();
    blocks.iter().for_each(|b| body.extend(block_bytes(b)));
    let mut v = header(false, blocks.len() as u8, 201, body.len());
    v.extend(body);
    v
}

fn sdes_cname(ssrc: u32, cname: &[u8]) -> Vec<u8> {
    let mut body = ssrc.to_be_bytes().to_vec();
    body.push(1);
    body.push(cname.len() as u8);
    body.extend_from_slice(cname);
    body.push(0);
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let mut v = header(false, 1, 202, body.len());
    v.extend(body);
    v
}

fn bye(ssrcs: &[u32], reason: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    ssrcs.iter().for_each(|s| body.extend_from_slice(&s.to_be_bytes()));
    if !reason.is_empty() {
        body.push(reason.len() as u8);
        body.extend_from_slice(reason);
        while body.len() % 4 != 0 {
            body.push(0);
        }
    }
    let mut v = header(false, ssrcs.len() as u8, 203, body.len());
    v.extend(body);
    v
}

fn xr(ssrc: u32, blocks: &[Vec<u8>]) -> Vec<u8> {
    let mut body = ssrc.to_be_bytes().to_vec();
    blocks.iter().for_each(|b| body.extend_from_slice(b));
    let mut v = header(false, 0, 207, body.len());
    v.extend(body);
    v
}

fn xr_block(bt: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![bt, 0];
    v.extend_from_slice(&u16::try_from(body.len() / 4).unwrap().to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_be_bytes()).collect()
}

fn block(source_ssrc: u32, lsr: u32, dlsr: u32) -> ReportBlock {
    ReportBlock { source_ssrc, fraction_lost: 0, cumulative_lost: 0, extended_highest_seq: 100, jitter: 10, lsr, dlsr }
}

fn at(number: u64, ms: i64) -> FrameRef {
    FrameRef { file: 0, number, time: Timestamp(ms * 1_000_000) }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn parse(bytes: &[u8]) -> RtcpCompound<'_> {
    RtcpCompound::parse(bytes).unwrap_or_else(|e| panic!("{e}"))
}

fn err(bytes: &[u8]) -> Malformed {
    RtcpCompound::parse(bytes).err().unwrap_or_else(|| panic!("expected Malformed for {bytes:02x?}"))
}

#[test]
fn parses_sr_with_sdes_cname() {
    let b = block(0x1111, 0, 0);
    let mut bytes = sr(0xAABB_CCDD, (3_314_714_329, 4_118_873_637), 1234, 500, 80_000, &[b]);
    bytes.extend(sdes_cname(0xAABB_CCDD, b"alice@host"));
    let c = parse(&bytes);
    assert_eq!(c.packet_count(), 2);
    assert!(!c.is_reduced_size());
    let views: Vec<_> = c.views().collect();
    let RtcpView::SenderReport(s) = views[0] else { panic!("not SR") };
    assert_eq!(s.sender_ssrc(), 0xAABB_CCDD);
    // NTP middle of frame 1181 in sipnab-SIP_CALL_RTP_G711.pcap is 2262431105 (tshark's LSR).
    assert_eq!(s.ntp_middle(), 2_262_431_105);
    assert_eq!((s.rtp_timestamp(), s.packet_count(), s.octet_count()), (1234, 500, 80_000));
    assert_eq!(s.report_blocks().collect::<Vec<_>>(), vec![b]);
    let RtcpView::SourceDescription(d) = views[1] else { panic!("not SDES") };
    let chunk = d.chunks().next().unwrap();
    assert_eq!(chunk.ssrc, 0xAABB_CCDD);
    assert_eq!(chunk.cname(), Some(&b"alice@host"[..]));
}

#[test]
fn parses_rr_with_two_blocks_and_signed_loss() {
    let b1 = ReportBlock {
        source_ssrc: 1,
        fraction_lost: 64,
        cumulative_lost: -3,
        extended_highest_seq: 0x0001_0005,
        jitter: 1888,
        lsr: 7,
        dlsr: 8,
    };
    let b2 = ReportBlock { cumulative_lost: 0x7f_ffff, ..block(2, 0, 0) };
    let bytes = rr(9, &[b1, b2]);
    let c = parse(&bytes);
    let RtcpView::ReceiverReport(r) = c.views().next().unwrap() else { panic!("not RR") };
    assert_eq!(r.sender_ssrc(), 9);
    let got: Vec<_> = r.report_blocks().collect();
    assert_eq!(got, vec![b1, b2]);
    assert_eq!(got[0].fraction_lost_pct(), 25.0);
    assert_eq!(got[0].jitter_ms(8000), Some(236.0));
    assert_eq!(got[0].jitter_ms(0), None);
}

#[test]
fn parses_bye_with_and_without_reason() {
    let bytes = bye(&[5, 6], b"call ended");
    let RtcpView::Goodbye(g) = parse(&bytes).views().next().unwrap() else { panic!("not BYE") };
    assert_eq!(g.ssrcs().collect::<Vec<_>>(), vec![5, 6]);
    assert_eq!(g.reason(), Some(&b"call ended"[..]));
    let bytes = bye(&[5], b"");
    let RtcpView::Goodbye(g) = parse(&bytes).views().next().unwrap() else { panic!("not BYE") };
    assert_eq!(g.reason(), None);
    // Reason length byte claiming more than the packet holds.
    let mut bad = bye(&[5], b"abc");
    bad[8] = 9;
    assert_eq!(err(&bad).reason, MalformedReason::ByeReasonOverrun);
}

#[test]
fn parses_app_and_feedback() {
    let mut bytes = header(false, 3, 204, 12);
    bytes.extend(words(&[0x77]));
    bytes.extend_from_slice(b"QOS1");
    bytes.extend(words(&[0xDEAD_BEEF]));
    let RtcpView::App(a) = parse(&bytes).views().next().unwrap() else { panic!("not APP") };
    assert_eq!((a.subtype(), a.ssrc(), &a.name(), a.data()), (3, 0x77, b"QOS1", &[0xDE, 0xAD, 0xBE, 0xEF][..]));
    // PSFB FMT 1 (PLI) alone: reduced-size RTCP (RFC 5506).
    let mut pli = header(false, 1, 206, 8);
    pli.extend(words(&[10, 20]));
    let c = parse(&pli);
    assert!(c.is_reduced_size());
    assert_eq!(c.first_type(), PacketType::PayloadFeedback);
    let RtcpView::Feedback(f) = c.views().next().unwrap() else { panic!("not PSFB") };
    assert_eq!((f.packet_type(), f.fmt(), f.sender_ssrc(), f.media_ssrc()), (PacketType::PayloadFeedback, 1, 10, 20));
}

/// RFC 3611 §4.7 layout, every field with a distinct value.
fn voip_metrics_body(signal: u8, r_factor: u8) -> Vec<u8> {
    let mut b = words(&[0x5EED]);
    b.extend_from_slice(&[13, 26, 170, 5]); // loss, discard, burst density, gap density
    b.extend_from_slice(&120u16.to_be_bytes()); // burst duration
    b.extend_from_slice(&1880u16.to_be_bytes()); // gap duration
    b.extend_from_slice(&80u16.to_be_bytes()); // round trip
    b.extend_from_slice(&45u16.to_be_bytes()); // end system delay
    b.extend_from_slice(&[signal, 0xB0, 127, 16]); // signal, noise −80, RERL unavailable, Gmin
    b.extend_from_slice(&[r_factor, 127, 41, 127]); // R, ext R, MOS-LQ 4.1, MOS-CQ unavailable
    b.extend_from_slice(&[0b1011_0011, 0]); // PLC enhanced, JBA adaptive, rate 3; reserved
    b.extend_from_slice(&60u16.to_be_bytes()); // JB nominal
    b.extend_from_slice(&200u16.to_be_bytes()); // JB max
    b.extend_from_slice(&500u16.to_be_bytes()); // JB abs max
    b
}

#[test]
fn decodes_xr_voip_metrics_every_field() {
    let bytes = xr(0x1234, &[xr_block(7, &voip_metrics_body(0xEC, 88))]);
    let RtcpView::ExtendedReport(x) = parse(&bytes).views().next().unwrap() else { panic!("not XR") };
    assert_eq!(x.sender_ssrc(), 0x1234);
    let blk = x.blocks().next().unwrap();
    assert_eq!(blk.block_type, XrBlockType::VoipMetrics);
    assert_eq!(blk.source_ssrc(), Some(0x5EED));
    let m = blk.voip_metrics().unwrap();
    assert_eq!(m.source_ssrc, 0x5EED);
    assert_eq!((m.loss_rate, m.discard_rate, m.burst_density, m.gap_density), (13, 26, 170, 5));
    assert_eq!((m.burst_duration_ms, m.gap_duration_ms), (120, 1880));
    assert_eq!((m.round_trip_delay_ms, m.end_system_delay_ms), (80, 45));
    assert_eq!((m.signal_level_dbm0, m.noise_level_dbm0, m.rerl_db, m.gmin), (Some(-20), Some(-80), None, 16));
    assert_eq!((m.r_factor, m.ext_r_factor, m.mos_lq_x10, m.mos_cq_x10), (Some(88), None, Some(41), None));
    assert_eq!((m.plc, m.jitter_buffer, m.jitter_buffer_rate), (PlcMethod::Enhanced, JitterBufferKind::Adaptive, 3));
    assert_eq!((m.jb_nominal_ms, m.jb_maximum_ms, m.jb_abs_max_ms), (60, 200, 500));
    assert_eq!(m.mos_lq(), Some(4.1));
    assert!((m.loss_rate_pct() - 5.078125).abs() < 1e-12);
    // 127 in signal level and R factor means unavailable.
    let bytes = xr(0x1234, &[xr_block(7, &voip_metrics_body(127, 127))]);
    let RtcpView::ExtendedReport(x) = parse(&bytes).views().next().unwrap() else { panic!("not XR") };
    let m = x.blocks().next().unwrap().voip_metrics().unwrap();
    assert_eq!((m.signal_level_dbm0, m.r_factor), (None, None));
    // The table keeps the latest block per source SSRC.
    let mut t = RtcpTable::new(RtcpLimits::default());
    t.observe(at(4, 0), addr("10.0.0.1:5005"), addr("10.0.0.2:5005"), &bytes).unwrap();
    let seen = t.ssrc(0x5EED).unwrap().voip_metrics.unwrap();
    assert_eq!((seen.reporter.ssrc, seen.at.number, seen.metrics.gmin), (0x1234, 4, 16));
    assert_eq!(t.xr_blocks_of_type(XrBlockType::VoipMetrics), 1);
    assert!(t.ssrc(0x1234).is_none(), "XR sender with no RRT block is not tracked");
}

#[test]
fn rejects_xr_block_with_wrong_length_for_its_type() {
    let body = voip_metrics_body(0, 0);
    let bytes = xr(1, &[xr_block(7, &body[..28])]);
    assert_eq!(err(&bytes).reason, MalformedReason::XrBlockLength);
    let bytes = xr(1, &[xr_block(4, &words(&[1, 2, 3]))]);
    assert_eq!(err(&bytes).reason, MalformedReason::XrBlockLength);
    // A block length running past the packet.
    let mut bytes = xr(1, &[xr_block(5, &words(&[1, 2, 3]))]);
    bytes[10..12].copy_from_slice(&6u16.to_be_bytes());
    assert_eq!(err(&bytes).reason, MalformedReason::XrBlockOverrun);
    // Types 1–3 and 6 are recognised by type and length.
    let bytes = xr(1, &[xr_block(1, &words(&[9, 0x0001_0010])), xr_block(6, &[0; 36])]);
    let RtcpView::ExtendedReport(x) = parse(&bytes).views().next().unwrap() else { panic!("not XR") };
    let types: Vec<_> = x.blocks().map(|b| (b.block_type, b.source_ssrc())).collect();
    assert_eq!(types, vec![(XrBlockType::LossRle, Some(9)), (XrBlockType::StatisticsSummary, Some(0))]);
}

#[test]
fn xr_rrt_and_dlrr_give_receiver_round_trip() {
    let receiver = 0xAAAA;
    let sender = 0xBBBB;
    let (secs, frac) = (0x0001_2345, 0x8000_0000);
    let middle = 0x2345_8000;
    let rrt = xr(receiver, &[xr_block(4, &words(&[secs, frac]))]);
    // DLRR answered 100 ms later (6553.6 → 6554 units), captured 130 ms after the RRT.
    let dlrr = xr(sender, &[xr_block(5, &words(&[receiver, middle, 6554]))]);
    let mut t = RtcpTable::new(RtcpLimits::default());
    let (a, b) = (addr("10.0.0.1:5001"), addr("10.0.0.2:5001"));
    t.observe(at(1, 1_000), a, b, &rrt).unwrap();
    t.observe(at(2, 1_130), b, a, &dlrr).unwrap();
    let s = t.rtt_samples();
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].method, s[0].reference.number, s[0].report.number), (RttMethod::XrDlrr, 1, 2));
    assert_eq!(s[0].referenced_ssrc, receiver);
    assert!((s[0].rtt_ms() - (130.0 - 6554.0 * 1000.0 / 65536.0)).abs() < 1e-9);
    assert_eq!(t.xr_blocks_of_type(XrBlockType::ReceiverReferenceTime), 1);
    assert_eq!(t.xr_blocks_of_type(XrBlockType::Dlrr), 1);
}

#[test]
fn round_trip_from_sr_and_rr_pair() {
    // SR at t = 10.000 s with NTP middle X; RR at 10.250 s with LSR = X, DLSR = 0.2 s.
    let (secs, frac) = (0x00AB_CDEF, 0x4000_0000);
    let x = (secs << 16) | (frac >> 16);
    let dlsr = 13107; // ⌊0.2·65536⌋
    let mut t = RtcpTable::new(RtcpLimits::default());
    let (a, b) = (addr("192.0.2.1:4001"), addr("192.0.2.2:5001"));
    t.observe(at(100, 10_000), a, b, &sr(0x51, (secs, frac), 0, 10, 1600, &[])).unwrap();
    t.observe(at(200, 10_250), b, a, &rr(0x52, &[block(0x51, x, dlsr)])).unwrap();
    let s = t.rtt_samples()[0];
    assert_eq!((s.reference.number, s.report.number, s.reporter.ssrc), (100, 200, 0x52));
    // 250 − 13107/65536·1000 = 50.0030517578125 ms.
    assert_eq!(s.rtt_ms(), 50.003_051_757_812_5);
    assert_eq!(s.wireshark_ms(), 51, "Wireshark truncates DLSR to 199 ms before subtracting");
    // LSR = 0, DLSR = 0 and an LSR nobody sent give no sample; a negative result is kept but
    // not accepted.
    t.observe(at(201, 10_300), b, a, &rr(0x52, &[block(0x51, 0, dlsr), block(0x51, x, 0)])).unwrap();
    t.observe(at(202, 10_300), b, a, &rr(0x52, &[block(0x51, x ^ 1, dlsr)])).unwrap();
    assert_eq!(t.rtt_samples().len(), 1);
    t.observe(at(203, 10_100), b, a, &rr(0x52, &[block(0x51, x, dlsr)])).unwrap();
    assert_eq!(t.rtt_samples().len(), 2);
    assert!(!t.rtt_samples()[1].is_accepted());
    t.observe(at(204, 10_290), b, a, &rr(0x52, &[block(0x51, x, dlsr)])).unwrap();
    t.observe(at(205, 10_270), b, a, &rr(0x52, &[block(0x51, x, dlsr)])).unwrap();
    let stats = t.rtt_stats().unwrap();
    assert_eq!(stats.count, 3);
    let base = 50.003_051_757_812_5;
    assert!((stats.min_ms - base).abs() < 1e-9);
    assert!((stats.median_ms - (base + 20.0)).abs() < 1e-9);
    assert!((stats.mean_ms - (base + 20.0)).abs() < 1e-9);
    assert!((stats.max_ms - (base + 40.0)).abs() < 1e-9);
    // Per reported SSRC: 6 blocks about 0x51 (the 7th block of frame 201 counts too).
    let src = &t.ssrc(0x51).unwrap().reported;
    assert_eq!(src.reports, 7);
    assert_eq!(src.reporters.len(), 1);
    assert_eq!(t.ssrc(0x51).unwrap().sender.last_sr.unwrap().packet_count, 10);
    assert_eq!(RttStats::from_samples(&[]), None);
}

#[test]
fn prefers_the_sr_copy_on_the_reverse_flow() {
    // A relay forwards the same SR: endpoint → relay (frame 1), relay → far end (frame 2).
    let (ep, relay_in, relay_out, far) =
        (addr("10.0.0.4:8001"), addr("10.0.0.6:40377"), addr("10.0.0.6:40379"), addr("10.0.0.9:4801"));
    let srb = sr(0xD2, (5, 0), 0, 1, 1, &[]);
    let mut t = RtcpTable::new(RtcpLimits::default());
    t.observe(at(1, 1000), ep, relay_in, &srb).unwrap();
    t.observe(at(2, 1001), relay_out, far, &srb).unwrap();
    let x = 5 << 16;
    // The far end answers towards the relay; then the relay forwards the answer to the endpoint.
    let rrb = rr(0x58, &[block(0xD2, x, 6554)]);
    t.observe(at(3, 1200), far, relay_out, &rrb).unwrap();
    t.observe(at(4, 1201), relay_in, ep, &rrb).unwrap();
    let refs: Vec<_> = t.rtt_samples().iter().map(|s| (s.report.number, s.reference.number)).collect();
    assert_eq!(refs, vec![(3, 2), (4, 1)]);
}

#[test]
fn padding_only_on_the_last_packet() {
    let mut padded_sdes = sdes_cname(7, b"x");
    padded_sdes[0] |= 0x20;
    padded_sdes.extend_from_slice(&[0, 0, 0, 4]);
    let words_now = u16::from_be_bytes([padded_sdes[2], padded_sdes[3]]) + 1;
    padded_sdes[2..4].copy_from_slice(&words_now.to_be_bytes());
    let mut ok = rr(7, &[]);
    ok.extend(&padded_sdes);
    let c = parse(&ok);
    let sdes: Vec<_> = c.views().collect();
    let RtcpView::SourceDescription(d) = sdes[1] else { panic!("not SDES") };
    assert_eq!(d.chunks().next().unwrap().cname(), Some(&b"x"[..]));
    // Same padded packet first, then an RR: padding not on the last.
    let mut bad = padded_sdes.clone();
    bad.extend(rr(7, &[]));
    assert_eq!(err(&bad), Malformed { offset: 0, reason: MalformedReason::PaddingNotLast });
    // Padding count 0, and padding longer than the body.
    let mut zero = ok.clone();
    *zero.last_mut().unwrap() = 0;
    assert_eq!(err(&zero).reason, MalformedReason::BadPadding);
    let mut huge = ok.clone();
    *huge.last_mut().unwrap() = 200;
    assert_eq!(err(&huge).reason, MalformedReason::BadPadding);
}

/// A compound using every decoded type, for the truncation and corruption sweeps.
fn rich_compound() -> (Vec<u8>, Vec<usize>) {
    let parts = [
        sr(1, (2, 3), 4, 5, 6, &[block(9, 1, 2), block(10, 0, 0)]),
        sdes_cname(1, b"cname@example"),
        xr(1, &[xr_block(4, &words(&[1, 2])), xr_block(5, &words(&[3, 4, 5])), xr_block(7, &voip_metrics_body(0, 0))]),
        bye(&[1], b"bye"),
    ];
    let mut bytes = Vec::new();
    let mut boundaries = Vec::new();
    for p in parts {
        bytes.extend(p);
        boundaries.push(bytes.len());
    }
    (bytes, boundaries)
}

#[test]
fn every_truncation_is_malformed_except_at_packet_boundaries() {
    let (bytes, boundaries) = rich_compound();
    assert_eq!(parse(&bytes).packet_count(), 4);
    for len in 0..bytes.len() {
        let cut = &bytes[..len];
        match RtcpCompound::parse(cut) {
            Ok(c) => {
                let n = boundaries.iter().position(|&b| b == len).map(|i| i + 1);
                assert_eq!(Some(c.packet_count()), n, "cut at {len} parsed but is not a packet boundary");
            }
            Err(e) => assert!(!boundaries.contains(&len), "cut at {len} is a boundary, got {e}"),
        }
        // The table never panics either and counts what it rejects.
        let mut t = RtcpTable::new(RtcpLimits::default());
        let r = t.observe(at(1, 0), addr("10.0.0.1:1"), addr("10.0.0.2:2"), cut);
        assert_eq!(t.malformed(), u64::from(r.is_err()));
    }
}

#[test]
fn length_fields_that_lie_are_rejected() {
    let (bytes, _) = rich_compound();
    // First packet claims one word more: the walk ends 4 bytes short of a header... or overruns.
    let mut longer = bytes.clone();
    longer[3] += 1;
    assert!(RtcpCompound::parse(&longer).is_err());
    let mut last_longer = bytes.clone();
    let bye_at = bytes.len() - 12;
    last_longer[bye_at + 3] += 1;
    assert_eq!(err(&last_longer), Malformed { offset: bye_at, reason: MalformedReason::LengthOverrun });
    // Report count larger than the length allows.
    let mut rc = rr(7, &[block(1, 0, 0)]);
    rc[0] = 0x80 | 2;
    assert_eq!(err(&rc).reason, MalformedReason::ReportCountOverrun);
    // Trailing bytes after the last packet, wrong version, non-RTCP type, empty.
    let mut trailing = rr(7, &[]);
    trailing.extend_from_slice(&[0x80, 0xC9]);
    assert_eq!(err(&trailing), Malformed { offset: 8, reason: MalformedReason::TrailingBytes });
    let mut v1 = rr(7, &[]);
    v1[0] = 0x40;
    assert_eq!(err(&v1).reason, MalformedReason::BadVersion);
    let mut rtp = rr(7, &[]);
    rtp[1] = 0x08;
    assert_eq!(err(&rtp).reason, MalformedReason::NotRtcpType);
    assert_eq!(err(&[]).reason, MalformedReason::Empty);
    // SR too short for its sender info.
    let mut short_sr = header(false, 0, 200, 8);
    short_sr.extend(words(&[1, 2]));
    assert_eq!(err(&short_sr).reason, MalformedReason::BodyTooShort);
    // SDES item running past its packet.
    let mut sd = sdes_cname(1, b"abc");
    sd[9] = 40;
    assert_eq!(err(&sd).reason, MalformedReason::SdesItemOverrun);
}

#[test]
fn corrupted_bytes_never_panic() {
    let (bytes, _) = rich_compound();
    // Every single-byte corruption to a few values, and a deterministic pseudo-random sweep.
    let mut t = RtcpTable::new(RtcpLimits { max_ssrcs: 8, ..RtcpLimits::default() });
    let (a, b) = (addr("10.0.0.1:1"), addr("10.0.0.2:2"));
    for i in 0..bytes.len() {
        for v in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut c = bytes.clone();
            c[i] = v;
            let _outcome = t.observe(at(i as u64, 0), a, b, &c);
        }
    }
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut buf = [0u8; 128];
    for round in 0..2000u64 {
        for byte in buf.iter_mut() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            *byte = (seed >> 56) as u8;
        }
        buf[0] = 0x80 | (buf[0] & 0x3f);
        buf[1] = 200 + (buf[1] % 8);
        let len = usize::from(buf[2]) % buf.len();
        let _outcome = t.observe(at(round, 0), a, b, &buf[..len]);
    }
    assert!(t.compounds() > 0 && t.malformed() > 0);
    assert!(t.ssrcs().count() <= 8);
    assert!(t.ssrcs_dropped() > 0);
}

#[test]
fn counts_packet_types_and_reduced_size() {
    let (bytes, _) = rich_compound();
    let mut t = RtcpTable::new(RtcpLimits::default());
    let (a, b) = (addr("[2001:db8::1]:1"), addr("[2001:db8::2]:2"));
    t.observe(at(1, 0), a, b, &bytes).unwrap();
    t.observe(at(2, 0), a, b, &bye(&[1], b"")).unwrap();
    assert_eq!(t.packets_of_type(PacketType::SenderReport), 1);
    assert_eq!(t.packets_of_type(PacketType::SourceDescription), 1);
    assert_eq!(t.packets_of_type(PacketType::ExtendedReport), 1);
    assert_eq!(t.packets_of_type(PacketType::Goodbye), 2);
    assert_eq!((t.compounds(), t.reduced_size()), (2, 1));
    let e = t.ssrc(1).unwrap();
    assert_eq!(e.sender.cname.as_deref(), Some("cname@example"));
    assert_eq!(e.sender.bye.map(|f| f.number), Some(1));
    assert_eq!(t.ssrc(9).unwrap().reported.report_frames, vec![at(1, 0)]);
}

#[test]
fn observe_or_warn_reports_malformed_and_table_full() {
    use crate::warn::{WarningKind, Warnings};
    let mut w = Warnings::default();
    let mut t = RtcpTable::new(RtcpLimits { max_ssrcs: 1, ..RtcpLimits::default() });
    let (a, b) = (addr("10.0.0.1:1"), addr("10.0.0.2:2"));
    t.observe_or_warn(at(7, 0), a, b, &[0x80, 0xC9, 0x00], &mut w);
    t.observe_or_warn(at(8, 0), a, b, &rr(1, &[block(2, 0, 0)]), &mut w);
    t.observe_or_warn(at(9, 0), a, b, &rr(1, &[block(3, 0, 0)]), &mut w);
    let kinds: Vec<_> = w.kept().iter().map(|x| (x.frame, x.kind)).collect();
    assert_eq!(kinds, vec![(7, WarningKind::MalformedPacket), (9, WarningKind::StateEvicted)]);
    assert_eq!(t.ssrcs_dropped(), 1, "SSRC 2 fits, SSRC 3 does not");
    assert_eq!(t.malformed_first()[0].1.reason, MalformedReason::TrailingBytes);
    // A block about the reporter itself is ignored and counted.
    let mut t = RtcpTable::new(RtcpLimits::default());
    t.observe(at(1, 0), a, b, &rr(5, &[block(5, 0, 0)])).unwrap();
    assert_eq!((t.self_reports(), t.ssrc(5).is_none()), (1, true));
}
