"""The data layer: providers, raw store, clean parquet and quality report.

The pipeline's stage notebooks make one call each:

``fetch(workspace, policy, universe, as_of, run_id, providers=None, full=False) -> FetchResult``
    Stage 1.  Ask the primary provider (then the secondary on failure, or
    always with ``data.cross_check``) for every universe symbol, store the
    exact bytes under ``data/raw/<source>/<symbol>/<as_of>_<run_id>.csv`` with
    a JSON sidecar, and save the attempts and findings (unknown symbols,
    limits, missing keys, vendor revisions, future bars) to ``data/raw/_fetch/``.
    Incremental unless ``full``: only the sessions after the stored history
    plus ``data.overlap_sessions`` are asked for.

``build_clean(workspace, policy, universe, as_of, fetched=None) -> QualityReport``
    Stages 2-5.  Parse, cut at ``as_of``, check (history-wide findings
    quarantine bars; ``config/corrections.csv`` overrides), adjust and write
    a snapshot ``data/clean/snapshots/<sha256[:16]>/eod.parquet`` plus
    ``data/clean/quality.json``/``.md``.  ``data/clean/current.json`` moves
    to it only when ``report.trade_allowed`` (the data-quality gate);
    otherwise ``report.output["kept"]`` says which run's data stays current.
    ``report.reasons`` says why the gate failed, ``report.excluded`` which
    symbols were left out, ``report.findings`` the history verdicts.

A non-USD account (``account.account_currency: GBP``) also needs its FX series:
:mod:`tradeops.data.fx` (``fetch_fx``, ``build_fx_clean``, ``fx_gate``) fetches GBPUSD
from the same providers, stores it raw and clean beside the bars and checks it.

Also: :func:`load_clean` (read the current snapshot), :func:`load_quality_report`,
:func:`make_provider` (a provider by name) and :func:`parse_bars`
(vendor bytes -> bars).
"""

from .clean import CLEAN_COLUMNS, build_clean, load_clean
from .fetch import Attempt, FetchResult, Finding, fetch, latest_fetch_record
from .parsers import parse_bars
from .providers import SOURCES, Payload, Provider, make_provider
from .quality import QualityReport


def load_quality_report(workspace) -> QualityReport:
    """The quality report of the latest build in ``workspace``."""
    return QualityReport.load(workspace.quality_dir / "quality.json")


__all__ = [
    "Attempt",
    "CLEAN_COLUMNS",
    "FetchResult",
    "Finding",
    "Payload",
    "Provider",
    "QualityReport",
    "SOURCES",
    "build_clean",
    "fetch",
    "latest_fetch_record",
    "load_clean",
    "load_quality_report",
    "make_provider",
    "parse_bars",
]
