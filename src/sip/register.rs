//! Registrations per address-of-record (quality-metrics.md §6 "Registrations", contract
//! `registrations[]`).
//!
//! Attempt = one REGISTER transaction plus its challenge retry (the next REGISTER of the same
//! Call-ID with a higher CSeq within 32 s of a 401/407); refreshes are new attempts. Failures
//! (the IRA numerator) = attempts ending in a final ≥ 300 that is not a challenge followed by a
//! retry, or unanswered for Timer F (32 s) while the capture went on. `expires_s` is the expiry
//! granted in the 2xx (Contact `expires`, else Expires); `Expires: 0` granted → `unregistered`;
//! a binding not refreshed by its expiry while the capture continues → `expired`.

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

#[derive(Debug, Clone, Copy)]
struct Pending {
    call_id: u64,
    cseq: u32,
    sent: Timestamp,
}

#[derive(Debug)]
struct AorState {
    reg: Registration,
    order: u64,
    /// REGISTER sent, no final response yet.
    pending: Option<Pending>,
    /// Last 401/407 not yet followed by a retry.
    challenge: Option<Pending>,
    /// When the current binding was granted.
    granted_at: Option<Timestamp>,
}

/// Registrations keyed by AOR.
#[derive(Debug)]
pub struct RegistrationTable {
    by_aor: HashMap<String, AorState>,
    next_order: u64,
    max_aors: usize,
    /// AORs evicted (with their registration record) because the table was full.
    pub evicted: u64,
    /// REGISTER / response copies (retransmissions, mirror duplicates).
    pub copies: u64,
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
        RegistrationTable { by_aor: HashMap::new(), next_order: 0, max_aors: max_aors.max(1), evicted: 0, copies: 0 }
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
            }
        }
        if !is_retry {
            if st.challenge.is_some() {
                // A challenge never answered with credentials ends that attempt as a failure.
                st.reg.failures += 1;
            }
            st.reg.attempts += 1;
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
        match status {
            200..=299 => {
                let granted = msg.contact.and_then(|c| c.expires).or(msg.expires);
                st.reg.expires_s = granted;
                st.granted_at = Some(at.time);
                st.reg.status = if granted == Some(0) || msg.contact_star {
                    RegistrationStatus::Unregistered
                } else {
                    RegistrationStatus::Registered
                };
            }
            401 | 407 => {
                st.reg.status = RegistrationStatus::Challenged;
                st.challenge = Some(Pending { call_id: cid, cseq: p.cseq, sent: at.time });
            }
            _ => {
                st.reg.status = RegistrationStatus::Failed;
                st.reg.failures += 1;
            }
        }
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
