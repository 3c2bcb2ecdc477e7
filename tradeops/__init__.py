"""tradeops: a notebook-driven, human-in-the-loop end-of-day trading workbook.

The package holds all logic; notebooks in ``notebooks/`` are thin wrappers
that papermill executes and archives per run.
"""

__version__ = "0.1.0"
