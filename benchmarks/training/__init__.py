"""benchmarks/paper_training.py's parts: the presets (settings), the synthetic data-bin (data_bin), one method's
worker process (worker, validation), and the figures and their report (figures, report)."""
