//! Issue 4 on whole generated captures (src/synth/media.rs): loss pattern and MOS, exact jitter
//! buffer discards, DSCP re-marking, comfort noise / telephone-events / VAD gaps, quality
//! windows. Expected values come from the construction of each capture and from the quality
//! module run on the known indicator sequence, never from the analyzer's own output.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::run;
use callscope::quality::{self, codec, CodecId, DelayModel, JitterBufferSim, LossIndicators, PacketObservation};
use callscope::synth::media::{self, MediaCall, MediaPacket};

fn temp_file(name: &str) -> PathBuf {
    crate::common::scratch_capture("quality", name)
}

/// Writes the call, analyses it, returns (document, the caller → callee stream).
fn analyse(name: &str, call: &MediaCall) -> (Value, Value) {
    let path = temp_file(name);
    call.write_file(&path).unwrap();
    let doc = serde_json::to_value(run(&[path])).unwrap();
    let streams = doc["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{name}: one stream expected");
    let stream = streams[0].clone();
    assert_eq!(stream["direction"], "caller_to_callee", "{name}");
    (doc, stream)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn round(x: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    (x * m).round() / m
}

/// Observations of a regular 20 ms stream with the given packets lost (arrival = media time:
/// the constant transit offset of the capture cancels in every §3 quantity).
fn observations(lost: &[bool]) -> Vec<PacketObservation> {
    (0u64..)
        .zip(lost)
        .filter(|(_, &l)| !l)
        .map(|(k, _)| PacketObservation {
            arrival_ms: 20.0 * k as f64,
            ext_seq: k,
            media_ms: 20.0 * k as f64,
            marker: k == 0,
            bypasses_buffer: false,
            is_duplicate: false,
        })
        .collect()
}

/// (BurstR, MOS) of the adaptive model on a known sequence, G.711 + PLC, default delay.
fn reference_adaptive(lost: &[bool]) -> (f64, f64, f64) {
    let mut sim = JitterBufferSim::adaptive();
    for obs in observations(lost) {
        sim.push(&obs);
    }
    let lost_count = lost.iter().filter(|&&l| l).count() as i64;
    let res = sim.finish(lost.len() as u64, lost_count, 20.0);
    let (_, r) = quality::score_stream(&codec::params(CodecId::G711Plc), &res, None, 20.0, DelayModel::G107);
    (res.burst_r, r.mos, r.r_factor)
}

#[test]
fn random_and_bursty_loss_at_the_same_rate() {
    let n = 3000;
    // 150 lost each: every 20th packet vs runs of 10 every 200 packets.
    let random: Vec<bool> = (0..n).map(|i| i % 20 == 10).collect();
    let bursty: Vec<bool> = (0..n).map(|i| (100..110).contains(&(i % 200))).collect();
    let mut results = Vec::new();
    for (name, lost) in [("random", &random), ("bursty", &bursty)] {
        let packets = media::apply_loss(&media::regular(n, 20, 0, 8), lost);
        let (_, s) = analyse(name, &MediaCall::new(packets));
        assert_eq!(s["lost"], 150, "{name}");
        let q = &s["quality"];
        assert_eq!(f(&q["ppl_pct"]), 5.0, "{name}");
        assert_eq!(q["discarded"]["adaptive"], 0, "{name}");
        // The quality module on the known indicator sequence gives the same numbers.
        let (burst_r, mos, r) = reference_adaptive(lost);
        assert_eq!(f(&q["burst_r"]), round(burst_r, 4), "{name}");
        assert_eq!(f(&s["mos"]), round(mos, 2), "{name}");
        assert_eq!(f(&s["r_factor"]), round(r, 2), "{name}");
        let pattern = LossIndicators::from_lost_flags(lost).pattern(20.0);
        assert_eq!(f(&q["loss_pattern"]["p"]), round(pattern.p, 6), "{name}");
        assert_eq!(f(&q["loss_pattern"]["q"]), round(pattern.q, 6), "{name}");
        assert_eq!(q["loss_pattern"]["bursts"], pattern.bursts, "{name}");
        results.push((f(&q["burst_r"]), f(&s["mos"])));
    }
    let ((random_br, random_mos), (bursty_br, bursty_mos)) = (results[0], results[1]);
    // 2849 pairs start on a received packet (the last one starts none). Every 20th:
    // p = 150/2849, q = 1 → 0.9500; runs of 10: p = 15/2849, q = 15/150 = 0.1 → 9.4998.
    assert_eq!((random_br, bursty_br), (0.95, 9.4998));
    assert!(bursty_mos < random_mos, "bursty {bursty_mos} vs random {random_mos}");
}

#[test]
fn late_packets_give_exact_discards_per_model() {
    let mut packets = media::regular(500, 20, 0, 8);
    // 60 ms and 250 ms late, 30 ms late.
    media::delay(&mut packets, 1100, 60_000);
    media::delay(&mut packets, 1200, 250_000);
    media::delay(&mut packets, 1310, 30_000);
    let (_, s) = analyse("late", &MediaCall::new(packets.clone()));
    let q = &s["quality"];
    // Constant transit otherwise: a fixed B buffer discards exactly the packets more than B late.
    assert_eq!(q["discarded"]["fixed50"], 2);
    assert_eq!(q["discarded"]["fixed200"], 1);
    // Adaptive: replay the same arrivals through the module.
    let mut sim = JitterBufferSim::adaptive();
    let mut order: Vec<&MediaPacket> = packets.iter().collect();
    order.sort_by_key(|p| p.arrival_us);
    for p in order {
        let k = u64::from(p.seq - 1000);
        sim.push(&PacketObservation {
            arrival_ms: p.arrival_us as f64 / 1000.0,
            ext_seq: k,
            media_ms: 20.0 * k as f64,
            marker: p.marker,
            bypasses_buffer: false,
            is_duplicate: false,
        });
    }
    assert_eq!(q["discarded"]["adaptive"], sim.discarded());
    // After 1 s of steady transit the adaptive margin is at its 20 ms floor: all three are late.
    assert_eq!(sim.discarded(), 3);
    assert_eq!(s["lost"], 0);
    assert_eq!(f(&q["ppl_pct"]), 0.6);
}

#[test]
fn dscp_remarking_is_detected_at_the_right_frame() {
    let mut packets = media::regular(300, 20, 0, 8);
    media::remark_dscp(&mut packets, 120, 0);
    let (_, s) = analyse("dscp", &MediaCall::new(packets));
    // 120 packets EF, then 180 bleached to 0: the modal value is 0.
    assert_eq!(s["dscp"], 0);
    assert_eq!(s["dscp_changes"], 1);
    // Frames 1–4 are INVITE, 180, 200, ACK; RTP packet i is frame 5 + i.
    assert_eq!(s["dscp_change_frames"], serde_json::json!([{"frame": 125, "from": 46, "to": 0}]));
    assert_eq!(s["dscp_values"], serde_json::json!({"0": 180, "46": 120}));
    assert_eq!(f(&s["dscp_expected_pct"]), 40.0);
}

#[test]
fn comfort_noise_events_and_vad_gaps_are_not_loss() {
    let mut packets = media::regular(400, 20, 0, 8);
    media::comfort_noise(&mut packets, 100..150);
    media::telephone_event(&mut packets, 200..210, 101);
    media::vad_gap(&mut packets, 300, 2000, 8);
    let (_, s) = analyse("cn-dtmf-vad", &MediaCall::new(packets));
    assert_eq!((s["packets"].as_u64(), s["lost"].as_i64()), (Some(400), Some(0)));
    assert_eq!((s["events"].as_u64(), s["cn_packets"].as_u64()), (Some(10), Some(50)));
    let q = &s["quality"];
    assert_eq!(f(&q["ppl_pct"]), 0.0);
    assert_eq!(q["discarded"], serde_json::json!({"fixed50": 0, "fixed200": 0, "adaptive": 0}));
    assert_eq!(q["loss_pattern"]["bursts"], 0);
    assert_eq!(f(&q["burst_r"]), 1.0);
    // Perfect timing: the RFC jitter stays 0 across CN, the event and the VAD gap.
    assert_eq!(f(&s["jitter_rfc_ts"]), 0.0);
}

#[test]
fn loss_after_30_s_shows_in_the_right_window() {
    let n = 3000; // media from 1.0 s to 61.0 s after the INVITE (the capture's first frame)
    let lost: Vec<bool> = (0..n).map(|i| i >= 1500 && i % 10 == 5).collect();
    let packets = media::apply_loss(&media::regular(n, 20, 0, 8), &lost);
    let (_, s) = analyse("windows", &MediaCall::new(packets));
    let windows = s["windows"].as_array().unwrap();
    let lost_per_window: Vec<i64> = windows.iter().map(|w| w["lost"].as_i64().unwrap()).collect();
    // Packet i arrives at 1.0 + 0.02·i s: 1505 (31.1 s) is the first loss.
    assert_eq!(lost_per_window, [0, 0, 0, 45, 50, 50, 5]);
    let packets_per_window: Vec<u64> = windows.iter().map(|w| w["packets"].as_u64().unwrap()).collect();
    assert_eq!(packets_per_window, [450, 500, 500, 455, 450, 450, 45]);
    assert_eq!(windows[3]["start"], "2024-03-01T09:00:30.000000Z");
    assert!(f(&windows[3]["mos"]) < f(&windows[2]["mos"]));
    assert_eq!(lost_per_window.iter().sum::<i64>(), s["lost"].as_i64().unwrap());
}

/// The table: MOS for the generated patterns (codec × loss × burstiness × jitter).
/// `cargo test --release --test it quality::mos_table -- --ignored --nocapture`.
#[test]
#[ignore = "prints the report table"]
fn mos_table() {
    // (label, PT, ptime ms)
    let codecs = [("G.711 PCMU", 0u8, 20u32), ("G.729", 18, 20), ("G.723.1", 4, 30), ("GSM-FR", 3, 20)];
    println!("| codec | loss % (target) | pattern | jitter max ms | Ppl % | BurstR | discards a/50/200 | MOS adaptive | MOS fixed50 | MOS fixed200 |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (label, pt, ptime) in codecs {
        let n = (60_000 / ptime) as usize;
        for loss_pm in [0u64, 20, 50] {
            for bursty in [false, true] {
                if loss_pm == 0 && bursty {
                    continue;
                }
                for jitter_ms in [0u64, 40, 120] {
                    // Gilbert with mean burst 4 (q = 250 ‰) and the same stationary loss rate.
                    let lost = if bursty {
                        let p = loss_pm * 250 / (1000 - loss_pm);
                        media::gilbert_loss(n, p, 250, 11)
                    } else {
                        media::random_loss(n, loss_pm, 11)
                    };
                    let mut packets = media::apply_loss(&media::regular(n, ptime, pt, 8), &lost);
                    media::add_jitter(&mut packets, jitter_ms * 1000, 5);
                    let mut call = MediaCall::new(packets);
                    call.payload_types = vec![pt, 101];
                    call.ptime_ms = ptime;
                    let name = format!("table-{pt}-{loss_pm}-{bursty}-{jitter_ms}");
                    let (_, s) = analyse(&name, &call);
                    let q = &s["quality"];
                    println!(
                        "| {label} | {:.1} | {} | {jitter_ms} | {:.2} | {:.2} | {}/{}/{} | {:.2} | {:.2} | {:.2} |",
                        loss_pm as f64 / 10.0,
                        if bursty { "bursty (Gilbert q=0.25)" } else { "random" },
                        f(&q["ppl_pct"]),
                        f(&q["burst_r"]),
                        q["discarded"]["adaptive"],
                        q["discarded"]["fixed50"],
                        q["discarded"]["fixed200"],
                        f(&q["mos_adaptive"]),
                        f(&q["mos_fixed50"]),
                        f(&q["mos_fixed200"]),
                    );
                }
            }
        }
    }
}
