"""The minimal NO-TRADE ticket of a run whose configuration cannot be loaded.

The operating rule is that every scheduled run ends with exactly one ticket
that says why not.  When config/policy.yml or the universe file is invalid
the full ticket cannot be built (it needs the policy), so this writes a small
one from what is known without it: the session (from the default schedule
and the exchange calendar), the run, and the loader's message, with what to
do.  Its id carries the run (``TICKET-YYYYMMDD-CONFIG-<run>``) so it never
takes the id of the session's real ticket once the file is fixed.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from .files import write_atomic

KIND = "NO-TRADE"
REASON = "configuration invalid"


def ticket_id(session_date: date, run_id: str) -> str:
    return f"TICKET-{session_date:%Y%m%d}-CONFIG-{run_id.rsplit('-', 1)[-1]}"


def plain_words(message: str) -> str:
    """The loader's message, led by what it means for the reader."""
    return f"The settings could not be loaded, so nothing was decided today. The loader said: {message.strip().rstrip('.')}."


def ticket_payload(session_date: date, run_id: str, message: str, created_at: datetime) -> dict:
    return {
        "ticket_id": ticket_id(session_date, run_id),
        "kind": KIND,
        "session_date": session_date.isoformat(),
        "run_id": run_id,
        "created_at": created_at.isoformat(timespec="seconds"),
        "reason": REASON,
        "failures": [{"gate": "configuration", "reason": REASON, "message": message}],
        "lines": [],
        "what_to_do": [
            "Do not trade today.",
            "Open config/policy.yml (and the universe file it names) and correct the value the message names.",
            "Check it with `tradeops run daily --date YYYY-MM-DD` in a copy of the workspace, or wait for the next scheduled run.",
        ],
    }


def ticket_markdown(payload: dict) -> str:
    lines = [
        f"# {payload['ticket_id']}: {KIND}",
        "",
        f"Session: {payload['session_date']}  ",
        f"Run: {payload['run_id']}  ",
        f"Reason: {REASON}",
        "",
        "## Why",
        "",
        plain_words(payload["failures"][0]["message"]),
        "",
        "## What to do",
        "",
    ]
    lines += [f"{i}. {step}" for i, step in enumerate(payload["what_to_do"], 1)]
    return "\n".join(lines) + "\n"


def write_ticket(folders: list[Path], session_date: date, run_id: str, message: str, created_at: datetime) -> tuple[dict, list[Path]]:
    """Write ``<id>.md`` and ``<id>.json`` into each folder; return the payload and the paths."""
    payload = ticket_payload(session_date, run_id, message, created_at)
    md, js = ticket_markdown(payload), json.dumps(payload, indent=2, sort_keys=True) + "\n"
    paths = []
    for folder in folders:
        paths.append(write_atomic(folder / f"{payload['ticket_id']}.md", md))
        paths.append(write_atomic(folder / f"{payload['ticket_id']}.json", js))
    return payload, paths
