//! Synthetic captures with known ground truth, for tests and benchmarks.
//!
//! Writes pcap files from scenario descriptions (calls, media, faults) and returns the truth
//! the analyzer's records must equal. Nothing here runs on the analysis path.
