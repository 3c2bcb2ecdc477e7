"""The demo with the executor the shadow assumes (tradeops.demo.PerfectFillModel) shows zero drift.

Four sessions of the real daily loop (papermill stages, archive, tickets, ledger); every TRADE line is filled
in full at the window's start at the reference price moved by the policy's slippage, paying the policy's
fees.  The shadow portfolio rebuilt from that ledger and archive must then equal the account at every close,
with every component (and the residual) exactly 0.00.
"""

from __future__ import annotations

from datetime import date

import pytest

from tradeops import drift
from tradeops.config import load_policy
from tradeops.demo import PROJECT_CONFIG, PerfectFillModel, run_demo


@pytest.mark.slow
def test_perfect_paper_fills_show_zero_drift(tmp_path):
    model = drift.Model.from_policy(load_policy(PROJECT_CONFIG / "policy.yml"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRADEOPS_DB_URL", "placeholder")  # run_demo points it at its own ledger; restored afterwards
        summary = run_demo(tmp_path / "demo", sessions=4, end=date(2025, 1, 10), echo=lambda *_: None, fill_model=PerfectFillModel(model))
        assert any(r.ticket_kind == "TRADE" for r in summary.results)
        from tradeops.config import Workspace

        result = drift.from_workspace(Workspace.at(summary.workdir))
    assert result is not None and result.rows
    assert any(ln.status == "EXECUTED" for ln in result.lines)
    for row in result.rows:
        assert row.total == 0 and all(v == 0 for v in row.components.values()), row


@pytest.mark.slow
def test_demo_paper_fills_residual_is_small_and_the_report_shows_each_component(tmp_path):
    """The demo's own paper fills (partials, misses, slippage by design): the residual stays below 0.1% of
    equity at every close, and the weekly report of the last week shows every component."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRADEOPS_DB_URL", "placeholder")
        summary = run_demo(tmp_path / "demo", sessions=6, end=date(2025, 1, 10), echo=lambda *_: None)
        from tradeops.config import Workspace

        ws = Workspace.at(summary.workdir)
        result = drift.from_workspace(ws)
    assert result is not None and result.rows
    for row in result.rows:
        assert abs(row.components["residual"]) < row.live * drift.Decimal("0.001"), row
        assert sum(row.components.values()) == row.total
    weekly = (ws.reports_dir / "weekly.md").read_text()
    assert "## Live vs shadow portfolio (drift by cause)" in weekly
    for label in drift.LABELS.values():
        assert f"| {label} |" in weekly
    assert (ws.reports_dir / "drift.png").exists()
