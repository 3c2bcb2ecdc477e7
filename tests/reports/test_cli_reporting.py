"""`tradeops report daily|weekly` writes the same files as the report stage."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timezone
from pathlib import Path

from click.testing import CliRunner

from tradeops import reports
from tradeops.cli import cli
from tradeops.cli.reporting import make_report_group

ROOT = Path(__file__).resolve().parents[2]


def _workdir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path


def test_report_commands_write_the_published_files(tmp_path, build_inputs):
    seen = []

    def builder(ws, as_of, generated_at):
        seen.append((ws.root, as_of, generated_at))
        return build_inputs()

    clock = lambda: datetime(2024, 5, 6, 6, 35, tzinfo=timezone.utc)  # noqa: E731
    group = make_report_group(builder, clock)
    work = _workdir(tmp_path)
    runner = CliRunner()
    daily = runner.invoke(group, ["daily", "--workdir", str(work)])
    assert daily.exit_code == 0, daily.output
    weekly = runner.invoke(group, ["weekly", "--workdir", str(work), "--as-of", "2024-05-03", "--no-tearsheet"])
    assert weekly.exit_code == 0, weekly.output
    # no --as-of: the latest complete XNYS session at Monday 07:35 London is Friday 2024-05-03
    assert [s[1] for s in seen] == [date(2024, 5, 3), date(2024, 5, 3)]
    assert seen[0][0] == work.resolve()
    out = work / "reports"
    assert daily.output.split() == [str(out / n) for n in ("daily.md", "daily.html", "daily.png")]
    assert sorted(p.name for p in out.iterdir()) == ["daily.html", "daily.md", "daily.png", "weekly.html", "weekly.md", "weekly.png"]
    direct = reports.publish_daily(build_inputs(), tmp_path / "direct")
    assert (out / "daily.md").read_bytes() == direct[0].read_bytes()


def test_report_is_registered_and_says_what_is_missing(tmp_path):
    work = _workdir(tmp_path)
    result = CliRunner().invoke(cli, ["report", "daily", "--workdir", str(work), "--as-of", "2024-05-03"])
    assert result.exit_code != 0
    assert "no clean data" in str(result.exception) and "tradeops data build" in str(result.exception)
