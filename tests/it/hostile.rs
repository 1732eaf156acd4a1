//! Hostile captures (issue 7): each test generates a capture in a temp dir, runs the `callscope`
//! binary on it under an address-space limit (`prlimit --as`, util-linux) and checks that it
//! exits 0, reports a warning with a frame number, and stays below a stated peak RSS (measured
//! with `/usr/bin/time -f %M` when present, else by polling `VmHWM` in /proc).
//!
//! Scale: the two largest cases (1 M RTP packets with random SSRCs, 100 k unanswered INVITEs)
//! run at full size in release builds and scaled down under `cfg!(debug_assertions)` (the CI
//! suite runs `cargo test` in debug): 120 k RTP packets (still past the 100 k stream cap) and
//! 20 k INVITEs. Everything else is small enough to run at full size in both.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use callscope::synth::packet::{FragmentOrder, FrameBuilder, Link, TcpConnection};
use callscope::synth::{PcapLinkType, PcapWriter, TsResolution, XorShift64};
use callscope::time::Timestamp;

/// Address-space limit for every run: far above what a bounded run needs, far below what an
/// unbounded table or a 256 MiB record allocation would take on the big cases.
const ADDRESS_SPACE_LIMIT: u64 = 2 << 30;

/// What one capped run gave.
struct Run {
    doc: serde_json::Value,
    peak_rss_kib: Option<u64>,
}

fn temp_dir(name: &str) -> PathBuf {
    crate::common::fresh_scratch_dir("hostile", name)
}

fn has(tool: &str) -> bool {
    Path::new(tool).exists()
}

/// Runs `callscope analyze --format json CAPTURE --out OUT` under the address-space limit and
/// returns the document and the peak RSS.
fn run_capped(capture: &Path) -> Run {
    let dir = capture.parent().unwrap();
    let out = dir.join("out.json");
    let time_out = dir.join("time.txt");
    let bin = env!("CARGO_BIN_EXE_callscope");
    let mut argv: Vec<String> = Vec::new();
    if has("/usr/bin/prlimit") {
        argv.extend(["/usr/bin/prlimit".to_string(), format!("--as={ADDRESS_SPACE_LIMIT}")]);
    } else {
        eprintln!("prlimit not found: running without an address-space limit");
    }
    let timed = has("/usr/bin/time");
    if timed {
        argv.extend(["/usr/bin/time", "-f", "%M", "-o", time_out.to_str().unwrap()].map(String::from));
    }
    argv.extend(
        [bin, "analyze", "--format", "json", "--out", out.to_str().unwrap(), capture.to_str().unwrap()]
            .map(String::from),
    );
    let mut child =
        Command::new(&argv[0]).args(&argv[1..]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("runs");
    // Without /usr/bin/time, poll the high-water mark while the process lives (the child of
    // prlimit execs in place, so the pid is callscope's).
    let mut polled: Option<u64> = None;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if !timed {
            if let Ok(s) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
                let hwm = s
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()));
                polled = polled.max(hwm);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert_eq!(status.code(), Some(0), "callscope failed on {}: {stderr}", capture.display());
    let peak_rss_kib = if timed {
        std::fs::read_to_string(&time_out).ok().and_then(|s| s.trim().lines().last()?.trim().parse().ok())
    } else {
        polled
    };
    let doc = serde_json::from_slice(&std::fs::read(&out).unwrap()).expect("one JSON document");
    Run { doc, peak_rss_kib }
}

impl Run {
    /// The warnings of kind `kind` listed for input 0; asserts there is at least one and that
    /// every one names a frame.
    fn warnings_of(&self, kind: &str) -> Vec<serde_json::Value> {
        let all = self.doc["inputs"][0]["warnings"].as_array().cloned().unwrap_or_default();
        let of: Vec<_> = all.into_iter().filter(|w| w["kind"] == kind).collect();
        assert!(!of.is_empty(), "no {kind} warning; counts: {}", self.doc["inputs"][0]["warning_counts"]);
        for w in &of {
            assert!(w["frame"].as_u64().is_some_and(|f| f >= 1), "warning without a frame: {w}");
        }
        of
    }

    fn count_of(&self, kind: &str) -> u64 {
        self.doc["inputs"][0]["warning_counts"][kind].as_u64().unwrap_or(0)
    }

    /// Asserts the peak RSS is below `cap_mib` (when it could be measured) and prints it.
    fn assert_rss_below(&self, case: &str, cap_mib: u64) {
        match self.peak_rss_kib {
            Some(kib) => {
                eprintln!("hostile {case}: peak RSS {} MiB (cap {cap_mib} MiB)", kib / 1024);
                assert!(kib < cap_mib * 1024, "{case}: peak RSS {kib} KiB over {cap_mib} MiB");
            }
            None => eprintln!("hostile {case}: peak RSS not measurable here"),
        }
    }
}

fn ts(ns: i64) -> Timestamp {
    Timestamp::from_parts(1_700_000_000 + ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000) as u32)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A pcap writer on a buffered file of raw-IP frames.
fn raw_ip_pcap(path: &Path) -> PcapWriter<std::io::BufWriter<std::fs::File>> {
    let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    PcapWriter::new(f, PcapLinkType::RawIp, TsResolution::Nano).unwrap()
}

fn invite(call: u64, sdp_port: Option<u16>, extra_headers: &str) -> Vec<u8> {
    let body = sdp_port.map_or(String::new(), |port| {
        format!(
            "v=0\r\no=- {call} 1 IN IP4 10.1.0.1\r\ns=-\r\nc=IN IP4 10.1.{}.{}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n",
            (call >> 8) & 0xff,
            call & 0xff
        )
    });
    let ctype = if body.is_empty() { "" } else { "Content-Type: application/sdp\r\n" };
    format!(
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{call}\r\n\
         From: <sip:alice@example.com>;tag=f{call}\r\nTo: <sip:bob@example.com>\r\nCall-ID: hostile-{call}@10.0.0.1\r\n\
         CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{extra_headers}{ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn random_ssrcs_on_one_port_fill_the_stream_table_and_are_refused() {
    let packets: u64 = if cfg!(debug_assertions) { 120_000 } else { 1_000_000 };
    let dir = temp_dir("ssrc");
    let path = dir.join("ssrc.pcap");
    let mut w = raw_ip_pcap(&path);
    let mut fb = FrameBuilder::new(Link::RawIp, 1);
    let mut rng = XorShift64::new(7);
    let mut frame = Vec::new();
    let mut rtp = [0u8; 32];
    for i in 0..packets {
        rtp[0] = 0x80;
        rtp[1] = 0; // PCMU
        rtp[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        rtp[4..8].copy_from_slice(&((i as u32).wrapping_mul(160)).to_be_bytes());
        rtp[8..12].copy_from_slice(&(rng.next_u64() as u32).to_be_bytes());
        fb.udp(addr("10.0.0.1:40000"), addr("10.0.0.2:4000"), 0, &rtp, &mut frame).unwrap();
        w.write_packet(ts(i as i64 * 20_000), &frame).unwrap();
    }
    w.into_inner().unwrap();
    let run = run_capped(&path);
    assert_eq!(run.doc["inputs"][0]["packets"], packets);
    let evicted = run.warnings_of("state_evicted");
    assert!(evicted.iter().any(|w| w["detail"].as_str().unwrap().contains("RTP stream table full")));
    // The first refused packet is the one after the 100 000th distinct SSRC.
    assert!(evicted[0]["frame"].as_u64().unwrap() > 100_000);
    run.assert_rss_below("1M random SSRCs", 400);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unanswered_invites_are_bounded_and_each_is_a_call() {
    let calls: u64 = if cfg!(debug_assertions) { 20_000 } else { 100_000 };
    let dir = temp_dir("invites");
    let path = dir.join("invites.pcap");
    let mut w = raw_ip_pcap(&path);
    let mut fb = FrameBuilder::new(Link::RawIp, 1);
    let mut frame = Vec::new();
    for i in 0..calls {
        let msg = invite(i, Some(10_000 + (i % 50_000) as u16 * 2), "");
        fb.udp(addr("10.0.0.1:5060"), addr("10.0.0.2:5060"), 0, &msg, &mut frame).unwrap();
        w.write_packet(ts(i as i64 * 1_000_000), &frame).unwrap();
    }
    // One malformed message so that the run has a warning with a frame number at any scale.
    fb.udp(addr("10.0.0.1:5060"), addr("10.0.0.2:5060"), 0, b"INVITE sip:x SIP/2.0\r\nCSeq: x\r\n\r\n", &mut frame)
        .unwrap();
    w.write_packet(ts(calls as i64 * 1_000_000), &frame).unwrap();
    w.into_inner().unwrap();
    let run = run_capped(&path);
    assert_eq!(run.doc["calls"].as_array().unwrap().len() as u64, calls);
    assert!(run.count_of("malformed_sip") >= 1, "{}", run.doc["inputs"][0]["warning_counts"]);
    let last = run.warnings_of("malformed_sip");
    assert!(last.iter().any(|w| w["frame"] == calls + 1), "{last:?}");
    run.assert_rss_below("unanswered INVITEs", 1024);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sip_with_ten_thousand_headers_over_udp_and_tcp() {
    let dir = temp_dir("headers");
    let path = dir.join("headers.pcap");
    let mut w = raw_ip_pcap(&path);
    let mut fb = FrameBuilder::new(Link::RawIp, 1);
    let mut frame = Vec::new();
    // UDP: 10 000 short headers (≈ 60 KB) in one datagram.
    let headers: String = (0..10_000).map(|i| format!("X{}:1\r\n", i % 10)).collect();
    let udp_msg = invite(1, None, &headers);
    assert!(udp_msg.len() < 65_000);
    fb.udp(addr("10.0.0.1:5060"), addr("10.0.0.2:5060"), 0, &udp_msg, &mut frame).unwrap();
    w.write_packet(ts(0), &frame).unwrap();
    // TCP: the same with longer headers (≈ 200 KB) in 1400-byte segments, then a normal INVITE.
    let headers: String = (0..10_000).map(|i| format!("X-Hostile-{i}: {i}\r\n")).collect();
    let mut tcp_msg = invite(2, None, &headers);
    tcp_msg.extend(invite(3, None, ""));
    let mut conn = TcpConnection::new(addr("10.0.0.1:40001"), addr("10.0.0.2:5060"), 0, 1000, 2000);
    let mut n = 1;
    for f in conn.handshake(&mut fb).unwrap() {
        w.write_packet(ts(n * 1000), &f).unwrap();
        n += 1;
    }
    for f in conn.send(&mut fb, true, &tcp_msg, &vec![1400; tcp_msg.len() / 1400 + 1]).unwrap() {
        w.write_packet(ts(n * 1000), &f).unwrap();
        n += 1;
    }
    w.into_inner().unwrap();
    let run = run_capped(&path);
    let malformed = run.warnings_of("malformed_sip");
    assert_eq!(malformed[0]["frame"], 1, "{malformed:?}");
    assert!(run.count_of("malformed_sip") + run.count_of("tcp_stream_gap") >= 2);
    run.assert_rss_below("10k headers", 256);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ten_megabyte_sip_body_over_tcp_is_skipped_and_the_stream_resynchronises() {
    let dir = temp_dir("body");
    let path = dir.join("body.pcap");
    let mut w = raw_ip_pcap(&path);
    let mut fb = FrameBuilder::new(Link::RawIp, 1);
    let body_len = 10 << 20;
    let mut msg = format!(
        "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKbig\r\n\
         From: <sip:a@x>;tag=a\r\nTo: <sip:b@x>\r\nCall-ID: big@x\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n\
         Content-Length: {body_len}\r\n\r\n"
    )
    .into_bytes();
    // A text body whose last line ends with CRLF: after skipping it, the stream finds the next
    // start line at a line start.
    msg.resize(msg.len() + body_len - 2, b'a');
    msg.extend_from_slice(b"\r\n");
    msg.extend(invite(9, None, ""));
    let mut conn = TcpConnection::new(addr("10.0.0.1:40002"), addr("10.0.0.2:5060"), 0, 7, 9);
    let mut n = 1;
    for f in conn.handshake(&mut fb).unwrap() {
        w.write_packet(ts(n * 1000), &f).unwrap();
        n += 1;
    }
    for f in conn.send(&mut fb, true, &msg, &vec![1460; msg.len() / 1460 + 1]).unwrap() {
        w.write_packet(ts(n * 1000), &f).unwrap();
        n += 1;
    }
    w.into_inner().unwrap();
    let run = run_capped(&path);
    let gaps = run.warnings_of("tcp_stream_gap");
    assert!(gaps[0]["frame"].as_u64().unwrap() > 3);
    // The INVITE after the body is found again.
    let calls = run.doc["calls"].as_array().unwrap();
    assert!(calls.iter().any(|c| c["call_id"] == "hostile-9@10.0.0.1"), "{calls:?}");
    run.assert_rss_below("10 MB body", 256);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn content_length_lies_are_warned_and_do_not_swallow_later_messages() {
    let dir = temp_dir("clen");
    let path = dir.join("clen.pcap");
    let mut w = raw_ip_pcap(&path);
    let mut fb = FrameBuilder::new(Link::RawIp, 1);
    let mut frame = Vec::new();
    let lie = |call: u64, clen: &str| {
        String::from_utf8(invite(call, None, ""))
            .unwrap()
            .replace("Content-Length: 0", &format!("Content-Length: {clen}"))
            .into_bytes()
    };
    // UDP: larger than the datagram, negative, not a number, absurdly large.
    for (i, clen) in ["5000", "-5", "abc", "99999999999999999999"].iter().enumerate() {
        fb.udp(addr("10.0.0.1:5060"), addr("10.0.0.2:5060"), 0, &lie(i as u64, clen), &mut frame).unwrap();
        w.write_packet(ts(i as i64 * 1000), &frame).unwrap();
    }
    // TCP: a huge Content-Length followed by a normal message.
    let mut stream = lie(10, "4000000000");
    stream.extend(invite(11, None, ""));
    let mut conn = TcpConnection::new(addr("10.0.0.1:40003"), addr("10.0.0.2:5060"), 0, 1, 1);
    let mut frames = conn.handshake(&mut fb).unwrap();
    frames.extend(conn.send(&mut fb, true, &stream, &[300]).unwrap());
    for (n, f) in (10i64..).zip(&frames) {
        w.write_packet(ts(n * 1000), f).unwrap();
    }
    w.into_inner().unwrap();
    let run = run_capped(&path);
    let malformed = run.warnings_of("malformed_sip");
    assert_eq!(malformed[0]["frame"], 1);
    assert!(run.count_of("malformed_sip") >= 3, "{}", run.doc["inputs"][0]["warning_counts"]);
    run.assert_rss_below("Content-Length lies", 128);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fragments_that_overlap_or_never_complete_are_dropped_with_warnings() {
    let dir = temp_dir("frag");
    let path = dir.join("frag.pcap");
    let mut w = raw_ip_pcap(&path);
    let payload = vec![0x55u8; 1200];
    let (src, dst) = (addr("10.0.0.1:7000"), addr("10.0.0.2:7002"));
    let mut n: i64 = 0;
    let mut put = |w: &mut PcapWriter<_>, f: &[u8]| {
        n += 1;
        w.write_packet(ts(n * 1000), f).unwrap();
    };
    // Overlap: the same IP id cut at 400 and at 256 bytes, interleaved.
    let a =
        FrameBuilder::new(Link::RawIp, 77).udp_fragments(src, dst, 0, &payload, 400, FragmentOrder::InOrder).unwrap();
    let b =
        FrameBuilder::new(Link::RawIp, 77).udp_fragments(src, dst, 0, &payload, 256, FragmentOrder::InOrder).unwrap();
    put(&mut w, &a[0]);
    put(&mut w, &b[1]);
    put(&mut w, &b[0]);
    put(&mut w, &a[1]);
    // Never complete: 10 000 first fragments with distinct ids (past the 4 096-set cap).
    let mut fb = FrameBuilder::new(Link::RawIp, 1000);
    for _ in 0..10_000 {
        let frags = fb.udp_fragments(src, dst, 0, &payload, 600, FragmentOrder::InOrder).unwrap();
        put(&mut w, &frags[0]);
    }
    w.into_inner().unwrap();
    let run = run_capped(&path);
    let dropped = run.warnings_of("fragment_dropped");
    assert!(dropped[0]["frame"].as_u64().unwrap() >= 2);
    assert!(run.count_of("fragment_dropped") >= 10_000 - 4096, "{}", run.doc["inputs"][0]["warning_counts"]);
    run.assert_rss_below("fragments", 128);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tcp_stream_with_holes_skips_them_and_keeps_later_messages() {
    let dir = temp_dir("holes");
    let path = dir.join("holes.pcap");
    let mut w = raw_ip_pcap(&path);
    let mut fb = FrameBuilder::new(Link::RawIp, 1);
    let mut stream = Vec::new();
    for i in 0..20 {
        stream.extend(invite(100 + i, Some(20_000 + i as u16 * 2), ""));
    }
    let mut conn = TcpConnection::new(addr("10.0.0.1:40004"), addr("10.0.0.2:5060"), 0, 100, 200);
    let mut frames = conn.handshake(&mut fb).unwrap();
    frames.extend(conn.send(&mut fb, true, &stream, &vec![200; stream.len() / 200 + 1]).unwrap());
    // Drop every 7th data segment: holes that are never filled.
    for (i, f) in frames.iter().enumerate() {
        if i < 3 || i % 7 != 0 {
            w.write_packet(ts(i as i64 * 1000), f).unwrap();
        }
    }
    w.into_inner().unwrap();
    let run = run_capped(&path);
    let gaps = run.warnings_of("tcp_stream_gap");
    assert!(gaps[0]["frame"].as_u64().unwrap() > 3);
    let calls = run.doc["calls"].as_array().unwrap().len();
    assert!((5..20).contains(&calls), "calls found past the holes: {calls}");
    run.assert_rss_below("TCP holes", 128);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A classic pcap global header (µs, little-endian) with the given snap length.
fn pcap_header(snaplen: u32, link: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend(0xa1b2_c3d4u32.to_le_bytes());
    h.extend(2u16.to_le_bytes());
    h.extend(4u16.to_le_bytes());
    h.extend([0u8; 8]);
    h.extend(snaplen.to_le_bytes());
    h.extend(link.to_le_bytes());
    h
}

fn pcap_record(secs: u32, caplen: u32, origlen: u32, data: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend(secs.to_le_bytes());
    r.extend(0u32.to_le_bytes());
    r.extend(caplen.to_le_bytes());
    r.extend(origlen.to_le_bytes());
    r.extend(data);
    r
}

#[test]
fn pcap_records_longer_than_snaplen_or_256_mib() {
    let mut fb = FrameBuilder::new(Link::RawIp, 1);
    let mut good = Vec::new();
    fb.udp(addr("10.0.0.1:5060"), addr("10.0.0.2:5060"), 0, &invite(1, None, ""), &mut good).unwrap();
    for (case, big) in [("snaplen", 2_000u32), ("256mib", 300 << 20)] {
        let dir = temp_dir(case);
        let path = dir.join(format!("{case}.pcap"));
        let mut bytes = pcap_header(1500, 101);
        bytes.extend(pcap_record(1, good.len() as u32, good.len() as u32, &good));
        // caplen over the snap length (and, for the second case, over 256 MiB), with as many
        // bytes present as the small case claims.
        let present = if big < 1 << 20 { vec![0x45u8; big as usize] } else { vec![0x45u8; 4096] };
        bytes.extend(pcap_record(2, big, big, &present));
        bytes.extend(pcap_record(3, good.len() as u32, good.len() as u32, &good));
        std::fs::write(&path, &bytes).unwrap();
        let run = run_capped(&path);
        // Over the snap length but plausible (2 000 bytes): read like tshark does, and the garbage
        // inside is a malformed packet; over 256 MiB: a bad record, never allocated.
        let bad: Vec<_> = ["bad_record", "truncated_capture", "malformed_packet"]
            .iter()
            .flat_map(|k| {
                run.doc["inputs"][0]["warnings"].as_array().unwrap().iter().filter(move |w| w["kind"] == *k).cloned()
            })
            .collect();
        assert!(!bad.is_empty(), "{case}: {}", run.doc["inputs"][0]["warning_counts"]);
        assert_eq!(bad[0]["frame"], 2, "{case}: {bad:?}");
        // The good frame before the bad record is kept.
        assert!(run.doc["inputs"][0]["packets"].as_u64().unwrap() >= 1);
        run.assert_rss_below(case, 64);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

fn pcapng_block(block_type: u32, body: &[u8], total_override: Option<u32>, trailer_override: Option<u32>) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    let mut b = Vec::new();
    b.extend(block_type.to_le_bytes());
    b.extend(total_override.unwrap_or(total).to_le_bytes());
    b.extend(body);
    b.resize(8 + padded, 0);
    b.extend(trailer_override.unwrap_or(total).to_le_bytes());
    b
}

fn pcapng_epb(secs: u64, data: &[u8], caplen_override: Option<u32>) -> Vec<u8> {
    let us = secs * 1_000_000;
    let mut body = Vec::new();
    body.extend(0u32.to_le_bytes());
    body.extend(((us >> 32) as u32).to_le_bytes());
    body.extend((us as u32).to_le_bytes());
    body.extend(caplen_override.unwrap_or(data.len() as u32).to_le_bytes());
    body.extend((data.len() as u32).to_le_bytes());
    body.extend(data);
    body
}

#[test]
fn pcapng_blocks_with_bad_lengths() {
    let mut fb = FrameBuilder::new(Link::RawIp, 1);
    let mut good = Vec::new();
    fb.udp(addr("10.0.0.1:5060"), addr("10.0.0.2:5060"), 0, &invite(1, None, ""), &mut good).unwrap();
    let mut shb_body = Vec::new();
    shb_body.extend(0x1A2B_3C4Du32.to_le_bytes());
    shb_body.extend(1u16.to_le_bytes());
    shb_body.extend(0u16.to_le_bytes());
    shb_body.extend((-1i64).to_le_bytes());
    let mut idb_body = Vec::new();
    idb_body.extend(101u16.to_le_bytes());
    idb_body.extend(0u16.to_le_bytes());
    idb_body.extend(65535u32.to_le_bytes());
    let head = [pcapng_block(0x0A0D_0D0A, &shb_body, None, None), pcapng_block(1, &idb_body, None, None)].concat();
    let good_epb = pcapng_block(6, &pcapng_epb(1, &good, None), None, None);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("caplen_past_block", pcapng_block(6, &pcapng_epb(2, &good, Some(60_000)), None, None)),
        ("total_not_multiple_of_4", pcapng_block(6, &pcapng_epb(2, &good, None), Some(13 + good.len() as u32), None)),
        ("total_below_minimum", pcapng_block(6, &pcapng_epb(2, &good, None), Some(8), None)),
        ("trailer_mismatch", pcapng_block(6, &pcapng_epb(2, &good, None), None, Some(12))),
        ("total_huge", pcapng_block(6, &pcapng_epb(2, &good, None), Some(0xFFFF_FFF0), None)),
    ];
    for (case, bad) in cases {
        let dir = temp_dir(case);
        let path = dir.join(format!("{case}.pcapng"));
        let bytes = [head.clone(), good_epb.clone(), bad, good_epb.clone()].concat();
        std::fs::write(&path, &bytes).unwrap();
        let run = run_capped(&path);
        let warnings = run.doc["inputs"][0]["warnings"].as_array().unwrap().clone();
        let bad: Vec<_> =
            warnings.iter().filter(|w| w["kind"] == "bad_record" || w["kind"] == "truncated_capture").collect();
        assert!(!bad.is_empty(), "{case}: {}", run.doc["inputs"][0]["warning_counts"]);
        assert!(bad[0]["frame"].as_u64().is_some_and(|f| f >= 1), "{case}: {bad:?}");
        assert!(run.doc["inputs"][0]["packets"].as_u64().unwrap() >= 1, "{case}: the good first frame is kept");
        run.assert_rss_below(case, 64);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn timestamps_going_backwards_are_warned() {
    let dir = temp_dir("backwards");
    let path = dir.join("backwards.pcap");
    let mut w = raw_ip_pcap(&path);
    let mut fb = FrameBuilder::new(Link::RawIp, 1);
    let mut frame = Vec::new();
    for (i, t) in [10_000_000i64, 20_000_000, 5_000_000, 30_000_000, 1_000].iter().enumerate() {
        fb.udp(addr("10.0.0.1:5060"), addr("10.0.0.2:5060"), 0, &invite(i as u64, None, ""), &mut frame).unwrap();
        w.write_packet(ts(*t), &frame).unwrap();
    }
    w.into_inner().unwrap();
    let run = run_capped(&path);
    let back = run.warnings_of("time_went_backwards");
    assert_eq!(back[0]["frame"], 3, "{back:?}");
    assert_eq!(run.doc["calls"].as_array().unwrap().len(), 5);
    run.assert_rss_below("timestamps backwards", 64);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn output_file_planted_as_symlink_is_refused() {
    let dir = temp_dir("symlink");
    let capture = dir.join("c.pcap");
    let mut w = raw_ip_pcap(&capture);
    let mut fb = FrameBuilder::new(Link::RawIp, 1);
    let mut frame = Vec::new();
    fb.udp(addr("10.0.0.1:5060"), addr("10.0.0.2:5060"), 0, &invite(1, None, ""), &mut frame).unwrap();
    w.write_packet(ts(0), &frame).unwrap();
    w.into_inner().unwrap();
    let victim = dir.join("victim");
    std::fs::File::create(&victim).unwrap().write_all(b"keep me").unwrap();
    let out = dir.join("out.json");
    std::os::unix::fs::symlink(&victim, &out).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_callscope"))
        .args(["analyze", "--format", "json", "--out", out.to_str().unwrap(), capture.to_str().unwrap()])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every writer (issue 7 §5): with a symlink planted under each name a command would write
/// (`report` HTML/JSON/SVG/PNG and its `plots/` folder, CSV tables and windows.csv, `check
/// --out`, `synth` outputs, a bundle's call folder), the command fails or skips and the link's
/// target is never written.
#[test]
fn planted_symlinks_in_output_folders_are_never_written_through() {
    let dir = temp_dir("symlink-all");
    let capture = dir.join("c.pcap");
    let mut w = raw_ip_pcap(&capture);
    let mut fb = FrameBuilder::new(Link::RawIp, 1);
    let mut frame = Vec::new();
    fb.udp(addr("10.0.0.1:5060"), addr("10.0.0.2:5060"), 0, &invite(1, None, ""), &mut frame).unwrap();
    w.write_packet(ts(0), &frame).unwrap();
    w.into_inner().unwrap();
    let victim = dir.join("victim");
    std::fs::write(&victim, b"keep me").unwrap();
    let victim_dir = dir.join("victim-dir");
    std::fs::create_dir(&victim_dir).unwrap();
    let plant = |out: &Path, name: &str, target: &Path| {
        std::fs::create_dir_all(out).unwrap();
        std::os::unix::fs::symlink(target, out.join(name)).unwrap();
    };
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_callscope"))
            .args(args)
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap()
    };
    let cap = capture.to_str().unwrap();
    let cases: Vec<(&str, &Path, Vec<String>)> = vec![
        ("index.html", &victim, vec!["report".into(), cap.into(), "--out".into()]),
        ("report.json", &victim, vec!["report".into(), cap.into(), "--out".into()]),
        ("plots", &victim_dir, vec!["report".into(), cap.into(), "--out".into()]),
        ("calls.csv", &victim, vec!["analyze".into(), "--format".into(), "csv".into(), cap.into(), "--out".into()]),
        (
            "windows.csv",
            &victim,
            vec!["analyze".into(), "--format".into(), "csv".into(), "--windows".into(), cap.into(), "--out".into()],
        ),
        ("sites.toml", &victim, vec!["synth".into(), "--three-sites".into(), "--out".into()]),
        ("clean_call.pcap", &victim, vec!["synth".into(), "--out".into()]),
    ];
    for (i, (name, target, mut args)) in cases.into_iter().enumerate() {
        let out = dir.join(format!("out{i}"));
        plant(&out, name, target);
        args.push(out.to_str().unwrap().to_string());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let status = run(&argv);
        assert_ne!(status.code(), Some(0), "{name}: {args:?} wrote through a planted link");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me", "{name}");
        assert_eq!(std::fs::read_dir(&victim_dir).unwrap().count(), 0, "{name}");
    }
    // `check --out FILE`.
    let criteria = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/criteria.toml");
    let out = dir.join("check.json");
    std::os::unix::fs::symlink(&victim, &out).unwrap();
    let status = run(&["check", "--criteria", criteria.to_str().unwrap(), "--out", out.to_str().unwrap(), cap]);
    assert_eq!(status.code(), Some(1), "check --out through a link is an error");
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me", "check --out");
    // A bundle folder planted as a link to a directory elsewhere.
    let out = dir.join("bundles");
    plant(&out, "call-01-hostile-1_10.0.0.1", &victim_dir);
    let status = run(&["call", "hostile-1@10.0.0.1", cap, "--out", out.to_str().unwrap()]);
    assert_ne!(status.code(), Some(0));
    assert_eq!(std::fs::read_dir(&victim_dir).unwrap().count(), 0, "bundle written into a planted folder link");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Nothing lost (issue 7 §4): a capture cut at any byte gives, for every call that ended before
/// the cut, the same record as the full capture, and for every stream that ended before the cut
/// the same counts.
mod nothing_lost {
    use callscope::capture::CaptureSet;
    use callscope::config::Config;
    use callscope::pipeline::{analyze_capture, Analysis};
    use callscope::synth::{named_scenarios, XorShift64};
    use serde_json::Value;

    fn analyze_bytes(bytes: &[u8]) -> Analysis {
        let reader: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(bytes.to_vec()));
        let set = CaptureSet::from_readers(vec![("cut.pcap".to_string(), reader)]).expect("pcap header present");
        analyze_capture(set, &Config::default())
    }

    /// Call-ID → call record, for the dialogs that ended (failure final, or BYE) with every
    /// message at or before frame `last_frame`.
    fn ended_calls(a: &Analysis, doc: &Value, last_frame: u64) -> Vec<(String, Value)> {
        let ended: Vec<&str> = a
            .dialogs
            .iter()
            .filter(|d| {
                let failed = d.final_response.is_some_and(|(status, _)| status >= 300);
                (failed || d.bye.is_some()) && d.messages.iter().all(|m| m.at.number <= last_frame)
            })
            .map(|d| d.call_id.as_str())
            .collect();
        doc["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| ended.contains(&c["call_id"].as_str().unwrap_or("")))
            .map(|c| (c["call_id"].as_str().unwrap().to_string(), without(c, &["streams"])))
            .collect()
    }

    fn without(v: &Value, keys: &[&str]) -> Value {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            for k in keys {
                o.remove(*k);
            }
        }
        v
    }

    /// The measured counts of a stream record.
    fn counts(s: &Value) -> Value {
        let keys = [
            "src",
            "dst",
            "ssrc",
            "packets",
            "expected",
            "lost",
            "seq_errors",
            "duplicates",
            "out_of_order",
            "seq_restarts",
            "first_frame",
        ];
        Value::Object(keys.iter().map(|k| (k.to_string(), s[*k].clone())).collect())
    }

    #[test]
    fn cutting_a_capture_keeps_every_record_that_ended_before_the_cut() {
        let scenarios = named_scenarios();
        let cuts_per_scenario: u64 = if cfg!(debug_assertions) { 12 } else { 40 };
        let mut rng = XorShift64::new(0xC07);
        let mut checked_calls = 0u64;
        let mut checked_streams = 0u64;
        for s in &scenarios {
            let mut bytes = Vec::new();
            s.write(&mut bytes).unwrap();
            let full = analyze_bytes(&bytes);
            let full_doc = serde_json::to_value(callscope::report::build(&full)).unwrap();
            for i in 0..cuts_per_scenario {
                // Evenly spread cuts, each moved by a random amount so that they land inside
                // records as well as on their boundaries.
                let span = (bytes.len() as u64 - 24) / cuts_per_scenario;
                let cut = 24 + i * span + rng.below(span.max(1));
                let part = &bytes[..cut as usize];
                let cut_run = analyze_bytes(part);
                let cut_doc = serde_json::to_value(callscope::report::build(&cut_run)).unwrap();
                let frames = cut_doc["inputs"][0]["packets"].as_u64().unwrap();
                let last_time = cut_run.capture_end;
                let cut_calls = ended_calls(&cut_run, &cut_doc, frames);
                for (id, record) in ended_calls(&full, &full_doc, frames) {
                    let found = cut_calls.iter().find(|(c, _)| *c == id).map(|(_, r)| r);
                    assert_eq!(found, Some(&record), "{} cut at {cut} (frame {frames}): call {id}", s.name);
                    checked_calls += 1;
                }
                let cut_streams = cut_doc["streams"].as_array().unwrap();
                for (stats, st) in full.streams.iter().zip(full_doc["streams"].as_array().unwrap()) {
                    assert_eq!(st["src"], stats.key.src.to_string(), "records follow the analysis order");
                    // Ended before the cut: its last packet is in, and the cut is past the
                    // time a later packet would have come (a stream still running at the cut
                    // legitimately has fewer packets).
                    if stats.last.number > frames || stats.last.time.ms_since(last_time) > -1000.0 {
                        continue;
                    }
                    let want = counts(st);
                    let got = cut_streams
                        .iter()
                        .map(counts)
                        .find(|c| c["src"] == want["src"] && c["dst"] == want["dst"] && c["ssrc"] == want["ssrc"]);
                    assert_eq!(got.as_ref(), Some(&want), "{} cut at {cut} (frame {frames}): stream", s.name);
                    checked_streams += 1;
                }
            }
        }
        eprintln!("nothing lost: {checked_calls} call records and {checked_streams} streams compared");
        assert!(checked_calls > 20 && checked_streams > 20, "{checked_calls} calls, {checked_streams} streams");
    }
}

/// Every configurable cap of [`callscope::config::Limits`], set tiny, gives its warning with a
/// frame number and never aborts the run.
mod limits {
    use super::{addr, invite, ts};
    use callscope::capture::CaptureSet;
    use callscope::config::{Config, Limits};
    use callscope::pipeline::{analyze_capture, Analysis};
    use callscope::synth::packet::{FragmentOrder, FrameBuilder, Link, TcpConnection};
    use callscope::synth::{PcapLinkType, PcapWriter, TsResolution};
    use callscope::warn::WarningKind;

    fn run(frames: &[Vec<u8>], limits: Limits) -> Analysis {
        let mut w = PcapWriter::new(Vec::new(), PcapLinkType::RawIp, TsResolution::Nano).unwrap();
        for (i, f) in frames.iter().enumerate() {
            w.write_packet(ts(i as i64 * 1_000_000), f).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let reader: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(bytes));
        let set = CaptureSet::from_readers(vec![("limits.pcap".to_string(), reader)]).unwrap();
        analyze_capture(set, &Config { limits, ..Config::default() })
    }

    fn first_frame_of(a: &Analysis, kind: WarningKind, needle: &str) -> u64 {
        let w = a.warnings.kept().iter().find(|w| w.kind == kind && w.detail.contains(needle));
        w.unwrap_or_else(|| panic!("no {kind:?} warning containing {needle:?}: {:?}", a.warnings.kept())).frame
    }

    fn udp(fb: &mut FrameBuilder, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        fb.udp(addr("10.0.0.1:5060"), addr("10.0.0.2:5060"), 0, payload, &mut f).unwrap();
        f
    }

    #[test]
    fn each_cap_warns_with_the_frame_that_hit_it() {
        let mut fb = FrameBuilder::new(Link::RawIp, 1);
        // Dialogs and payload map: three INVITEs with SDP, caps of one.
        let frames: Vec<_> = (0..3).map(|i| udp(&mut fb, &invite(i, Some(30_000 + i as u16 * 2), ""))).collect();
        let mut limits = Limits::default();
        limits.sip.dialogs.max_dialogs = 1;
        limits.max_sdp_addresses = 1;
        let a = run(&frames, limits);
        assert_eq!(first_frame_of(&a, WarningKind::StateEvicted, "SDP payload map full"), 2);
        assert!(a.warnings.kept().iter().any(|w| w.kind == WarningKind::StateEvicted && w.frame == 2));

        // Transactions and messages per dialog: one dialog, many CSeqs.
        let frames: Vec<_> = (1..=4)
            .map(|cseq| {
                let msg = String::from_utf8(invite(5, None, ""))
                    .unwrap()
                    .replace("CSeq: 1 INVITE", &format!("CSeq: {cseq} INVITE"));
                udp(&mut fb, msg.as_bytes())
            })
            .collect();
        let mut limits = Limits::default();
        limits.sip.dialogs.max_transactions_per_dialog = 2;
        limits.sip.dialogs.max_messages_per_dialog = 3;
        let a = run(&frames, limits);
        assert_eq!(first_frame_of(&a, WarningKind::StateEvicted, "transaction table full"), 3);
        assert_eq!(first_frame_of(&a, WarningKind::StateEvicted, "timeline full"), 4);

        // RTP streams: two SSRCs, cap of one.
        let mut rtp = [0u8; 20];
        rtp[0] = 0x80;
        let frames: Vec<_> = (0..6u8)
            .map(|i| {
                rtp[3] = i;
                rtp[11] = i % 2;
                let mut f = Vec::new();
                fb.udp(addr("10.0.0.1:40000"), addr("10.0.0.2:40002"), 0, &rtp, &mut f).unwrap();
                f
            })
            .collect();
        let limits = Limits { max_rtp_streams: 1, ..Limits::default() };
        let a = run(&frames, limits);
        assert_eq!(first_frame_of(&a, WarningKind::StateEvicted, "RTP stream table full"), 2);

        // Fragments: three incomplete sets, cap of one.
        let frames: Vec<_> = (0..3)
            .map(|_| {
                fb.udp_fragments(
                    addr("10.0.0.1:7000"),
                    addr("10.0.0.2:7002"),
                    0,
                    &[1u8; 800],
                    400,
                    FragmentOrder::InOrder,
                )
                .unwrap()
                .remove(0)
            })
            .collect();
        let mut limits = Limits::default();
        limits.decode.max_fragment_sets = 1;
        let a = run(&frames, limits);
        assert_eq!(a.warnings.kept().iter().find(|w| w.kind == WarningKind::FragmentDropped).unwrap().frame, 2);

        // TCP bytes: a message larger than the per-stream cap.
        let mut conn = TcpConnection::new(addr("10.0.0.1:40009"), addr("10.0.0.2:5060"), 0, 1, 1);
        let mut frames = conn.handshake(&mut fb).unwrap();
        let big = invite(7, None, &"X-Pad: 0123456789\r\n".repeat(200));
        frames.extend(conn.send(&mut fb, true, &big, &[500; 10]).unwrap());
        let mut limits = Limits::default();
        limits.sip.tcp.max_stream_bytes = 1000;
        let a = run(&frames, limits);
        assert!(first_frame_of(&a, WarningKind::TcpStreamGap, "over the buffer limit") > 3);

        // Warnings kept per kind.
        let frames: Vec<_> = (0..5).map(|_| udp(&mut fb, b"INVITE sip:x SIP/2.0\r\nCSeq: x\r\n\r\n")).collect();
        let limits = Limits { warnings_per_kind: 2, ..Limits::default() };
        let a = run(&frames, limits);
        assert_eq!(a.warnings.kept().iter().filter(|w| w.kind == WarningKind::MalformedSip).count(), 2);
        assert_eq!(a.warnings.counts()[&(0, WarningKind::MalformedSip)], 5);
    }

    #[test]
    fn sip_size_caps_and_registration_table_are_configurable() {
        let mut fb = FrameBuilder::new(Link::RawIp, 1);
        // UDP: frame 1 normal, frame 2 with 12 extra headers, frame 3 with a 2 000-byte body.
        let big_body = "x".repeat(2000);
        let body_msg = format!(
            "MESSAGE sip:b@x SIP/2.0\r\nCall-ID: body@x\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\n\r\n{big_body}",
            big_body.len()
        );
        let frames = vec![
            udp(&mut fb, &invite(1, None, "")),
            udp(&mut fb, &invite(2, None, &"X-A: 1\r\n".repeat(12))),
            udp(&mut fb, body_msg.as_bytes()),
        ];
        let mut limits = Limits::default();
        limits.sip.scan.max_headers = 16;
        limits.sip.scan.max_body_bytes = 1000;
        let a = run(&frames, limits);
        assert_eq!(first_frame_of(&a, WarningKind::MalformedSip, "limits.sip.scan.max_headers = 16"), 2);
        assert_eq!(first_frame_of(&a, WarningKind::MalformedSip, "limits.sip.scan.max_body_bytes"), 3);
        assert_eq!(a.dialogs.len(), 2, "the over-long INVITE is rejected, the cut MESSAGE kept");
        // Defaults: all three accepted.
        let a = run(&frames, Limits::default());
        assert_eq!(a.dialogs.len(), 3);

        // TCP: a header section over max_header_bytes, then a normal INVITE on the same stream.
        let mut conn = TcpConnection::new(addr("10.0.0.1:40010"), addr("10.0.0.2:5060"), 0, 1, 1);
        let mut frames = conn.handshake(&mut fb).unwrap();
        let mut stream = invite(20, None, &"X-Pad: 0123456789\r\n".repeat(40));
        stream.extend(invite(21, None, ""));
        frames.extend(conn.send(&mut fb, true, &stream, &[400; 8]).unwrap());
        let mut limits = Limits::default();
        limits.sip.scan.max_header_bytes = 500;
        let a = run(&frames, limits);
        assert!(first_frame_of(&a, WarningKind::MalformedSip, "limits.sip.scan.max_header_bytes = 500") > 3);
        let ids: Vec<&str> = a.dialogs.iter().map(|d| d.call_id.as_str()).collect();
        assert_eq!(ids, ["hostile-21@10.0.0.1"], "the stream resynchronised on the next INVITE");

        // Registrations: 5 AORs, cap 2: evicted in batches, the newest kept, warned.
        let frames: Vec<_> = (0..5)
            .map(|i| {
                let msg = format!(
                    "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKr{i}\r\n\
                     From: <sip:u{i}@example.com>;tag=r{i}\r\nTo: <sip:u{i}@example.com>\r\nCall-ID: reg-{i}\r\n\
                     CSeq: 1 REGISTER\r\nContact: <sip:u{i}@10.0.0.1>\r\nContent-Length: 0\r\n\r\n"
                );
                udp(&mut fb, msg.as_bytes())
            })
            .collect();
        let mut limits = Limits::default();
        limits.sip.dialogs.max_registrations = 2;
        let a = run(&frames, limits);
        assert_eq!(first_frame_of(&a, WarningKind::StateEvicted, "registration table full"), 3);
        let aors: Vec<&str> = a.registrations.iter().map(|r| r.aor.as_str()).collect();
        assert_eq!(aors, ["sip:u3@example.com", "sip:u4@example.com"]);
        assert_eq!(run(&frames, Limits::default()).registrations.len(), 5);
    }
}

/// Replays `fuzz/regressions/<target>/*` on stable through the same calls as the fuzz targets;
/// each input must finish quickly and without a panic.
#[test]
fn fuzz_regressions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    for target in ["whole_pipeline", "capture_stream", "sip_scan", "sdp_body"] {
        let Ok(dir) = std::fs::read_dir(root.join(target)) else { continue };
        for entry in dir.take(1000) {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let started = std::time::Instant::now();
            match target {
                "whole_pipeline" | "capture_stream" => {
                    let reader: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(data));
                    if let Ok(set) = callscope::capture::CaptureSet::from_readers(vec![("r".to_string(), reader)]) {
                        let a = callscope::pipeline::analyze_capture(set, &callscope::config::Config::default());
                        let _ = serde_json::to_vec(&callscope::report::build(&a)).unwrap();
                    }
                }
                "sip_scan" => {
                    let _ = callscope::sip::scan::looks_like_start_line(&data);
                    let _ = callscope::sip::scan_message(&data);
                    let _ = callscope::sip::scan_datagram(&data);
                }
                _ => {
                    let _ = callscope::sdp::parse(&data);
                }
            }
            assert!(started.elapsed().as_secs() < 5, "{} took {:?}", path.display(), started.elapsed());
            replayed += 1;
        }
    }
    assert!(replayed >= 3, "regression inputs missing under {}", root.display());
}
