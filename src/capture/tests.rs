//! Tests for the capture stage: real captures against tshark/capinfos facts, hand-built pcap and
//! pcapng files (byte orders, resolutions, interfaces), merging, and bad input.

use super::*;
use crate::warn::{Warning, WarningKind};
use std::io::Read;
use std::path::PathBuf;

/// Upper bound on frames read by any test loop.
const MAX_TEST_FRAMES: usize = 1_000_000;

fn shared_captures() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for candidate in ["../shared/captures", "../../shared/captures"] {
        let dir = root.join(candidate);
        if dir.join("tshark").is_dir() {
            return Some(dir);
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("shared captures not found next to {}", root.display());
    }
    eprintln!("shared captures not found; skipping");
    None
}

/// One frame, copied out of the lending iterator.
#[derive(Debug, Clone, PartialEq)]
struct Owned {
    file: u16,
    number: u64,
    time: i64,
    link: u32,
    data: Vec<u8>,
    orig_len: u32,
}

fn drain(set: &mut CaptureSet, warnings: &mut Warnings) -> Vec<Owned> {
    let mut out = Vec::new();
    while let Some(frame) = set.next_frame(warnings) {
        out.push(Owned {
            file: frame.at.file,
            number: frame.at.number,
            time: frame.at.time.0,
            link: frame.link.0,
            data: frame.data.to_vec(),
            orig_len: frame.orig_len,
        });
        assert!(out.len() < MAX_TEST_FRAMES, "runaway reader");
    }
    // Reading past the end stays at the end.
    assert!(set.next_frame(warnings).is_none());
    out
}

/// A reader that returns at most `chunk` bytes per call, like a pipe.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let n = rest.len().min(buf.len()).min(self.chunk);
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

fn from_bytes(files: &[Vec<u8>]) -> Result<CaptureSet, CaptureError> {
    CaptureSet::from_readers(
        files
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let source: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(bytes.clone()));
                (format!("mem{i}"), source)
            })
            .collect(),
    )
}

fn read_all(files: &[Vec<u8>]) -> (Vec<Owned>, Vec<Warning>, Vec<InputSummary>) {
    let mut set = from_bytes(files).expect("opens");
    let mut warnings = Warnings::default();
    let frames = drain(&mut set, &mut warnings);
    (frames, warnings.kept().to_vec(), set.summaries())
}

// ---------- builders ----------

fn put_u16(out: &mut Vec<u8>, v: u16, be: bool) {
    out.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
}
pub(super) fn put_u32(out: &mut Vec<u8>, v: u32, be: bool) {
    out.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
}

/// Legacy pcap with the given magic semantics; records are (secs, fraction, data, orig_len).
fn pcap(be: bool, nanos: bool, link: u32, records: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    put_u32(&mut out, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }, be);
    put_u16(&mut out, 2, be);
    put_u16(&mut out, 4, be);
    put_u32(&mut out, 0, be);
    put_u32(&mut out, 0, be);
    put_u32(&mut out, 65535, be);
    put_u32(&mut out, link, be);
    for &(secs, frac, data, orig) in records {
        put_u32(&mut out, secs, be);
        put_u32(&mut out, frac, be);
        put_u32(&mut out, data.len() as u32, be);
        put_u32(&mut out, orig, be);
        out.extend_from_slice(data);
    }
    out
}

/// A pcapng block: type, body (padded to 4), lengths.
pub(super) fn block(out: &mut Vec<u8>, block_type: u32, body: &[u8], be: bool) {
    let mut padded = body.to_vec();
    while padded.len() % 4 != 0 {
        padded.push(0);
    }
    let len = 12 + padded.len() as u32;
    put_u32(out, block_type, be);
    put_u32(out, len, be);
    out.extend_from_slice(&padded);
    put_u32(out, len, be);
}

fn shb(out: &mut Vec<u8>, be: bool) {
    let mut body = Vec::new();
    put_u32(&mut body, 0x1A2B_3C4D, be);
    put_u16(&mut body, 1, be);
    put_u16(&mut body, 0, be);
    body.extend_from_slice(&[0xFF; 8]); // section length unknown
    block(out, 0x0A0D_0D0A, &body, be);
}

/// IDB with optional if_tsresol (code 9) and if_tsoffset (code 14).
fn idb(out: &mut Vec<u8>, be: bool, link: u16, tsresol: Option<u8>, tsoffset: Option<i64>) {
    let mut body = Vec::new();
    put_u16(&mut body, link, be);
    put_u16(&mut body, 0, be);
    put_u32(&mut body, 0, be); // snaplen 0 = unlimited
    if let Some(r) = tsresol {
        put_u16(&mut body, 9, be);
        put_u16(&mut body, 1, be);
        body.extend_from_slice(&[r, 0, 0, 0]);
    }
    if let Some(o) = tsoffset {
        put_u16(&mut body, 14, be);
        put_u16(&mut body, 8, be);
        body.extend_from_slice(&if be { o.to_be_bytes() } else { o.to_le_bytes() });
    }
    if tsresol.is_some() || tsoffset.is_some() {
        put_u32(&mut body, 0, be); // opt_endofopt
    }
    block(out, 1, &body, be);
}

fn epb(out: &mut Vec<u8>, be: bool, if_id: u32, ticks: u64, data: &[u8], orig: u32) {
    let mut body = Vec::new();
    put_u32(&mut body, if_id, be);
    put_u32(&mut body, (ticks >> 32) as u32, be);
    put_u32(&mut body, ticks as u32, be);
    put_u32(&mut body, data.len() as u32, be);
    put_u32(&mut body, orig, be);
    body.extend_from_slice(data);
    block(out, 6, &body, be);
}

fn spb(out: &mut Vec<u8>, be: bool, data: &[u8]) {
    let mut body = Vec::new();
    put_u32(&mut body, data.len() as u32, be);
    body.extend_from_slice(data);
    block(out, 3, &body, be);
}

fn obsolete_pb(out: &mut Vec<u8>, be: bool, if_id: u16, ticks: u64, data: &[u8]) {
    let mut body = Vec::new();
    put_u16(&mut body, if_id, be);
    put_u16(&mut body, 0, be); // drops
    put_u32(&mut body, (ticks >> 32) as u32, be);
    put_u32(&mut body, ticks as u32, be);
    put_u32(&mut body, data.len() as u32, be);
    put_u32(&mut body, data.len() as u32, be);
    body.extend_from_slice(data);
    block(out, 2, &body, be);
}

fn isb(out: &mut Vec<u8>, be: bool) {
    let mut body = Vec::new();
    put_u32(&mut body, 0, be);
    put_u32(&mut body, 0, be);
    put_u32(&mut body, 0, be);
    block(out, 5, &body, be);
}

// ---------- real captures ----------

/// Value of `"key": ` in a facts.json (number or string), found by a plain string search.
fn fact<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\": ");
    let start = json.find(&needle)? + needle.len();
    let rest = &json[start..];
    if let Some(stripped) = rest.strip_prefix('"') {
        stripped.split('"').next()
    } else {
        rest.split([',', '\n', '}']).next().map(str::trim)
    }
}

/// capinfos' link-type description → LINKTYPE number.
fn link_from_description(description: &str) -> u32 {
    match description {
        "Ethernet" => 1,
        "Linux cooked-mode capture v1" => 113,
        "NULL/Loopback" => 0,
        other => panic!("unmapped link type description {other:?}"),
    }
}

/// `first frame N at epoch S.NNNNNNNNN` lines of a sip-calls.txt → (N, ns since epoch).
fn tshark_frame_epochs(text: &str) -> Vec<(u64, i64)> {
    let mut out = Vec::new();
    for line in text.lines().take(1_000_000) {
        let Some(rest) = line.trim().strip_prefix("first frame ") else {
            continue;
        };
        let mut parts = rest.split(" at epoch ");
        let number: u64 = parts.next().unwrap().parse().unwrap();
        let epoch = parts.next().unwrap();
        let (secs, frac) = epoch.split_once('.').unwrap();
        assert_eq!(frac.len(), 9, "tshark prints nanoseconds");
        let ns = secs.parse::<i64>().unwrap() * 1_000_000_000 + frac.parse::<i64>().unwrap();
        out.push((number, ns));
    }
    out
}

#[test]
fn every_shared_capture_matches_capinfos_and_tshark_times() {
    let Some(dir) = shared_captures() else { return };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".pcap") || n.ends_with(".cap"))
        .collect();
    names.sort();
    assert!(names.len() >= 24, "expected the shared capture set, got {names:?}");
    let mut checked_epochs = 0;
    for name in &names {
        let facts = std::fs::read_to_string(dir.join("tshark").join(format!("{name}.facts.json"))).unwrap();
        let packets: u64 = fact(&facts, "packets").unwrap().parse().unwrap();
        let bytes: u64 = fact(&facts, "bytes").unwrap().parse().unwrap();
        let link = link_from_description(fact(&facts, "link_type").unwrap());
        let path = dir.join(name).to_string_lossy().into_owned();
        let mut set = CaptureSet::open(std::slice::from_ref(&path)).unwrap();
        let mut warnings = Warnings::default();
        let mut times = std::collections::HashMap::new();
        let mut count = 0u64;
        while let Some(frame) = set.next_frame(&mut warnings) {
            count += 1;
            assert_eq!(frame.at.number, count, "{name}: frames numbered 1, 2, ...");
            assert_eq!(frame.link.0, link, "{name} frame {count}");
            times.insert(frame.at.number, frame.at.time.0);
            assert!(count as usize <= MAX_TEST_FRAMES);
        }
        assert_eq!(count, packets, "{name}: packet count as capinfos");
        let summary = &set.summaries()[0];
        assert_eq!(summary.packets, packets, "{name}");
        assert_eq!(summary.bytes, bytes, "{name}: every byte of the file read");
        assert_eq!(summary.link_types, vec![LinkType(link)], "{name}");
        assert_eq!(summary.path, path);
        // Only one shared capture has time going backwards: tshark shows frame 199 at
        // 1782336876.990169 and frame 200 at 1782336876.990168.
        let expected: Vec<(u64, WarningKind)> = if name == "sipnab-register-invite-reinvite-bye.pcap" {
            vec![(200, WarningKind::TimeWentBackwards)]
        } else {
            Vec::new()
        };
        let got: Vec<(u64, WarningKind)> = warnings.kept().iter().map(|w| (w.frame, w.kind)).collect();
        assert_eq!(got, expected, "{name}");
        let calls = std::fs::read_to_string(dir.join("tshark").join(format!("{name}.sip-calls.txt"))).unwrap();
        for (number, ns) in tshark_frame_epochs(&calls) {
            assert_eq!(times.get(&number), Some(&ns), "{name} frame {number}");
            checked_epochs += 1;
        }
    }
    assert!(checked_epochs > 1400, "checked {checked_epochs} tshark epochs");
}

#[test]
fn first_and_last_times_match_tshark() {
    let Some(dir) = shared_captures() else { return };
    // Values from tshark 4.0.17 `-T fields -e frame.time_epoch` (first and last frame), which
    // agree with capinfos' "First/Last packet time".
    let cases = [
        ("sipnab-b2bua-asterisk.pcapng", 1_463_595_783_881_485_000, 1_463_595_811_065_741_000),
        ("sipnab-sip-rtp-g711.pcap", 1_480_171_979_666_393_000, 1_480_171_996_569_179_000),
        ("ndpi-fuzz-2006-06-26-2594.pcap", 1_120_469_540_839_312_000, 1_120_471_107_427_770_000),
    ];
    for (name, first, last) in cases {
        let path = dir.join(name).to_string_lossy().into_owned();
        let mut set = CaptureSet::open(&[path]).unwrap();
        let mut warnings = Warnings::default();
        let frames = drain(&mut set, &mut warnings);
        assert_eq!(frames.first().unwrap().time, first, "{name}");
        assert_eq!(frames.last().unwrap().time, last, "{name}");
        let summary = &set.summaries()[0];
        assert_eq!(summary.first_time, Some(Timestamp(first)));
        assert_eq!(summary.last_time, Some(Timestamp(last)));
    }
}

#[test]
fn big_endian_pcap_reads_all_frames_with_sizes() {
    let Some(dir) = shared_captures() else { return };
    let path = dir.join("ndpi-fuzz-2006-06-26-2594.pcap").to_string_lossy().into_owned();
    let mut set = CaptureSet::open(&[path]).unwrap();
    let mut warnings = Warnings::default();
    let frames = drain(&mut set, &mut warnings);
    assert_eq!(frames.len(), 691);
    // tshark: frame 1 is 92 bytes, frame 691 is 86 bytes (frame.len == frame.cap_len).
    assert_eq!((frames[0].data.len(), frames[0].orig_len), (92, 92));
    assert_eq!((frames[690].data.len(), frames[690].orig_len), (86, 86));
}

#[test]
fn pcapng_with_pcap_extension_is_detected() {
    let Some(dir) = shared_captures() else { return };
    let path = dir.join("rtpproxy-catch_dtmf-dtmf.pcap").to_string_lossy().into_owned();
    let mut set = CaptureSet::open(&[path]).unwrap();
    let mut warnings = Warnings::default();
    let frames = drain(&mut set, &mut warnings);
    assert_eq!(frames.len(), 196);
    assert_eq!(frames[0].time, 1_574_634_878_199_808_000);
    assert_eq!(frames[195].time, 1_574_634_885_986_272_000);
}

/// (end offset of each packet record, end offset of every block) of a real capture, walked by
/// hand: legacy LE/BE pcap or LE pcapng.
fn record_boundaries(bytes: &[u8]) -> (Vec<usize>, Vec<usize>) {
    let mut packets = Vec::new();
    let mut blocks = Vec::new();
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    if magic == 0x0A0D_0D0A {
        let mut pos = 0;
        while pos < bytes.len() && blocks.len() < MAX_TEST_FRAMES {
            let t = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap());
            let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
            pos += len;
            blocks.push(pos);
            if matches!(t, 2 | 3 | 6) {
                packets.push(pos);
            }
        }
    } else {
        let be = magic == 0xd4c3_b2a1;
        let mut pos = 24;
        blocks.push(pos);
        while pos < bytes.len() && blocks.len() < MAX_TEST_FRAMES {
            let raw: [u8; 4] = bytes[pos + 8..pos + 12].try_into().unwrap();
            let caplen = if be { u32::from_be_bytes(raw) } else { u32::from_le_bytes(raw) } as usize;
            pos += 16 + caplen;
            blocks.push(pos);
            packets.push(pos);
        }
    }
    (packets, blocks)
}

#[test]
fn truncated_copies_yield_complete_frames_then_one_warning() {
    let Some(dir) = shared_captures() else { return };
    let tmp = std::env::temp_dir().join(format!("callscope-capture-trunc-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for name in ["sipnab-sip-rtp-g711.pcap", "sipnab-b2bua-asterisk.pcapng", "ndpi-fuzz-2006-06-26-2594.pcap"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let (packets, blocks) = record_boundaries(&bytes);
        let full = packets.len();
        let cuts = [
            bytes.len() - 1,
            bytes.len() - 7,
            bytes.len() / 2,
            bytes.len() / 3 + 5,
            packets[0] - 3,  // inside frame 1
            packets[0] + 10, // inside the header of frame 2 or the next block
            packets[full / 2],
            blocks[0] + 1,
        ];
        for cut in cuts {
            let path = tmp.join(format!("cut-{cut}-{name}"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let mut set = CaptureSet::open(&[path.to_string_lossy().into_owned()]).unwrap();
            let mut warnings = Warnings::default();
            let frames = drain(&mut set, &mut warnings);
            let complete = packets.iter().filter(|&&end| end <= cut).count();
            assert_eq!(frames.len(), complete, "{name} cut at {cut}");
            assert!(frames.iter().enumerate().all(|(i, f)| f.number == i as u64 + 1));
            let on_boundary = blocks.contains(&cut);
            if on_boundary {
                assert_eq!(warnings.total(), 0, "{name} cut at {cut}");
            } else {
                assert_eq!(
                    warnings.kept(),
                    &[Warning {
                        file: 0,
                        frame: complete as u64 + 1,
                        kind: WarningKind::TruncatedCapture,
                        detail: warnings.kept()[0].detail.clone(),
                    }],
                    "{name} cut at {cut}"
                );
            }
            assert_eq!(set.summaries()[0].bytes, cut as u64);
            assert_eq!(set.summaries()[0].packets, complete as u64);
            std::fs::remove_file(&path).unwrap();
        }
    }
    let _ = std::fs::remove_dir(&tmp);
}

/// Regular files are read in place (a mapping); the same bytes through a reader take
/// pcap-parser's buffer. Both must give the same frames, warnings and byte counts, for good
/// files and for every way a legacy file can end badly (cut header, cut data, a record over the
/// size limit, a garbage length, both byte orders, nanosecond and modified formats), and the
/// same for pcapng ([`pcapng_cases`]).
#[test]
fn mapped_files_read_like_the_streaming_reader() {
    let x: &[u8] = &[0x45, 0, 0, 1];
    let big = vec![7u8; 262_145];
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for be in [false, true] {
        for nanos in [false, true] {
            let good = pcap(be, nanos, 1, &[(1, 5, x, 4), (2, 6, &[1u8; 300], 300), (3, 7, x, 60)]);
            for cut in [good.len(), good.len() - 1, good.len() - 40, 24 + 16 + 4 + 7, 24 + 16 + 4 + 16 + 2] {
                cases.push((format!("be={be} nanos={nanos} cut={cut}"), good[..cut].to_vec()));
            }
        }
    }
    cases.push(("oversized".into(), pcap(false, false, 1, &[(1, 0, x, 4), (2, 0, &big, 262_145), (3, 0, x, 4)])));
    let mut garbage = pcap(false, false, 1, &[(1, 0, x, 4), (2, 0, x, 4)]);
    garbage[24 + 16 + 4 + 8..24 + 16 + 4 + 12].copy_from_slice(&0x00FF_FFFFu32.to_le_bytes());
    cases.push(("garbage length".into(), garbage));
    let mut modified = pcap(false, false, 1, &[]);
    modified[..4].copy_from_slice(&0xa1b2_cd34u32.to_le_bytes());
    for (t, d) in [(1u32, x), (2, &[9u8; 20][..])] {
        modified.extend(t.to_le_bytes().iter().chain(&0u32.to_le_bytes()));
        modified.extend((d.len() as u32).to_le_bytes().iter().chain(&(d.len() as u32).to_le_bytes()));
        modified.extend([0u8; 8]);
        modified.extend_from_slice(d);
    }
    cases.push(("modified".into(), modified));
    cases.extend(pcapng_cases());
    let dir = std::env::temp_dir().join(format!("callscope-mapped-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (name, bytes)) in cases.iter().enumerate() {
        let (frames, warnings, summaries) = read_all(std::slice::from_ref(bytes));
        let path = dir.join(format!("case-{i}.pcap"));
        std::fs::write(&path, bytes).unwrap();
        let mut set = CaptureSet::open(&[path.to_string_lossy().into_owned()]).unwrap();
        let mut file_warnings = Warnings::default();
        let file_frames = drain(&mut set, &mut file_warnings);
        assert_eq!(file_frames, frames, "{name}");
        assert_eq!(file_warnings.kept(), &warnings[..], "{name}");
        let (a, b) = (&set.summaries()[0], &summaries[0]);
        assert_eq!(
            (a.bytes, a.packets, a.first_time, a.last_time),
            (b.bytes, b.packets, b.first_time, b.last_time),
            "{name}"
        );
        std::fs::remove_file(&path).unwrap();
    }
    let _ = std::fs::remove_dir(&dir);
}

/// pcapng files for [`mapped_files_read_like_the_streaming_reader`]: every block kind (EPB,
/// SPB, obsolete PB, ISB with drops, a second section in the other byte order) cut at every
/// length, and the bad blocks of [`bad_pcapng_block_lengths_are_bad_records`] plus a block over
/// the size limit, in both byte orders.
fn pcapng_cases() -> Vec<(String, Vec<u8>)> {
    let d: &[u8] = &[9; 8];
    let mut cases = Vec::new();
    for be in [false, true] {
        let mut good = Vec::new();
        shb(&mut good, be);
        idb(&mut good, be, 1, Some(9), None);
        epb(&mut good, be, 0, 1_000_000, d, 8);
        let mut stats = Vec::new();
        put_u32(&mut stats, 0, be);
        put_u32(&mut stats, 0, be);
        put_u32(&mut stats, 0, be);
        put_u16(&mut stats, 5, be); // isb_ifdrop
        put_u16(&mut stats, 8, be);
        stats.extend_from_slice(&if be { 7u64.to_be_bytes() } else { 7u64.to_le_bytes() });
        put_u32(&mut stats, 0, be);
        block(&mut good, 5, &stats, be);
        spb(&mut good, be, &[3; 21]);
        obsolete_pb(&mut good, be, 0, 2_000_000, &[4; 13]);
        isb(&mut good, be);
        epb(&mut good, be, 0, 3_000_000, &[5; 300], 300);
        shb(&mut good, !be);
        idb(&mut good, !be, 101, None, None);
        epb(&mut good, !be, 0, 4_000_000, d, 8);
        for cut in (28..=good.len()).step_by(3).chain([good.len() - 1, good.len()]) {
            cases.push((format!("pcapng be={be} cut={cut}"), good[..cut].to_vec()));
        }
        let prefix = |f: &mut Vec<u8>| {
            shb(f, be);
            idb(f, be, 1, None, None);
            epb(f, be, 0, 1_000_000, d, 8);
        };
        for (name, block_type, len) in [("odd", 6, 45), ("tiny", 6, 4), ("over the limit", 6, 0x7FFF_FFF0)] {
            let mut bad = Vec::new();
            prefix(&mut bad);
            put_u32(&mut bad, block_type, be);
            put_u32(&mut bad, len, be);
            bad.extend_from_slice(&[0; 64]);
            cases.push((format!("pcapng be={be} {name}"), bad));
        }
        let mut inner = Vec::new();
        prefix(&mut inner);
        let mut liar = Vec::new();
        epb(&mut liar, be, 0, 2_000_000, d, 8);
        liar[20..24].copy_from_slice(&if be { 400u32.to_be_bytes() } else { 400u32.to_le_bytes() });
        inner.extend_from_slice(&liar);
        epb(&mut inner, be, 0, 3_000_000, &[0; 600], 600);
        cases.push((format!("pcapng be={be} inner"), inner));
        let mut no_if = Vec::new();
        prefix(&mut no_if);
        epb(&mut no_if, be, 3, 2_000_000, d, 8);
        cases.push((format!("pcapng be={be} no_if"), no_if));
    }
    cases
}

// ---------- hand-built pcap ----------

#[test]
fn pcap_in_both_byte_orders_and_resolutions() {
    let a: &[u8] = &[0x45, 1, 2, 3];
    let b: &[u8] = &[0x60, 9];
    for be in [false, true] {
        for nanos in [false, true] {
            let frac = if nanos { 123_456_789 } else { 123_456 };
            let bytes = pcap(be, nanos, 101, &[(1_000, frac, a, 60), (1_001, 7, b, 2)]);
            let (frames, warnings, summaries) = read_all(&[bytes]);
            let scale = if nanos { 1 } else { 1000 };
            assert_eq!(
                frames,
                vec![
                    Owned {
                        file: 0,
                        number: 1,
                        time: 1_000_000_000_000 + i64::from(frac) * scale,
                        link: 101,
                        data: a.to_vec(),
                        orig_len: 60,
                    },
                    Owned {
                        file: 0,
                        number: 2,
                        time: 1_001_000_000_000 + 7 * scale,
                        link: 101,
                        data: b.to_vec(),
                        orig_len: 2,
                    },
                ],
                "be={be} nanos={nanos}"
            );
            assert!(warnings.is_empty());
            assert_eq!(summaries[0].link_types, vec![LinkType::RAW]);
            assert_eq!(summaries[0].bytes, 24 + 16 + 4 + 16 + 2);
            assert_eq!(summaries[0].packets, 2);
        }
    }
}

#[test]
fn standard_input_like_short_reads_work() {
    let payload = [7u8; 300];
    let records: Vec<(u32, u32, &[u8], u32)> = (0..50).map(|i| (i, 0, &payload[..], 300)).collect();
    let bytes = pcap(true, false, 1, &records);
    let mut ng = Vec::new();
    shb(&mut ng, false);
    idb(&mut ng, false, 1, None, None);
    for i in 0..50 {
        epb(&mut ng, false, 0, i * 1_000_000, &payload, 300);
    }
    for data in [bytes, ng] {
        let source: Box<dyn Read + Send> = Box::new(Trickle { data, pos: 0, chunk: 7 });
        let mut set = CaptureSet::from_readers(vec![("-".to_string(), source)]).unwrap();
        let mut warnings = Warnings::default();
        let frames = drain(&mut set, &mut warnings);
        assert_eq!(frames.len(), 50);
        assert_eq!(frames[49].time, 49_000_000_000);
        assert!(frames.iter().all(|f| f.data == payload));
        assert_eq!(warnings.total(), 0);
        assert_eq!(set.summaries()[0].path, "-");
    }
}

#[test]
fn two_files_merge_in_time_order_ties_to_the_first_file() {
    let x: &[u8] = &[1];
    let first = pcap(false, false, 1, &[(10, 0, x, 1), (12, 0, x, 1), (14, 0, x, 1)]);
    let second = pcap(true, true, 101, &[(11, 0, x, 1), (12, 0, x, 1), (20, 0, x, 1)]);
    let (frames, warnings, summaries) = read_all(&[first, second]);
    let order: Vec<(u16, u64, i64, u32)> =
        frames.iter().map(|f| (f.file, f.number, f.time / 1_000_000_000, f.link)).collect();
    assert_eq!(
        order,
        vec![(0, 1, 10, 1), (1, 1, 11, 101), (0, 2, 12, 1), (1, 2, 12, 101), (0, 3, 14, 1), (1, 3, 20, 101),]
    );
    assert!(warnings.is_empty());
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[1].first_time, Some(Timestamp(11_000_000_000)));
    assert_eq!(summaries[1].last_time, Some(Timestamp(20_000_000_000)));
}

#[test]
fn time_going_backwards_is_warned_and_frames_kept() {
    let x: &[u8] = &[1];
    let bytes = pcap(false, false, 1, &[(10, 0, x, 1), (9, 0, x, 1), (11, 0, x, 1)]);
    let (frames, warnings, summaries) = read_all(&[bytes]);
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[1].time, 9_000_000_000);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].kind, WarningKind::TimeWentBackwards);
    assert_eq!(warnings[0].frame, 2);
    assert_eq!(summaries[0].first_time, Some(Timestamp(9_000_000_000)));
    assert_eq!(summaries[0].last_time, Some(Timestamp(11_000_000_000)));
}

#[test]
fn record_larger_than_the_buffer_grows_it() {
    let big = vec![0xAB; super::reader::INITIAL_BUFFER * 3 + 5];
    let small: &[u8] = &[1, 2];
    let mut bytes = Vec::new();
    shb(&mut bytes, true);
    idb(&mut bytes, true, 1, None, None);
    epb(&mut bytes, true, 0, 1, small, 2);
    epb(&mut bytes, true, 0, 2, &big, 9000);
    epb(&mut bytes, true, 0, 3, small, 2);
    let (frames, warnings, _) = read_all(&[bytes]);
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[1].data, big);
    assert_eq!(frames[1].orig_len, 9000);
    assert_eq!(frames[2].data, small);
    assert!(warnings.is_empty());
}

// ---------- hand-built pcapng ----------

#[test]
fn pcapng_interfaces_link_types_and_resolutions_in_both_byte_orders() {
    let d1: &[u8] = &[0xEE; 14];
    let d2: &[u8] = &[0x45, 0, 0, 20, 1];
    let d3: &[u8] = &[0x60, 0, 0];
    for be in [false, true] {
        let mut f = Vec::new();
        shb(&mut f, be);
        idb(&mut f, be, 1, None, None); // Ethernet, µs
        idb(&mut f, be, 101, Some(9), Some(-5)); // raw IP, ns, offset -5 s
        idb(&mut f, be, 113, Some(0x80 | 10), Some(100)); // SLL, 2^-10 s, offset +100 s
        epb(&mut f, be, 0, 1_500_000_000_123_456, d1, 60);
        isb(&mut f, be); // not a packet: not numbered
        epb(&mut f, be, 1, 1_500_000_010_987_654_321, d2, 5);
        epb(&mut f, be, 2, (1_500_000_002u64 << 10) | 512, d3, 3);
        spb(&mut f, be, d1);
        obsolete_pb(&mut f, be, 1, 1_500_000_110_000_000_007, d2);
        let (frames, warnings, summaries) = read_all(&[f]);
        assert!(warnings.is_empty(), "be={be}: {warnings:?}");
        let got: Vec<(u64, i64, u32, usize, u32)> =
            frames.iter().map(|f| (f.number, f.time, f.link, f.data.len(), f.orig_len)).collect();
        assert_eq!(
            got,
            vec![
                (1, 1_500_000_000_123_456_000, 1, 14, 60),
                (2, 1_500_000_005_987_654_321, 101, 5, 5),
                (3, 1_500_000_102_500_000_000, 113, 3, 3),
                // SPB: no timestamp of its own, keeps the previous frame's; interface 0.
                (4, 1_500_000_102_500_000_000, 1, 14, 14),
                (5, 1_500_000_105_000_000_007, 101, 5, 5),
            ],
            "be={be}"
        );
        assert_eq!(frames[1].data, d2);
        assert_eq!(frames[2].data, d3);
        assert_eq!(frames[3].data, d1);
        assert_eq!(summaries[0].link_types, vec![LinkType::ETHERNET, LinkType::RAW, LinkType::LINUX_SLL]);
    }
}

#[test]
fn pcapng_new_section_resets_interfaces_and_byte_order() {
    let d: &[u8] = &[1, 2, 3];
    let mut f = Vec::new();
    shb(&mut f, false);
    idb(&mut f, false, 1, None, None);
    epb(&mut f, false, 0, 5_000_000, d, 3);
    shb(&mut f, true);
    idb(&mut f, true, 0, Some(3), None);
    epb(&mut f, true, 0, 6_000, d, 3);
    let (frames, warnings, summaries) = read_all(&[f]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let got: Vec<(u64, i64, u32)> = frames.iter().map(|f| (f.number, f.time, f.link)).collect();
    assert_eq!(got, vec![(1, 5_000_000_000, 1), (2, 6_000_000_000, 0)]);
    assert_eq!(summaries[0].link_types, vec![LinkType::ETHERNET, LinkType::NULL]);
}

// ---------- bad input ----------

#[test]
fn garbage_and_empty_inputs_are_not_captures() {
    let garbage = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n".repeat(20);
    for (bytes, expect) in [
        (garbage, "no pcap or pcapng magic"),
        (Vec::new(), "empty file"),
        (vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0], "shorter"),
    ] {
        match from_bytes(&[bytes]) {
            Err(CaptureError::NotACapture { path, detail }) => {
                assert_eq!(path, "mem0");
                assert!(detail.contains(expect), "{detail}");
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("garbage accepted as a capture"),
        }
    }
    let missing = CaptureSet::open(&["/nonexistent/callscope.pcap".to_string()]);
    assert!(matches!(missing, Err(CaptureError::Io { .. })));
}

#[test]
fn header_only_file_has_zero_frames() {
    let (frames, warnings, summaries) = read_all(&[pcap(false, false, 1, &[])]);
    assert!(frames.is_empty());
    assert!(warnings.is_empty());
    assert_eq!(summaries[0].packets, 0);
    assert_eq!(summaries[0].bytes, 24);
    assert_eq!(summaries[0].first_time, None);
}

#[test]
fn huge_caplen_is_a_bad_record_and_stops_the_file() {
    let x: &[u8] = &[1, 2, 3, 4];
    for be in [false, true] {
        let mut bytes = pcap(be, false, 1, &[(1, 0, x, 4)]);
        put_u32(&mut bytes, 2, be);
        put_u32(&mut bytes, 0, be);
        put_u32(&mut bytes, 0xFFFF_FFF0, be); // caplen far above the 256 MiB cap
        put_u32(&mut bytes, 60, be);
        bytes.extend_from_slice(&[0; 100]);
        let (frames, warnings, _) = read_all(&[bytes]);
        assert_eq!(frames.len(), 1);
        assert_eq!(warnings.len(), 1);
        assert_eq!((warnings[0].kind, warnings[0].frame), (WarningKind::BadRecord, 2));
    }
}

#[test]
fn pcap_record_above_tshark_maximum_is_a_bad_record() {
    let x: &[u8] = &[1, 2, 3, 4];
    let big = vec![0u8; 262_145];
    let bytes = pcap(false, false, 1, &[(1, 0, x, 4), (2, 0, &big, 262_145), (3, 0, x, 4)]);
    let (frames, warnings, _) = read_all(&[bytes]);
    assert_eq!(frames.len(), 1);
    assert_eq!(warnings.len(), 1);
    assert_eq!((warnings[0].kind, warnings[0].frame), (WarningKind::BadRecord, 2));
    // Exactly the maximum is accepted.
    let max = vec![0u8; 262_144];
    let bytes = pcap(false, false, 1, &[(1, 0, x, 4), (2, 0, &max, 262_144), (3, 0, x, 4)]);
    let (frames, warnings, _) = read_all(&[bytes]);
    assert_eq!(frames.len(), 3);
    assert!(warnings.is_empty());
}

#[test]
fn bad_pcapng_block_lengths_are_bad_records() {
    let d: &[u8] = &[9; 8];
    let prefix = |f: &mut Vec<u8>| {
        shb(f, false);
        idb(f, false, 1, None, None);
        epb(f, false, 0, 1_000_000, d, 8);
    };
    // Block length not a multiple of 4.
    let mut odd = Vec::new();
    prefix(&mut odd);
    put_u32(&mut odd, 6, false);
    put_u32(&mut odd, 45, false);
    odd.extend_from_slice(&[0; 64]);
    // Block length smaller than the 12 bytes of framing.
    let mut tiny = Vec::new();
    prefix(&mut tiny);
    put_u32(&mut tiny, 6, false);
    put_u32(&mut tiny, 4, false);
    tiny.extend_from_slice(&[0; 64]);
    // EPB whose captured length runs past its block, followed by more data.
    let mut inner = Vec::new();
    prefix(&mut inner);
    let mut liar = Vec::new();
    epb(&mut liar, false, 0, 2_000_000, d, 8);
    liar[20..24].copy_from_slice(&400u32.to_le_bytes());
    inner.extend_from_slice(&liar);
    epb(&mut inner, false, 0, 3_000_000, &[0; 600], 600);
    // Packet on an interface that was never described.
    let mut no_if = Vec::new();
    prefix(&mut no_if);
    epb(&mut no_if, false, 3, 2_000_000, d, 8);
    // Random bytes after a good frame.
    let mut noise = Vec::new();
    prefix(&mut noise);
    let mut state = 0x1234_5678u32;
    for _ in 0..5000 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.push((state >> 16) as u8);
    }
    for (name, bytes) in [("odd", odd), ("tiny", tiny), ("inner", inner), ("no_if", no_if), ("noise", noise)] {
        let (frames, warnings, _) = read_all(&[bytes]);
        assert_eq!(frames.len(), 1, "{name}");
        assert_eq!(warnings.len(), 1, "{name}: {warnings:?}");
        assert_eq!((warnings[0].kind, warnings[0].frame), (WarningKind::BadRecord, 2), "{name}: {warnings:?}");
    }
}

#[test]
fn bad_file_stops_only_itself_in_a_merge() {
    let x: &[u8] = &[1];
    let good = pcap(false, false, 1, &[(1, 0, x, 1), (3, 0, x, 1), (5, 0, x, 1)]);
    let mut cut = pcap(false, false, 1, &[(2, 0, x, 1), (4, 0, x, 1)]);
    cut.truncate(cut.len() - 1);
    let (frames, warnings, _) = read_all(&[good, cut]);
    let order: Vec<(u16, u64)> = frames.iter().map(|f| (f.file, f.number)).collect();
    assert_eq!(order, vec![(0, 1), (1, 1), (0, 2), (0, 3)]);
    assert_eq!(warnings.len(), 1);
    assert_eq!((warnings[0].file, warnings[0].frame, warnings[0].kind), (1, 2, WarningKind::TruncatedCapture));
}

#[test]
fn mutated_captures_never_panic_or_loop() {
    let d: &[u8] = &[0x45; 40];
    let mut ng = Vec::new();
    shb(&mut ng, false);
    idb(&mut ng, false, 1, Some(9), Some(3));
    idb(&mut ng, false, 101, None, None);
    for i in 0..20u64 {
        epb(&mut ng, false, (i % 2) as u32, i * 1000, d, 40);
        if i % 5 == 0 {
            spb(&mut ng, false, d);
            obsolete_pb(&mut ng, false, 1, i, d);
            isb(&mut ng, false);
        }
    }
    let records: Vec<(u32, u32, &[u8], u32)> = (0..20).map(|i| (i, 5, d, 40)).collect();
    let legacy = pcap(true, true, 1, &records);
    let mut state = 0x9E37_79B9u32;
    let mut next = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        state
    };
    for original in [ng, legacy] {
        for _ in 0..400 {
            let mut bytes = original.clone();
            let flips = 1 + next() % 4;
            for _ in 0..flips {
                // Keep the magic intact most of the time so the body parser is exercised.
                let pos = 4 + (next() as usize % (bytes.len() - 4));
                bytes[pos] = (next() >> 24) as u8;
            }
            if next() % 3 == 0 {
                let keep = next() as usize % bytes.len();
                bytes.truncate(keep);
            }
            if let Ok(mut set) = from_bytes(&[bytes]) {
                let mut warnings = Warnings::default();
                let frames = drain(&mut set, &mut warnings);
                assert!(frames.len() <= 40);
                assert!(warnings.total() <= 41);
            }
        }
    }
}

/// Throughput smoke check, not a test: `cargo test --release --lib capture::tests::throughput
/// -- --ignored --nocapture` prints frames/s over repeated reads of the largest shared capture.
#[test]
#[ignore]
fn throughput() {
    let Some(dir) = shared_captures() else { return };
    let path = dir.join("sipnab-sipp-branch-scenario.pcapng").to_string_lossy().into_owned();
    let passes = 50;
    let start = std::time::Instant::now();
    let mut frames = 0u64;
    let mut bytes = 0u64;
    for _ in 0..passes {
        let mut set = CaptureSet::open(std::slice::from_ref(&path)).unwrap();
        let mut warnings = Warnings::default();
        while let Some(frame) = set.next_frame(&mut warnings) {
            frames += 1;
            bytes += frame.data.len() as u64;
            assert!(frames < 100_000_000);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{frames} frames, {bytes} bytes in {secs:.3} s: {:.0} frames/s, {:.0} MB/s",
        frames as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}

/// Manual check of `-`: `cat some.pcap | cargo test --lib capture::tests::stdin_smoke --
/// --ignored --nocapture` prints the frame count read from standard input.
#[test]
#[ignore]
fn stdin_smoke() {
    let mut set = CaptureSet::open(&["-".to_string()]).unwrap();
    let mut warnings = Warnings::default();
    let frames = drain(&mut set, &mut warnings);
    eprintln!("stdin: {} frames, {:?}, {} warnings", frames.len(), set.summaries()[0], warnings.total());
}

/// IDB carrying an `if_name` option (code 2), for the site map's `interface` matching.
fn idb_named(out: &mut Vec<u8>, be: bool, link: u16, name: &str) {
    let mut body = Vec::new();
    put_u16(&mut body, link, be);
    put_u16(&mut body, 0, be);
    put_u32(&mut body, 0, be);
    put_u16(&mut body, 2, be);
    put_u16(&mut body, name.len() as u16, be);
    body.extend_from_slice(name.as_bytes());
    while body.len() % 4 != 0 {
        body.push(0);
    }
    put_u32(&mut body, 0, be); // opt_endofopt
    block(out, 1, &body, be);
}

#[test]
fn pcapng_interface_names_reach_frames_and_summary_over_sections() {
    for be in [false, true] {
        let mut f = Vec::new();
        shb(&mut f, be);
        idb_named(&mut f, be, 1, "eth1");
        idb(&mut f, be, 1, None, None); // unnamed
        epb(&mut f, be, 1, 1_000_000, b"a", 1);
        epb(&mut f, be, 0, 2_000_000, b"b", 1);
        // A new section numbers interfaces from 0 again; its names append to the file's list.
        shb(&mut f, be);
        idb_named(&mut f, be, 1, "vlan300");
        epb(&mut f, be, 0, 3_000_000, b"c", 1);
        let mut set = from_bytes(&[f]).expect("opens");
        let mut warnings = Warnings::default();
        let mut seen = Vec::new();
        while let Some(frame) = set.next_frame(&mut warnings) {
            seen.push(frame.interface);
            assert!(seen.len() < 10);
        }
        assert_eq!(seen, vec![Some(1), Some(0), Some(2)], "be={be}");
        let names = &set.summaries()[0].interfaces;
        assert_eq!(names, &vec![Some("eth1".to_string()), None, Some("vlan300".to_string())]);
    }
    let (frames, _, summaries) = read_all(&[pcap(false, false, 1, &[(1, 0, b"x", 1)])]);
    assert_eq!(frames.len(), 1);
    assert!(summaries[0].interfaces.is_empty());
}
