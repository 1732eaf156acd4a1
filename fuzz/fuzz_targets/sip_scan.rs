//! SIP message scanner: stream framing and datagram parsing, plus every accessor; then the same
//! with size caps taken from the first three bytes (issue 7 §2: the configured caps hold).
#![no_main]
use callscope::sip::scan::{
    looks_like_start_line, scan_datagram, scan_datagram_limited, scan_message, scan_message_limited, ScanLimits,
};
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
    if let [h, b, c, rest @ ..] = data {
        let limits = ScanLimits {
            max_headers: usize::from(*h),
            max_header_bytes: usize::from(*b) * 64,
            max_body_bytes: usize::from(*c) * 16,
        };
        if let Ok((msg, used)) = scan_message_limited(rest, &limits) {
            assert!(used <= rest.len());
            assert!(msg.header_count + msg.bad_header_lines <= limits.max_headers);
            assert!(msg.body.len() <= limits.max_body_bytes);
        }
        if let Ok((msg, _)) = scan_datagram_limited(rest, &limits) {
            assert!(msg.header_count + msg.bad_header_lines <= limits.max_headers);
            assert!(msg.body.len() <= limits.max_body_bytes);
        }
    }
});
