//! Rotating capture files for `callscope live --write-pcap DIR` (issue 11 §2), bounded (issue 11
//! §4): `live-NNNNN.pcap` files, a new one after `--rotate-mb` or `--rotate-every`, and at most
//! `--pcap-keep-files` files / `--pcap-keep-mb` MiB kept: the oldest files are deleted first.
//!
//! Written in Rust (classic pcap, microsecond magic, the interface's link type) rather than
//! through libpcap's `pcap_dump_open`, which `fopen`s the path and would follow a symlink
//! planted in the folder (issue 7 §5); here every file is created with
//! [`crate::report::create_output_file`]. No libpcap needed, so the default build tests it.

use std::collections::VecDeque;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::time::Timestamp;

/// Bytes of the classic pcap global header.
const GLOBAL_HEADER: u64 = 24;
/// Bytes of a classic pcap record header.
const RECORD_HEADER: u64 = 16;

/// When to start a new file and how much to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Start a new file once the current one has this many bytes.
    pub rotate_bytes: u64,
    /// Start a new file once the current one spans this long (ns of capture time).
    pub rotate_ns: i64,
    /// Most files kept (the one being written included); older ones are deleted. At least 1.
    pub keep_files: usize,
    /// Most bytes kept over all files (the one being written included); the oldest closed files
    /// are deleted when over. 0: no byte bound besides `keep_files`.
    pub keep_bytes: u64,
}

/// What the rotator did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RotationCounters {
    /// Files started.
    pub files_started: u64,
    /// Old files deleted to stay within the bounds.
    pub files_deleted: u64,
    /// Packets written.
    pub packets: u64,
}

/// Writes packets into rotating capture files in one folder.
pub struct PcapRotator {
    dir: PathBuf,
    link_type: u32,
    snaplen: u32,
    policy: RotationPolicy,
    current: Option<(BufWriter<std::fs::File>, u64, Timestamp)>,
    /// Closed files still on disk, oldest first, with their sizes.
    closed: VecDeque<(PathBuf, u64)>,
    index: u32,
    /// Counters.
    pub counters: RotationCounters,
}

impl PcapRotator {
    /// A rotator writing into `dir` (created if missing) with the interface's link type and
    /// snap length. Files already in `dir` are left alone (indices continue after the highest
    /// `live-NNNNN.pcap` found, and those files count against the bounds).
    pub fn new(dir: &Path, link_type: u32, snaplen: u32, policy: RotationPolicy) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut existing: Vec<(u32, PathBuf, u64)> = Vec::new();
        for entry in std::fs::read_dir(dir)?.flatten() {
            let name = entry.file_name();
            let Some(index) =
                name.to_str().and_then(|n| n.strip_prefix("live-")?.strip_suffix(".pcap")?.parse::<u32>().ok())
            else {
                continue;
            };
            // Only regular files (a planted symlink is neither counted nor ever deleted through).
            if let Ok(meta) = std::fs::symlink_metadata(entry.path()) {
                if meta.is_file() {
                    existing.push((index, entry.path(), meta.len()));
                }
            }
        }
        existing.sort();
        let index = existing.last().map_or(0, |e| e.0);
        let policy = RotationPolicy { keep_files: policy.keep_files.max(1), ..policy };
        Ok(PcapRotator {
            dir: dir.to_path_buf(),
            link_type,
            snaplen,
            policy,
            current: None,
            closed: existing.into_iter().map(|(_, p, n)| (p, n)).collect(),
            index,
            counters: RotationCounters::default(),
        })
    }

    /// Writes one packet (capture time, captured bytes, length on the wire), rotating first when
    /// the current file is full or old enough.
    pub fn write(&mut self, at: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        let due = match &self.current {
            None => true,
            Some((_, bytes, opened)) => {
                *bytes >= self.policy.rotate_bytes || at.0.saturating_sub(opened.0) >= self.policy.rotate_ns
            }
        };
        if due {
            self.start_file(at)?;
        }
        let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let secs = u32::try_from(at.secs()).unwrap_or(0);
        let mut rec = [0u8; RECORD_HEADER as usize];
        rec[0..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&(at.subsec_nanos() / 1000).to_le_bytes());
        rec[8..12].copy_from_slice(&caplen.to_le_bytes());
        rec[12..16].copy_from_slice(&orig_len.max(caplen).to_le_bytes());
        if let Some((out, bytes, _)) = self.current.as_mut() {
            out.write_all(&rec)?;
            out.write_all(data)?;
            *bytes = bytes.saturating_add(RECORD_HEADER + u64::from(caplen));
        }
        self.counters.packets += 1;
        // The byte bound also covers the file being written: old files go as it grows.
        self.enforce_bounds()
    }

    /// Flushes the current file (on exit).
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some((out, _, _)) = self.current.as_mut() {
            out.flush()?;
        }
        Ok(())
    }

    /// The files on disk, oldest first (closed ones, then the current one).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.closed.iter().map(|(p, _)| p.clone()).collect();
        if self.current.is_some() {
            v.push(self.current_path());
        }
        v
    }

    fn current_path(&self) -> PathBuf {
        self.dir.join(format!("live-{:05}.pcap", self.index))
    }

    fn start_file(&mut self, at: Timestamp) -> io::Result<()> {
        if let Some((mut out, bytes, _)) = self.current.take() {
            out.flush()?;
            self.closed.push_back((self.current_path(), bytes));
        }
        self.index = self.index.wrapping_add(1);
        let path = self.current_path();
        let mut out = BufWriter::new(crate::report::create_output_file(&path)?);
        let mut header = [0u8; GLOBAL_HEADER as usize];
        header[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        header[16..20].copy_from_slice(&self.snaplen.to_le_bytes());
        header[20..24].copy_from_slice(&self.link_type.to_le_bytes());
        out.write_all(&header)?;
        self.current = Some((out, GLOBAL_HEADER, at));
        self.counters.files_started += 1;
        self.enforce_bounds()
    }

    /// Deletes the oldest closed files while more than `keep_files` files, or more than
    /// `keep_bytes` bytes, are on disk. The current file is never deleted.
    fn enforce_bounds(&mut self) -> io::Result<()> {
        let current_bytes = self.current.as_ref().map_or(0, |c| c.1);
        let current_files = usize::from(self.current.is_some());
        // Each pass removes one closed file: bounded by their number.
        for _ in 0..=self.closed.len() {
            let files = self.closed.len() + current_files;
            let bytes = self.closed.iter().map(|c| c.1).sum::<u64>() + current_bytes;
            let over_files = files > self.policy.keep_files;
            let over_bytes = self.policy.keep_bytes > 0 && bytes > self.policy.keep_bytes;
            if !(over_files || over_bytes) {
                break;
            }
            let Some((path, _)) = self.closed.pop_front() else { break };
            match std::fs::remove_file(&path) {
                Ok(()) => self.counters.files_deleted += 1,
                // Removed by someone else already: nothing to free.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("callscope-rotate-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn keeps_at_most_n_files_deleting_the_oldest_and_files_read_back() {
        let dir = scratch("files");
        let policy = RotationPolicy { rotate_bytes: 1000, rotate_ns: i64::MAX, keep_files: 3, keep_bytes: 0 };
        let mut r = PcapRotator::new(&dir, 101, 65535, policy).unwrap();
        let packet = [0x45u8; 200];
        // 216 bytes per record: 5 records (24 + 1080 ≥ 1000) per file; 40 packets → 8 files.
        for i in 0..40i64 {
            r.write(Timestamp::from_parts(1_700_000_000 + i, 250_000_000), &packet, 300).unwrap();
        }
        r.finish().unwrap();
        assert_eq!(r.counters, RotationCounters { files_started: 8, files_deleted: 5, packets: 40 });
        assert_eq!(names(&dir), ["live-00006.pcap", "live-00007.pcap", "live-00008.pcap"]);
        // Each kept file is a readable capture with its packets and times.
        let set =
            crate::capture::CaptureSet::open(&[dir.join("live-00006.pcap").to_string_lossy().into_owned()]).unwrap();
        let mut set = set;
        let mut warnings = crate::warn::Warnings::default();
        let mut n = 0;
        while let Some(f) = set.next_frame(&mut warnings) {
            assert_eq!((f.data.len(), f.orig_len), (200, 300));
            assert_eq!(f.at.time, Timestamp::from_parts(1_700_000_025 + n, 250_000_000));
            n += 1;
            assert!(n <= 10);
        }
        assert_eq!((n, warnings.total()), (5, 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn byte_bound_and_time_rotation_and_existing_files() {
        let dir = scratch("bytes");
        // An older run's files count against the bound; a planted link is never followed.
        std::fs::write(dir.join("live-00002.pcap"), vec![0u8; 3000]).unwrap();
        std::fs::write(dir.join("victim"), b"keep").unwrap();
        std::os::unix::fs::symlink(dir.join("victim"), dir.join("live-00004.pcap")).unwrap();
        // Rotate every 2 s of capture time, keep at most 2 500 bytes.
        let policy =
            RotationPolicy { rotate_bytes: u64::MAX, rotate_ns: 2_000_000_000, keep_files: 100, keep_bytes: 2500 };
        let mut r = PcapRotator::new(&dir, 1, 1500, policy).unwrap();
        let packet = [1u8; 484]; // 500 bytes per record
                                 // Numbering continues after the highest regular file (2): live-00003.pcap first.
        r.write(Timestamp::from_parts(10, 0), &packet, 484).unwrap();
        assert_eq!(r.files(), [dir.join("live-00003.pcap")]);
        assert_eq!(r.counters.files_deleted, 1, "the 3 000-byte old file went at once");
        for s in 11..20 {
            let res = r.write(Timestamp::from_parts(s, 0), &packet, 484);
            if s == 12 {
                // The second file would be live-00004.pcap: the planted link is refused.
                assert!(res.unwrap_err().to_string().contains("symbolic link"));
                break;
            }
            res.unwrap();
        }
        assert_eq!(std::fs::read(dir.join("victim")).unwrap(), b"keep");
        std::fs::remove_dir_all(&dir).unwrap();

        let dir = scratch("bytes2");
        let mut r = PcapRotator::new(&dir, 1, 1500, policy).unwrap();
        for s in 0..20 {
            r.write(Timestamp::from_parts(s, 0), &packet, 484).unwrap();
        }
        r.finish().unwrap();
        // Files of 2 s (2 records, 1 024 bytes): 10 started, at most 2 500 bytes kept → 2 files.
        assert_eq!(r.counters.files_started, 10);
        assert_eq!(names(&dir), ["live-00009.pcap", "live-00010.pcap"]);
        let total: u64 = r.files().iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
        assert!(total <= 2500, "{total}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
