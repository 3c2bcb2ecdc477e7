"""Live vs shadow drift: where every pound of difference between the account and the strategy went.

The *shadow portfolio* starts from the live book (cash and units at the
close of the session before the first live ticket) and executes every
ticket line exactly as issued: the archived ticket's units at the
reference price moved by the policy's slippage (``research.slippage_bps``,
a BUY pays more, a SELL gets less), paying the policy's commission
(``research.cost_bps`` of the value) plus the line's own FX conversion fee,
at the line's sizing rate, in the ticket's session (the live timing).  It
is rebuilt each time from the ledger and the run archive alone; it keeps no
state of its own.  It is a book of its own, not the research engine's loop:
the engine would re-decide from its own book, while the shadow must trade
the tickets as issued (a SELL sized to a live book that a partial fill left
larger may take the shadow's units below zero; the arithmetic still holds).
The open a late fill is priced at comes from the newest archived clean
snapshot (``runs/*/*/eod.parquet``); without it the whole price gap of a
late fill stays in slippage.

Live equity minus shadow equity at each session's close is attributed to
(per line, ``s`` = +1 for a BUY and -1 for a SELL, every figure in the
account currency; ``M`` the close over the day's rate, ``Q = P_s / r_s`` the
shadow's price per unit in the account currency, ``P_s = ref x (1 + s x
slip)``):

- ``signal``: ``s (U_ledger - U_archive)(M - Q)``: the ledger's line differs
  from the archived ticket (conformance: should be zero);
- ``not_executed``: ``s (0 - U_ledger)(M - Q) + F_s`` for a line not
  executed or not confirmed (the shadow paid the model's fees ``F_s`` on it;
  the reasons are listed);
- ``partial``: ``s (u - U_ledger)(M - Q)`` for a partial fill of ``u`` units;
- ``delay``: a fill late in or outside the execution window (before the
  window, or more than ``drift.late_after_minutes`` after its start) is
  priced at the session's open moved by the model slippage, ``O_s``; the
  delay is ``-s u (p - O_s) / r_s`` (and, while a fill dated after the
  session is not yet booked, the whole ``s (0 - u)(M - Q) + F_s``);
- ``slippage``: ``-s u (p - P_s) / r_s`` (on-time fills), or ``-s u (O_s -
  P_s) / r_s`` (late fills);
- ``fees``: ``-(f - F_s)``: fees paid minus the model's;
- ``fx``: ``-s u p (1 / r - 1 / r_s)``: the fill's rate against the rate the
  line was sized at (0 in a USD account);
- ``cash_movements``: every deposit, withdrawal, dividend, interest, fee or
  FX movement booked after the start (the shadow has none);
- ``residual``: the total less the sum of the others, each rounded to the
  cent: the booked rounding of amounts and market values, splits,
  corrections booked on another day, and anything not modelled.  By this
  definition the components add up to the total to the cent; the residual
  is required to be small (``drift.max_residual_share`` of equity alerts).

The functions here are pure; :func:`load_inputs` is the edge that reads the
ledger (through ``tradeops.ledger.api``) and the archive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import Sequence

from .ledger.money import AsOf

from .drift_shadow import _mark, _rate, BPS, cents, COMPONENTS, DriftInputs, LABELS, Line, Model, ONE, PRICE_Q, PriceSeries, shadow_equity, shadow_fill, ZERO  # noqa: F401  (re-exported)
# --------------------------------------------------------------------------- attribution


def line_components(ln: Line, inputs: DriftInputs, day: date, shadow: tuple | None = None) -> dict[str, Decimal]:
    """One line's exact (unrounded) share of live minus shadow at ``day``'s close (``shadow``: its
    :func:`shadow_fill`, when already computed)."""
    out = dict.fromkeys(COMPONENTS[:-2], ZERO)
    if ln.session > day:
        return out
    model = inputs.model
    s = ln.sign
    p_s, _, f_s = shadow or shadow_fill(ln, model)
    mark = _mark(inputs, ln.symbol, day)
    m = (mark / _rate(inputs, day)) if mark is not None else ZERO
    q = p_s / ln.sizing_rate
    gap = m - q  # what one unit more held is worth against the shadow's cost of it
    out["signal"] = s * (ln.units - ln.shadow_units) * gap
    filled = ln.status in ("EXECUTED", "PARTIAL") and ln.filled_units > 0
    u = ln.filled_units if filled else ZERO
    key = "partial" if filled else "not_executed"
    out[key] += s * (u - ln.units) * gap
    if not filled:  # the shadow paid the model's fees on it; the account paid nothing
        out["not_executed"] += f_s
        return out
    if ln.filled_on is None or ln.filled_on > day:  # executed after this session: not in the account yet
        out["delay"] += s * (ZERO - u) * gap + f_s
        return out
    out["fees"] += -(ln.fees - f_s)
    p = ln.fill_price
    open_ = (inputs.opens.get(ln.symbol) or {}).get(ln.session)  # the session's own open, from the archive
    late = ln.delay_minutes is not None and (ln.delay_minutes < 0 or ln.delay_minutes > model.late_after_minutes)
    if late and open_ is not None:
        o_s = model.price(ln.side, open_)
        out["delay"] += -s * u * (p - o_s) / ln.sizing_rate
        out["slippage"] += -s * u * (o_s - p_s) / ln.sizing_rate
    else:
        out["slippage"] += -s * u * (p - p_s) / ln.sizing_rate
    if ln.fill_rate != ln.sizing_rate:
        out["fx"] += -s * u * p * (ONE / ln.fill_rate - ONE / ln.sizing_rate)
    return out


@dataclass(frozen=True)
class DriftRow:
    """Live minus shadow at one session's close, cumulative since the start, by cause."""

    day: date
    live: Decimal
    shadow: Decimal
    components: dict[str, Decimal]  # each to the cent; the residual makes them add up to total
    currency: str
    benchmark: Decimal | None = None  # the benchmark's close

    @property
    def total(self) -> Decimal:
        return cents(self.live - self.shadow)

    def share(self, name: str) -> float:
        return float(self.components[name] / self.live) if self.live else float("nan")

    def to_dict(self) -> dict:
        return {
            "day": self.day.isoformat(),
            "live": str(self.live),
            "shadow": str(self.shadow),
            "total": str(self.total),
            "currency": self.currency,
            "components": {k: str(v) for k, v in self.components.items()},
        }


@dataclass(frozen=True)
class Drift:
    rows: tuple[DriftRow, ...]
    lines: tuple[Line, ...]
    currency: str

    @property
    def last(self) -> DriftRow | None:
        return self.rows[-1] if self.rows else None

    def per_session(self) -> list[tuple[date, dict[str, Decimal]]]:
        """The change of each component from the previous session's close (the first: from the start)."""
        out, prev = [], dict.fromkeys(COMPONENTS, ZERO) | {"total": ZERO}
        for row in self.rows:
            now = dict(row.components) | {"total": row.total}
            out.append((row.day, {k: now[k] - prev[k] for k in now}))
            prev = now
        return out

    def not_executed_reasons(self) -> list[tuple[str, int, str, str]]:
        return [
            (ln.ticket_id, ln.line_no, ln.symbol, ln.reason or ("not confirmed" if ln.status == "UNCONFIRMED" else ""))
            for ln in self.lines
            if ln.status in ("NOT_EXECUTED", "UNCONFIRMED")
        ]


def attribute(inputs: DriftInputs) -> Drift:
    """Live minus shadow at every session's close, split by cause; components sum to the total to the cent."""
    shadow = shadow_equity(inputs)
    bench = AsOf(inputs.benchmark)
    fills = [shadow_fill(ln, inputs.model) for ln in inputs.lines]
    rows = []
    for day in inputs.sessions:
        if day not in inputs.live_equity:
            continue
        exact = dict.fromkeys(COMPONENTS[:-1], ZERO)
        for ln, sf in zip(inputs.lines, fills):
            if ln.session > day:
                continue
            for k, v in line_components(ln, inputs, day, sf).items():
                exact[k] += v
        exact["cash_movements"] = sum((a for d, _, a in inputs.cash_moves if d <= day), ZERO)
        comps = {k: cents(v) for k, v in exact.items()}
        live, shadow_day = inputs.live_equity[day], shadow[day]
        comps["residual"] = cents(live - shadow_day) - sum(comps.values(), ZERO)
        rows.append(DriftRow(day, live, shadow_day, comps, inputs.currency, bench.get(day)))
    return Drift(tuple(rows), tuple(inputs.lines), inputs.currency)


# --------------------------------------------------------------------------- execution compliance


@dataclass(frozen=True)
class Compliance:
    """How the lines of one period were executed."""

    start: date
    lines: int
    as_issued: float  # share of lines executed in full, on time
    median_delay_minutes: float | None  # after the window's start, of the fills
    median_slippage_bps: float | None  # positive = cost
    unfilled_share: float  # of the intended value
    turnover: float  # traded value / mean live equity


def _slip_bps(ln: Line) -> float:
    s = 1.0 if ln.side == "BUY" else -1.0
    return s * float((ln.fill_price - ln.reference_price) / ln.reference_price) * 10_000


def compliance(lines: Sequence[Line], start: date, equity: Decimal, late_after_minutes: int = 30) -> Compliance:
    n = len(lines)
    filled = [ln for ln in lines if ln.status in ("EXECUTED", "PARTIAL") and ln.filled_units > 0 and ln.fill_price is not None]
    delays = [ln.delay_minutes for ln in filled if ln.delay_minutes is not None]
    on_time = [
        ln
        for ln in filled
        if ln.status == "EXECUTED" and ln.filled_units == ln.units and ln.delay_minutes is not None and 0 <= ln.delay_minutes <= late_after_minutes
    ]
    intended = sum((ln.units * ln.reference_price / ln.sizing_rate for ln in lines), ZERO)
    done = sum((ln.filled_units * ln.reference_price / ln.sizing_rate for ln in filled), ZERO)
    traded = sum((ln.filled_units * ln.fill_price / ln.fill_rate for ln in filled), ZERO)
    return Compliance(
        start,
        n,
        len(on_time) / n if n else float("nan"),
        median(delays) if delays else None,
        median(_slip_bps(ln) for ln in filled) if filled else None,
        float(1 - done / intended) if intended else 0.0,
        float(traded / equity) if equity else 0.0,
    )


def weekly_compliance(drift: Drift, week_starts: Sequence[date], late_after_minutes: int = 30) -> list[Compliance]:
    """One :class:`Compliance` per week (``week_starts`` ascending: each week runs to the next start)."""
    out = []
    for i, start in enumerate(week_starts):
        end = week_starts[i + 1] if i + 1 < len(week_starts) else date.max
        lines = [ln for ln in drift.lines if start <= ln.session < end]
        eq = [r.live for r in drift.rows if start <= r.day < end]
        out.append(compliance(lines, start, sum(eq, ZERO) / len(eq) if eq else ZERO, late_after_minutes))
    return out


def worsening(values: Sequence[float | None], weeks: int = 4) -> bool:
    """True when the last ``weeks`` values each rose above the one before (``weeks`` + 1 values needed)."""
    tail = [v for v in values if v is not None][-(weeks + 1) :]
    return len(tail) == weeks + 1 and all(b > a for a, b in zip(tail, tail[1:]))


# --------------------------------------------------------------------------- text


def table(drift: Drift, since: date | None = None) -> str:
    """The cumulative attribution at the last session, and per session, as plain text."""
    last = drift.last
    if last is None:
        return "no live tickets yet: nothing to compare with a shadow portfolio"
    cur = drift.currency
    out = [
        f"Live vs shadow, {drift.rows[0].day} to {last.day} ({cur})",
        f"live equity {last.live:,.2f}  shadow equity {last.shadow:,.2f}  difference {last.total:+,.2f} "
        f"({float(last.total / last.live) if last.live else float('nan'):+.3%} of equity)",
        "",
        f"{'component':<44}{'money':>14}{'of equity':>12}",
    ]
    for k in COMPONENTS:
        out.append(f"{LABELS[k]:<44}{last.components[k]:>+14,.2f}{last.share(k):>+12.3%}")
    out.append(f"{'Total (live - shadow)':<44}{last.total:>+14,.2f}{float(last.total / last.live) if last.live else 0:>+12.3%}")
    reasons = drift.not_executed_reasons()
    if reasons:
        out += ["", "Lines not executed:"] + [f"  {t} line {n} {sym}: {why}" for t, n, sym, why in reasons]
    out += ["", "Per session (change since the previous close):", "session     " + "".join(f"{k[:10]:>11}" for k in COMPONENTS) + f"{'total':>11}"]
    for day, delta in drift.per_session():
        if since is None or day >= since:
            out.append(f"{day}  " + "".join(f"{delta[k]:>+11,.2f}" for k in COMPONENTS) + f"{delta['total']:>+11,.2f}")
    return "\n".join(out)


# --------------------------------------------------------------------------- the edge: ledger and archive


def _archived(tickets_dir: Path | None, ticket_id: str) -> dict | None:
    if tickets_dir is None:
        return None
    path = Path(tickets_dir) / f"{ticket_id}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _archive_opens(runs_dir: Path | None) -> dict[str, dict[date, Decimal]]:
    """Opens of every session in the archived clean snapshots (the newest run folder's ``eod.parquet`` first)."""
    out: dict[str, dict[date, Decimal]] = {}
    if runs_dir is None or not Path(runs_dir).exists():
        return out
    import pandas as pd

    files = sorted(Path(runs_dir).glob("*/*/eod.parquet"), reverse=True)
    for path in files[:1]:
        eod = pd.read_parquet(path, columns=["symbol", "date", "open"])
        for sym, day, o in eod.itertuples(index=False):
            if o == o and o > 0:
                out.setdefault(sym, {})[day.date()] = Decimal(str(o))
    return out


def load_inputs(
    session,
    policy,
    *,
    since: date | None = None,
    end: date | None = None,
    tickets_dir: Path | None = None,
    runs_dir: Path | None = None,
    opens: PriceSeries | None = None,
    closes: PriceSeries | None = None,
    account: str | None = None,
) -> DriftInputs | None:
    """Everything :func:`attribute` needs, from the ledger (public API) and the archive; None without live tickets."""
    from .calendar import get_calendar
    from .ledger import api

    acct = {"account": account} if account else {}
    cal = get_calendar(policy.schedule.exchange)
    tickets = api.tickets_between(session, since, end, **acct)
    if not tickets:
        return None
    start = tickets[0].session_date
    acc = api.get_account(session, **({"name": account} if account else {}))
    prev = cal.previous_session(start)
    before = cal.market_close(prev)
    closes = api.load_prices(session) if closes is None else closes
    last = max((max(s) for s in closes.values() if s), default=start)
    end = min(end, last) if end else last
    if end < start:
        end = start
    sessions = cal.sessions(start, end)
    fx = api.load_fx_rates(session, acc.currency, "USD") if acc.currency != "USD" else {}
    model = Model.from_policy(policy)
    lines = []
    for t in tickets:
        payload = t.payload or {}
        archived = _archived(tickets_dir, t.ticket_id)
        arch_units = {ln["seq"]: Decimal(ln["units"]) for ln in archived["lines"]} if archived else None
        window = payload.get("window", {}).get("start")
        wstart = (
            datetime.fromisoformat(window)
            if window
            else cal.execution_window(t.session_date, policy.execution.window_start_minutes, policy.execution.window_end_minutes).start
        )
        for st in api.line_statuses(session, t.ticket_id, **acct):
            ln, f = st.line, st.fill
            details = ln.details or {}
            rate = Decimal(str(details["fx_rate"])) if details.get("fx_rate") else ONE
            kw = dict(
                ticket_id=t.ticket_id,
                session=t.session_date,
                line_no=ln.line_no,
                side=ln.side,
                symbol=ln.symbol,
                units=ln.approx_units,
                reference_price=ln.reference_price,
                window_start=wstart,
                archived_units=(arch_units.get(ln.line_no, ZERO) if arch_units is not None else None),
                sizing_rate=rate,
                model_fx_fee=Decimal(str(details.get("fx_fee", "0"))),
            )
            if f is not None:
                kw |= dict(
                    status=f.status,
                    filled_units=f.units,
                    fill_price=f.price,
                    fees=f.fees,
                    fill_rate=f.fx_rate,
                    account_amount=f.account_amount,
                    filled_at=f.filled_at,
                    filled_on=api.exchange_date(f.filled_at),
                    reason=f.reason or "",
                )
            lines.append(Line(**kw))
        if arch_units is not None:  # archived lines the ledger never recorded: a signal difference
            known = {ln.line_no for ln in t.lines}
            for ln in archived["lines"]:
                if ln["seq"] not in known:
                    lines.append(
                        Line(
                            t.ticket_id,
                            t.session_date,
                            ln["seq"],
                            ln["side"],
                            ln["symbol"],
                            ZERO,
                            Decimal(ln["reference_price"]),
                            wstart,
                            archived_units=Decimal(ln["units"]),
                            status="NOT_IN_LEDGER",
                        )
                    )
    curve = api.compute_equity_curve(session, closes, start=start, end=end, **acct)
    moves = [(m.value_date, m.kind, m.amount) for m in api.cash_movements(session, prev + timedelta(days=1), end, **acct) if m.currency == acc.currency]
    bench = closes.get(policy.universe.benchmark, {})
    return DriftInputs(
        start=start,
        currency=acc.currency,
        start_cash=api.compute_cash(session, as_of=before, **acct).amount,
        start_units=api.compute_positions(session, as_of=before, **acct),
        sessions=sessions,
        closes=closes,
        opens=opens if opens is not None else _archive_opens(runs_dir),
        fx=fx,
        live_equity={p.day: p.equity for p in curve},
        cash_moves=moves,
        lines=tuple(lines),
        model=model,
        benchmark=bench,
    )


def from_workspace(ws, policy=None, *, since: date | None = None, end: date | None = None) -> Drift | None:
    """The drift of a workspace: its ledger, its tickets/ and runs/ archive; None without live tickets."""
    from .ledger.db import open_at_head, transaction

    policy = policy or ws.policy()
    engine = open_at_head(ws.db_url())  # a ledger not initialised: a LedgerError naming `tradeops ledger init`
    try:
        with transaction(engine) as s:
            inputs = load_inputs(s, policy, since=since, end=end, tickets_dir=ws.tickets_dir, runs_dir=ws.runs_dir)
            return attribute(inputs) if inputs is not None else None
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the weekly report's section

EROSION = ("median_slippage_bps", "turnover", "unfilled_share")
