//! Thresholds and rule switches of the diagnosis (diagnosis.md §10), read from the TOML file
//! given with `--config`; `callscope config --default` prints [`DEFAULT_TOML`]. Every key has a
//! default (diagnosis.md principle 5), so a file only lists what it changes; unknown keys are
//! rejected so that a typo does not silently keep a default.

use serde::Deserialize;

/// The defaults, with comments, exactly as `callscope config --default` prints them. A test
/// checks that parsing this text gives [`DiagnosisConfig::default`].
pub const DEFAULT_TOML: &str = r#"# callscope configuration: diagnosis thresholds (diagnosis.md §10).
# Every key is optional; a missing key keeps the default shown here.

[sip]
t1_ms = 500              # RFC 3261 T1 (RTT estimate)
timer_b_s = 32           # INVITE gives up (64*T1): invite_timeout needs the capture to run this long
timer_c_s = 180          # proxy INVITE timer: no_final_response
ack_wait_s = 32          # UAS waits this long for the ACK to its 2xx: no_ack

[media]
grace_ms = 1000          # media start-up allowance after the 2xx before media rules look

[diagnosis]
max_frames = 32          # evidence frames kept per reason

[diagnosis.retransmissions]
min_copies = 3           # transmissions of one message on one hop (>= 1.5 s lost)

[diagnosis.auth_failure]
max_challenges = 2       # credentialed retries challenged again this often = bad credentials

[diagnosis.registration_churn]
min_per_hour = 6         # REGISTER transactions per AOR per hour above max(this, expiry_factor x 3600/Expires)
expiry_factor = 2.0
max_address_changes = 3  # Contact or source ip:port changes per AOR per hour (NAT rebinding)
max_consecutive_failures = 3
site_aor_pct = 10.0      # flagged when at least this share of a site's AORs churn

[diagnosis.unregistered_extensions]
min_capture_s = 3600     # a listed extension never seen registering counts only if the capture runs this long

[diagnosis.busy_hour_degradation]
min_buckets = 8          # buckets (sites.bucket_min, 15 min) with media of the pair and direction
min_calls = 30           # answered calls behind them
min_rho = 0.6            # Spearman rho between concurrency and a quality measure
mos_drop = 0.3           # top- vs bottom-quartile-concurrency median MOS
loss_factor = 2.0        # ... or loss at least this many times higher
loss_points = 1.0        # ... and at least this many points higher

[diagnosis.trunk_saturation]
min_failures = 3         # service_unavailable calls to the trunk in one bucket
near_limit_pct = 90.0    # trunk concurrency at least this share of its limit
# Channel limit per trunk host, e.g. { "203.0.113.20" = 30 }; unset: the observed maximum.
# Trunks are caller_id.trunk_hosts and these hosts; with neither, every callee address.
channels = {}

[diagnosis.inter_site_one_way]
min_calls = 3            # answered calls of the pair and direction
rate_pct = 20.0          # one_way_audio + no_media rate on A->B at least this
max_other_pct = 5.0      # while B->A and other pairs of A or B stay at or below this

[diagnosis.inter_site_qos_mismatch]
min_flows = 3            # RTP streams per direction
marked_pct = 80.0        # A->B flows with the expected DSCP at least this share
unmarked_pct = 20.0      # while B->A flows with it at most this share

[diagnosis.long_setup]
pdd_on_net_ms = 3000     # both ends internal (needs a site map; unused without one)
pdd_off_net_ms = 8000    # otherwise (ITU-T E.721)

[diagnosis.unanswered_ringing]
ring_s = 45              # 18x then no answer for this long

[diagnosis.bye_with_reason_header]
normal_causes = [16, 17, 19, 21, 31]   # Q.850 causes that are normal clearing

[diagnosis.dropped_by_timeout]
timeout_texts = ["rtp timeout", "media timeout", "session timeout"]

[diagnosis.one_way_audio]
min_answered_s = 5       # answered time a direction must have been expected to flow
min_packets = 10         # fewer packets than this = silent
min_other_packets = 50   # the other direction must carry at least this many

[diagnosis.no_media]
min_answered_s = 2

[diagnosis.media_stops_after_reinvite]
grace_ms = 2000          # time after the re-INVITE's ACK for media to follow the change
min_silence_s = 5        # silence that counts as stopped
stop_window_s = 10       # RTP ending this soon after the re-INVITE counts as stopping because of it

[diagnosis.media_stops_after_resume]
grace_ms = 2000          # time after the resume's ACK for the held flow to restart
min_silence_s = 5        # silence after the resume that counts as not restarted

[diagnosis.media_stops_after_transfer]
grace_ms = 2000          # time after the transferred call's ACK for each flow to start
min_silence_s = 5        # silence that counts as a missing flow
max_invite_lag_s = 32    # the transferee's new INVITE follows the REFER within this (64*T1)

[diagnosis.rtp_to_unannounced_address]
min_packets = 10         # a stray flow carries at least this many RTP packets

[diagnosis.rtp_port_mismatch]
min_packets = 10         # a flow to the announced IP but another port carries at least this many

[diagnosis.late_media_start]
max_ms = 1000            # first RTP of a flow this long after the 2xx (the ACK for a delayed offer)

[diagnosis.t38_not_flowing]
start_s = 5              # UDPTL must arrive on each flow within this after the T.38 answer's ACK

[diagnosis.media_gap]
threshold_ms = 1000      # outage with sequence numbers missing (>= 1000 ms, quality-metrics.md §1.3)

[diagnosis.high_loss]
pct = 1.0                # unique loss over the stream, outside reported media gaps
min_expected = 100

[diagnosis.high_jitter]
mean_ms = 30.0
max_ms = 60.0

[diagnosis.late_packets]
pct = 1.0                # jitter-buffer discards above this share of expected packets
buffer = "adaptive"      # which simulated buffer judges: "adaptive", "fixed50" or "fixed200"

[diagnosis.low_mos]
threshold = 3.6          # E-model MOS (pending the quality metrics)

[diagnosis.ssrc_change]
window_ms = 2000         # signalling this close explains an SSRC change

[diagnosis.codec_mismatch]
allow_unnegotiated_cn = true

[diagnosis.burst_loss]
min_run_ms = 100         # a run of consecutive missing sequence numbers holding this much audio
min_runs = 2             # runs needed (runs >= media_gap.threshold_ms are media_gap instead)
burst_density = 0.3      # or RFC 3611 burst density (Gmin 16) at least this ...
                         # ... with at least min_runs * min_run_ms of audio lost in bursts

[diagnosis.high_rtt]
ms = 300.0               # median RTCP round trip (capture point <-> both ends), ITU-T G.114

[diagnosis.silent_payload]
pct = 95.0               # G.711/L16 packets in answered time decoding below -60 dBov
min_packets = 50         # judged packets needed on the silent flow and on the other flow

[diagnosis.rtcp_reported_loss]
min_packets = 5          # receiver's cumulative loss minus loss measured here: at least this ...
pct = 1.0                # ... and this share of the expected packets

[diagnosis.rtcp_reported_jitter]
factor = 3.0             # RR jitter above high_jitter.mean_ms and this many times the jitter here

[diagnosis.capture_loss_suspected]
coincidence_ms = 50      # gaps on unrelated flows starting and ending this close are one event
min_packets = 5          # RTCP proof: packets that existed but were not captured, at least this ...
pct = 1.0                # ... and this share of the expected packets

[diagnosis.session_timer_expiry]
early_margin_s = 2       # BYE up to this long before expiry - min(32 s, SE/3) counts (RFC 4028 §10)
late_margin_s = 5        # ... and up to this long after the expiry

[diagnosis.transfer_target_failed]
target_window_s = 32     # the transferee's INVITE to the Refer-To target starts this soon after the REFER

[emergency]
numbers = ["911", "112", "999", "000", "110", "119", "933"]
test_numbers = ["933"]
access_codes = ["9"]     # dialled prefixes stripped before matching
require_location = false # no_location: the egress INVITE must carry Geolocation (RFC 6442) or PIDF-LO (RFC 4119)
allowed_egress = []      # wrong_egress: IP addresses emergency calls may leave by (empty: not checked)

[numbering]
significant_digits = 7   # number_translation_mismatch without rules: last digits compared
# Ordered rewrites of the ingress called number, first match wins, e.g.
# rules = [{ match = '^9(\d+)$', replace = '+1$1' }]
rules = []
# Extension -> DID the egress leg must present as calling number (`calling` subcode), e.g.
# did_map = { "2001" = "+15551232001" }
did_map = {}

[caller_id]
trunk_pattern = '^\+[1-9][0-9]{6,14}$'
extension_max_digits = 5
# Hosts (IP addresses) that are trunks: caller_id_format judges INVITEs sent to them.
# Empty: the rule is off (there is no site map yet to say which legs go to a trunk).
trunk_hosts = []

[qos]
# expect_media_dscp = 46     # unset: DSCP rules are off

[pairing]
max_invite_lag_ms = 5000
min_score = 5
min_margin = 2
# Groups of addresses that are one B2BUA/SBC (its interfaces), e.g. [["10.0.0.1", "192.0.2.1"]].
b2bua_hosts = []
# Correlation headers that link legs explicitly (the value is the other leg's Call-ID or a
# shared id); any of X-CID, X-Call-ID, X-Orig-Call-ID, X-Original-Call-ID, X-Correlation-ID.
# Session-ID (RFC 7989) and P-Charging-Vector icid-value (RFC 7315) are always used.
headers = ["X-CID"]
"#;

/// The whole configuration file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct DiagnosisConfig {
    /// `[sip]` protocol timers.
    pub sip: SipConfig,
    /// `[media]`.
    pub media: MediaConfig,
    /// `[diagnosis]` per-code thresholds.
    pub diagnosis: Thresholds,
    /// `[emergency]`.
    pub emergency: EmergencyConfig,
    /// `[caller_id]`.
    pub caller_id: CallerIdConfig,
    /// `[qos]`.
    pub qos: QosConfig,
    /// `[pairing]` B2BUA leg linking.
    pub pairing: PairingConfig,
    /// `[numbering]` number translation across legs.
    pub numbering: NumberingConfig,
}

impl DiagnosisConfig {
    /// Parses a TOML text (missing keys keep their defaults).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let cfg: DiagnosisConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.validate()
    }

    /// Checks what serde cannot (the caller-ID pattern compiles).
    pub fn validate(self) -> Result<Self, String> {
        if !matches!(self.diagnosis.late_packets.buffer.as_str(), "adaptive" | "fixed50" | "fixed200") {
            return Err(format!(
                "diagnosis.late_packets.buffer: {:?} is not one of \"adaptive\", \"fixed50\", \"fixed200\"",
                self.diagnosis.late_packets.buffer
            ));
        }
        for (i, r) in self.numbering.rules.iter().enumerate() {
            regex_lite::Regex::new(&r.pattern).map_err(|e| format!("numbering.rules[{i}].match: {e}"))?;
        }
        if !self.caller_id.trunk_pattern.is_empty() {
            regex_lite::Regex::new(&self.caller_id.trunk_pattern)
                .map_err(|e| format!("caller_id.trunk_pattern: {e}"))?;
        }
        Ok(self)
    }
}

macro_rules! section {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty = $default:expr),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name { $($(#[$fdoc])* pub $field: $ty),* }
        impl Default for $name {
            fn default() -> Self { $name { $($field: $default),* } }
        }
    };
}

section!(
    /// `[sip]`: RFC 3261 timers.
    SipConfig {
        /// T1 in ms.
        t1_ms: u64 = 500,
        /// Timer B in s.
        timer_b_s: u64 = 32,
        /// Timer C in s.
        timer_c_s: u64 = 180,
        /// ACK wait in s.
        ack_wait_s: u64 = 32,
    }
);
section!(
    /// `[media]`.
    MediaConfig {
        /// Start-up allowance after the 2xx.
        grace_ms: u64 = 1000,
    }
);
section!(
    /// `[emergency]`.
    EmergencyConfig {
        /// Emergency numbers.
        numbers: Vec<String> = ["911", "112", "999", "000", "110", "119", "933"].map(String::from).to_vec(),
        /// Test lines among them.
        test_numbers: Vec<String> = vec!["933".to_owned()],
        /// Access codes stripped before matching.
        access_codes: Vec<String> = vec!["9".to_owned()],
        /// The egress leg must convey a location (`no_location`).
        require_location: bool = false,
        /// Addresses emergency calls may leave by (`wrong_egress`; empty: not checked).
        allowed_egress: Vec<String> = Vec::new(),
    }
);
section!(
    /// `[caller_id]`.
    CallerIdConfig {
        /// Regular expression the calling number must match on trunk legs.
        trunk_pattern: String = r"^\+[1-9][0-9]{6,14}$".to_owned(),
        /// Longest internal extension.
        extension_max_digits: usize = 5,
        /// Trunk addresses (empty: rule off).
        trunk_hosts: Vec<String> = Vec::new(),
    }
);
section!(
    /// `[qos]`.
    QosConfig {
        /// Expected media DSCP (None: DSCP rules off).
        expect_media_dscp: Option<u8> = None,
    }
);
section!(
    /// `[pairing]`.
    PairingConfig {
        /// B-leg INVITE at most this long after the A-leg's.
        max_invite_lag_ms: u64 = 5000,
        /// Minimum heuristic score.
        min_score: u32 = 5,
        /// Margin over the runner-up.
        min_margin: u32 = 2,
        /// Address groups that are one B2BUA.
        b2bua_hosts: Vec<Vec<String>> = Vec::new(),
        /// Correlation headers used for explicit linking (names from `sip::facts::CORRELATION_HEADERS`).
        headers: Vec<String> = vec!["X-CID".to_owned()],
    }
);
section!(
    /// `[numbering]` (diagnosis.md §4.2 `number_translation_mismatch`).
    NumberingConfig {
        /// Trailing digits compared when no rule applies.
        significant_digits: usize = 7,
        /// Ordered rewrites of the ingress called number (first match wins).
        rules: Vec<NumberRule> = Vec::new(),
        /// Extension → DID expected as the egress calling number.
        did_map: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new(),
    }
);

/// One rewrite of `[numbering] rules`: regular expression and replacement (`$1` groups).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberRule {
    /// Pattern the ingress number must match (`regex_lite` syntax).
    #[serde(rename = "match")]
    pub pattern: String,
    /// Replacement.
    pub replace: String,
}
section!(
    /// `[diagnosis]` and its per-code tables.
    Thresholds {
        /// Evidence frames per reason.
        max_frames: usize = 32,
        /// `retransmissions`.
        retransmissions: Retransmissions = Retransmissions::default(),
        /// `auth_failure`.
        auth_failure: AuthFailure = AuthFailure::default(),
        /// `registration_churn` (site).
        registration_churn: RegistrationChurn = RegistrationChurn::default(),
        /// `unregistered_extensions` (site).
        unregistered_extensions: UnregisteredExtensions = UnregisteredExtensions::default(),
        /// `busy_hour_degradation` (site pair).
        busy_hour_degradation: BusyHourDegradation = BusyHourDegradation::default(),
        /// `trunk_saturation` (trunk).
        trunk_saturation: TrunkSaturation = TrunkSaturation::default(),
        /// `inter_site_one_way` (site pair).
        inter_site_one_way: InterSiteOneWay = InterSiteOneWay::default(),
        /// `inter_site_qos_mismatch` (site pair).
        inter_site_qos_mismatch: InterSiteQos = InterSiteQos::default(),
        /// `long_setup`.
        long_setup: LongSetup = LongSetup::default(),
        /// `unanswered_ringing`.
        unanswered_ringing: UnansweredRinging = UnansweredRinging::default(),
        /// `bye_with_reason_header`.
        bye_with_reason_header: ByeReason = ByeReason::default(),
        /// `dropped_by_timeout`.
        dropped_by_timeout: DroppedByTimeout = DroppedByTimeout::default(),
        /// `one_way_audio`.
        one_way_audio: OneWayAudio = OneWayAudio::default(),
        /// `no_media`.
        no_media: NoMedia = NoMedia::default(),
        /// `media_stops_after_reinvite`.
        media_stops_after_reinvite: MediaStops = MediaStops::default(),
        /// `media_stops_after_resume`.
        media_stops_after_resume: MediaRestart = MediaRestart::default(),
        /// `media_stops_after_transfer`.
        media_stops_after_transfer: TransferMedia = TransferMedia::default(),
        /// `rtp_to_unannounced_address`.
        rtp_to_unannounced_address: StrayFlow = StrayFlow::default(),
        /// `rtp_port_mismatch`.
        rtp_port_mismatch: StrayFlow = StrayFlow::default(),
        /// `late_media_start`.
        late_media_start: LateMediaStart = LateMediaStart::default(),
        /// `t38_not_flowing`.
        t38_not_flowing: T38NotFlowing = T38NotFlowing::default(),
        /// `media_gap`.
        media_gap: MediaGapCfg = MediaGapCfg::default(),
        /// `high_loss`.
        high_loss: HighLoss = HighLoss::default(),
        /// `high_jitter`.
        high_jitter: HighJitter = HighJitter::default(),
        /// `late_packets`.
        late_packets: LatePackets = LatePackets::default(),
        /// `low_mos`.
        low_mos: LowMos = LowMos::default(),
        /// `ssrc_change`.
        ssrc_change: SsrcChange = SsrcChange::default(),
        /// `codec_mismatch`.
        codec_mismatch: CodecMismatch = CodecMismatch::default(),
        /// `burst_loss`.
        burst_loss: BurstLossCfg = BurstLossCfg::default(),
        /// `high_rtt`.
        high_rtt: HighRttCfg = HighRttCfg::default(),
        /// `silent_payload`.
        silent_payload: SilentPayloadCfg = SilentPayloadCfg::default(),
        /// `rtcp_reported_loss`.
        rtcp_reported_loss: RtcpReportedLossCfg = RtcpReportedLossCfg::default(),
        /// `rtcp_reported_jitter`.
        rtcp_reported_jitter: RtcpReportedJitterCfg = RtcpReportedJitterCfg::default(),
        /// `capture_loss_suspected`.
        capture_loss_suspected: CaptureLossCfg = CaptureLossCfg::default(),
        /// `session_timer_expiry`.
        session_timer_expiry: SessionTimerExpiry = SessionTimerExpiry::default(),
        /// `transfer_target_failed`.
        transfer_target_failed: TransferTargetFailed = TransferTargetFailed::default(),
    }
);
section!(
    /// `[diagnosis.burst_loss]` (diagnosis.md §4.3).
    BurstLossCfg {
        /// Audio a run of missing sequence numbers must hold, ms.
        min_run_ms: u64 = 100,
        /// Runs needed.
        min_runs: u32 = 2,
        /// RFC 3611 burst density (Gmin 16) that fires on its own.
        burst_density: f64 = 0.3,
    }
);
section!(
    /// `[diagnosis.high_rtt]` (diagnosis.md §4.3).
    HighRttCfg {
        /// Median round trip limit, ms.
        ms: f64 = 300.0,
    }
);
section!(
    /// `[diagnosis.silent_payload]` (diagnosis.md §4.3).
    SilentPayloadCfg {
        /// Share of judged packets in answered time that are digital silence, percent.
        pct: f64 = 95.0,
        /// Judged packets needed on each flow.
        min_packets: u64 = 50,
    }
);
section!(
    /// `[diagnosis.rtcp_reported_loss]` (diagnosis.md §4.3).
    RtcpReportedLossCfg {
        /// Packets reported lost beyond those lost here.
        min_packets: u64 = 5,
        /// Same, as a share of expected packets, percent.
        pct: f64 = 1.0,
    }
);
section!(
    /// `[diagnosis.rtcp_reported_jitter]` (diagnosis.md §4.3).
    RtcpReportedJitterCfg {
        /// Reported jitter must exceed this many times the jitter measured here.
        factor: f64 = 3.0,
    }
);
section!(
    /// `[diagnosis.capture_loss_suspected]` (diagnosis.md §4.4).
    CaptureLossCfg {
        /// Gaps starting and ending this close on unrelated flows coincide, ms.
        coincidence_ms: u64 = 50,
        /// Packets RTCP proves existed but the capture lacks.
        min_packets: u64 = 5,
        /// Same, as a share of expected packets, percent.
        pct: f64 = 1.0,
    }
);
section!(
    /// `[diagnosis.session_timer_expiry]` (RFC 4028 §10).
    SessionTimerExpiry {
        /// Seconds before expiry − min(32, SE/3) a BYE still counts.
        early_margin_s: u64 = 2,
        /// Seconds after expiry a BYE still counts.
        late_margin_s: u64 = 5,
    }
);
section!(
    /// `[diagnosis.transfer_target_failed]`.
    TransferTargetFailed {
        /// The target INVITE starts at most this long after the REFER.
        target_window_s: u64 = 32,
    }
);
section!(
    /// `[diagnosis.retransmissions]`.
    Retransmissions {
        /// Copies on one hop.
        min_copies: u32 = 3,
    }
);
section!(
    /// `[diagnosis.auth_failure]`.
    AuthFailure {
        /// Re-challenges of credentialed retries.
        max_challenges: u32 = 2,
    }
);
section!(
    /// `[diagnosis.registration_churn]` (diagnosis.md §4.5).
    RegistrationChurn {
        /// Floor of the per-hour REGISTER transaction limit.
        min_per_hour: u32 = 6,
        /// Multiple of the refresh rate the granted expiry implies.
        expiry_factor: f64 = 2.0,
        /// Contact or source changes per hour.
        max_address_changes: u32 = 3,
        /// Consecutive failed attempts.
        max_consecutive_failures: u32 = 3,
        /// Share of a site's AORs that must churn, %.
        site_aor_pct: f64 = 10.0,
    }
);
section!(
    /// `[diagnosis.unregistered_extensions]` (diagnosis.md §4.5).
    UnregisteredExtensions {
        /// Capture length that proves a listed extension never registered, s.
        min_capture_s: u64 = 3600,
    }
);
section!(
    /// `[diagnosis.busy_hour_degradation]` (diagnosis.md §4.5).
    BusyHourDegradation {
        /// Buckets with media.
        min_buckets: usize = 8,
        /// Answered calls.
        min_calls: usize = 30,
        /// Spearman rho.
        min_rho: f64 = 0.6,
        /// Median MOS drop, top vs bottom quartile.
        mos_drop: f64 = 0.3,
        /// Loss ratio, top vs bottom quartile.
        loss_factor: f64 = 2.0,
        /// Loss difference, percentage points.
        loss_points: f64 = 1.0,
    }
);
section!(
    /// `[diagnosis.trunk_saturation]` (diagnosis.md §4.5).
    TrunkSaturation {
        /// `service_unavailable` calls in one bucket.
        min_failures: u32 = 3,
        /// Concurrency as a share of the limit, %.
        near_limit_pct: f64 = 90.0,
        /// Channel limit per trunk host (IP address text).
        channels: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new(),
    }
);
section!(
    /// `[diagnosis.inter_site_one_way]` (diagnosis.md §4.5).
    InterSiteOneWay {
        /// Answered calls of the direction.
        min_calls: u32 = 3,
        /// Failure rate, %.
        rate_pct: f64 = 20.0,
        /// Reverse and neighbouring pairs' rate at most, %.
        max_other_pct: f64 = 5.0,
    }
);
section!(
    /// `[diagnosis.inter_site_qos_mismatch]` (diagnosis.md §4.5).
    InterSiteQos {
        /// Streams per direction.
        min_flows: usize = 3,
        /// Marked share one way, %.
        marked_pct: f64 = 80.0,
        /// Marked share the other way at most, %.
        unmarked_pct: f64 = 20.0,
    }
);
section!(
    /// `[diagnosis.long_setup]`.
    LongSetup {
        /// On-net PDD limit.
        pdd_on_net_ms: u64 = 3000,
        /// Off-net PDD limit.
        pdd_off_net_ms: u64 = 8000,
    }
);
section!(
    /// `[diagnosis.unanswered_ringing]`.
    UnansweredRinging {
        /// Ringing time.
        ring_s: u64 = 45,
    }
);
section!(
    /// `[diagnosis.bye_with_reason_header]`.
    ByeReason {
        /// Normal Q.850 causes.
        normal_causes: Vec<u16> = vec![16, 17, 19, 21, 31],
    }
);
section!(
    /// `[diagnosis.dropped_by_timeout]`.
    DroppedByTimeout {
        /// Reason texts meaning a timeout (case-insensitive substrings).
        timeout_texts: Vec<String> = ["rtp timeout", "media timeout", "session timeout"].map(String::from).to_vec(),
    }
);
section!(
    /// `[diagnosis.one_way_audio]`.
    OneWayAudio {
        /// Answered time.
        min_answered_s: u64 = 5,
        /// Silent below this.
        min_packets: u64 = 10,
        /// Other direction at least this.
        min_other_packets: u64 = 50,
    }
);
section!(
    /// `[diagnosis.no_media]`.
    NoMedia {
        /// Answered time.
        min_answered_s: u64 = 2,
    }
);
section!(
    /// `[diagnosis.media_stops_after_reinvite]`.
    MediaStops {
        /// Grace after the change.
        grace_ms: u64 = 2000,
        /// Silence.
        min_silence_s: u64 = 5,
        /// Window after the re-INVITE in which the flow stops.
        stop_window_s: u64 = 10,
    }
);
section!(
    /// `[diagnosis.media_stops_after_resume]`: the held flow restarts after the resume.
    MediaRestart {
        /// Time after the resume's ACK for the flow to restart.
        grace_ms: u64 = 2000,
        /// Silence after the resume that counts as not restarted.
        min_silence_s: u64 = 5,
    }
);
section!(
    /// `[diagnosis.media_stops_after_transfer]`.
    TransferMedia {
        /// Time after the transferred call's ACK for each flow to start.
        grace_ms: u64 = 2000,
        /// Silence that counts as a missing flow.
        min_silence_s: u64 = 5,
        /// The transferee's new INVITE follows the REFER within this many seconds.
        max_invite_lag_s: u64 = 32,
    }
);
section!(
    /// `[diagnosis.rtp_to_unannounced_address]` and `[diagnosis.rtp_port_mismatch]`.
    StrayFlow {
        /// Packets a stray flow carries at least.
        min_packets: u64 = 10,
    }
);
section!(
    /// `[diagnosis.late_media_start]`.
    LateMediaStart {
        /// First RTP this long after the 2xx (ACK for a delayed offer) is late.
        max_ms: u64 = 1000,
    }
);
section!(
    /// `[diagnosis.t38_not_flowing]`.
    T38NotFlowing {
        /// UDPTL must arrive within this after the ACK.
        start_s: u64 = 5,
    }
);
section!(
    /// `[diagnosis.media_gap]`.
    MediaGapCfg {
        /// Outage length.
        threshold_ms: u64 = 1000,
    }
);
section!(
    /// `[diagnosis.high_loss]`.
    HighLoss {
        /// Percent.
        pct: f64 = 1.0,
        /// Minimum expected packets.
        min_expected: u64 = 100,
    }
);
section!(
    /// `[diagnosis.high_jitter]`.
    HighJitter {
        /// Mean jitter limit, ms.
        mean_ms: f64 = 30.0,
        /// Max jitter limit, ms.
        max_ms: f64 = 60.0,
    }
);
section!(
    /// `[diagnosis.late_packets]`.
    LatePackets {
        /// Percent discarded.
        pct: f64 = 1.0,
        /// The jitter-buffer model that judges (quality-metrics.md): `adaptive`, `fixed50`, `fixed200`.
        buffer: String = "adaptive".to_owned(),
    }
);
section!(
    /// `[diagnosis.low_mos]`.
    LowMos {
        /// MOS limit.
        threshold: f64 = 3.6,
    }
);
section!(
    /// `[diagnosis.ssrc_change]`.
    SsrcChange {
        /// Window around signalling.
        window_ms: u64 = 2000,
    }
);
section!(
    /// `[diagnosis.codec_mismatch]`.
    CodecMismatch {
        /// CN without negotiation is fine.
        allow_unnegotiated_cn: bool = true,
    }
);

#[cfg(test)]
mod tests {

    #[test]
    fn late_packets_buffer_is_one_of_the_three_models() {
        let cfg = DiagnosisConfig::from_toml("[diagnosis.late_packets]\nbuffer = \"fixed200\"\n").unwrap();
        assert_eq!(cfg.diagnosis.late_packets.buffer, "fixed200");
        assert_eq!(DiagnosisConfig::default().diagnosis.late_packets.buffer, "adaptive");
        let err = DiagnosisConfig::from_toml("[diagnosis.late_packets]\nbuffer = \"fixed100\"\n").unwrap_err();
        assert!(err.to_string().contains("late_packets.buffer"), "{err}");
    }

    use super::*;

    #[test]
    fn default_text_parses_to_the_defaults() {
        let parsed = DiagnosisConfig::from_toml(DEFAULT_TOML).expect("default text parses");
        assert_eq!(parsed, DiagnosisConfig::default());
    }

    #[test]
    fn partial_file_keeps_other_defaults_and_rejects_typos() {
        let cfg = DiagnosisConfig::from_toml("[diagnosis.high_loss]\npct = 2.5\n[qos]\nexpect_media_dscp = 46\n")
            .expect("parses");
        assert_eq!(cfg.diagnosis.high_loss.pct, 2.5);
        assert_eq!(cfg.diagnosis.high_loss.min_expected, 100);
        assert_eq!(cfg.qos.expect_media_dscp, Some(46));
        assert!(DiagnosisConfig::from_toml("[diagnosis.high_los]\npct = 2\n").is_err());
        assert!(DiagnosisConfig::from_toml("[caller_id]\ntrunk_pattern = '('\n").is_err());
    }
}
