//! Digital-silence test of one RTP payload, for `silent_payload` (diagnosis.md §4.3: "G.711 and
//! L16 only: packets that decode to digital silence, below −60 dBov").
//!
//! Called once per RTP packet on the packet path: no allocation, no logarithm. G.711 is decided
//! by its loudest sample in almost every payload (one vectorised pass), else by the exact sum
//! of squares from a 256-entry table. Other codecs are not judged ([`PayloadCodec::Other`]): their payload cannot be
//! decoded to a level without a decoder.

pub use crate::rtp::payload::PayloadCodec;

/// The silence level, dBov (diagnosis.md §4.3 `silent_payload`). 0 dBov is the RMS of a
/// full-scale square wave of the 16-bit linear scale (ITU-T G.100.1), i.e. 32768.
pub const SILENCE_DBOV: f64 = -60.0;

/// Mean square of the 16-bit linear samples below which a payload is silent:
/// `(32768 · 10^(−60/20))² = 32.768² ≈ 1073.7`, rounded down.
const SILENT_MEAN_SQUARE: u64 = 1073;

/// 16-bit linear magnitude of each G.711 µ-law code (ITU-T G.711 table 2a, the decoder of
/// Sun's g711.c as used by most stacks): `((mantissa << 3) + 0x84) << exponent) − 0x84`.
const fn ulaw_magnitudes() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut code = 0usize;
    while code < 256 {
        let inverted = !(code as u8);
        let exponent = (inverted >> 4) & 0x07;
        let mantissa = inverted & 0x0F;
        let magnitude = ((((mantissa as u32) << 3) + 0x84) << exponent) - 0x84;
        t[code] = magnitude as u16;
        code += 1;
    }
    t
}

/// 16-bit linear magnitude of each G.711 A-law code (ITU-T G.711 table 1a; even bits are
/// inverted on the wire, 0x55).
const fn alaw_magnitudes() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut code = 0usize;
    while code < 256 {
        let a = (code as u8) ^ 0x55;
        let exponent = (a >> 4) & 0x07;
        let mantissa = (a & 0x0F) as u32;
        let magnitude = if exponent == 0 { (mantissa << 4) + 8 } else { ((mantissa << 4) + 0x108) << (exponent - 1) };
        t[code] = magnitude as u16;
        code += 1;
    }
    t
}

const ULAW: [u16; 256] = ulaw_magnitudes();
const ALAW: [u16; 256] = alaw_magnitudes();

/// Squared magnitude of each code (≤ 32256² < 2³², so a sum of 2³² samples cannot overflow u64).
const fn squares(magnitudes: [u16; 256]) -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut code = 0usize;
    while code < 256 {
        t[code] = (magnitudes[code] as u32) * (magnitudes[code] as u32);
        code += 1;
    }
    t
}

const ULAW_SQUARES: [u32; 256] = squares(ULAW);
const ALAW_SQUARES: [u32; 256] = squares(ALAW);

/// G.711 samples summed between two checks against the silence limit.
const CHUNK_SAMPLES: usize = 32;

/// The byte that folds a G.711 code into its magnitude rank `(code ^ key) & 0x7F`: the rank
/// orders codes by decoded magnitude (exponent then mantissa, sign dropped). µ-law codes are
/// sent inverted (G.711 table 2a), A-law codes with the even bits inverted (table 1a).
const fn rank_key(codec: PayloadCodec) -> u8 {
    match codec {
        PayloadCodec::Pcmu => 0x7F,
        _ => 0x55,
    }
}

/// Magnitude of each rank (the largest code of the payload decides the fast cases).
const fn magnitudes_by_rank(magnitudes: [u16; 256], key: u8) -> [u16; 128] {
    let mut t = [0u16; 128];
    let mut rank = 0usize;
    while rank < 128 {
        t[rank] = magnitudes[(rank as u8 ^ key) as usize];
        rank += 1;
    }
    t
}

const ULAW_BY_RANK: [u16; 128] = magnitudes_by_rank(ULAW, rank_key(PayloadCodec::Pcmu));
const ALAW_BY_RANK: [u16; 128] = magnitudes_by_rank(ALAW, rank_key(PayloadCodec::Pcma));

/// Offset of the payload in an RTP packet (fixed header, CSRCs, extension; RFC 3550 §5.1,
/// §5.3.1), or `None` when the packet is too short for what its header claims.
fn payload_offset(rtp: &[u8]) -> Option<usize> {
    let b0 = *rtp.first()?;
    let mut offset = 12usize.checked_add(4 * usize::from(b0 & 0x0F))?;
    if b0 & 0x10 != 0 {
        let words = rtp.get(offset.checked_add(2)?..offset.checked_add(4)?)?;
        let words = usize::from(u16::from_be_bytes([*words.first()?, *words.get(1)?]));
        offset = offset.checked_add(4 + 4 * words)?;
    }
    (offset <= rtp.len()).then_some(offset)
}

/// Whether the payload of the RTP packet `rtp` (the whole UDP payload) decodes to digital
/// silence, for a payload of `payload_len` bytes (the header's, padding excluded). `None`
/// when the codec is not judged or the payload is empty or out of bounds.
pub fn rtp_payload_is_silent(rtp: &[u8], payload_len: usize, codec: PayloadCodec) -> Option<bool> {
    if codec == PayloadCodec::Other || payload_len == 0 {
        return None;
    }
    let start = payload_offset(rtp)?;
    let payload = rtp.get(start..start.checked_add(payload_len)?)?;
    if payload.len() > usize::from(u16::MAX) {
        return None; // larger than any UDP datagram: not an RTP payload (and the sums below rely on it)
    }
    let limit_for = |samples: usize| SILENT_MEAN_SQUARE.saturating_mul(samples as u64);
    match codec {
        PayloadCodec::Pcmu | PayloadCodec::Pcma => {
            let (squares, by_rank) = if codec == PayloadCodec::Pcmu {
                (&ULAW_SQUARES, &ULAW_BY_RANK)
            } else {
                (&ALAW_SQUARES, &ALAW_BY_RANK)
            };
            // The loudest sample bounds the mean square from both sides: every sample at most
            // as loud (mean ≤ loudest²) or one sample alone over the whole budget (sum ≥
            // loudest²). A max over bytes vectorises; the exact sum is left for the narrow band
            // between, so speech and idle payloads are decided in one cheap pass.
            let key = rank_key(codec);
            let loudest_rank = payload.iter().fold(0u8, |m, &code| m.max((code ^ key) & 0x7F));
            let loudest = u64::from(by_rank[usize::from(loudest_rank)]).pow(2);
            let limit = limit_for(payload.len());
            if loudest <= SILENT_MEAN_SQUARE || loudest > limit {
                return Some(loudest <= SILENT_MEAN_SQUARE);
            }
            // Summed a chunk at a time (the compiler unrolls a fixed-size chunk), checked
            // against the limit between chunks: the sum only grows. Here every square is at
            // most `loudest <= limit < 2^32 / CHUNK_SAMPLES` (a payload is under 64 KiB), so a
            // chunk's sum fits a u32.
            let chunks = payload.chunks_exact(CHUNK_SAMPLES);
            let tail = chunks.remainder();
            let mut sum = 0u64;
            for chunk in chunks {
                sum += u64::from(chunk.iter().map(|&code| squares[usize::from(code)]).sum::<u32>());
                if sum > limit {
                    return Some(false);
                }
            }
            sum += tail.iter().map(|&code| u64::from(squares[usize::from(code)])).sum::<u64>();
            Some(sum <= limit)
        }
        PayloadCodec::L16 => {
            let samples = payload.len() / 2;
            if samples == 0 {
                return None;
            }
            let sum: u64 = payload
                .chunks_exact(2)
                .map(|c| match c {
                    [hi, lo] => u64::from(i16::from_be_bytes([*hi, *lo]).unsigned_abs()).pow(2),
                    _ => 0,
                })
                .sum();
            Some(sum <= limit_for(samples))
        }
        PayloadCodec::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1];
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn g711_tables_match_the_reference_decoder() {
        // µ-law 0xFF and 0x7F are the two zeros; 0x00 is the largest magnitude 32124.
        assert_eq!((ULAW[0xFF], ULAW[0x7F], ULAW[0x00], ULAW[0xFE]), (0, 0, 32124, 8));
        // µ-law 0xD5 (the byte the generator sends) decodes to ±716.
        assert_eq!(ULAW[0xD5], 716);
        // A-law 0xD5/0x55 are the smallest magnitude 8; 0xAA/0x2A the largest 32256.
        assert_eq!((ALAW[0xD5], ALAW[0x55], ALAW[0xAA]), (8, 8, 32256));
    }

    #[test]
    fn silence_and_speech_are_told_apart() {
        let ulaw_idle = packet(&[0xFF; 160]);
        let ulaw_tone = packet(&[0xD5; 160]);
        let alaw_idle = packet(&[0xD5; 160]);
        assert_eq!(rtp_payload_is_silent(&ulaw_idle, 160, PayloadCodec::Pcmu), Some(true));
        assert_eq!(rtp_payload_is_silent(&ulaw_tone, 160, PayloadCodec::Pcmu), Some(false));
        assert_eq!(rtp_payload_is_silent(&alaw_idle, 160, PayloadCodec::Pcma), Some(true));
        // µ-law code 0xFE decodes to 8: still below −60 dBov (RMS 32.8).
        assert_eq!(rtp_payload_is_silent(&packet(&[0xFE; 160]), 160, PayloadCodec::Pcmu), Some(true));
        // L16: amplitude 30 is below the −60 dBov RMS of 32.77; 40 is above.
        let l16 = |v: i16| packet(&v.to_be_bytes().repeat(80));
        assert_eq!(rtp_payload_is_silent(&l16(30), 160, PayloadCodec::L16), Some(true));
        assert_eq!(rtp_payload_is_silent(&l16(-40), 160, PayloadCodec::L16), Some(false));
    }

    /// The definition: mean square of the decoded samples at most the silence limit.
    fn silent_by_definition(payload: &[u8], codec: PayloadCodec) -> bool {
        let table = if codec == PayloadCodec::Pcmu { &ULAW } else { &ALAW };
        let sum: u64 = payload.iter().map(|&c| u64::from(table[usize::from(c)]).pow(2)).sum();
        sum <= SILENT_MEAN_SQUARE * payload.len() as u64
    }

    #[test]
    fn the_loudest_sample_shortcut_agrees_with_the_definition() {
        // Every code alone, every code as the one loud sample among idle ones, and random
        // payloads mixing quiet codes near the limit (the band the shortcut leaves to the sum).
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for codec in [PayloadCodec::Pcmu, PayloadCodec::Pcma] {
            let idle = if codec == PayloadCodec::Pcmu { 0xFF } else { 0xD5 };
            let mut payloads: Vec<Vec<u8>> = Vec::new();
            for code in 0..=255u8 {
                for len in [1, 20, 160, 480] {
                    payloads.push(vec![code; len]);
                    let mut one_loud = vec![idle; len];
                    one_loud[len / 2] = code;
                    payloads.push(one_loud);
                }
            }
            for _ in 0..20_000 {
                let len = 1 + (next() % 320) as usize;
                // Codes of low rank (quiet), with now and then a louder one.
                let spread = [8u64, 24, 40, 128][(next() % 4) as usize];
                let key = rank_key(codec);
                payloads.push((0..len).map(|_| ((next() % spread) as u8 ^ key) | (next() as u8 & 0x80)).collect());
            }
            for payload in &payloads {
                let expected = silent_by_definition(payload, codec);
                let got = rtp_payload_is_silent(&packet(payload), payload.len(), codec);
                assert_eq!(got, Some(expected), "{codec:?} {payload:02X?}");
            }
        }
    }

    #[test]
    fn one_loud_sample_anywhere_counts() {
        // One loud sample at the end still makes the payload non-silent; quiet samples
        // throughout (mean square 64 < 1073) keep it silent.
        let mut late = [0xFFu8; 160];
        late[159] = 0xD5;
        assert_eq!(rtp_payload_is_silent(&packet(&late), 160, PayloadCodec::Pcmu), Some(false));
        assert_eq!(rtp_payload_is_silent(&packet(&[0xFE; 161]), 161, PayloadCodec::Pcmu), Some(true));
        // Full-scale L16 (−32768) squared fits the per-sample u32.
        assert_eq!(rtp_payload_is_silent(&packet(&[0x80, 0x00]), 2, PayloadCodec::L16), Some(false));
    }

    #[test]
    fn other_codecs_and_bad_lengths_are_not_judged() {
        let p = packet(&[0xFF; 20]);
        assert_eq!(rtp_payload_is_silent(&p, 20, PayloadCodec::Other), None);
        assert_eq!(rtp_payload_is_silent(&p, 0, PayloadCodec::Pcmu), None);
        assert_eq!(rtp_payload_is_silent(&p, 21, PayloadCodec::Pcmu), None);
        // A CSRC count claiming more than the packet holds.
        let mut bad = p.clone();
        bad[0] = 0x8F;
        assert_eq!(rtp_payload_is_silent(&bad, 20, PayloadCodec::Pcmu), None);
        assert_eq!(PayloadCodec::from_name("pcma"), PayloadCodec::Pcma);
        assert_eq!(PayloadCodec::from_name("G729"), PayloadCodec::Other);
    }
}
