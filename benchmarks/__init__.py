"""Benchmarks and development servers of runnotary: scripts that print figures, not part of the package."""
