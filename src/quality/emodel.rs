//! ITU-T G.107 E-model, narrowband, all parameters other than delay, codec and loss at their
//! defaults (quality-metrics.md §5), and the one-way delay budget Ta.
//!
//! `R = Ro − Is − Id − Ie,eff + A`. [`DelayModel::G107`] evaluates G.107's formulas
//! (`Id = Idte + Idle + Idd`, echo paths T = Ta, Tr = 2·Ta); [`DelayModel::Approximation`] uses the
//! common two-piece fit `R ≈ 93.2 − Id_fit − Ie,eff`. Both match `emodel_examples.py` (the
//! reference implementation) to 0.01 on every worked example.

use super::codec::CodecParams;

/// G.107 default parameter values (quality-metrics.md §5).
mod defaults {
    /// Send / receive loudness rating, dB.
    pub const SLR: f64 = 8.0;
    pub const RLR: f64 = 2.0;
    /// Sidetone masking rating and the D-factors of handset, dB.
    pub const STMR: f64 = 15.0;
    pub const DR: f64 = 3.0;
    pub const DS: f64 = 3.0;
    /// Listener sidetone rating = STMR + Dr.
    pub const LSTR: f64 = STMR + DR;
    /// Talker echo loudness rating, weighted echo path loss, dB.
    pub const TELR: f64 = 65.0;
    pub const WEPL: f64 = 110.0;
    /// Quantising distortion units.
    pub const QDU: f64 = 1.0;
    /// Circuit noise (dBm0p) and noise floor (dBmp).
    pub const NC: f64 = -70.0;
    pub const NFOR: f64 = -64.0;
    /// Room noise at send and receive side, dB(A).
    pub const PS: f64 = 35.0;
    pub const PR: f64 = 35.0;
    /// Advantage factor.
    pub const A: f64 = 0.0;
}

/// `R` of the common approximation at zero delay and no loss.
const R_APPROX_BASE: f64 = 93.2;

/// Network one-way delay assumed when no RTT is known (quality-metrics.md §5, configurable).
pub const DEFAULT_NETWORK_DELAY_MS: f64 = 20.0;

/// Which delay impairment formula to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DelayModel {
    /// G.107 full form `Id = Idte + Idle + Idd` with `Ro − Is` from the default parameters
    /// (callscope default).
    #[default]
    G107,
    /// `Id ≈ 0.024·Ta + 0.11·(Ta − 177.3)·H(Ta − 177.3)` with `R ≈ 93.2 − Id − Ie,eff`.
    /// Within 0.3 of the full form up to 300 ms; overshoots beyond.
    Approximation,
}

/// The constant terms of G.107 under the default parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BasicTerms {
    /// Total noise power No, dBm0p (−61.1792).
    pub no: f64,
    /// Basic signal-to-noise ratio Ro (94.7688).
    pub ro: f64,
    /// Simultaneous impairment factor Is (1.4136).
    pub is: f64,
}

/// G.107 §7.2–7.3 evaluated at the default parameters (`basic_terms()` of emodel_examples.py).
pub fn basic_terms() -> BasicTerms {
    use defaults::*;
    let olr = SLR + RLR;
    let nos = PS - SLR - DS - 100.0 + 0.004 * (PS - olr - DS - 14.0).powi(2);
    let pre = PR + 10.0 * (1.0 + 10f64.powf((10.0 - LSTR) / 10.0)).log10();
    let nor = RLR - 121.0 + pre + 0.008 * (pre - 35.0).powi(2);
    let nfo = NFOR + RLR;
    let no = 10.0
        * (10f64.powf(NC / 10.0) + 10f64.powf(nos / 10.0) + 10f64.powf(nor / 10.0) + 10f64.powf(nfo / 10.0)).log10();
    let ro = 15.0 - 1.5 * (SLR + no);
    // Simultaneous impairments: Iolr, Ist, Iq.
    let xolr = olr + 0.2 * (64.0 + no - RLR);
    let iolr = 20.0 * ((1.0 + (xolr / 8.0).powi(8)).powf(1.0 / 8.0) - xolr / 8.0);
    // STMRo at T = 0; with TELR = 65 dB the echo term cannot move Is (as the reference script).
    let stmro = -10.0 * (10f64.powf(-STMR / 10.0) + 10f64.powf(-TELR / 10.0)).log10();
    let ist = 12.0 * (1.0 + ((stmro - 13.0) / 6.0).powi(8)).powf(1.0 / 8.0)
        - 28.0 * (1.0 + ((stmro + 1.0) / 19.4).powi(35)).powf(1.0 / 35.0)
        - 13.0 * (1.0 + ((stmro - 3.0) / 33.0).powi(13)).powf(1.0 / 13.0)
        + 29.0;
    let q = 37.0 - 15.0 * QDU.log10();
    let g = 1.07 + 0.258 * q + 0.0602 * q * q;
    let y = (ro - 100.0) / 15.0 + 46.0 / 8.4 - g / 9.0;
    let z = 46.0 / 30.0 - g / 40.0;
    let iq = 15.0 * (1.0 + 10f64.powf(y) + 10f64.powf(z)).log10();
    BasicTerms { no, ro, is: iolr + ist + iq }
}

/// Pure-delay impairment Idd (G.107, mT = 100 ms, sT = 1): 0 up to 100 ms.
pub fn idd(ta_ms: f64) -> f64 {
    if ta_ms <= 100.0 {
        return 0.0;
    }
    let x = (ta_ms / 100.0).log10() / 2f64.log10();
    25.0 * ((1.0 + x.powi(6)).powf(1.0 / 6.0) - 3.0 * (1.0 + (x / 3.0).powi(6)).powf(1.0 / 6.0) + 2.0)
}

/// Delay impairment `Id = Idte + Idle + Idd` (G.107) with T = Ta and Tr = 2·Ta.
pub fn id_g107(terms: &BasicTerms, ta_ms: f64) -> f64 {
    use defaults::*;
    let t = ta_ms;
    let tr = 2.0 * ta_ms;
    // Talker echo (Idte).
    let terv = TELR - 40.0 * ((1.0 + t / 10.0) / (1.0 + t / 150.0)).log10() + 6.0 * (-0.3 * t * t).exp();
    let roe = -1.5 * (terms.no - RLR);
    let re = 80.0 + 2.5 * (terv - 14.0);
    let idte = ((roe - re) / 2.0 + ((roe - re).powi(2) / 4.0 + 100.0).sqrt() - 1.0) * (1.0 - (-t).exp());
    // Listener echo (Idle).
    let rle = 10.5 * (WEPL + 7.0) * (tr + 1.0).powf(-0.25);
    let idle = (terms.ro - rle) / 2.0 + ((terms.ro - rle).powi(2) / 4.0 + 169.0).sqrt();
    idte + idle + idd(ta_ms)
}

/// The common two-piece fit of Id versus one-way delay.
pub fn id_approx(ta_ms: f64) -> f64 {
    let knee = 177.3;
    0.024 * ta_ms + if ta_ms > knee { 0.11 * (ta_ms - knee) } else { 0.0 }
}

/// Effective equipment impairment `Ie,eff = Ie + (95 − Ie)·Ppl/(Ppl/BurstR + Bpl)`.
///
/// `ppl_pct` is clamped to 0–100 and `burst_r` to ≥ 1 (quality-metrics.md §2: the E-model uses
/// `max(1, BurstR)`); non-finite inputs count as 0 % loss and BurstR 1.
pub fn ie_eff(ie: f64, bpl: f64, ppl_pct: f64, burst_r: f64) -> f64 {
    let ppl = if ppl_pct.is_finite() { ppl_pct.clamp(0.0, 100.0) } else { 0.0 };
    let burst_r = if burst_r.is_finite() { burst_r.max(1.0) } else { 1.0 };
    let denominator = ppl / burst_r + bpl;
    if denominator <= 0.0 {
        // Only reachable with Bpl ≤ 0, which no table row has.
        return ie;
    }
    ie + (95.0 - ie) * ppl / denominator
}

/// Every intermediate of one R computation, for reports that show where R comes from.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct RBreakdown {
    /// One-way delay Ta used, ms.
    pub ta_ms: f64,
    /// Delay impairment Id.
    pub id: f64,
    /// Effective equipment impairment Ie,eff.
    pub ie_eff: f64,
    /// Transmission rating R (not clamped; G.107 allows values outside 0–100).
    pub r_factor: f64,
    /// MOS-CQE from R (G.107 Annex B), 1.0–4.5.
    pub mos: f64,
}

/// R and its terms for one stream. `ta_ms` below 0 or non-finite counts as 0.
pub fn evaluate(codec: &CodecParams, ppl_pct: f64, burst_r: f64, ta_ms: f64, model: DelayModel) -> RBreakdown {
    let ta_ms = if ta_ms.is_finite() { ta_ms.max(0.0) } else { 0.0 };
    let ie_eff = ie_eff(codec.ie(), codec.bpl(), ppl_pct, burst_r);
    let (base, id) = match model {
        DelayModel::G107 => {
            let terms = basic_terms();
            (terms.ro - terms.is, id_g107(&terms, ta_ms))
        }
        DelayModel::Approximation => (R_APPROX_BASE, id_approx(ta_ms)),
    };
    let r_factor = base - id - ie_eff + defaults::A;
    RBreakdown { ta_ms, id, ie_eff, r_factor, mos: mos_from_r(r_factor) }
}

/// Transmission rating R (quality-metrics.md §5) for a codec, effective loss in percent, BurstR
/// (raw; clamped to ≥ 1 here) and one-way delay Ta in ms.
pub fn r_factor(codec: &CodecParams, ppl_pct: f64, burst_r: f64, ta_ms: f64, model: DelayModel) -> f64 {
    evaluate(codec, ppl_pct, burst_r, ta_ms, model).r_factor
}

/// MOS-CQE from R (G.107 Annex B): 1 for R ≤ 0, 4.5 for R ≥ 100, the cubic in between.
/// A non-finite R gives 1.0.
///
/// The cubic dips slightly below 1 for 0 < R < 6.5 (minimum 0.989 near R = 3); callscope clamps
/// to 1.0 there so MOS always lies in 1.0–4.5. `emodel_examples.py` does not clamp; the two
/// differ only in that range, by at most 0.011.
pub fn mos_from_r(r: f64) -> f64 {
    if !r.is_finite() || r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6).max(1.0)
    }
}

/// The one-way delay budget `Ta = d_net + d_jb + d_pkt + d_la` (quality-metrics.md §5).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct DelayBudget {
    /// Network one-way delay: RTT/2, else [`DEFAULT_NETWORK_DELAY_MS`].
    pub network_ms: f64,
    /// Jitter-buffer delay of the buffer model used (§3 `buffer_delay_ms`).
    pub buffer_ms: f64,
    /// Packetisation time (SDP `a=ptime`, else modal timestamp step ÷ rate).
    pub packetization_ms: f64,
    /// Codec look-ahead from the codec table.
    pub lookahead_ms: f64,
}

impl DelayBudget {
    /// Builds the budget; `rtt_ms` (XR round trip preferred, else RTCP) gives `d_net = RTT/2`,
    /// `None` (or a non-finite/negative value) the 20 ms default.
    pub fn new(rtt_ms: Option<f64>, buffer_ms: f64, packetization_ms: f64, codec: &CodecParams) -> Self {
        DelayBudget {
            network_ms: network_delay_ms(rtt_ms),
            buffer_ms,
            packetization_ms,
            lookahead_ms: codec.lookahead_ms(),
        }
    }

    /// Ta in ms.
    pub fn ta_ms(&self) -> f64 {
        self.network_ms + self.buffer_ms + self.packetization_ms + self.lookahead_ms
    }
}

/// `d_net`: RTT/2 when a usable round trip is known, else [`DEFAULT_NETWORK_DELAY_MS`].
pub fn network_delay_ms(rtt_ms: Option<f64>) -> f64 {
    match rtt_ms {
        Some(rtt) if rtt.is_finite() && rtt >= 0.0 => rtt / 2.0,
        _ => DEFAULT_NETWORK_DELAY_MS,
    }
}

#[cfg(test)]
mod tests {
    use super::super::codec::{params, CodecId};
    use super::*;

    fn near(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn baseline_terms_match_reference() {
        let t = basic_terms();
        assert!(near(t.no, -61.1792, 5e-5), "{}", t.no);
        assert!(near(t.ro, 94.7688, 5e-5), "{}", t.ro);
        assert!(near(t.is, 1.4136, 5e-5), "{}", t.is);
        assert!(near(t.ro - t.is, 93.3553, 5e-5));
        assert!(near(id_g107(&t, 0.0), 0.1490, 5e-5));
        assert!(near(t.ro - t.is - id_g107(&t, 0.0), 93.2062, 5e-5));
    }

    /// The 11 worked examples of quality-metrics.md §5 (`emodel_examples.py` output):
    /// codec, Ppl, BurstR, Ta, Ie,eff, Id, R, MOS, Id fit, R fit, MOS fit.
    #[allow(clippy::type_complexity)]
    const WORKED: &[(CodecId, f64, f64, f64, [f64; 7])] = &[
        (CodecId::G711Plc, 0.0, 1.0, 0.0, [0.00, 0.15, 93.21, 4.41, 0.00, 93.20, 4.41]),
        (CodecId::G711Plc, 0.0, 1.0, 150.0, [0.00, 3.82, 89.54, 4.33, 3.60, 89.60, 4.33]),
        (CodecId::G711Plc, 1.0, 1.0, 100.0, [3.64, 2.69, 87.02, 4.26, 2.40, 87.16, 4.26]),
        (CodecId::G711Plc, 2.0, 2.0, 150.0, [7.28, 3.82, 82.26, 4.11, 3.60, 82.32, 4.11]),
        (CodecId::G711NoPlc, 1.0, 1.0, 100.0, [17.92, 2.69, 72.74, 3.72, 2.40, 72.88, 3.73]),
        (CodecId::G729aVad, 0.0, 1.0, 100.0, [11.00, 2.69, 79.66, 4.01, 2.40, 79.80, 4.02]),
        (CodecId::G729aVad, 3.0, 1.5, 200.0, [23.00, 7.55, 62.80, 3.24, 7.30, 62.90, 3.25]),
        (CodecId::G723Rate63, 1.0, 1.0, 250.0, [19.68, 14.18, 59.50, 3.07, 14.00, 59.52, 3.08]),
        (CodecId::GsmEfrAmr, 2.0, 1.0, 120.0, [20.00, 3.09, 70.26, 3.61, 2.88, 70.32, 3.61]),
        (CodecId::G711Plc, 5.0, 3.0, 300.0, [17.75, 20.69, 54.92, 2.83, 20.70, 54.76, 2.83]),
        (CodecId::G711Plc, 10.0, 1.0, 400.0, [27.07, 31.11, 35.18, 1.84, 34.10, 32.04, 1.70]),
    ];

    /// "To 0.01": the value printed with 2 decimals equals the reference's printed value.
    fn same_2dp(actual: f64, expected: f64) -> bool {
        format!("{actual:.2}") == format!("{expected:.2}")
    }

    #[test]
    fn worked_examples_full_form_and_fit() {
        for (n, &(id, ppl, br, ta, v)) in WORKED.iter().enumerate() {
            let codec = params(id);
            let full = evaluate(&codec, ppl, br, ta, DelayModel::G107);
            let fit = evaluate(&codec, ppl, br, ta, DelayModel::Approximation);
            let got = [full.ie_eff, full.id, full.r_factor, full.mos, fit.id, fit.r_factor, fit.mos];
            for (k, (&g, &e)) in got.iter().zip(v.iter()).enumerate() {
                assert!(same_2dp(g, e), "example {} value {k}: {g} vs {e}", n + 1);
            }
            assert_eq!(r_factor(&codec, ppl, br, ta, DelayModel::G107), full.r_factor);
        }
    }

    #[test]
    fn mos_band_edges_and_bounds() {
        let table = [
            (-5.0, 1.00),
            (0.0, 1.00),
            (50.0, 2.58),
            (60.0, 3.10),
            (70.0, 3.60),
            (80.0, 4.02),
            (90.0, 4.34),
            (93.2, 4.41),
            (100.0, 4.50),
            (110.0, 4.50),
        ];
        for (r, mos) in table {
            assert!(same_2dp(mos_from_r(r), mos), "R {r}");
        }
        assert_eq!(mos_from_r(f64::NAN), 1.0);
        // MOS stays in 1..=4.5 over the whole R range.
        for step in 0..=2400 {
            let r = -20.0 + f64::from(step) * 0.05;
            let m = mos_from_r(r);
            assert!((1.0..=4.5).contains(&m), "R {r} MOS {m}");
        }
        // Worst case inputs stay finite and bounded.
        let c = params(CodecId::G711NoPlc);
        let worst = evaluate(&c, 100.0, 50.0, 5000.0, DelayModel::G107);
        assert_eq!(worst.mos, 1.0);
        let garbage = evaluate(&c, f64::NAN, f64::INFINITY, f64::NAN, DelayModel::G107);
        assert!(garbage.r_factor.is_finite());
    }

    #[test]
    fn mos_bounded_over_input_grid() {
        let mut checked = 0;
        for row in crate::quality::codec::CODEC_TABLE {
            let codec = params(row.id);
            for ppl in [0.0, 0.5, 3.0, 20.0, 60.0, 100.0, 250.0, -3.0] {
                for burst_r in [0.2, 1.0, 4.0, 1e6] {
                    for ta in [0.0, 40.0, 150.0, 400.0, 2000.0, 1e7, -50.0] {
                        for model in [DelayModel::G107, DelayModel::Approximation] {
                            let out = evaluate(&codec, ppl, burst_r, ta, model);
                            assert!((1.0..=4.5).contains(&out.mos), "{row:?} {ppl} {burst_r} {ta}");
                            assert!(out.r_factor.is_finite());
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 13 * 8 * 4 * 7 * 2);
    }

    #[test]
    fn burst_ratio_below_one_is_clamped() {
        assert_eq!(ie_eff(0.0, 25.1, 5.0, 0.5), ie_eff(0.0, 25.1, 5.0, 1.0));
    }

    #[test]
    fn delay_budget_example() {
        // G.729A, RTT 80 ms, fixed 50 ms buffer, ptime 20 → Ta = 115 ms, Id 2.99 (fit 2.76).
        let codec = params(CodecId::G729aVad);
        let budget = DelayBudget::new(Some(80.0), 50.0, 20.0, &codec);
        assert_eq!(budget.ta_ms(), 115.0);
        assert!(same_2dp(id_g107(&basic_terms(), budget.ta_ms()), 2.99));
        assert!(same_2dp(id_approx(budget.ta_ms()), 2.76));
        // No RTT: 20 ms default.
        let d = DelayBudget::new(None, 0.0, 20.0, &codec);
        assert_eq!(d.network_ms, DEFAULT_NETWORK_DELAY_MS);
        assert_eq!(network_delay_ms(Some(f64::NAN)), 20.0);
        assert_eq!(network_delay_ms(Some(-4.0)), 20.0);
    }
}
