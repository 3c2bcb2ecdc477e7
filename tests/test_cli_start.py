"""The command line starts fast: `tradeops --help` and `tradeops confirm --help` load no heavy
module (pandas, SQLAlchemy, scipy, the ledger, research), and the static command table that
`--help` prints agrees with the commands themselves.  Timing is a benchmark (make bench), not a test."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tradeops.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "numpy", "scipy", "sqlalchemy", "pyarrow", "pydantic", "tradeops.ledger.api", "tradeops.research", "tradeops.data", "tradeops.calendar")


def _modules_after(argv: list[str]) -> set[str]:
    code = (
        "import sys, json\n"
        "from tradeops.cli import main\n"
        f"rc = main({argv!r})\n"
        "sys.stdout = sys.__stderr__\n"
        "print(json.dumps(sorted(sys.modules)), file=open(sys.argv[1], 'w'))\n"
    )
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"tradeops-modules-{os.getpid()}-{len(argv)}.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, env=env, capture_output=True)
    try:
        return set(json.loads(out.read_text()))
    finally:
        out.unlink()


@pytest.mark.parametrize("argv", [["--help"], ["confirm", "--help"], ["snapshot", "--help"], ["data", "fetch", "--help"]])
def test_help_loads_no_heavy_module(argv):
    loaded = _modules_after(argv)
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    if argv[0] == "data":  # the policy's provider names come from tradeops.config (pydantic); nothing else heavy
        heavy = [m for m in heavy if not (m == "pydantic" or m.startswith("pydantic."))]
    assert heavy == [], f"`tradeops {' '.join(argv)}` imported {heavy[:10]}"


def test_the_help_table_matches_every_command():
    seen = {}
    for module in sorted({m for m, _ in COMMANDS.values()}):
        try:
            mod = importlib.import_module(f"tradeops.cli.{module}")
        except ModuleNotFoundError as err:  # an optional part that is not installed
            pytest.skip(str(err))
        for cmd in mod.COMMANDS:
            seen[cmd.name] = (module, (cmd.help or "").strip().splitlines()[0])
    assert seen == COMMANDS


def test_an_unknown_command_is_refused():
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["nonsense"])
    assert result.exit_code == 2 and "No such command 'nonsense'" in result.output
