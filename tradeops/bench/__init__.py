"""Benchmarks (`make bench`): speed and memory targets live here, not in timed tests.

Each module in this package exposes ``run() -> str`` returning a Markdown
section; ``python -m tradeops.bench [names...]`` runs them and rewrites
BENCHMARKS.md with the figures, the machine and the command.
"""
