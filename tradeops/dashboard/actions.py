"""The page's writes: a confirmation, a broker snapshot, the kill switch.

Each is one database transaction through the ledger's public functions
(the same ones the CLI uses).  Input is checked first (``validation``);
any message means nothing is written.  What the ledger itself refuses (a
line confirmed meanwhile in another tab, a sell the timeline cannot hold)
rolls the transaction back and comes back as a message too.  The result is
an :class:`Outcome` the widgets show; nothing here raises for bad input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from pathlib import Path
from typing import Mapping, Sequence

from sqlalchemy import Engine

from ..clock import SYSTEM, Clock
from ..config import Policy
from ..errors import LedgerError, ValidationError
from ..ledger import api, db
from ..reconcile import ReconciliationReport
from . import model, uploads, validation
from .validation import LineEntry

_LINE = re.compile(r"\bline (\d+)\b")
_FIELD = re.compile(r"field '(\w+)'")
_PREFIX = re.compile(r"^line \d+, field '\w+': ")  # the page's own "where": the message sits next to that field already
LINE_FIELDS = ("status", "units", "price", "fees", "time", "reason", "explanation", "screenshot")


@dataclass(frozen=True)
class Outcome:
    """What a submit did: ``ok`` and a sentence, or the messages per field; then the fresh views."""

    ok: bool
    message: str
    errors: dict[str, str] = field(default_factory=dict)
    saved: tuple[int, ...] = ()  # line numbers recorded
    ticket: model.TicketView | None = None
    account: model.AccountView | None = None
    report: ReconciliationReport | None = None


class _Refused(Exception):
    def __init__(self, errors: dict[str, str], ticket: model.TicketView | None = None):
        super().__init__(errors.get("form", ""))
        self.errors, self.ticket = errors, ticket


def _ledger_errors(err: Exception) -> dict[str, str]:
    """A ledger refusal as field messages: 'line 2 ... field 'price'' -> {'2.price': ...}."""
    text = str(err)
    errors = {"form": f"Nothing was saved: {text}"}
    answered = []
    for part in text.split("; "):
        line = _LINE.search(part)
        if line:
            found = _FIELD.search(part)
            name = found.group(1) if found and found.group(1) in LINE_FIELDS else "status"
            errors[f"{line.group(1)}.{name}"] = _PREFIX.sub("", part.removesuffix(" (nothing was written)"))
            if "is already confirmed" in part:
                answered.append(line.group(1))
    if answered:
        errors["form"] = validation.confirmed_meanwhile(answered)
    return errors


def confirm(
    engine: Engine,
    ticket_id: str,
    entries: Mapping[int, LineEntry],
    screenshots: Mapping[int, bytes],
    *,
    tickets_dir: Path,
    root: Path,
    policy: Policy,
    tz: tzinfo,
    actor: str,
    clock: Clock = SYSTEM,
    account: str = api.DEFAULT_ACCOUNT,
) -> Outcome:
    """Record the answers typed for some lines of a ticket (and their screenshots): all or nothing."""
    now = clock.now()
    written: list[Path] = []
    try:
        with db.transaction(engine, clock) as s:
            ticket = model.ticket_view(s, ticket_id, policy, tz, account=account)
            checked = validation.check_confirmation(entries, ticket, api.compute_positions(s, account=account), now)
            errors = dict(checked.errors)
            paths = {}
            for line_no, content in screenshots.items():
                if not content or entries.get(line_no, LineEntry()).status is None:
                    continue
                try:
                    paths[line_no] = uploads.screenshot_path(tickets_dir, ticket_id, line_no, ticket.line(line_no).symbol, content)
                except ValidationError as err:
                    errors[f"{line_no}.screenshot"] = str(err)
            if errors:
                errors.setdefault("form", "Nothing was saved. Fix the fields marked in red, then press Save again.")
                raise _Refused(errors, ticket)
            fills = []
            for fill in checked.values:
                path = paths.get(fill.line_no)
                if path is not None:
                    if uploads.save_screenshot(path, screenshots[fill.line_no]):
                        written.append(path)
                    fill = replace(fill, attachment=path.relative_to(root.resolve()).as_posix())
                fills.append(fill)
            api.confirm_ticket(s, ticket_id, fills, account=account, actor=actor, min_cash=policy.account.cash_floor)
    except _Refused as refused:
        return Outcome(False, refused.errors["form"], refused.errors, ticket=refused.ticket)
    except BaseException as err:  # rolled back: remove the screenshots written for it
        for path in written:
            path.unlink(missing_ok=True)
        if not isinstance(err, (ValidationError, LedgerError)):
            raise
        errors = _ledger_errors(err)
        return Outcome(False, errors["form"], errors, ticket=_fresh_ticket(engine, ticket_id, policy, tz, account))
    saved = tuple(f.line_no for f in fills)
    with db.transaction(engine, clock) as s:
        ticket = model.ticket_view(s, ticket_id, policy, tz, account=account)
        acct = model.account_view(s, account=account)
    noun = "line" if len(saved) == 1 else "lines"
    return Outcome(True, f"Saved {len(saved)} {noun} of {ticket_id}.", saved=saved, ticket=ticket, account=acct)


def _fresh_ticket(engine: Engine, ticket_id: str, policy: Policy, tz: tzinfo, account: str) -> model.TicketView | None:
    try:
        with db.transaction(engine) as s:
            return model.ticket_view(s, ticket_id, policy, tz, account=account)
    except LedgerError:
        return None


def snapshot(
    engine: Engine,
    cash: str,
    units: Mapping[str, str],
    extra: Sequence[tuple[str, str]],
    *,
    policy: Policy,
    actor: str,
    clock: Clock = SYSTEM,
    account: str = api.DEFAULT_ACCOUNT,
) -> Outcome:
    """Record a broker snapshot and reconcile it with the ledger (one transaction)."""
    now = clock.now()
    checked = validation.check_snapshot(cash, units, extra)
    if not checked.ok:
        return Outcome(False, checked.errors["form"], checked.errors)
    cash_value, positions = checked.values
    try:
        with db.transaction(engine, clock) as s:
            snap = api.record_snapshot(s, now, cash_value, positions, source="dashboard", account=account, actor=actor)
            report = api.reconcile_snapshot(s, policy.reconciliation, snapshot_id=snap.id, now=now, account=account)
            api.record_event(s, "RECONCILIATION", report.to_dict(), actor=actor, account=account)
            acct = model.account_view(s, account=account)
    except (ValidationError, LedgerError) as err:
        return Outcome(False, f"Nothing was saved: {err}", {"form": f"Nothing was saved: {err}"})
    verdict = "the broker and the ledger agree" if report.passed else "the broker and the ledger DISAGREE"
    return Outcome(True, f"Snapshot saved: {verdict}.", account=acct, report=report)


def kill_switch(
    engine: Engine, turn_on: bool, reason: str, confirmed: bool, *, actor: str, account: str = api.DEFAULT_ACCOUNT, clock: Clock = SYSTEM
) -> Outcome:
    """Turn the kill switch on (a reason) or off (a reason and a confirmation)."""
    try:
        with db.transaction(engine, clock) as s:
            checked = validation.check_kill_switch(turn_on, reason, confirmed, api.kill_switch(s, account=account).value)
            if not checked.ok:
                raise _Refused(checked.errors)
            api.set_kill_switch(s, turn_on, checked.values[1], actor=actor, account=account)
            acct = model.account_view(s, account=account)
    except _Refused as refused:
        errors = dict(refused.errors)
        errors.setdefault("form", "Nothing was changed. Fix the fields marked in red.")
        return Outcome(False, errors["form"], errors)
    except (ValidationError, LedgerError) as err:
        return Outcome(False, f"Nothing was changed: {err}", {"form": f"Nothing was changed: {err}"})
    state = "ON: the next run will not trade" if turn_on else "OFF: the next run may trade again"
    return Outcome(True, f"Kill switch {state}.", account=acct)
