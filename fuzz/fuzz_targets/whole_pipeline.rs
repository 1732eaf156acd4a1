//! The whole pipeline on a byte blob taken as a capture file, then the output records in every
//! format.
#![no_main]
use callscope::capture::CaptureSet;
use callscope::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reader: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(set) = CaptureSet::from_readers(vec![("fuzz".to_string(), reader)]) else {
        return;
    };
    let analysis = callscope::pipeline::analyze_capture(set, &Config::default());
    let doc = callscope::report::records::build(&analysis);
    let mut out = Vec::new();
    let _ = callscope::report::write_json(&doc, &mut out);
});
