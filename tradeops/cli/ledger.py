"""Ledger commands: the executor's path without the web page.

``tradeops ledger init|status|split|backup|restore``, ``tradeops confirm``,
``tradeops snapshot``, ``tradeops reconcile``, ``tradeops kill-switch`` and
``tradeops cash add``.  Input files are checked row by row before anything
is written; one command is one database transaction.  The database is
``TRADEOPS_DB_URL`` or the workspace's ``data/ledger.sqlite``.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from zoneinfo import ZoneInfo

from typing import TYPE_CHECKING

import click

from ..clock import SYSTEM
from ..errors import ValidationError
from ..ledger.names import CASH_KINDS, DEFAULT_ACCOUNT
from .common import LazyModule, workdir_option, workspace

if TYPE_CHECKING:
    from sqlalchemy import Engine

# the ledger (SQLAlchemy, pandas) loads when a command runs, not for --help
api = LazyModule("tradeops.ledger.api")
backup = LazyModule("tradeops.ledger.backup")
db = LazyModule("tradeops.ledger.db")
inputs = LazyModule("tradeops.ledger.inputs")
money = LazyModule("tradeops.ledger.money")

account_option = click.option("--account", default=DEFAULT_ACCOUNT, show_default=True, help="Ledger account.")
actor_option = click.option(
    "--actor",
    default=lambda: os.environ.get("TRADEOPS_ACTOR") or getpass.getuser(),
    help="Who is entering this (recorded in the event log); default $TRADEOPS_ACTOR or the login name.",
)


def _engine(workdir: str) -> Engine:
    """An engine on the workspace's ledger, refusing a database that is not at the current schema."""
    return db.open_at_head(workspace(workdir).db_url())


def _num(value) -> str:
    """A Decimal without trailing zeros (10.50000000 -> 10.5)."""
    return "-" if value is None else format(value.normalize(), "f")


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValidationError(f"cannot read {path}: {err}") from None


# --------------------------------------------------------------------------- ledger group


@click.group("ledger")
def ledger_group() -> None:
    """Create, inspect, back up and restore the ledger database."""


@ledger_group.command("init")
@workdir_option
def init(workdir: str) -> None:
    """Create the ledger schema, or upgrade it to the current revision (data is kept); a new
    ledger's account takes the policy's account currency."""
    ws = workspace(workdir)
    url = ws.db_url()
    engine = db.make_engine(url)
    try:
        before = db.current_revision(engine)
        after = db.upgrade(engine)
        if ws.policy_path.exists():
            with db.transaction(engine) as s:
                currency = api.set_account_currency(s, ws.policy().account.account_currency, actor="owner").currency
        else:
            currency = None
    finally:
        engine.dispose()
    change = "created" if before is None else ("already current" if before == after else f"upgraded from {before}")
    click.echo(f"ledger {db.safe_url(url)}: schema {change}, at revision {after}" + (f", account in {currency}" if currency else ""))


@ledger_group.command("status")
@workdir_option
@account_option
def status(workdir: str, account: str) -> None:
    """Positions, cash, kill switch, state and unconfirmed lines."""
    engine = _engine(workdir)
    try:
        with db.transaction(engine) as s:
            click.echo(f"account {account}: cash {api.compute_cash(s, account=account)}")
            for symbol, units in api.compute_positions(s, account=account).items():
                click.echo(f"  {symbol:<8} {_num(units)}")
            switch, state = api.kill_switch(s, account=account), api.current_state(s, account=account)
            click.echo(f"kill switch {switch.value}" + (f" ({switch.reason})" if switch.reason else "") + f"; state {state.value}")
            for line in api.unconfirmed_lines(s, account=account):
                click.echo(f"unconfirmed: {line.ticket.ticket_id} line {line.line_no} {line.side} {line.symbol} ~{line.value:,.2f}")
    finally:
        engine.dispose()


@ledger_group.command("split")
@click.argument("symbol")
@click.argument("ratio")
@click.option("--date", "effective", required=True, help="First session traded at the new units (ex-date), YYYY-MM-DD.")
@click.option("--notes")
@workdir_option
@account_option
@actor_option
def split(symbol: str, ratio: str, effective: str, notes: str | None, workdir: str, account: str, actor: str) -> None:
    """Record a split: RATIO 4 for 4-for-1, 0.1 for 1-for-10."""
    day = inputs.parse_date(effective, "--date", "date")
    engine = _engine(workdir)
    try:
        with db.transaction(engine) as s:
            row = api.record_split(s, symbol, ratio, day, notes=notes, account=account, actor=actor)
    finally:
        engine.dispose()
    after = row.units_before + row.units_delta
    click.echo(f"split {row.symbol} {_num(row.ratio)}:1 on {day}: units held before it {_num(row.units_before)} -> {_num(after)}")


@ledger_group.command("backup")
@workdir_option
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Backup file (default data/backups/ledger-<UTC time>.sqlite|.pgdump).")
def backup_cmd(workdir: str, out: str | None) -> None:
    """Write a consistent backup of the ledger."""
    ws = workspace(workdir)
    url = ws.db_url()
    dest = Path(out) if out else backup.default_backup_path(ws.data_dir / "backups", url)
    click.echo(f"backup of {db.safe_url(url)} written to {backup.backup(url, dest)}")


@ledger_group.command("restore")
@workdir_option
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the current ledger.")
def restore_cmd(workdir: str, source: str, yes: bool) -> None:
    """Replace the ledger with a backup (the current ledger is backed up first)."""
    ws = workspace(workdir)
    url = ws.db_url()
    if not yes:
        click.confirm(f"replace the ledger at {db.safe_url(url)} with {source}?", abort=True)
    engine = db.make_engine(url)
    had_schema = db.current_revision(engine) is not None
    engine.dispose()
    if had_schema:
        safety = backup.backup(url, backup.default_backup_path(ws.data_dir / "backups", url))
        click.echo(f"current ledger saved to {safety}")
    backup.restore(url, source).dispose()
    click.echo(f"ledger {db.safe_url(url)} restored from {source}")


# --------------------------------------------------------------------------- executor commands


@click.command("confirm")
@click.argument("ticket_id")
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False), help="fills.csv (see tradeops.ledger.inputs).")
@click.option("--correct", "correct_reason", help="Correct lines already confirmed (reverse + re-enter) for this reason.")
@workdir_option
@account_option
@actor_option
def confirm(ticket_id: str, path: str, correct_reason: str | None, workdir: str, account: str, actor: str) -> None:
    """Enter what happened to each line of TICKET_ID (executed, partial, not_executed)."""
    policy = workspace(workdir).policy()
    local_tz = ZoneInfo(policy.schedule.timezone)
    rows = inputs.parse_fills_csv(_read(path), local_tz, source=Path(path).name)
    floor = policy.account.cash_floor
    engine = _engine(workdir)
    try:
        with db.transaction(engine) as s:
            if correct_reason:
                pairs = api.correct_ticket(s, ticket_id, rows, correct_reason, account=account, actor=actor, min_cash=floor)
                done = [new for _, new in pairs]
            else:
                done = api.confirm_ticket(s, ticket_id, rows, account=account, actor=actor, min_cash=floor)
            left = api.unconfirmed_lines(s, ticket_id=ticket_id, account=account)
    finally:
        engine.dispose()
    verb = "corrected" if correct_reason else "confirmed"
    for fill in done:
        click.echo(f"{verb} {fill.side} {fill.symbol}: {fill.status} {_num(fill.units)} @ {_num(fill.price)}, fees {fill.fees:,.2f} (fill {fill.id})")
    click.echo(f"{ticket_id}: {len(left)} line(s) still unconfirmed" + (": " + ", ".join(str(ln.line_no) for ln in left) if left else ""))


@click.command("snapshot")
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False), help="snapshot.csv: type,symbol,quantity.")
@click.option("--taken-at", help="When the figures were read off the broker (ISO 8601; local time if no offset). Default: now.")
@workdir_option
@account_option
@actor_option
def snapshot(path: str, taken_at: str | None, workdir: str, account: str, actor: str) -> None:
    """Enter a broker snapshot: cash and units per symbol."""
    local_tz = ZoneInfo(workspace(workdir).policy().schedule.timezone)
    snap = inputs.parse_snapshot_csv(_read(path), source=Path(path).name)
    when = inputs.parse_timestamp(taken_at, "--taken-at", "taken_at", local_tz) if taken_at else SYSTEM.now()
    engine = _engine(workdir)
    try:
        with db.transaction(engine) as s:
            row = api.record_snapshot(
                s, when, snap.cash, snap.positions, currency=snap.currency, source=Path(path).name, account=account, actor=actor, fx_rate=snap.fx_rate
            )
            snapshot_id = row.id
    finally:
        engine.dispose()
    cash = money.Money(snap.cash, snap.currency)
    click.echo(f"snapshot {snapshot_id} recorded: cash {cash}, {len(snap.positions)} position(s), taken {when:%Y-%m-%d %H:%M} UTC")


@click.command("reconcile")
@workdir_option
@account_option
@actor_option
def reconcile_cmd(workdir: str, account: str, actor: str) -> None:
    """Compare the latest broker snapshot with the ledger; exit code 1 if it fails."""
    tolerances = workspace(workdir).policy().reconciliation
    engine = _engine(workdir)
    try:
        with db.transaction(engine) as s:
            report = api.reconcile_snapshot(s, tolerances, account=account)
            api.record_event(s, "RECONCILIATION", report.to_dict(), actor=actor, account=account)
    finally:
        engine.dispose()
    click.echo(report.render())
    if not report.passed:
        raise click.exceptions.Exit(1)


@click.command("kill-switch")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--reason", required=True, help="Why (recorded in the event log).")
@workdir_option
@account_option
@actor_option
def kill_switch(state: str, reason: str, workdir: str, account: str, actor: str) -> None:
    """Turn the kill switch on (no trading) or off."""
    engine = _engine(workdir)
    try:
        with db.transaction(engine) as s:
            api.set_kill_switch(s, state == "on", reason, account=account, actor=actor)
    finally:
        engine.dispose()
    click.echo(f"kill switch {state.upper()}: {reason}")


@click.command("resume")
@click.option("--reason", required=True, help="Why it is safe to trade again (recorded in the event log).")
@workdir_option
@account_option
@actor_option
def resume(reason: str, workdir: str, account: str, actor: str) -> None:
    """Leave HALT explicitly (the kill switch must be off); the drawdown peak restarts today."""
    engine = _engine(workdir)
    try:
        with db.transaction(engine) as s:
            api.resume(s, reason, account=account, actor=actor)
    finally:
        engine.dispose()
    click.echo(f"state RUN: resumed from HALT ({reason})")


@click.group("cash")
def cash_group() -> None:
    """Cash movements: deposits, withdrawals, dividends, fees, interest, FX."""


@cash_group.command("add")
@click.argument("kind", required=False, type=click.Choice([k.lower() for k in CASH_KINDS], case_sensitive=False))
@click.argument("amount", required=False)
@click.option("--date", "value_date", help="Value date (YYYY-MM-DD).")
@click.option("--symbol", help="The symbol that paid a dividend.")
@click.option("--currency", default=None, help="Default: the account's currency (the ledger's, set from the policy by `tradeops ledger init`).")
@click.option("--notes")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False), help="cash.csv: kind,amount,date[,symbol,currency,notes].")
@workdir_option
@account_option
@actor_option
def cash_add(kind, amount, value_date, symbol, currency, notes, path, workdir, account, actor) -> None:
    """Add one movement (KIND AMOUNT --date ...) or every row of --file.

    Amounts are positive; the kind gives the direction (interest and fx may be negative).
    Without --currency (or a file row's currency) the movement is in the account's currency.
    """
    if path and (kind or amount):
        raise click.UsageError("give either KIND AMOUNT or --file, not both")
    if not path and not (kind and amount and value_date):
        raise click.UsageError("give KIND AMOUNT --date YYYY-MM-DD, or --file cash.csv")
    floor = workspace(workdir).policy().account.cash_floor
    engine = _engine(workdir)
    try:
        with db.transaction(engine) as s:
            own = api.get_account(s, account).currency
            if path:
                entries = inputs.parse_cash_csv(_read(path), source=Path(path).name, default_currency=own)
            else:
                raw = {"kind": kind, "amount": amount, "date": value_date, "symbol": symbol, "currency": currency, "notes": notes}
                entries = [inputs.parse_cash(raw, "cash add", default_currency=own)]
            rows = api.record_cash_inputs(s, entries, account=account, actor=actor, min_cash=floor)
            total = api.compute_cash(s, account=account)
    finally:
        engine.dispose()
    for row in rows:
        click.echo(f"recorded {row.kind.lower()} {row.amount:+,.2f} {row.currency} on {row.value_date} (movement {row.id})")
    click.echo(f"cash now {total}")


COMMANDS = [ledger_group, confirm, snapshot, reconcile_cmd, kill_switch, resume, cash_group]
