//! pcap / pcapng reader: any byte stream must yield frames or warnings, never a panic or a hang.
#![no_main]
use callscope::capture::CaptureSet;
use callscope::warn::Warnings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reader: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(mut set) = CaptureSet::from_readers(vec![("fuzz".to_string(), reader)]) else {
        return;
    };
    let mut warnings = Warnings::default();
    // A frame is at least one record header, so the input bounds the number of frames.
    for _ in 0..=data.len() {
        let Some(frame) = set.next_frame(&mut warnings) else { break };
        assert!(frame.at.number > 0);
    }
    let _ = set.summaries();
});
