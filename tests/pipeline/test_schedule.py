"""The unattended run's schedule (tradeops.schedule, `tradeops schedule`).

Pure logic in-process: the cron entries a machine in UTC or in
America/New_York gets, replayed minute by minute through a small cron matcher
over the weeks around both 2026 clock changes (UK: 29 Mar, 25 Oct; US: 8 Mar,
1 Nov), each firing judged by the run's own slot rule; the systemd timer's
OnCalendar replayed by systemd-analyze itself.  The expected instants are
built here from zoneinfo's Europe/London, never from the code under test.
The CLI is run against a fake `crontab` / `systemctl` on PATH, and the
installed cron command is executed by /bin/sh to show it sources the
environment file and logs into logs/.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from tradeops import schedule as sch
from tradeops.cli import cli
from tradeops.clock import FixedClock
from tradeops.config import Workspace
from tradeops.daily import run_daily
from tradeops.runner import EXIT_OK

REPO = Path(__file__).resolve().parents[2]
LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc
# Weeks around both clock changes of 2026, including the weeks when only the US has changed.
SPANS = [(date(2026, 3, 1), date(2026, 4, 12)), (date(2026, 10, 11), date(2026, 11, 15))]
SECRETS = {
    "TRADEOPS_DB_URL": "postgresql+psycopg://trader:pg-Pa55-word-481@db.example.invalid:5432/tradeops",
    "TRADEOPS_SMTP_PASSWORD": "smtp-Pa55-word-662",
    "TRADEOPS_WEBHOOK_URL": "https://hooks.example.invalid/services/T0AAA/B0BBB/webhookSecretPath993",
    "TRADEOPS_DASHBOARD_TOKEN": "dash-token-0123456789abcdef",
}


@pytest.fixture
def ws(tmp_path) -> Workspace:
    work = Workspace.at(tmp_path / "ws")
    shutil.copytree(REPO / "config", work.config_dir)
    return work


def weekdays(start: date, end: date):
    d = start
    while d <= end:
        if d.weekday() < 5:
            yield d
        d += timedelta(days=1)


def expected_runs() -> set[datetime]:
    """07:30 London on every weekday of the spans, as UTC instants (from zoneinfo, not the code)."""
    return {datetime.combine(d, time(7, 30), tzinfo=LONDON).astimezone(UTC) for a, b in SPANS for d in weekdays(a, b)}


def cron_firings(line: str, machine: ZoneInfo) -> list[datetime]:
    """When cron, in ``machine``'s zone, runs a '<min> <hours> * * <dows>' entry over the spans."""
    minute, hours, dom, mon, dows = line.split()[:5]
    assert (dom, mon) == ("*", "*")
    hours_set, dows_set = {int(h) for h in hours.split(",")}, {int(d) for d in dows.split(",")}
    out = []
    for a, b in SPANS:
        day = a - timedelta(days=1)
        while day <= b + timedelta(days=1):
            if (day.weekday() + 1) % 7 in dows_set:
                for h in hours_set:
                    local = datetime.combine(day, time(h, int(minute)), tzinfo=machine)
                    # a wall time that does not exist in the machine's zone never fires
                    if local.astimezone(UTC).astimezone(machine).replace(tzinfo=None) == local.replace(tzinfo=None):
                        out.append(local.astimezone(UTC))
            day += timedelta(days=1)
    return out


def in_spans(instant: datetime) -> bool:
    d = instant.astimezone(LONDON).date()
    return any(a <= d <= b for a, b in SPANS)


@pytest.mark.parametrize("machine_tz, hours", [("UTC", (6, 7)), ("America/New_York", (2, 3))])
def test_cron_fires_the_run_once_a_day_at_0730_london_across_both_clock_changes(ws, monkeypatch, machine_tz, hours):
    monkeypatch.setenv("TZ", machine_tz)
    policy = ws.policy()
    machine = sch.machine_zone()
    assert machine.key == machine_tz
    lines = sch.cron_lines(policy, ws, Path("/opt/venv/bin/tradeops"), machine, date(2026, 6, 1))
    assert len(lines) == 1
    assert lines[0].startswith(f"30 {hours[0]},{hours[1]} * * 1,2,3,4,5 ")
    assert "CRON_TZ" not in "\n".join(lines)

    firings = [f for f in cron_firings(lines[0], machine) if in_spans(f)]
    ran = [f for f in firings if sch.slot(policy, f).is_slot]
    skipped = [f for f in firings if not sch.slot(policy, f).is_slot]
    assert set(ran) == expected_runs()
    assert len(ran) == len(set(ran)) == len(expected_runs())  # exactly once a day
    per_day = {}
    for f in ran:
        per_day.setdefault(f.astimezone(LONDON).date(), []).append(f)
    assert all(len(v) == 1 for v in per_day.values())
    # the other firing of each day is an hour off 07:30 London and does nothing
    assert skipped and all(
        abs(f.astimezone(LONDON) - datetime.combine(f.astimezone(LONDON).date(), time(7, 30), tzinfo=LONDON)) == timedelta(hours=1) for f in skipped
    )
    # both sides of both UK changes are in the replay, and the UTC hour moved
    utc_hours = {f.astimezone(UTC).hour for f in ran}
    assert utc_hours == {6, 7}


def test_slot_rule_on_both_sides_of_the_changes_and_its_message(ws):
    policy = ws.policy()
    cases = {
        datetime(2026, 3, 27, 7, 30, tzinfo=UTC): True,  # Fri, GMT: 07:30 UTC is 07:30 UK
        datetime(2026, 3, 27, 6, 30, tzinfo=UTC): False,
        datetime(2026, 3, 30, 6, 30, tzinfo=UTC): True,  # Mon, BST: 06:30 UTC is 07:30 UK
        datetime(2026, 3, 30, 7, 30, tzinfo=UTC): False,
        datetime(2026, 10, 23, 6, 30, tzinfo=UTC): True,  # Fri, BST
        datetime(2026, 10, 26, 7, 30, tzinfo=UTC): True,  # Mon, GMT
        datetime(2026, 10, 26, 7, 59, tzinfo=UTC): True,  # a late firing inside the grace
        datetime(2026, 10, 26, 8, 0, tzinfo=UTC): False,
        datetime(2026, 10, 24, 7, 30, tzinfo=UTC): False,  # Saturday
    }
    for at, due in cases.items():
        s = sch.slot(policy, at)
        assert s.is_slot is due, (at, s.message)
        assert s.scheduled_at.astimezone(LONDON).time() == time(7, 30)
    other = sch.slot(policy, datetime(2026, 3, 30, 7, 30, tzinfo=UTC))
    assert "not the scheduled slot" in other.message and "08:30 BST" in other.message
    assert "not a run day" in sch.slot(policy, datetime(2026, 10, 24, 7, 30, tzinfo=UTC)).message


@pytest.mark.parametrize("machine_tz", ["UTC", "America/New_York"])
def test_systemd_timer_fires_at_0730_london_across_both_clock_changes(ws, machine_tz):
    units = sch.systemd_units(ws.policy(), ws, Path("/opt/venv/bin/tradeops"))
    timer = next(v for k, v in units.items() if k.endswith(".timer"))
    assert "OnCalendar=Mon..Fri 07:30 Europe/London\n" in timer
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed: the timer's firings cannot be replayed")
    expected = sorted(expected_runs())
    seen = []
    for a, b in SPANS:
        n = sum(1 for _ in weekdays(a, b))
        out = subprocess.run(
            ["systemd-analyze", "calendar", f"--iterations={n}", f"--base-time={a - timedelta(days=1)} 12:00 UTC", "Mon..Fri 07:30 Europe/London"],
            capture_output=True,
            text=True,
            env=dict(os.environ, TZ=machine_tz),
            check=True,
        ).stdout
        # each firing in the machine's wall time ("Next elapse:" / "Iter. #n:"), read back with zoneinfo
        local = re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \w+", out)
        assert len(local) == n, out
        seen += [datetime.strptime(m, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(machine_tz)).astimezone(UTC) for m in local]
    assert seen == expected


def test_service_runs_the_same_job_escaped_for_systemd(ws):
    units = sch.systemd_units(ws.policy(), ws, Path("/opt/venv/bin/tradeops"))
    service = next(v for k, v in units.items() if k.endswith(".service"))
    assert "ExecStart=/bin/sh -c " in service
    assert "$$(date +%%F)" in service and "--on-schedule" in service and sch.ENV_FILE in service
    if shutil.which("systemd-analyze") is not None:
        folder = ws.root / "units"
        folder.mkdir()
        for name, text in units.items():
            (folder / name).write_text(text)
        out = subprocess.run(["systemd-analyze", "verify", "--user", *map(str, folder.iterdir())], capture_output=True, text=True)
        assert "ExecStart" not in out.stderr and "OnCalendar" not in out.stderr, out.stderr


# --------------------------------------------------------------------------- the CLI


def fake_tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """`crontab` keeping its table in a file, `systemctl` logging its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    table, calls = tmp_path / "crontab.txt", tmp_path / "systemctl.log"
    fake_tool(
        bin_dir, "crontab", f'if [ "$1" = "-l" ]; then [ -f {table} ] && cat {table} || {{ echo "no crontab for u" >&2; exit 1; }}; else cat > {table}; fi\n'
    )
    fake_tool(bin_dir, "systemctl", f'echo "$@" >> {calls}\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return table, calls


def test_cron_install_show_remove(ws, fake_bin, monkeypatch):
    table, _ = fake_bin
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("TRADEOPS_FIXED_NOW", "2026-06-01T12:00:00+00:00")
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("TRADEOPS_SMTP_HOST", "smtp.example.invalid")
    table.write_text("MAILTO=me\nCRON_TZ=Europe/London\n30 7 * * 1,2,3,4,5 cd /old && tradeops run daily  # tradeops daily run\n0 1 * * * backup.sh\n")
    runner = CliRunner()
    shown = runner.invoke(cli, ["schedule", "show", "--workdir", str(ws.root)])
    assert shown.exit_code == 0, shown.output
    assert not (ws.root / sch.ENV_FILE).exists() and not (ws.root / "logs").exists()  # show changes nothing
    done = runner.invoke(cli, ["schedule", "install", "--workdir", str(ws.root)])
    assert done.exit_code == 0, done.output
    for out in (shown.output, done.output):
        assert "30 6,7 * * 1,2,3,4,5" in out and "TRADEOPS_SMTP_HOST=smtp.example.invalid" in out
        for secret in ("pg-Pa55-word-481", "smtp-Pa55-word-662", "webhookSecretPath993", "/services/T0AAA", "dash-token-0123456789abcdef"):
            assert secret not in out
    crontab = table.read_text()
    assert "CRON_TZ" not in crontab and "cd /old" not in crontab  # the old, wrong entry is replaced
    assert "MAILTO=me" in crontab and "0 1 * * * backup.sh" in crontab
    ours = [ln for ln in crontab.splitlines() if ln.endswith(f"{sch.CRON_MARK} {ws.root}")]
    assert len(ours) == 1 and ours[0].startswith("30 6,7 * * 1,2,3,4,5 ") and "--on-schedule" in ours[0]
    env_file = ws.root / sch.ENV_FILE
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert (ws.root / "logs").is_dir()
    # installing twice keeps one entry
    assert runner.invoke(cli, ["schedule", "install", "--workdir", str(ws.root)]).exit_code == 0
    assert sum(ln.endswith(f"{sch.CRON_MARK} {ws.root}") for ln in table.read_text().splitlines()) == 1
    gone = runner.invoke(cli, ["schedule", "remove", "--workdir", str(ws.root)])
    assert gone.exit_code == 0 and "removed" in gone.output
    assert table.read_text() == "MAILTO=me\n0 1 * * * backup.sh\n"
    assert "no cron schedule" in runner.invoke(cli, ["schedule", "remove", "--workdir", str(ws.root)]).output


def test_the_cron_job_sources_the_environment_file_and_logs(ws, fake_bin, monkeypatch, tmp_path):
    """Run the installed command line as cron would (/bin/sh, a bare environment), with a stand-in for tradeops."""
    table, _ = fake_bin
    monkeypatch.setenv("TZ", "UTC")
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    assert CliRunner().invoke(cli, ["schedule", "install", "--workdir", str(ws.root)]).exit_code == 0
    line = next(ln for ln in table.read_text().splitlines() if ln.endswith(f"{sch.CRON_MARK} {ws.root}"))
    command = line.split(" ", 5)[5].rsplit(f"  {sch.CRON_MARK}", 1)[0].replace("\\%", "%")
    stand_in = tmp_path / "opt" / "tradeops"
    stand_in.parent.mkdir()
    fake_tool(stand_in.parent, "tradeops", 'echo "args: $*"; echo "db=$TRADEOPS_DB_URL"; echo "hook=$TRADEOPS_WEBHOOK_URL"; echo "oops" >&2\n')
    command = command.replace(shlex_quote(str(sch.tradeops_executable())), str(stand_in))
    shutil.rmtree(ws.root / "logs")  # the job recreates its log folder
    subprocess.run(["/bin/sh", "-c", command], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, check=True)
    logs = list((ws.root / "logs").glob("daily-*.log"))
    assert len(logs) == 1 and re.fullmatch(r"daily-\d{4}-\d\d-\d\d\.log", logs[0].name)
    text = logs[0].read_text()
    assert "args: run daily --workdir . --on-schedule" in text
    assert f"db={SECRETS['TRADEOPS_DB_URL']}" in text and f"hook={SECRETS['TRADEOPS_WEBHOOK_URL']}" in text
    assert "oops" in text


def shlex_quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def test_systemd_install_and_remove(ws, fake_bin, monkeypatch, tmp_path):
    _, calls = fake_bin
    runner = CliRunner()
    done = runner.invoke(cli, ["schedule", "install", "--with", "systemd", "--workdir", str(ws.root)])
    assert done.exit_code == 0, done.output
    folder = tmp_path / "xdg" / "systemd" / "user"
    name = sch.unit_name(ws)
    assert (folder / f"{name}.timer").exists() and (folder / f"{name}.service").exists()
    assert calls.read_text().splitlines() == ["--user daemon-reload", f"--user enable --now {name}.timer"]
    assert stat.S_IMODE((ws.root / sch.ENV_FILE).stat().st_mode) == 0o600
    gone = runner.invoke(cli, ["schedule", "remove", "--with", "systemd", "--workdir", str(ws.root)])
    assert gone.exit_code == 0 and not (folder / f"{name}.timer").exists()
    assert calls.read_text().splitlines()[-2:] == [f"--user disable --now {name}.timer", "--user daemon-reload"]


def test_a_firing_outside_the_slot_does_nothing_and_exits_0(ws):
    off = FixedClock(datetime(2026, 3, 30, 7, 30, tzinfo=UTC))  # 08:30 BST: cron's other firing that Monday
    r = run_daily(ws, clock=off, on_schedule=True)
    assert (r.exit_code, r.status, r.ticket_id) == (EXIT_OK, "not_the_slot", None)
    assert "not the scheduled slot" in r.message
    assert not ws.runs_dir.exists()
    out = CliRunner().invoke(cli, ["run", "daily", "--on-schedule", "--workdir", str(ws.root)], env={"TRADEOPS_FIXED_NOW": "2026-03-30T07:30:00+00:00"})
    assert out.exit_code == 0 and "not the scheduled slot" in out.output
