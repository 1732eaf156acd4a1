//! Stage 8 — report: analysis results → the records of output-contract.md, and their sinks
//! (table, JSON, CSV). Records carry every number; sinks only format.
