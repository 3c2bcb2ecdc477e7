"""The installation itself: pins agree across pyproject.toml and
environment.yml, and the research stack (Qlib, quantstats) really works with
the pinned pandas/numpy, so a bad pin fails CI rather than a researcher."""

import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[=<>\[ ]", req, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_and_pyproject_list_the_same_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(pip_reqs) == sorted(conda_pip)
    assert all("==" in r for r in pip_reqs), "every direct dependency is pinned"
    lock = {_name(line): line.split("==")[1] for line in (ROOT / "requirements.lock").read_text().split() if "==" in line}
    for req in pip_reqs:
        assert lock.get(_name(req)) == req.split("==")[1], f"{req} disagrees with requirements.lock"


def test_the_chosen_stack_is_pinned():
    names = {_name(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    for pkg in [
        "jupyterlab",
        "papermill",
        "nbconvert",
        "ipywidgets",
        "voila",
        "pandas",
        "pyarrow",
        "yfinance",
        "pandas-market-calendars",
        "lightgbm",
        "pyqlib",
        "quantstats",
        "sqlalchemy",
        "psycopg",
    ]:
        assert pkg in names


def _write_bin(path: Path, start_index: int, values) -> None:
    np.hstack([[start_index], values]).astype("<f4").tofile(path)


def test_qlib_reads_a_tiny_dataset(tmp_path):
    """Qlib's own data API on a two-instrument dataset in its binary format."""
    import qlib
    from qlib.constant import REG_US
    from qlib.data import D

    days = pd.bdate_range("2021-01-04", periods=6)
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "day.txt").write_text("\n".join(d.strftime("%Y-%m-%d") for d in days) + "\n")
    (tmp_path / "instruments").mkdir()
    (tmp_path / "instruments" / "all.txt").write_text("AAPL\t2021-01-04\t2021-01-11\nMSFT\t2021-01-05\t2021-01-11\n")
    for sym, start, closes in [("aapl", 0, [1, 2, 3, 4, 5, 6]), ("msft", 1, [10, 11, 12, 13, 14])]:
        (tmp_path / "features" / sym).mkdir(parents=True)
        _write_bin(tmp_path / "features" / sym / "close.day.bin", start, closes)
    qlib.init(provider_uri=str(tmp_path), region=REG_US, kernels=1, joblib_backend="sequential")
    frame = D.features(["AAPL", "MSFT"], ["$close", "Ref($close, 1)"], start_time="2021-01-04", end_time="2021-01-11")
    aapl = frame.xs("AAPL", level="instrument")
    assert aapl["$close"].tolist() == [1, 2, 3, 4, 5, 6]
    assert frame.xs("MSFT", level="instrument")["Ref($close, 1)"].dropna().tolist() == [10, 11, 12, 13]


def test_quantstats_runs_on_pinned_pandas():
    import quantstats as qs

    r = pd.Series(np.random.default_rng(7).normal(0.0005, 0.01, 300), index=pd.bdate_range("2020-01-01", periods=300))
    assert np.isfinite(qs.stats.sharpe(r)) and -1 < qs.stats.max_drawdown(r) < 0
