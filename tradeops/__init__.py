"""tradeops: a notebook-driven, human-in-the-loop end-of-day trading workbook.

The package holds all logic; notebooks in ``notebooks/`` are thin wrappers
that papermill executes and archives per run.
"""

import sys

__version__ = "0.1.0"

# jsonschema (imported by the ticket schema check, and by papermill through nbformat)
# imports rfc3987_syntax when it is installed (jupyter-events asks for it) only to check
# "iri" formats, which neither the ticket schema nor the notebook schemas use; the Lark
# grammar it builds at import costs 0.8 s of CPU (`python -X importtime -c "import
# papermill"`) in the run's process and in every ticket kernel.  A None in sys.modules
# makes that import fail, and jsonschema then skips the iri checks.  If jsonschema is
# already loaded, the cost is paid and nothing changes.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
