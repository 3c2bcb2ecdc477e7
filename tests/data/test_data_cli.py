"""`tradeops data fetch|build|qa` on an offline demo workspace."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tradeops.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(tmp_path) -> str:
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "universe.csv", tmp_path / "config" / "universe.csv")
    policy = yaml.safe_load((ROOT / "config" / "policy.yml").read_text())
    policy["data"].update(primary="demo", secondary=None)
    policy["account"].update(account_currency="USD", fx_fee_bps=0)  # a USD workspace (a new one is GBP: tests/data/test_data_fx.py)
    (tmp_path / "config" / "policy.yml").write_text(yaml.safe_dump(policy))
    return str(tmp_path)


def test_fetch_build_qa_on_the_demo_provider(workdir, capsys):
    assert main(["data", "fetch", "--workdir", workdir, "--as-of", "2025-01-10", "--run-id", "t1"]) == 0
    out = capsys.readouterr().out
    assert "fetched 104 of 104 symbols for 2025-01-10 (run t1; primary demo, secondary None)" in out
    assert main(["data", "build", "--workdir", workdir]) == 0
    out = capsys.readouterr().out
    assert "data quality for 2025-01-10: PASS (trade allowed: yes)" in out and "wrote snapshot " in out
    pointer = json.loads((Path(workdir) / "data" / "clean" / "current.json").read_text())
    assert f"data/clean/snapshots/{pointer['snapshot']}/eod.parquet" in out
    assert f"current clean data is now snapshot {pointer['snapshot']}" in out and pointer["run_id"] == "t1"
    assert main(["data", "qa", "--workdir", workdir]) == 0
    assert "gate coverage: ok" in capsys.readouterr().out
    assert (Path(workdir) / "data" / "clean" / "quality.md").is_file()


def test_qa_exits_non_zero_when_the_gate_fails(workdir, capsys):
    assert main(["data", "fetch", "--workdir", workdir, "--as-of", "2025-01-08", "--run-id", "t1"]) == 0
    record = str(Path(workdir) / "data" / "raw" / "_fetch" / "2025-01-08_t1.json")
    # building a later session from older data: nothing is fresh, nothing is forward-filled
    assert main(["data", "build", "--workdir", workdir, "--as-of", "2025-01-10", "--fetch-record", record]) == 0
    capsys.readouterr()
    assert main(["data", "qa", "--workdir", workdir]) == 1
    out = capsys.readouterr().out
    assert "FAIL (trade allowed: NO)" in out and "gate benchmark_fresh: FAILED" in out and "SPY: stale" in out


def test_qa_without_a_build_is_a_clear_error(workdir, capsys):
    assert main(["data", "qa", "--workdir", workdir]) == 2
    assert "run `tradeops data build` first" in capsys.readouterr().err


def test_fetch_overrides_the_policy_providers(workdir, capsys):
    assert main(["data", "fetch", "--workdir", workdir, "--as-of", "2025-01-10", "--primary", "alphavantage"]) == 2
    assert "data.alphavantage_dir" in capsys.readouterr().err


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_failed_build_keeps_the_last_good_snapshot_and_the_next_good_build_moves_it(workdir, capsys):
    from tradeops.config import Workspace

    ws = Workspace.at(workdir)
    raw = Path(workdir) / "data" / "raw" / "_fetch"
    assert main(["data", "fetch", "--workdir", workdir, "--as-of", "2025-01-10", "--run-id", "good1"]) == 0
    assert main(["data", "build", "--workdir", workdir, "--fetch-record", str(raw / "2025-01-10_good1.json")]) == 0
    pointer = json.loads(ws.clean_pointer.read_text())
    good = ws.clean_path
    good_sha = _sha(good)
    assert pointer["run_id"] == "good1" and pointer["sha256"] == good_sha and good.parent.name == good_sha[:16]
    capsys.readouterr()

    # a failing build: a later session from older data (nothing fresh)
    assert main(["data", "fetch", "--workdir", workdir, "--as-of", "2025-01-08", "--run-id", "bad2"]) == 0
    assert main(["data", "build", "--workdir", workdir, "--as-of", "2025-01-10", "--fetch-record", str(raw / "2025-01-08_bad2.json")]) == 0
    out = capsys.readouterr().out
    assert "FAIL (trade allowed: NO)" in out
    assert f"kept last good data from run good1 (snapshot {good_sha[:16]}, as of 2025-01-10)" in out
    assert json.loads(ws.clean_pointer.read_text()) == pointer  # current did not move
    assert ws.clean_path == good and _sha(ws.clean_path) == good_sha
    report = json.loads((ws.quality_dir / "quality.json").read_text())
    candidate = Path(workdir) / report["output"]["path"]
    assert report["output"]["promoted"] is False and candidate.exists() and candidate != good  # kept for inspection
    assert _sha(candidate) == report["output"]["sha256"] != good_sha
    assert "kept last good data from run good1" in (ws.quality_dir / "quality.md").read_text()
    assert main(["data", "qa", "--workdir", workdir]) == 1  # qa reports the latest build, which failed

    # the next good build moves current
    assert main(["data", "fetch", "--workdir", workdir, "--as-of", "2025-01-13", "--run-id", "good3"]) == 0
    assert main(["data", "build", "--workdir", workdir, "--fetch-record", str(raw / "2025-01-13_good3.json")]) == 0
    moved = json.loads(ws.clean_pointer.read_text())
    assert moved["run_id"] == "good3" and moved["as_of"] == "2025-01-13" and moved["sha256"] != good_sha
    assert _sha(ws.clean_path) == moved["sha256"] and good.exists()  # the old snapshot stays for rollback


def test_old_snapshots_are_pruned_but_never_the_current_one(tmp_path):
    import os

    from tradeops.config import Workspace
    from tradeops.data import snapshots

    ws = Workspace.at(tmp_path).ensure()
    root = snapshots.snapshots_dir(ws)
    for k in range(14):
        (root / f"{k:016x}").mkdir(parents=True)
        (root / f"{k:016x}" / "eod.parquet").write_bytes(b"x")
        os.utime(root / f"{k:016x}", ns=(k * 10**9, k * 10**9))
    snapshots.promote(ws, snapshots.Snapshot(f"{0:016x}", "0" * 64, f"snapshots/{0:016x}/eod.parquet", "r0", "2025-01-10", 1, 1))
    gone = snapshots.prune(ws, keep=10)
    assert sorted(gone) == [f"{k:016x}" for k in (1, 2, 3)]  # the oldest non-current ones
    left = sorted(p.name for p in root.iterdir())
    assert len(left) == 11 and f"{0:016x}" in left and ws.clean_path.exists()


def test_a_gbp_workspace_fetches_builds_and_checks_its_fx_series(workdir, capsys, monkeypatch):
    path = Path(workdir) / "config" / "policy.yml"
    policy = yaml.safe_load(path.read_text())
    policy["account"].update(account_currency="GBP")
    path.write_text(yaml.safe_dump(policy))
    assert main(["data", "fetch", "--workdir", workdir, "--as-of", "2025-01-10", "--run-id", "g1"]) == 0
    assert "FX GBPUSD for 2025-01-10: from demo (data/raw/demo/GBPUSD/2025-01-10_g1.csv)" in capsys.readouterr().out
    assert main(["data", "build", "--workdir", workdir]) == 0
    out = capsys.readouterr().out
    assert "FX GBPUSD for 2025-01-10: PASS, rate " in out and " of 2025-01-10 (demo)" in out
    assert main(["data", "qa", "--workdir", workdir]) == 0
    assert "FX GBPUSD for 2025-01-10: PASS" in capsys.readouterr().out
    # a run without an FX fetch record: the FX gate fails and qa exits 1
    from tradeops.data import fx

    monkeypatch.setattr(fx, "fetch_fx", lambda *a, **k: (_ for _ in ()).throw(fx.DataError("stooq refused: rate limit")))
    assert main(["data", "fetch", "--workdir", workdir, "--as-of", "2025-01-10", "--run-id", "g2"]) == 0
    assert "FX: stooq refused: rate limit" in capsys.readouterr().out
    assert main(["data", "build", "--workdir", workdir]) == 0
    assert "FX GBPUSD for 2025-01-10: FAIL (no trade): no GBPUSD rate for 2025-01-10: run g2 fetched no FX series" in capsys.readouterr().out
    assert main(["data", "qa", "--workdir", workdir]) == 1
    assert "FX gate failed for 2025-01-10: no trade" in capsys.readouterr().err
