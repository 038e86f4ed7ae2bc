"""Reproducible speed and learning benchmarks against peers (`make bench`)."""
