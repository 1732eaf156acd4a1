//! Registrations per address-of-record (quality-metrics.md §6 "Registrations", contract
//! `registrations[]`).
//!
//! Attempt = one REGISTER transaction plus its challenge retry (the next REGISTER of the same
//! Call-ID with a higher CSeq within 32 s of a 401/407); refreshes are new attempts. Failures
//! (the IRA numerator) = attempts ending in a final ≥ 300 that is not a challenge followed by a
//! retry, or unanswered for Timer F (32 s) while the capture went on. `expires_s` is the expiry
//! granted in the 2xx (Contact `expires`, else Expires); `Expires: 0` granted → `unregistered`;
//! a binding not refreshed by its expiry while the capture continues → `expired`.
//!
//! A 423 Interval Too Brief is resolved like a challenge: the retry with a longer expiry (same
//! Call-ID, higher CSeq, within Timer F) belongs to the same attempt (RFC 3261 §10.2.8), so only
//! an unresolved 423 is a failure (diagnosis.md §4.5 `registration_failed`). Every attempt is
//! also kept in [`Registration::history`] (bounded) for the churn and failure findings.

use std::collections::HashMap;

use super::dialog::{Wire, TRANSACTION_TIMEOUT_NS};
use super::scan::{NameAddrRef, SipMessageRef};
use super::{Registration, RegistrationStatus};
use crate::capture::FrameRef;
use crate::time::Timestamp;
use crate::warn::{WarningKind, Warnings};

/// Default for `[limits.sip.dialogs] max_registrations`: most AORs tracked at once; beyond,
/// the least recently active 10 % are evicted (counted in `evicted`, warned).
pub const MAX_AORS: usize = 100_000;
/// Most evidence frames kept per AOR.
pub const MAX_FRAMES_PER_AOR: usize = 32;
/// Most attempts kept in an AOR's history (a day of 6-minute refreshes, or hours of churn);
/// later attempts are counted in [`RegistrationTable::history_dropped`], not kept.
pub const MAX_ATTEMPTS_PER_AOR: usize = 256;
/// Most frames kept per attempt (REGISTER, challenge, retry, final, and a few more retries).
pub const MAX_FRAMES_PER_ATTEMPT: usize = 8;

/// How one REGISTER attempt (a REGISTER plus its challenge or 423 retries) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AttemptOutcome {
    /// No final response yet.
    #[default]
    Pending,
    /// 2xx granting a binding (expiry > 0).
    Granted,
    /// 2xx with expiry 0 or `Contact: *` (de-registration).
    Deregistered,
    /// Last final was a 401/407/423 never retried (a failure once Timer F has passed).
    ChallengeUnanswered,
    /// Final ≥ 300 other than a resolvable challenge.
    Failed,
    /// No final response within Timer F while the capture went on.
    TimedOut,
}

/// One REGISTER attempt of an AOR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterAttempt {
    /// First REGISTER of the attempt.
    pub first: FrameRef,
    /// Its source.
    pub source: std::net::SocketAddr,
    /// Hash of its Contact URI (0 without Contact): enough to see the binding address change.
    pub contact_hash: u64,
    /// Frame numbers: REGISTER, challenge, retry, final (at most [`MAX_FRAMES_PER_ATTEMPT`]).
    pub frames: Vec<u64>,
    /// Last final response code.
    pub final_code: Option<u16>,
    /// When the last final response (or challenge) arrived.
    pub final_at: Option<FrameRef>,
    /// A 401/407/423 came before the last REGISTER of the attempt.
    pub challenged: bool,
    /// Expiry granted by its 2xx.
    pub expires_s: Option<u32>,
    /// How it ended.
    pub outcome: AttemptOutcome,
}

impl RegisterAttempt {
    /// The attempt failed (a final ≥ 300 not resolved by a retry, or Timer F).
    pub fn failed(&self) -> bool {
        matches!(self.outcome, AttemptOutcome::Failed | AttemptOutcome::TimedOut | AttemptOutcome::ChallengeUnanswered)
    }

    fn note_frame(&mut self, number: u64) {
        if self.frames.len() < MAX_FRAMES_PER_ATTEMPT {
            self.frames.push(number);
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    call_id: u64,
    cseq: u32,
    sent: Timestamp,
}

#[derive(Clone, Debug)]
struct AorState {
    reg: Registration,
    order: u64,
    /// REGISTER sent, no final response yet.
    pending: Option<Pending>,
    /// Last 401/407 not yet followed by a retry.
    challenge: Option<Pending>,
    /// When the current binding was granted.
    granted_at: Option<Timestamp>,
    /// The attempt in progress is the last entry of `reg.history` (false when the history was full).
    current_recorded: bool,
}

impl AorState {
    fn current(&mut self) -> Option<&mut RegisterAttempt> {
        if self.current_recorded {
            self.reg.history.last_mut()
        } else {
            None
        }
    }
}

/// Registrations keyed by AOR.
#[derive(Clone, Debug)]
pub struct RegistrationTable {
    by_aor: HashMap<String, AorState>,
    next_order: u64,
    max_aors: usize,
    /// AORs evicted (with their registration record) because the table was full.
    pub evicted: u64,
    /// REGISTER / response copies (retransmissions, mirror duplicates).
    pub copies: u64,
    /// Attempts not kept in a history because it held [`MAX_ATTEMPTS_PER_AOR`].
    pub history_dropped: u64,
}

fn call_id_hash(call_id: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    call_id.hash(&mut h);
    h.finish()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn push_frame(reg: &mut Registration, at: FrameRef) {
    if reg.frames.len() < MAX_FRAMES_PER_AOR {
        reg.frames.push(at);
    }
}

impl Default for RegistrationTable {
    fn default() -> Self {
        Self::with_max_aors(MAX_AORS)
    }
}

impl RegistrationTable {
    /// A table tracking at most `max_aors` AORs at once (at least one).
    pub fn with_max_aors(max_aors: usize) -> Self {
        RegistrationTable {
            by_aor: HashMap::new(),
            next_order: 0,
            max_aors: max_aors.max(1),
            evicted: 0,
            copies: 0,
            history_dropped: 0,
        }
    }

    /// Full table: drops the least recently active tenth (at least one AOR), so that an endless
    /// stream of new AORs (a REGISTER scan) costs one O(n) pass per n/10 new AORs, not per AOR.
    fn evict_least_recent(&mut self, at: FrameRef, warnings: &mut Warnings) {
        let mut by_age: Vec<(Timestamp, u64)> = self.by_aor.values().map(|s| (s.reg.last_time, s.order)).collect();
        let n = (by_age.len() / 10).clamp(1, by_age.len().max(1));
        if by_age.is_empty() {
            return;
        }
        by_age.select_nth_unstable(n - 1);
        let cutoff = by_age.get(n - 1).copied().unwrap_or_default();
        let before = self.by_aor.len();
        self.by_aor.retain(|_, s| (s.reg.last_time, s.order) > cutoff);
        let gone = (before - self.by_aor.len()) as u64;
        self.evicted += gone;
        let max = self.max_aors;
        warnings.push(at.file, at.number, WarningKind::StateEvicted, || {
            format!("registration table full ({max} AORs, limits.sip.dialogs.max_registrations): {gone} least recently active evicted")
        });
    }

    /// Notes a copy of a REGISTER or of a response to one (no state change).
    pub fn on_copy(&mut self, _at: FrameRef) {
        self.copies += 1;
    }

    /// A first copy of a REGISTER request.
    pub fn on_request(
        &mut self,
        msg: &SipMessageRef<'_>,
        to: &NameAddrRef<'_>,
        call_id: &[u8],
        wire: Wire,
        warnings: &mut Warnings,
    ) {
        let at = wire.at;
        let Some(cseq) = msg.cseq.map(|c| c.0) else {
            return;
        };
        let aor = String::from_utf8_lossy(to.uri);
        if !self.by_aor.contains_key(aor.as_ref()) {
            if self.by_aor.len() >= self.max_aors {
                self.evict_least_recent(at, warnings);
            }
            let order = self.next_order;
            self.next_order += 1;
            self.by_aor.insert(
                aor.to_string(),
                AorState {
                    reg: Registration { aor: aor.to_string(), first_time: at.time, ..Registration::default() },
                    order,
                    pending: None,
                    challenge: None,
                    granted_at: None,
                    current_recorded: false,
                },
            );
        }
        let Some(st) = self.by_aor.get_mut(aor.as_ref()) else {
            return;
        };
        let cid = call_id_hash(call_id);
        let is_retry = st.challenge.is_some_and(|c| {
            c.call_id == cid && cseq > c.cseq && at.time.0.saturating_sub(c.sent.0) <= TRANSACTION_TIMEOUT_NS
        });
        if let Some(p) = st.pending {
            // The previous REGISTER never got a final response: Timer F ran out if 32 s passed.
            if at.time.0.saturating_sub(p.sent.0) >= TRANSACTION_TIMEOUT_NS {
                st.reg.failures += 1;
                st.reg.status = RegistrationStatus::Failed;
                if let Some(a) = st.current() {
                    a.outcome = AttemptOutcome::TimedOut;
                }
            }
        }
        let contact_hash = msg.contact.map_or(0, |c| call_id_hash(c.uri));
        if !is_retry {
            if st.challenge.is_some() {
                // A challenge never answered with credentials ends that attempt as a failure.
                st.reg.failures += 1;
            }
            st.reg.attempts += 1;
            if st.reg.history.len() < MAX_ATTEMPTS_PER_AOR {
                st.reg.history.push(RegisterAttempt {
                    first: at,
                    source: wire.src,
                    contact_hash,
                    frames: Vec::new(),
                    final_code: None,
                    final_at: None,
                    challenged: false,
                    expires_s: None,
                    outcome: AttemptOutcome::Pending,
                });
                st.current_recorded = true;
            } else {
                st.current_recorded = false;
                self.history_dropped += 1;
            }
        }
        if let Some(a) = st.current() {
            a.note_frame(at.number);
            a.outcome = AttemptOutcome::Pending;
        }
        st.challenge = None;
        st.pending = Some(Pending { call_id: cid, cseq, sent: at.time });
        if let Some(c) = msg.contact {
            st.reg.contact = Some(lossy(c.uri));
        }
        st.reg.source = Some(wire.src);
        if let Some(ua) = msg.user_agent {
            st.reg.user_agent = Some(lossy(ua));
        }
        st.reg.last_time = at.time;
        push_frame(&mut st.reg, at);
    }

    /// A first copy of a response to REGISTER.
    pub fn on_response(
        &mut self,
        msg: &SipMessageRef<'_>,
        to: &NameAddrRef<'_>,
        call_id: &[u8],
        status: u16,
        wire: Wire,
    ) {
        let at = wire.at;
        let aor = String::from_utf8_lossy(to.uri);
        let Some(st) = self.by_aor.get_mut(aor.as_ref()) else {
            return;
        };
        st.reg.last_time = at.time;
        if status < 200 {
            return;
        }
        let cid = call_id_hash(call_id);
        let cseq = msg.cseq.map_or(0, |c| c.0);
        let Some(p) = st.pending.filter(|p| p.call_id == cid && p.cseq == cseq) else {
            // A final response to a REGISTER we did not see (or already answered).
            st.reg.last_code = Some(status);
            return;
        };
        st.pending = None;
        st.reg.last_code = Some(status);
        push_frame(&mut st.reg, at);
        let outcome = match status {
            200..=299 => {
                let granted = msg.contact.and_then(|c| c.expires).or(msg.expires);
                st.reg.expires_s = granted;
                st.granted_at = Some(at.time);
                let dereg = granted == Some(0) || msg.contact_star;
                st.reg.status = if dereg { RegistrationStatus::Unregistered } else { RegistrationStatus::Registered };
                if let Some(a) = st.current() {
                    a.expires_s = granted;
                }
                if dereg {
                    AttemptOutcome::Deregistered
                } else {
                    AttemptOutcome::Granted
                }
            }
            401 | 407 | 423 => {
                // 423 (RFC 3261 §10.2.8) is resolved by a retry with a longer expiry, like a challenge.
                st.reg.status = if status == 423 { RegistrationStatus::Failed } else { RegistrationStatus::Challenged };
                st.challenge = Some(Pending { call_id: cid, cseq: p.cseq, sent: at.time });
                if let Some(a) = st.current() {
                    a.challenged = true;
                }
                AttemptOutcome::ChallengeUnanswered
            }
            _ => {
                st.reg.status = RegistrationStatus::Failed;
                st.reg.failures += 1;
                AttemptOutcome::Failed
            }
        };
        if let Some(a) = st.current() {
            a.note_frame(at.number);
            a.final_code = Some(status);
            a.final_at = Some(at);
            a.outcome = outcome;
        }
    }

    /// The registrations as [`RegistrationTable::finish`] would give them if the input ended at
    /// `now`, leaving the table as it is (incremental runs diagnose their calls against them).
    pub fn snapshot(&self, now: Timestamp) -> Vec<Registration> {
        self.clone().finish(now)
    }

    /// Ends the input: Timer F for unanswered REGISTERs, unretried challenges, lapsed bindings.
    pub fn finish(self, capture_end: Timestamp) -> Vec<Registration> {
        let mut all: Vec<AorState> = self.by_aor.into_values().collect();
        all.sort_by_key(|s| s.order);
        all.into_iter()
            .map(|mut st| {
                if st.challenge.is_some() {
                    st.reg.failures += 1;
                }
                if let Some(p) = st.pending {
                    if capture_end.0.saturating_sub(p.sent.0) >= TRANSACTION_TIMEOUT_NS {
                        st.reg.failures += 1;
                        st.reg.status = RegistrationStatus::Failed;
                        if let Some(a) = st.current() {
                            a.outcome = AttemptOutcome::TimedOut;
                        }
                    }
                }
                if let (RegistrationStatus::Registered, Some(exp), Some(t)) =
                    (st.reg.status, st.reg.expires_s, st.granted_at)
                {
                    let lapse = t.0.saturating_add(i64::from(exp).saturating_mul(1_000_000_000));
                    if capture_end.0 > lapse {
                        st.reg.status = RegistrationStatus::Expired;
                    }
                }
                st.reg
            })
            .collect()
    }
}
