//! SDP parser, and the payload map learning from whatever it accepts.
#![no_main]
use callscope::sdp::PayloadMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(session) = callscope::sdp::parse(data) {
        let _ = session.is_hold();
        let mut map = PayloadMap::default();
        for m in &session.media {
            let _ = (m.rtp_addr(), m.is_hold(), m.is_srtp(), m.is_unspecified_addr());
        }
        map.learn(&session, false);
        map.learn(&session, true);
        for m in &session.media {
            if let Some(addr) = m.rtp_addr() {
                let _ = (map.lookup(addr, 0), map.is_t38(addr), map.is_announced(addr));
            }
        }
    }
});
