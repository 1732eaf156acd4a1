//! Stage 7 — quality: loss pattern, jitter-buffer emulation and the E-model
//! (quality-metrics.md §2, §3, §5). Pure functions over per-stream inputs.
