"""Evaluation suites, scorers and benchmarks."""
