"""LSSD's method without fairseq: the objective and gates, the teacher pool and switch rule, per-pair histories
and records, and the tensor math of per-pair validation."""
