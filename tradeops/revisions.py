"""Which ticket a run issues: the run id, the session's open ticket in the ledger, and the revisions (TICKET-YYYYMMDD-R2 ...) the archive shows issued."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from .config import Workspace


def new_run_id(run_at: datetime) -> str:
    return f"{run_at:%Y%m%dT%H%M}-{uuid.uuid4().hex[:6]}"


def _existing_ticket(ws: Workspace, session_date: date) -> tuple[str, str, bool] | None:
    """The ledger's OPEN ticket for the session as (ticket_id, kind, has_fills), or None."""
    from .ledger import api
    from .ledger.db import make_engine, transaction

    with transaction(make_engine(ws.db_url())) as s:
        t = api.open_ticket(s, session_date)
        if t is None:
            return None
        return t.ticket_id, t.kind, any(st.fill is not None for st in api.line_statuses(s, t.ticket_id))


def revision_of(ticket_id: str) -> int:
    """TICKET-YYYYMMDD -> 1, TICKET-YYYYMMDD-R3 -> 3; a configuration ticket (-CONFIG-...) -> 0 (its id is its own)."""
    if "-CONFIG-" in ticket_id:
        return 0
    _, _, rest = ticket_id.partition("-R")
    return int(rest) if rest.isdigit() else 1


def issued_ticket_ids(ws: Workspace, session_date: date) -> list[str]:
    """Every ticket id the archive shows issued for the session (recorded in the ledger or not)."""
    out = []
    for path in sorted((ws.runs_dir / session_date.isoformat()).glob("*/manifest.json")):
        try:
            tid = json.loads(path.read_text()).get("ticket_id")
        except (OSError, ValueError):
            continue
        if tid:
            out.append(tid)
    return out


def next_revision(ticket_id: str) -> int:
    """TICKET-YYYYMMDD -> 2, TICKET-YYYYMMDD-R2 -> 3."""
    _, _, rest = ticket_id.partition("-R")
    return int(rest) + 1 if rest else 2
