//! SIP message scanner: stream framing and datagram parsing, plus every accessor.
#![no_main]
use callscope::sip::scan::{looks_like_start_line, scan_datagram, scan_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = looks_like_start_line(data);
    if let Ok((msg, used)) = scan_message(data) {
        assert!(used <= data.len());
        let _ = (msg.method(), msg.status(), msg.from_tag(), msg.to_tag(), msg.is_sdp(), msg.sdp_body());
    }
    if let Ok((msg, _flaws)) = scan_datagram(data) {
        let _ = (msg.method(), msg.status(), msg.from_tag(), msg.to_tag(), msg.is_sdp());
        if let Some(body) = msg.sdp_body() {
            let _ = callscope::sdp::parse(body);
        }
    }
});
