"""Reporting: result tables with the published numbers, significance tests, convergence statistics, figures."""
