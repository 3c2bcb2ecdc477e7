"""House rules for notebooks: thin, parameterised, committed without outputs."""

import ast
import re

import nbformat
import pytest

from tradeops.daily import GATED_STAGES, REPORT_STAGE, TICKET_STAGE
from tradeops.runner import NOTEBOOK_DIR, check_parameters

ALL = sorted(p for p in NOTEBOOK_DIR.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
STAGE_NAMES = [s.name for s in (*GATED_STAGES, TICKET_STAGE, REPORT_STAGE)]
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE TABLE|DROP)\b")
COMMON = {"run_dir": "r", "workdir": "w", "run_id": "i", "session_date": "2025-01-06", "decision_session": "2025-01-03"}


def code(nb) -> list[str]:
    return ["".join(c.source) for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(NOTEBOOK_DIR)))
def test_notebook_is_thin_and_clean(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, "committed with outputs"
    for src in code(nb):
        tree = ast.parse(src)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)), "logic belongs in the package"
            assert not isinstance(node, (ast.For, ast.While, ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp)), "no loops"
        assert not SQL.search(src), "no SQL in notebooks"


def test_every_stage_has_a_notebook():
    assert sorted(STAGE_NAMES) == sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_stage_parameters_match_what_the_runner_passes(stage):
    nb = nbformat.read(NOTEBOOK_DIR / f"{stage}.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = dict(COMMON)
    if stage == TICKET_STAGE.name:
        params.update(record_in_ledger=True, tickets_dir="", revision=1, supersede_reason="")
    check_parameters(NOTEBOOK_DIR / f"{stage}.ipynb", params)
    calls = [s for s in code(nb) if "stages." in s]
    assert len(calls) == 1 and calls[0].count("stages.") == 1, "exactly one call into the package"
