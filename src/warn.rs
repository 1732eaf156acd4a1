//! Bad input is reported, never fatal: every stage records a [`Warning`] and goes on.

use serde::Serialize;

/// What went wrong with a frame or a message. Open set; printed in snake_case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The capture file ends inside a record or block.
    TruncatedCapture,
    /// A capture record or block whose length fields cannot be right.
    BadRecord,
    /// A link type callscope does not decode.
    UnsupportedLink,
    /// A header shorter than its own length fields say, or otherwise undecodable.
    MalformedPacket,
    /// An IP fragment set that never completed, overlapped, or was evicted.
    FragmentDropped,
    /// VLAN stacking deeper than the decoder follows.
    VlanTooDeep,
    /// A SIP message that does not parse, or whose Content-Length lies.
    MalformedSip,
    /// An SDP body that does not parse.
    MalformedSdp,
    /// A TCP stream with a hole or overflow; bytes were skipped.
    TcpStreamGap,
    /// SIP over TLS: encrypted, cannot be analysed.
    TlsNotDecoded,
    /// A bounded table was full or idle entries were evicted.
    StateEvicted,
    /// Timestamps going backwards within one file.
    TimeWentBackwards,
}

/// One problem with the input, located by file and 1-based frame number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Index of the input file (0-based, order of the command line).
    #[serde(skip)]
    pub file: u16,
    /// 1-based frame number within that file, as tshark numbers frames.
    pub frame: u64,
    /// Category.
    pub kind: WarningKind,
    /// One sentence for a human.
    pub detail: String,
}

/// Collects warnings: counts every one, keeps the first [`Warnings::KEEP_PER_KIND`] of each kind
/// per file so that hostile input cannot grow memory without bound.
#[derive(Debug)]
pub struct Warnings {
    kept: Vec<Warning>,
    counts: std::collections::BTreeMap<(u16, WarningKind), u64>,
    keep_per_kind: u64,
}

impl Default for Warnings {
    fn default() -> Self {
        Self::keeping(Self::KEEP_PER_KIND)
    }
}

impl Warnings {
    /// Default for how many warnings of one kind per file are kept with their text.
    pub const KEEP_PER_KIND: u64 = 100;

    /// A collector that keeps the first `keep_per_kind` warnings of each kind per file (all are
    /// counted).
    pub fn keeping(keep_per_kind: u64) -> Self {
        Warnings { kept: Vec::new(), counts: std::collections::BTreeMap::new(), keep_per_kind }
    }

    /// Records a warning; the detail closure runs only when the warning is kept.
    pub fn push(&mut self, file: u16, frame: u64, kind: WarningKind, detail: impl FnOnce() -> String) {
        let n = self.counts.entry((file, kind)).or_insert(0);
        *n += 1;
        if *n <= self.keep_per_kind {
            self.kept.push(Warning { file, frame, kind, detail: detail() });
        }
    }

    /// Every kept warning, in the order recorded.
    pub fn kept(&self) -> &[Warning] {
        &self.kept
    }

    /// Total count per (file, kind), including those not kept.
    pub fn counts(&self) -> &std::collections::BTreeMap<(u16, WarningKind), u64> {
        &self.counts
    }

    /// Total number of warnings recorded.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}
