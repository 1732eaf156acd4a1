//! A streaming writer for classic pcap files (the libpcap format, not pcapng).
//!
//! Layout per the libpcap file format (draft-ietf-opsawg-pcap): a 24-byte global header, then
//! per packet a 16-byte record header and the bytes. The magic number says whether record
//! times carry microseconds (`0xa1b2c3d4`) or nanoseconds (`0xa1b23c4d`). Everything is written
//! little-endian, as pcap readers accept either byte order. Nothing is buffered beyond what the
//! caller's `Write` does, so arbitrarily long captures stream straight to disk.

use std::io::{self, Write};

use crate::time::Timestamp;

/// Sub-second resolution of record timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsResolution {
    /// Microseconds (magic `0xa1b2c3d4`), what most tools write.
    Micro,
    /// Nanoseconds (magic `0xa1b23c4d`).
    Nano,
}

/// Link-layer header type of every record (tcpdump.org LINKTYPE_ values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcapLinkType {
    /// LINKTYPE_ETHERNET = 1.
    Ethernet,
    /// LINKTYPE_RAW = 101: the record starts with the IPv4 or IPv6 header.
    RawIp,
    /// LINKTYPE_LINUX_SLL = 113: Linux "cooked" capture, 16-byte header.
    LinuxSll,
}

impl PcapLinkType {
    /// The LINKTYPE_ number written in the global header.
    pub fn number(self) -> u32 {
        match self {
            PcapLinkType::Ethernet => 1,
            PcapLinkType::RawIp => 101,
            PcapLinkType::LinuxSll => 113,
        }
    }
}

/// Snapshot length written in the global header; records are never truncated.
pub const SNAPLEN: u32 = 262_144;

/// Writes a classic pcap file record by record.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    resolution: TsResolution,
    link: PcapLinkType,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header and returns a writer ready for records.
    pub fn new(mut out: W, link: PcapLinkType, resolution: TsResolution) -> io::Result<Self> {
        let magic: u32 = match resolution {
            TsResolution::Micro => 0xa1b2_c3d4,
            TsResolution::Nano => 0xa1b2_3c4d,
        };
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&magic.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes()); // version major
        header[6..8].copy_from_slice(&4u16.to_le_bytes()); // version minor
                                                           // thiszone and sigfigs stay 0 (UTC, as every modern writer does).
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&link.number().to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out, resolution, link, packets: 0 })
    }

    /// Appends one record. The sub-second part is truncated to the file's resolution, so
    /// callers wanting exact times in a µs file should use whole microseconds.
    pub fn write_packet(&mut self, ts: Timestamp, data: &[u8]) -> io::Result<()> {
        let len = u32::try_from(data.len())
            .ok()
            .filter(|&l| l <= SNAPLEN)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "packet over snaplen"))?;
        let secs = u32::try_from(ts.secs())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "time outside the pcap range"))?;
        let frac = match self.resolution {
            TsResolution::Micro => ts.subsec_nanos() / 1000,
            TsResolution::Nano => ts.subsec_nanos(),
        };
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&secs.to_le_bytes());
        record[4..8].copy_from_slice(&frac.to_le_bytes());
        record[8..12].copy_from_slice(&len.to_le_bytes()); // captured length
        record[12..16].copy_from_slice(&len.to_le_bytes()); // original length
        self.out.write_all(&record)?;
        self.out.write_all(data)?;
        self.packets += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The link type of this file.
    pub fn link(&self) -> PcapLinkType {
        self.link
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_parser::traits::PcapReaderIterator;
    use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError};

    #[test]
    fn writes_readable_nanosecond_file() {
        let mut w = PcapWriter::new(Vec::new(), PcapLinkType::RawIp, TsResolution::Nano).unwrap();
        w.write_packet(Timestamp::from_parts(1_700_000_000, 123_456_789), &[0x45, 0, 0]).unwrap();
        w.write_packet(Timestamp::from_parts(1_700_000_001, 5), &[1, 2]).unwrap();
        assert_eq!(w.packets(), 2);
        let bytes = w.into_inner().unwrap();
        assert_eq!(bytes.len(), 24 + 16 + 3 + 16 + 2);
        let mut reader = LegacyPcapReader::new(65536, &bytes[..]).unwrap();
        let mut seen = Vec::new();
        for _ in 0..10 {
            match reader.next() {
                Ok((off, block)) => {
                    match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            assert_eq!(h.network.0, 101);
                            assert!(h.is_nanosecond_precision());
                        }
                        PcapBlockOwned::Legacy(b) => seen.push((b.ts_sec, b.ts_usec, b.caplen)),
                        PcapBlockOwned::NG(_) => panic!("not pcapng"),
                    }
                    reader.consume(off);
                }
                Err(PcapError::Eof) => break,
                Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(seen, vec![(1_700_000_000, 123_456_789, 3), (1_700_000_001, 5, 2)]);
    }

    #[test]
    fn microsecond_file_truncates_to_micros() {
        let mut w = PcapWriter::new(Vec::new(), PcapLinkType::Ethernet, TsResolution::Micro).unwrap();
        w.write_packet(Timestamp::from_parts(10, 1_999), &[0]).unwrap();
        let bytes = w.into_inner().unwrap();
        assert_eq!(&bytes[0..4], &0xa1b2_c3d4u32.to_le_bytes());
        assert_eq!(&bytes[28..32], &1u32.to_le_bytes());
    }
}
