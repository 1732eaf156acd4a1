//! A capture file mapped into memory, read in place: the packet bytes of a legacy pcap file are
//! handed out straight from the page cache, with no `read` copy (the copy alone costs about
//! what `cat FILE > /dev/null` costs).
//!
//! The crate's only `unsafe` (the mapping, its advice, and a cache prefetch hint). A mapping is
//! only sound while nobody truncates the file: a page cut off under the reader would raise
//! SIGBUS. Captures being analysed are closed files or files a capture tool only appends to
//! (appended bytes lie beyond the mapped length and are simply not seen, as with a `read` that
//! hit the end), so callscope maps regular files and reads pipes and standard input with
//! `read`; `CALLSCOPE_NO_MMAP=1` turns mapping off.
#![allow(unsafe_code)]

/// A read-only mapping of a whole regular file, with the bytes behind the reader released.
pub(crate) struct MappedFile {
    map: memmap2::Mmap,
    /// Bytes at the start of the mapping already released ([`MappedFile::reader_at`]).
    released: usize,
    /// End of the bytes already requested into the CPU cache (a multiple of [`CACHE_LINE`]).
    prefetched: usize,
}

/// Bytes released from the mapping at a time: 2 MiB, a multiple of every page size (a smaller
/// step costs a TLB shootdown per call on the other threads: 256 KiB made a 2-thread run 12 % slower).
const RELEASE_STEP: usize = 2 << 20;

/// Bytes ahead of the reader requested into the CPU cache ([`MappedFile::reader_at`]).
/// The hardware prefetcher stops at every 4 KiB page and the page-cache bytes are never in
/// the cache (no `read` copy brought them there), so without this the reader waits for memory
/// at each record: walking the records of a 396 MB capture took 125 ms, 51 ms with the next
/// 4 KiB requested (1 KiB: 60 ms; 16 KiB: no better than 4), against 64 ms for `cat`.
const PREFETCH_AHEAD: usize = 4096;

/// The unit of [`MappedFile::prefetched`].
const CACHE_LINE: usize = 64;

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
        Some(MappedFile { map, released: 0, prefetched: 0 })
    }

    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The reader moved on to `offset`: requests the next [`PREFETCH_AHEAD`] bytes into the
    /// CPU cache, and tells the kernel that the bytes before `offset` will not be read again,
    /// in whole [`RELEASE_STEP`]s: their pages leave this process's resident set (they stay in
    /// the page cache), so that resident memory follows the analysis state, not the file read
    /// so far.
    pub(crate) fn reader_at(&mut self, offset: usize) {
        self.prefetch_ahead(offset);
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

    /// Requests the cache lines from `offset` to [`PREFETCH_AHEAD`] bytes past it that were
    /// not requested yet (each line once, a few per record).
    fn prefetch_ahead(&mut self, offset: usize) {
        let end = offset.saturating_add(PREFETCH_AHEAD).min(self.map.len());
        let mut line = self.prefetched.max(offset / CACHE_LINE * CACHE_LINE);
        while line < end {
            prefetch(self.map.as_ptr().wrapping_add(line));
            line += CACHE_LINE;
        }
        self.prefetched = line;
    }

    /// Called once when the reader starts reading records in place at `offset`: maps the
    /// pages of that step and the next ([`MappedFile::reader_at`] then keeps one step
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

/// Requests the cache line at `byte` into the CPU caches (a hint: no fault, no effect on
/// what is read).
#[inline]
fn prefetch(byte: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing into the program; `byte` points into
    // the mapping anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(byte.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = byte;
}
