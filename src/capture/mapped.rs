//! A capture file mapped into memory, read in place: the packet bytes of a legacy pcap file are
//! handed out straight from the page cache, with no `read` copy (the copy alone costs about
//! what `cat FILE > /dev/null` costs).
//!
//! The one `unsafe` of the crate. A mapping is only sound while nobody truncates the file: a
//! page cut off under the reader would raise SIGBUS. Captures being analysed are closed files
//! or files a capture tool only appends to (appended bytes lie beyond the mapped length and
//! are simply not seen, as with a `read` that hit the end), so callscope maps regular files
//! and reads pipes and standard input with `read`; `CALLSCOPE_NO_MMAP=1` turns mapping off.
#![allow(unsafe_code)]

/// A read-only mapping of a whole regular file, with the bytes behind the reader released.
pub(crate) struct MappedFile {
    map: memmap2::Mmap,
    /// Bytes at the start of the mapping already released ([`MappedFile::release_before`]).
    released: usize,
}

/// Bytes released from the mapping at a time: 2 MiB, a multiple of every page size (a smaller
/// step costs a TLB shootdown per call on the other threads: 256 KiB made a 2-thread run 12 % slower).
const RELEASE_STEP: usize = 2 << 20;

impl MappedFile {
    /// Maps `file` when it is a non-empty regular file and mapping is not turned off; `None`
    /// otherwise (the caller reads it instead).
    pub(crate) fn new(file: &std::fs::File) -> Option<MappedFile> {
        if std::env::var_os("CALLSCOPE_NO_MMAP").is_some_and(|v| v == "1") {
            return None;
        }
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() == 0 {
            return None;
        }
        // SAFETY: the mapping is read-only and private to this reader; see the module docs for
        // the truncation caveat, which is the documented limit of reading a file in place.
        let map = unsafe { memmap2::MmapOptions::new().map(file) }.ok()?;
        // Sequential access: the kernel reads ahead and drops pages behind.
        let _ = map.advise(memmap2::Advice::Sequential);
        Some(MappedFile { map, released: 0 })
    }

    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Tells the kernel that the bytes before `offset` will not be read again, in whole
    /// [`RELEASE_STEP`]s: their pages leave this process's resident set (they stay in the page
    /// cache), so that resident memory follows the analysis state, not the file read so far.
    pub(crate) fn release_before(&mut self, offset: usize) {
        if offset < self.released + RELEASE_STEP {
            return;
        }
        let end = offset / RELEASE_STEP * RELEASE_STEP;
        // SAFETY: MADV_DONTNEED on a read-only private file mapping only drops page-table entries;
        // a later access faults the same file bytes back in, so no borrowed byte can change. The
        // caller passes the offset of the block it reads now: nothing before it is borrowed.
        let _ = unsafe {
            self.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, self.released, end - self.released)
        };
        self.released = end;
        self.populate_step(end + RELEASE_STEP);
    }

    /// Called once when the reader starts reading records in place at `offset`: maps the
    /// pages of that step and the next ([`MappedFile::release_before`] then keeps one step
    /// ahead). A mapped file whose records are not read in place (a modified-pcap record
    /// header) is never populated.
    pub(crate) fn start_reading_at(&self, offset: usize) {
        let step = offset / RELEASE_STEP * RELEASE_STEP;
        self.populate_step(step);
        self.populate_step(step + RELEASE_STEP);
    }

    /// Maps the pages of the [`RELEASE_STEP`] at `offset` (ahead of the reader) in one call
    /// instead of one page fault per few pages as the reader reaches them: MADV_POPULATE_READ
    /// (Linux 5.14) made a run 7–10 % faster. On older kernels the advice fails and the pages
    /// fault in as before.
    fn populate_step(&self, offset: usize) {
        let len = RELEASE_STEP.min(self.map.len().saturating_sub(offset));
        #[cfg(target_os = "linux")]
        if len > 0 {
            let _ = self.map.advise_range(memmap2::Advice::PopulateRead, offset, len);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = len;
    }
}
