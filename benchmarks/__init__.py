"""Measurements and generators that are not part of the pipeline itself."""
