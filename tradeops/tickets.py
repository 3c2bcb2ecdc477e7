"""Tickets: the approved trades + gate results -> one unambiguous order sheet.

:func:`build_ticket` is pure: it takes the risk guard's :class:`~tradeops.risk.Decision`
(or ``None`` when the risk stage never ran), the gate results, the operating
state, the execution window and the code/config/data hashes, and returns a
:class:`IssuedTicket`.  :func:`write_ticket` renders ``TICKET-YYYYMMDD.md`` for the
person (jinja2 template ``templates/ticket.md.j2``) and ``.json`` for the
machine, validated against ``schemas/ticket-v1.json`` before anything is
written.

``YYYYMMDD`` is the execution session (the US session the person trades in);
the data's last bar is the decision session before it.  The kind is
NO-TRADE when any gate, the state or a risk rule failed (every failure is
named with what to do), TRADE when there are lines, HOLD otherwise.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence


from .audit import version_hash
from .calendar import ExchangeCalendar, ExecutionWindow, get_calendar
from .config import Policy, Universe
from .errors import ValidationError
from . import cashplan, messages
from .files import write_atomic
from .risk import CENT, Decision, TradeLine, conversion_fee, read_decision, rule_to_dict
from .state import Gate, State, parse_state

from .ticket_format import (  # noqa: F401  (re-exported)
    _cents,
    _iso,
    _plain,
    _plain_rate,
    _price,
    _template,
    fmt_day,
    fmt_money,
    fmt_pct,
    fmt_price,
    fmt_time,
    SCHEMA_PATH,
    TEMPLATE_DIR,
    validate_ticket,
)
from .ticket_model import (  # noqa: F401  (re-exported)
    _HALT_FAILURES,
    ACTIONS,
    CURRENCY_SIGN,
    DEFAULT_ACTION,
    explained,
    Failure,
    HALT_HEADLINE,
    IssuedTicket,
    SCHEMA_VERSION,
    ticket_id,
    TicketLine,
)
# --------------------------------------------------------------------------- building


def _failures(gates: Sequence[Gate], state: str, state_reasons: Sequence[str], decision: Decision | None, stage_errors: Sequence[str]) -> list[Failure]:
    out = [Failure("gate", g.name, g.reasons or (f"the {g.name} gate failed",), ACTIONS.get(g.name, DEFAULT_ACTION)) for g in gates if not g.passed]
    if state != State.RUN.value:
        out.append(Failure("state", state, tuple(state_reasons) or (f"the operating state is {state}; only RUN may trade",), ACTIONS[state]))
    for err in stage_errors:
        out.append(Failure("stage", "pipeline", (err,), ACTIONS["stage"]))
    if decision is None and not out:
        out.append(Failure("stage", "risk", ("there are no approved trades: the risk stage did not run",), ACTIONS["stage"]))
    if decision is not None:
        out += [Failure("rule", r.code, (r.message,), ACTIONS["rule"]) for r in decision.failed]
    return out


def _line(seq: int, t: TradeLine, universe: Universe, policy: Policy, fx: Mapping | None = None) -> TicketLine:
    band = Decimal(str(policy.risk.price_band))
    factor = 1 + band if t.side == "BUY" else 1 - band
    known = t.symbol in universe
    search = universe[t.symbol].etoro_search_name if known else t.symbol
    company = universe[t.symbol].notes.strip() if known else ""
    if fx is not None:  # sized in the account currency: the band and the reference stay in the instrument's USD
        if t.instrument_price is None:
            raise ValidationError(f"line {seq} ({t.side} {t.symbol}) of a {fx['currency']} account has no USD price to band")
        usd = t.instrument_price
        return TicketLine(
            seq=seq,
            side=t.side,
            symbol=t.symbol,
            etoro_search_name=search,
            value=t.value,
            units=t.units,
            close_position=t.close_position,
            reference_price=usd,
            order_type=policy.execution.order_type,
            band=band,
            band_price=(usd * factor).quantize(CENT, ROUND_HALF_EVEN),
            enter_by="amount" if policy.portfolio.fractional_units else "units",
            rank=t.rank,
            company=company,
            currency=fx["currency"],
            fx_rate=Decimal(fx["rate"]),
            account_price=t.price,
            fx_fee=conversion_fee(t.value, Decimal(fx["fee_bps"]) / 10000),
        )
    return TicketLine(
        seq=seq,
        side=t.side,
        symbol=t.symbol,
        etoro_search_name=search,
        value=t.value,
        units=t.units,
        close_position=t.close_position,
        reference_price=t.price,
        order_type=policy.execution.order_type,
        band=band,
        band_price=(t.price * factor).quantize(CENT, ROUND_HALF_EVEN),
        enter_by="amount" if policy.portfolio.fractional_units else "units",
        rank=t.rank,
        company=company,
    )


def _checklists(kind: str, tid: str, window: ExecutionWindow, confirm_by: datetime, cash: Decimal, policy: Policy, sign: str) -> tuple[tuple, tuple, tuple]:
    """(pre-trade checklist, post-trade checklist, if-blocked instructions)."""
    day = fmt_day(window.session)
    start, end = fmt_time(window.start), fmt_time(window.end)
    zone = window.start.tzname()
    if kind != "TRADE":
        pre = (f"Nothing to trade: do not open any position in eToro for {tid}.",)
        post = ("No confirmation is needed for this ticket.",)
        if kind == "NO-TRADE":
            post += ("Do what each 'What to do' line above says, and tell the owner today.",)
        return pre, post, ("If anything about this ticket is unclear, do nothing and tell the owner. Doing nothing is always safe.",)
    tol = fmt_money(policy.reconciliation.cash_tolerance, sign)
    pre = (
        f"Open the confirmation page and check that it shows ticket {tid}.",
        f"Check the time: trade only between {start} and {end} UK time ({zone}) on {day}. Before {start}, wait. After {end}, do nothing: the ticket has expired.",
        f"In eToro, check that the available cash is {fmt_money(cash, sign)} (within {tol}). If it is not, stop and tell the owner.",
        "Every order is for real shares: leverage x1, no CFD, never a short ('Sell' only closes shares you hold).",
        "Do the lines in the order given: all SELLs first (they free the cash), then the BUYs.",
        "Before each order, compare the price eToro quotes for it (its BUY price for a BUY, its SELL price for a SELL) with the 'do not execute' price on its line.",
    )
    post = (
        "On the confirmation page, for every line record: executed, partial or not executed; units; average price; fees; time; a note if anything was unusual.",
        "Enter a broker snapshot: the cash and the units of every position exactly as eToro shows them.",
        f"Confirm by {fmt_time(confirm_by)} UK time on {fmt_day(confirm_by)}.",
    )
    blocked = (
        "The price is past the 'do not execute' price of a line (compare eToro's BUY price for a BUY, its SELL price for a SELL): "
        "skip that line and record it as 'not executed', reason 'price outside band'.",
        "eToro cannot find the instrument under its search name, or offers it only as a CFD: skip the line and record 'not executed' with the reason.",
        "A SELL fills only in part or not at all: the BUYs after it have less cash. Each BUY may spend only the cash left after the lines "
        "above it; the confirmation page shows that amount on every BUY. Buy only that much (record 'partial', reason 'not enough cash'), "
        f"or skip the BUY if less than {sign}1 is left (record 'not executed', reason 'not enough cash').",
        "An order fills only in part: record 'partial' with the units filled. Do not retry it.",
        f"eToro is down, or you cannot finish by {end}: stop. Do not trade later. Record the remaining lines as 'not executed' and tell the owner.",
        "Anything else unclear: do nothing for that line, record 'not executed', and tell the owner. Doing nothing is always safe.",
    )
    return pre, post, blocked


def _what_if(lines: Sequence[TicketLine], cash: Decimal, sign: str, floor: Decimal = Decimal(0), fee_rate: Decimal = Decimal(0)) -> tuple[str, ...]:
    """For each SELL the BUYs need: which BUYs to shrink or skip if it is not executed (tradeops.cashplan).
    A converting line (a GBP account) pays the conversion fee ``fee_rate`` on what it spends, as the sizing counted it."""
    plan = [
        cashplan.PlanLine(ln.seq, ln.side, ln.symbol, ln.value, ln.reference_price, ln.band, fx_rate=ln.fx_rate, fee_rate=fee_rate)
        if ln.fx_rate is not None
        else cashplan.PlanLine(ln.seq, ln.side, ln.symbol, ln.value, ln.sizing_price, ln.band)
        for ln in lines
    ]
    return tuple(cashplan.what_if_not_sold(plan, cash, floor, sign=sign))


def _headline(kind: str, lines: Sequence[TicketLine], window: ExecutionWindow, failures: Sequence[Failure]) -> str:
    when = f"between {fmt_time(window.start)} and {fmt_time(window.end)} UK time on {fmt_day(window.session)}"
    if kind == "TRADE":
        n_sell = sum(1 for line in lines if line.side == "SELL")
        n_buy = len(lines) - n_sell
        return f"Place {len(lines)} order(s) ({n_sell} sell, {n_buy} buy) {when}, in the order listed."
    if kind == "HOLD":
        return f"Do nothing today: all checks passed and there is nothing worth trading ({fmt_day(window.session)})."
    return f"Do not trade today ({fmt_day(window.session)}): {messages.headline(f.to_dict() for f in failures)}."


def build_ticket(
    decision: Decision | None,
    gates: Iterable[Any],
    window: ExecutionWindow,
    policy: Policy,
    universe: Universe,
    code_hash: str,
    config_hash: str,
    data_hash: str,
    decision_session: date,
    state: str = State.RUN.value,
    state_reasons: Sequence[str] = (),
    stage_errors: Sequence[str] = (),
    revision: int = 1,
    ledger_account: Mapping[str, Decimal] | None = None,
    model_id: str = "",
) -> IssuedTicket:
    """The ticket for ``window.session``, the execution session after ``decision_session``.  Pure.

    ``decision`` is approved.json (None when the risk stage never ran); ``gates`` are
    {name, passed, reasons} mappings or objects; ``state`` is the state machine's answer for
    today; ``stage_errors`` name pipeline stages that failed.  Any failure -> NO-TRADE.
    ``ledger_account`` ({equity, cash} from the ledger) gives the account figures when the
    risk stage never ran, so a NO-TRADE ticket never shows zeros for an account that holds money.
    ``model_id``: the registry artifact that scored the signal (qlib_lgbm), part of the version."""
    gates = tuple(Gate.of(g) for g in gates)
    state = parse_state(state).value
    failures = _failures(gates, state, state_reasons, decision, stage_errors)
    halt = decision is not None and decision.halt and bool(decision.trades) and all(t.side == "SELL" for t in decision.trades)
    if halt:
        # the drawdown halt: its own gate, rule and the HALT state are why we sell, not a block
        others = [f for f in failures if (f.source, f.name) not in _HALT_FAILURES]
        halt = not others
        failures = others if halt else failures
    lines = ()
    fx = decision.fx if decision is not None else None
    if not failures and decision is not None:
        lines = tuple(_line(i, t, universe, policy, fx) for i, t in enumerate(decision.trades, start=1))
    kind = "NO-TRADE" if failures else ("TRADE" if lines else "HOLD")
    confirm_by = window.end + timedelta(minutes=policy.confirmations.deadline_minutes_after_window)
    sign = CURRENCY_SIGN.get(policy.account.account_currency, "")
    tid = ticket_id(window.session, revision)
    zero = Decimal("0")
    held = ledger_account or {}
    cash_now = decision.cash_before if decision else Decimal(str(held.get("cash", zero)))
    pre, post, blocked = _checklists(kind, tid, window, confirm_by, cash_now, policy, sign)
    if kind == "TRADE":
        fee_rate = Decimal(str(fx["fee_bps"])) / 10000 if fx is not None else Decimal(0)
        blocked = blocked[:3] + _what_if(lines, cash_now, sign, policy.account.cash_floor, fee_rate) + blocked[3:]
    d = decision
    acting = d is not None and kind != "NO-TRADE"  # shaping notes and tiny deltas only matter when we act
    why = {
        "summary": d.signal_note if d else "the risk stage did not run",
        "top_ranks": list(d.top_ranks[:5]) if d else [],
        "changes": dict(d.changes) if acting else {"entering": [], "leaving": [], "resized": []},
        "trims": list(d.notes) if acting else [],
        "regime": (d.regime or {}).get("note", "") if d else "",
        "risk_off": {"applied": bool(d.risk_off.get("applied")), "reasons": list(d.risk_off.get("reasons", []))} if d else {"applied": False, "reasons": []},
    }
    equity_now = d.equity if d else Decimal(str(held.get("equity", zero)))
    account = {
        "equity": _cents(equity_now),
        "cash_before": _cents(cash_now),
        "cash_after": _cents((d.cash_after if kind == "TRADE" else d.cash_before) if d else cash_now),
        "drawdown": _plain(d.drawdown) if d else "0",
    }
    if fx is not None and kind != "NO-TRADE":
        account["fx_fees"] = _cents(Decimal(fx["fees"]) if kind == "TRADE" else Decimal("0"))
    return IssuedTicket(
        ticket_id=tid,
        kind=kind,
        headline=_headline(kind, lines, window, failures) + (HALT_HEADLINE if halt else ""),
        execution_session=window.session,
        decision_session=decision_session,
        broker=policy.account.broker,
        account_currency=policy.account.account_currency,
        state=state,
        rebalance=bool(d.rebalance) if d else False,
        strategy=d.strategy if d else policy.strategy.signal,
        version={
            "hash": version_hash(code_hash, config_hash, data_hash, model_id),
            "code": code_hash,
            "config": config_hash,
            "data": data_hash,
            **({"model": model_id} if model_id else {}),
        },
        window=window,
        confirm_by=confirm_by,
        account=account,
        lines=lines,
        failures=tuple(failures),
        gates=gates,
        rules=tuple(rule_to_dict(r) for r in d.rules) if d else (),
        tiny_deltas=tuple({k: (_cents(Decimal(s[k])) if k == "value" else s[k]) for k in ("side", "symbol", "value", "reason")} for s in d.suppressed)
        if acting
        else (),
        why=why,
        pre_trade=pre,
        post_trade=post,
        if_blocked=blocked,
        fx=({k: fx[k] for k in ("pair", "rate", "date", "fee_bps", "fees")} if fx is not None and kind != "NO-TRADE" else None),
    )


# --------------------------------------------------------------------------- files


def ticket_paths(folder: str | Path, execution_session: date, revision: int = 1) -> tuple[Path, Path]:
    """TICKET-YYYYMMDD.md/.json, or TICKET-YYYYMMDD-R2.md/.json for a revision: a supersede
    is written beside the original, never over it."""
    base = Path(folder) / ticket_id(execution_session, revision)
    return base.with_suffix(".md"), base.with_suffix(".json")


def write_ticket(ticket: IssuedTicket, folder: str | Path, replace: bool = False) -> tuple[Path, Path]:
    """Validate, then write TICKET-YYYYMMDD.md and .json.  One ticket per session: an existing,
    different ticket is only replaced with ``replace=True`` (the ledger decides whether that is allowed)."""
    text_json = ticket.to_json()  # validates
    text_md = ticket.to_markdown()
    base = Path(folder) / ticket.ticket_id  # a revision (-R2) sits beside the original, never over it
    md_path, json_path = base.with_suffix(".md"), base.with_suffix(".json")
    if json_path.exists() and not replace:
        if json_path.read_text() == text_json and md_path.exists() and md_path.read_text() == text_md:
            return md_path, json_path
        raise ValidationError(
            f"{json_path} already holds a different ticket for {ticket.execution_session}; "
            "there is exactly one ticket per session (supersede it explicitly, with a reason)"
        )
    write_atomic(md_path, text_md)
    write_atomic(json_path, text_json)
    return md_path, json_path


def read_gates(path: str | Path | None) -> list[Gate]:
    """gates.json: a list of {name, passed, reasons}; a missing path means no gates were run."""
    if path is None:
        return []
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValidationError(f"gate results not found: {path}") from None
    except json.JSONDecodeError as err:
        raise ValidationError(f"gate results {path} are not valid JSON: {err}") from None
    if isinstance(data, Mapping) and "gates" in data:
        data = data["gates"]
    if not isinstance(data, list):
        raise ValidationError(f"gate results {path} must be a list of {{name, passed, reasons}}")
    return [Gate.of(g) for g in data]


def run_ticket_stage(
    run_dir: str | Path,
    tickets_dir: str | Path,
    policy: Policy,
    universe: Universe,
    decision_session: date,
    gates: Iterable[Any],
    code_hash: str,
    config_hash: str,
    data_hash: str,
    state: str = State.RUN.value,
    state_reasons: Sequence[str] = (),
    stage_errors: Sequence[str] = (),
    calendar: ExchangeCalendar | None = None,
    replace: bool = False,
    revision: int = 1,
    ledger_account: Mapping[str, Decimal] | None = None,
    model_id: str = "",
) -> tuple[IssuedTicket, Path, Path]:
    """File in, file out: ``approved.json`` in ``run_dir`` (missing -> NO-TRADE naming it) + gates
    -> TICKET-YYYYMMDD.md/.json in ``tickets_dir``, for the session after ``decision_session``."""
    calendar = calendar or get_calendar(policy.schedule.exchange)
    approved = Path(run_dir) / "approved.json"
    decision = read_decision(approved) if approved.exists() else None
    if decision is not None and decision.session != decision_session:
        raise ValidationError(f"{approved} is for {decision.session}, not the decision session {decision_session}")
    execution = calendar.next_session(decision_session)
    window = calendar.execution_window(execution, policy.execution.window_start_minutes, policy.execution.window_end_minutes)
    ticket = build_ticket(
        decision,
        gates,
        window,
        policy,
        universe,
        code_hash,
        config_hash,
        data_hash,
        decision_session,
        state,
        state_reasons,
        stage_errors,
        revision,
        ledger_account,
        model_id,
    )
    md_path, json_path = write_ticket(ticket, tickets_dir, replace=replace)
    return ticket, md_path, json_path
