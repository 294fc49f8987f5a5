"""Data preparation: corpus extraction, splitting and subsampling (imported by the rules, never by fairseq)."""
