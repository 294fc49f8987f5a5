"""Holds only the package fairseq loads with --user-dir (its parent directory goes on sys.path)."""
