//! Which input file a reason's frames belong to (output-contract.md: frames are 1-based per
//! file, so with several inputs a frame number alone is ambiguous).
//!
//! The rules cite frame numbers; the frames they cite are frames of the call's own evidence
//! (its SIP messages, SDP bodies, its streams' packets). Each cited number is looked up among
//! the call's known frames ([`crate::capture::FrameRef`] carries the file). A number not found
//! there (an RTP packet in the middle of a stream) takes the file of the stream whose frame
//! range in one file contains it, else the file of the call's first message. A number present
//! in two files of the same call is resolved to the first file holding it (rare: a call must
//! span both files and hit the same number in each).

use super::{DiagnosisInput, Reason};
use crate::capture::FrameRef;

/// Evidence frames of one call or stream: (number, file) pairs and per-file stream ranges.
#[derive(Default)]
struct Known {
    exact: Vec<(u64, u16)>,
    ranges: Vec<(u16, u64, u64)>,
    default_file: u16,
}

impl Known {
    fn add(&mut self, f: FrameRef) {
        self.exact.push((f.number, f.file));
    }

    fn add_stream(&mut self, first: FrameRef, last: FrameRef) {
        self.add(first);
        self.add(last);
        if first.file == last.file {
            self.ranges.push((first.file, first.number, last.number));
        }
    }

    fn file_of(&self, number: u64) -> u16 {
        if let Some(&(_, f)) = self.exact.iter().find(|(n, _)| *n == number) {
            return f;
        }
        if let Some(&(f, _, _)) = self.ranges.iter().find(|(_, a, b)| (*a..=*b).contains(&number)) {
            return f;
        }
        self.default_file
    }

    /// Sets `file` / `frame_files` of a reason.
    fn attach(&self, r: &mut Reason) {
        let files: Vec<u16> = r.frames.iter().map(|&n| self.file_of(n)).collect();
        match files.first() {
            Some(&first) if files.iter().all(|&f| f == first) => {
                r.file = Some(first);
                r.frame_files.clear();
            }
            Some(_) => {
                r.file = None;
                r.frame_files = files;
            }
            None => r.file = Some(self.default_file),
        }
    }
}

fn known_of_call(input: &DiagnosisInput<'_>, i: usize) -> Known {
    let mut k = Known::default();
    let Some(d) = input.dialogs.get(i) else { return k };
    k.default_file = d.first_message.map_or(0, |f| f.file);
    d.messages.iter().for_each(|m| k.add(m.at));
    d.sdp.iter().for_each(|e| k.add(e.at));
    for (s, p) in input.streams.iter().zip(input.pairing) {
        if p.is_some_and(|p| p.dialog == i) {
            k.add_stream(s.first, s.last);
        }
    }
    for e in input.icmp {
        k.add(e.at);
    }
    k
}

/// Sets the input file of every reason of `diagnosis` (call verdicts and stream reasons). Call
/// it when more than one input was analysed; with one input the files stay absent.
pub fn attach_files(input: &DiagnosisInput<'_>, diagnosis: &mut super::Diagnosis) {
    for (i, verdict) in diagnosis.verdicts.iter_mut().enumerate() {
        let Some(v) = verdict else { continue };
        let known = known_of_call(input, i);
        v.reasons.iter_mut().for_each(|r| known.attach(r));
    }
    for (s, reasons) in input.streams.iter().zip(diagnosis.stream_reasons.iter_mut()) {
        let mut k = Known { default_file: s.first.file, ..Known::default() };
        k.add_stream(s.first, s.last);
        reasons.iter_mut().for_each(|r| k.attach(r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{ReasonClass, Severity};
    use crate::time::Timestamp;

    fn fr(file: u16, number: u64) -> FrameRef {
        FrameRef { file, number, time: Timestamp(0) }
    }

    #[test]
    fn frames_resolve_to_their_file() {
        let mut k = Known { default_file: 0, ..Known::default() };
        k.add(fr(0, 5));
        k.add_stream(fr(1, 10), fr(1, 90));
        let mut one = Reason::new("x", ReasonClass::Media, Severity::Fail, None, String::new(), vec![10, 40, 90]);
        k.attach(&mut one);
        assert_eq!((one.file, one.frame_files.clone()), (Some(1), vec![]));
        let mut two = Reason::new("x", ReasonClass::Media, Severity::Fail, None, String::new(), vec![5, 40]);
        k.attach(&mut two);
        assert_eq!((two.file, two.frame_files), (None, vec![0, 1]));
    }
}
