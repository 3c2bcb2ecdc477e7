"""The unattended daily run's schedule: a systemd timer or cron entries.

Two ways to fire the run at the policy's time (07:30 Europe/London by
default) on its days, right wherever the machine's clock is set:

- **systemd** (``OnCalendar=Mon..Fri 07:30 Europe/London``): systemd
  understands the zone, so the timer fires at 07:30 UK through both clock
  changes.
- **cron**: Debian's cron runs every job in the machine's one zone and has no
  ``CRON_TZ``, so the entries fire at every machine-local time that *can* be
  07:30 London over the year (06:30 and 07:30 on a UTC machine), and the run
  itself (``tradeops run daily --on-schedule``) decides from the policy's
  schedule whether this firing is the slot (:func:`slot`); the other firing
  that day is a no-op that exits 0 and says so.  Whether the market is open
  is decided by the run from the exchange calendar, as for any run.

Both run the same job (:func:`job_script`): source the workspace's
environment file (written 0600 by ``install``: database URL, SMTP and
webhook settings from the environment it was installed from), then the run,
appending to ``logs/daily-YYYY-MM-DD.log``.

Everything here is pure except the functions at the bottom that touch the
crontab, the unit folder and systemctl.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config import WEEKDAYS, Policy, Schedule, Workspace
from .errors import ConfigError, TradeopsError
from .files import write_atomic
from .redact import SECRET_VARIABLES, mask_value

#: How late a firing may be and still be the slot (cron and systemd fire within
#: seconds; the other cron firing of the day is an hour away).
GRACE = timedelta(minutes=30)

#: What ``install`` copies from the current environment into the job's environment file.
ENV_PREFIXES = ("TRADEOPS_DB_URL", "TRADEOPS_SMTP_", "TRADEOPS_WEBHOOK_URL", "TRADEOPS_DASHBOARD_", "TRADEOPS_ACTOR")
ENV_EXTRA = ("STOOQ_API_KEY", "ALPHAVANTAGE_API_KEY", "PGPASSWORD")

ENV_FILE = ".tradeops.env"
LOG_DIR = "logs"
CRON_MARK = "# tradeops daily run"


class ScheduleError(TradeopsError):
    """The schedule could not be installed, shown or removed."""


# --------------------------------------------------------------------------- the slot


@dataclass(frozen=True)
class Slot:
    is_slot: bool
    scheduled_at: datetime  # the policy's run time on the local day of the firing
    message: str


def slot(policy: Policy | Schedule, now: datetime, grace: timedelta = GRACE) -> Slot:
    """Is a firing at ``now`` the scheduled run (the policy's time, in its zone, on a run day)?"""
    sched = policy.schedule if isinstance(policy, Policy) else policy
    tz = ZoneInfo(sched.timezone)
    local = now.astimezone(tz)
    scheduled = datetime.combine(local.date(), sched.run_clock, tzinfo=tz)
    scheduled = scheduled.astimezone(tz)  # a nonexistent local time moves forward
    day = WEEKDAYS[local.weekday()]
    when = f"{local:%a %Y-%m-%d %H:%M} {local.tzname()} ({sched.timezone})"
    rule = f"{sched.run_time} {sched.timezone} on {','.join(sched.run_days)}"
    if day not in sched.run_days:
        return Slot(False, scheduled, f"not the scheduled slot: {when} is not a run day ({rule}); nothing done")
    if scheduled <= local < scheduled + grace:
        return Slot(True, scheduled, f"scheduled slot: {when} (run time {rule})")
    return Slot(
        False,
        scheduled,
        f"not the scheduled slot: {when} is not {sched.run_time} {sched.timezone} "
        "(cron fires at every machine time that can be the slot; this firing is the other one); nothing done",
    )


# --------------------------------------------------------------------------- what gets installed


def machine_zone(environ: Mapping[str, str] | None = None) -> ZoneInfo:
    """The zone cron runs its jobs in: ``TZ`` if set, else /etc/timezone or /etc/localtime, else UTC."""
    environ = os.environ if environ is None else environ
    name = (environ.get("TZ") or "").strip().lstrip(":")
    if not name:
        try:
            name = Path("/etc/timezone").read_text().strip()
        except OSError:
            target = os.path.realpath("/etc/localtime")
            name = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "UTC"
    if "zoneinfo/" in name:
        name = name.split("zoneinfo/", 1)[1]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"the machine's time zone {name!r} (TZ, /etc/timezone) is not an IANA zone such as UTC or Europe/London") from None


def on_calendar(policy: Policy) -> str:
    """systemd's OnCalendar= value, e.g. ``Mon..Fri 07:30 Europe/London``."""
    sched = policy.schedule
    idx = sorted(WEEKDAYS.index(d) for d in set(sched.run_days))
    if len(idx) > 2 and idx == list(range(idx[0], idx[-1] + 1)):
        days = f"{WEEKDAYS[idx[0]]}..{WEEKDAYS[idx[-1]]}"
    else:
        days = ",".join(WEEKDAYS[i] for i in idx)
    return f"{days} {sched.run_clock:%H:%M} {sched.timezone}"


@dataclass(frozen=True)
class CronTime:
    minute: int
    hours: tuple[int, ...]
    weekdays: tuple[int, ...]  # cron's numbering: 0 = Sunday

    def fields(self) -> str:
        return f"{self.minute} {','.join(map(str, self.hours))} * * {','.join(map(str, self.weekdays))}"


def cron_times(policy: Policy, machine: ZoneInfo, today: date) -> list[CronTime]:
    """Every machine-local (minute, hour, weekday) at which the run can be due, over this year and the next.

    Computed day by day with zoneinfo (never fixed offsets), so it holds for
    any pair of zones, including the weeks when the UK and the machine's
    zone have not changed their clocks yet."""
    sched = policy.schedule
    tz = ZoneInfo(sched.timezone)
    found: dict[int, tuple[set[int], set[int]]] = {}
    day, end = date(today.year, 1, 1), date(today.year + 1, 12, 31)
    while day <= end:
        if WEEKDAYS[day.weekday()] in sched.run_days:
            at = datetime.combine(day, sched.run_clock, tzinfo=tz).astimezone(machine)
            hours, days = found.setdefault(at.minute, (set(), set()))
            hours.add(at.hour)
            days.add((at.weekday() + 1) % 7)
        day += timedelta(days=1)
    return [CronTime(minute, tuple(sorted(h)), tuple(sorted(d))) for minute, (h, d) in sorted(found.items())]


def tradeops_executable() -> Path:
    import sys

    return Path(sys.executable).with_name("tradeops")


def job_script(ws: Workspace, exe: Path) -> str:
    """The shell command both schedulers run (``/bin/sh``): environment file, run, log."""
    q = shlex.quote
    root = ws.root
    return (
        f"cd {q(str(root))} && mkdir -p {LOG_DIR} && set -a && . {q(str(root / ENV_FILE))} && set +a && "
        f"exec {q(str(exe))} run daily --workdir . --on-schedule >> {LOG_DIR}/daily-$(date +%F).log 2>&1"
    )


def cron_lines(policy: Policy, ws: Workspace, exe: Path, machine: ZoneInfo, today: date) -> list[str]:
    script = job_script(ws, exe).replace("%", "\\%")  # cron turns a bare % into a newline
    mark = f"{CRON_MARK} {ws.root}"
    return [f"{t.fields()} {script}  {mark}" for t in cron_times(policy, machine, today)]


def unit_name(ws: Workspace) -> str:
    return "tradeops-daily-" + hashlib.sha256(str(ws.root).encode()).hexdigest()[:8]


def systemd_units(policy: Policy, ws: Workspace, exe: Path) -> dict[str, str]:
    """``{file name: content}`` of the service and its timer."""
    name = unit_name(ws)
    script = job_script(ws, exe).replace("%", "%%").replace("$", "$$")
    script = script.replace("\\", "\\\\").replace('"', '\\"')
    service = f'[Unit]\nDescription=tradeops daily run for {ws.root}\n\n[Service]\nType=oneshot\nWorkingDirectory={ws.root}\nExecStart=/bin/sh -c "{script}"\n'
    timer = (
        "[Unit]\n"
        f"Description=tradeops daily run for {ws.root} ({policy.schedule.run_time} {policy.schedule.timezone})\n\n"
        "[Timer]\n"
        f"OnCalendar={on_calendar(policy)}\n"
        f"Unit={name}.service\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return {f"{name}.service": service, f"{name}.timer": timer}


def job_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables the job needs, taken from ``environ``."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in sorted(environ.items()) if v and (k.startswith(ENV_PREFIXES) or k in ENV_EXTRA or k in SECRET_VARIABLES)}


def env_file_text(env: Mapping[str, str]) -> str:
    lines = ["# tradeops: the scheduled run's environment (written by `tradeops schedule install`; keep it 0600)"]
    lines += [f"{k}={shlex.quote(v)}" for k, v in env.items()]
    return "\n".join(lines) + "\n"


def describe_environment(env: Mapping[str, str]) -> list[str]:
    """One line per variable, secrets masked (never printed in full)."""
    if not env:
        return ["  (none: the job uses the workspace's SQLite ledger and sends nothing)"]
    return [f"  {k}={mask_value(k, v)}" for k, v in env.items()]


# --------------------------------------------------------------------------- the edges


def unit_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def write_env_file(ws: Workspace, env: Mapping[str, str]) -> Path:
    path = ws.root / ENV_FILE
    write_atomic(path, env_file_text(env))  # mkstemp: the file is 0600 from its first byte
    os.chmod(path, 0o600)
    return path


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, capture_output=True, text=True, **kwargs)
    except FileNotFoundError:
        raise ScheduleError(f"{args[0]} is not installed on this machine; choose the other scheduler (--with systemd|cron)") from None


def current_crontab() -> str:
    out = _run(["crontab", "-l"])
    return out.stdout if out.returncode == 0 else ""  # "no crontab for user" is an empty one


def _without_ours(text: str, ws: Workspace) -> list[str]:
    mark = f"{CRON_MARK} {ws.root}"
    # also the single line (and its CRON_TZ, which Debian's cron ignores) that `tradeops cron` used to install
    return [ln for ln in text.splitlines() if not ln.endswith((mark, CRON_MARK)) and not ln.startswith("CRON_TZ=")]


def install_cron(lines: list[str], ws: Workspace) -> None:
    kept = _without_ours(current_crontab(), ws)
    out = _run(["crontab", "-"], input="\n".join(kept + lines) + "\n")
    if out.returncode != 0:
        raise ScheduleError(f"crontab refused the entries: {out.stderr.strip()}")


def remove_cron(ws: Workspace) -> bool:
    current = current_crontab()
    kept = _without_ours(current, ws)
    if kept == current.splitlines():
        return False
    out = _run(["crontab", "-"], input="\n".join(kept) + "\n" if kept else "")
    if out.returncode != 0:
        raise ScheduleError(f"crontab refused the change: {out.stderr.strip()}")
    return True


def _systemctl(*args: str) -> None:
    out = _run(["systemctl", "--user", *args])
    if out.returncode != 0:
        raise ScheduleError(f"systemctl --user {' '.join(args)} failed: {out.stderr.strip() or out.stdout.strip()}")


def install_systemd(units: dict[str, str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in units.items():
        write_atomic(folder / name, text)
        os.chmod(folder / name, 0o644)
    _systemctl("daemon-reload")
    timer = next(n for n in units if n.endswith(".timer"))
    _systemctl("enable", "--now", timer)


def remove_systemd(ws: Workspace, folder: Path) -> bool:
    name = unit_name(ws)
    files = [folder / f"{name}.timer", folder / f"{name}.service"]
    if not any(f.exists() for f in files):
        return False
    _systemctl("disable", "--now", f"{name}.timer")
    for f in files:
        f.unlink(missing_ok=True)
    _systemctl("daemon-reload")
    return True


def validate_kind(kind: str) -> str:
    if kind not in ("cron", "systemd"):
        raise ConfigError(f"scheduler must be cron or systemd, got {kind!r}")
    return kind
