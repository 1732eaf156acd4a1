//! Payload classifier: any bytes get a kind.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = callscope::classify::classify(data);
});
