"""The guard: raw targets, risk-off, shaping by the rules, the checks and the halt -> a :class:`Decision`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Mapping, Sequence

import pandas as pd

from ..config import Policy, Universe
from ..errors import DataError
from ..portfolio import PortfolioState
from ..checks import Check
from .book import Book, CENT, DUST, Fx, ONE, rule_from_dict, rule_to_dict, Targets, TradeLine, WEIGHT_PLACES, ZERO, dec, make_book, money
from .sizing import _with_instrument_prices, make_trades, order_trades
from .rules import DrawdownKillSwitch, LongOnly, Rule, SmallTradeFilter, rules_from_policy


# --------------------------------------------------------------------------- the guard


@dataclass(frozen=True)
class Decision:
    """approved.json: the guard's answer for one decision session."""

    session: date
    kind: str  # TRADE | HOLD | NO-TRADE
    rebalance: bool
    strategy: str
    account_currency: str
    equity: Decimal
    cash_before: Decimal
    cash_after: Decimal
    drawdown: Decimal
    trades: tuple[TradeLine, ...]
    blocked: tuple[TradeLine, ...]
    suppressed: tuple[dict, ...]  # small trades not made: side, symbol, value, reason, rule
    notes: tuple[str, ...]
    rules: tuple[Check, ...]  # one record per rule (tradeops.checks), in the order they ran
    targets: tuple[dict, ...]
    risk_off: dict
    top_ranks: tuple[dict, ...]
    changes: dict
    signal_note: str = ""
    regime: dict = field(default_factory=dict)
    halt: bool = False  # a drawdown breach: the trades close every position to cash, then HALT
    fx: dict | None = None  # a non-USD account: Fx.to_dict() plus "fees" (the conversion fees of the trades)

    @property
    def failed(self) -> list[Check]:
        return [r for r in self.rules if not r.passed]

    def to_dict(self) -> dict:
        return {
            "session": self.session.isoformat(),
            "kind": self.kind,
            "rebalance": self.rebalance,
            "strategy": self.strategy,
            "account_currency": self.account_currency,
            "equity": str(self.equity.quantize(CENT, ROUND_HALF_EVEN)),
            "cash_before": str(self.cash_before.quantize(CENT, ROUND_HALF_EVEN)),
            "cash_after": str(self.cash_after.quantize(CENT, ROUND_HALF_EVEN)),
            "drawdown": str(self.drawdown.quantize(WEIGHT_PLACES)),
            "trades": [t.to_dict() for t in self.trades],
            "blocked": [t.to_dict() for t in self.blocked],
            "suppressed": list(self.suppressed),
            "notes": list(self.notes),
            "rules": [rule_to_dict(r) for r in self.rules],
            "targets": list(self.targets),
            "risk_off": self.risk_off,
            "top_ranks": list(self.top_ranks),
            "changes": self.changes,
            "signal_note": self.signal_note,
            "regime": self.regime,
            "halt": self.halt,
            **({"fx": dict(self.fx)} if self.fx is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "Decision":
        return cls(
            session=date.fromisoformat(d["session"]),
            kind=d["kind"],
            rebalance=bool(d["rebalance"]),
            strategy=d["strategy"],
            account_currency=d["account_currency"],
            equity=Decimal(d["equity"]),
            cash_before=Decimal(d["cash_before"]),
            cash_after=Decimal(d["cash_after"]),
            drawdown=Decimal(d["drawdown"]),
            trades=tuple(TradeLine.from_dict(t) for t in d["trades"]),
            blocked=tuple(TradeLine.from_dict(t) for t in d["blocked"]),
            suppressed=tuple(d["suppressed"]),
            notes=tuple(d["notes"]),
            rules=tuple(rule_from_dict(r) for r in d["rules"]),
            targets=tuple(d["targets"]),
            risk_off=d["risk_off"],
            top_ranks=tuple(d["top_ranks"]),
            changes=d["changes"],
            signal_note=d.get("signal_note", ""),
            regime=d.get("regime", {}),
            halt=bool(d.get("halt", False)),
            fx=dict(d["fx"]) if d.get("fx") is not None else None,
        )


def raw_targets(ranked: pd.DataFrame, book: Book, rebalance: bool) -> Targets:
    """Equal weights over the selected names on a rebalance day, today's weights otherwise."""
    if not rebalance:
        return book.weights()
    chosen = [str(s) for s in ranked.loc[ranked["selected"].astype(bool), "symbol"]] if len(ranked) else []
    if not chosen:
        return {}
    w = ONE / len(chosen)
    return {s: w for s in chosen}


def apply_risk_off(targets: Targets, reasons: Sequence[str], policy: Policy, rebalance: bool) -> tuple[Targets, dict]:
    """Move ``risk_off_cash_fraction`` of every target to cash when the policy allows it."""
    p = policy.portfolio
    applied = bool(reasons) and p.risk_off_to_cash and rebalance and p.risk_off_cash_fraction > 0
    info = {"applied": applied, "reasons": list(reasons), "cash_fraction": p.risk_off_cash_fraction if applied else 0.0}
    if not applied:
        if reasons and not p.risk_off_to_cash:
            info["note"] = "risk-off conditions hold but portfolio.risk_off_to_cash is false"
        elif reasons and not rebalance:
            info["note"] = "risk-off conditions hold; targets move to cash at the next rebalance"
        return targets, info
    keep = ONE - dec(p.risk_off_cash_fraction)
    return {s: w * keep for s, w in targets.items()}, info


def _target_rows(raw: Targets, shaped: Targets, book: Book, trades: Sequence[TradeLine]) -> tuple[dict, ...]:
    post, _ = book.after(trades)
    rows = []
    for s in sorted(set(raw) | set(shaped) | set(book.values) | set(post)):
        rows.append(
            {
                "symbol": s,
                "rank": book.ranks.get(s),
                "current_value": str(book.values.get(s, ZERO).quantize(CENT, ROUND_HALF_EVEN)),
                "current_weight": str(book.weight(s).quantize(WEIGHT_PLACES)),
                "raw_target_weight": str(raw.get(s, ZERO).quantize(WEIGHT_PLACES)),
                "target_weight": str(shaped.get(s, ZERO).quantize(WEIGHT_PLACES)),
                "approved_value": str(post.get(s, ZERO).quantize(CENT, ROUND_HALF_EVEN)),
                "approved_weight": str((post.get(s, ZERO) / book.equity if book.equity > 0 else ZERO).quantize(WEIGHT_PLACES)),
            }
        )
    return tuple(rows)


def _changes(trades: Sequence[TradeLine], book: Book) -> dict:
    return {
        "entering": sorted(t.symbol for t in trades if t.side == "BUY" and book.values.get(t.symbol, ZERO) == 0),
        "leaving": sorted(t.symbol for t in trades if t.close_position),
        "resized": sorted(t.symbol for t in trades if not t.close_position and book.values.get(t.symbol, ZERO) > 0),
    }


def shape(targets: Targets, book: Book, rules: Sequence[Rule]) -> tuple[Targets, list[TradeLine], list[str], list[dict]]:
    """Step 2 of the module docstring: shape the targets, size the trades, shape the trades.
    Returns (shaped targets, ordered trades, what shaping changed, small trades not made)."""
    if book.equity <= 0:
        return targets, [], [f"equity is {money(book.equity)}: nothing can be sized"], []
    notes: list[str] = []
    for rule in rules:
        targets, n = rule.shape_targets(targets, book)
        notes += n
    trades = make_trades(targets, book)
    suppressed: list[dict] = []
    # a buy shrunk by the cash buffer may have become small: run the small-trade filters once more
    for rule in [*rules, *(r for r in rules if isinstance(r, SmallTradeFilter))]:
        before = trades
        trades, n = rule.shape_trades(trades, book)
        notes += n
        if isinstance(rule, SmallTradeFilter):
            suppressed += [
                {"side": t.side, "symbol": t.symbol, "value": str(t.value), "reason": rule.why_small(t, book), "rule": rule.name}
                for t in before
                if t not in trades
            ]
    return targets, order_trades(trades), notes, suppressed


def decide(
    ranked: pd.DataFrame,
    portfolio: PortfolioState,
    prices: Mapping[str, Decimal],
    policy: Policy,
    universe: Universe,
    rebalance: bool,
    session: date,
    risk_off_reasons: Sequence[str] = (),
    rules: Sequence[Rule] | None = None,
    strategy: str = "",
    signal_note: str = "",
    regime: Mapping | None = None,
    drawdown_breach: str = "",
    fx: Fx | None = None,
) -> tuple[dict, Decision]:
    """The risk guard (pure).  Returns (proposed, decision): proposed.json and approved.json.

    A drawdown breach (the book's drawdown at or past ``risk.kill_switch_drawdown``, or
    ``drawdown_breach``: the reason of a failed ledger drawdown gate) with the kill switch off
    is the policy's max-drawdown halt: no shaping, the trades close every priced position
    (:func:`halt_trades`), the drawdown rule fails (so the state enters HALT) and the
    decision is a TRADE of SELL lines (``halt=True``), or NO-TRADE when nothing is held.
    With the kill switch on, nothing is traded at all.

    ``fx`` (required for a non-USD account, refused for a USD one): the book, the targets and
    every trade value are in the account currency at ``fx.rate``; each line keeps its USD close
    (``instrument_price``) and every trade pays the conversion fee, counted in the cash check and
    the cash after the orders."""
    _check_fx(portfolio.account_currency, fx)
    rules = list(rules) if rules is not None else rules_from_policy(policy, universe)
    book = make_book(portfolio, prices, ranked, session, policy.portfolio.fractional_units, fx)
    dd_rule = next((r for r in rules if isinstance(r, DrawdownKillSwitch)), None)
    if dd_rule is not None and not book.kill_switch and (drawdown_breach or dd_rule.breached(book)):
        return _halt_decision(book, portfolio, policy, rebalance, session, dd_rule, drawdown_breach, strategy, signal_note, regime, ranked)
    raw = raw_targets(ranked, book, rebalance)
    unpriced = {s for s, w in raw.items() if w > 0 and s not in book.prices}
    book = replace(book, missing_prices=tuple(sorted(set(book.missing_prices) | unpriced)))
    targets, risk_off = apply_risk_off(raw, risk_off_reasons, policy, rebalance)
    proposed = {
        "session": session.isoformat(),
        "rebalance": rebalance,
        "strategy": strategy,
        "equity": str(book.equity.quantize(CENT, ROUND_HALF_EVEN)),
        "cash": str(book.cash.quantize(CENT, ROUND_HALF_EVEN)),
        "prices": {s: str(p) for s, p in sorted(book.prices.items()) if s in raw or s in book.values},
        "current_weights": {s: str(w.quantize(WEIGHT_PLACES)) for s, w in sorted(book.weights().items())},
        "raw_target_weights": {s: str(w.quantize(WEIGHT_PLACES)) for s, w in sorted(raw.items())},
        "risk_off": risk_off,
        "missing_prices": list(book.missing_prices),
        **({"fx": fx.to_dict()} if fx is not None else {}),
    }

    shaped, trades, notes, suppressed = shape(targets, book, rules)
    results = [rule.check(trades, book) for rule in rules]
    failed = any(not r.passed for r in results)
    kind = "NO-TRADE" if failed else ("TRADE" if trades else "HOLD")
    _, cash_after = book.after([] if failed else trades)
    decision = Decision(
        session=session,
        kind=kind,
        rebalance=rebalance,
        strategy=strategy,
        account_currency=portfolio.account_currency,
        equity=book.equity,
        cash_before=book.cash,
        cash_after=cash_after,
        drawdown=book.drawdown,
        trades=() if failed else tuple(trades),
        blocked=tuple(trades) if failed else (),
        suppressed=tuple(suppressed),
        notes=tuple(notes),
        rules=tuple(results),
        targets=_target_rows(raw, shaped, book, [] if failed else trades),
        risk_off=risk_off,
        top_ranks=_top_ranks(ranked),
        changes=_changes(trades, book) if not failed else {"entering": [], "leaving": [], "resized": []},
        signal_note=signal_note,
        regime=dict(regime or {}),
        fx=_fx_info(book, [] if failed else trades),
    )
    return proposed, decision


def _check_fx(currency: str, fx: Fx | None) -> None:
    if currency == "USD" and fx is not None:
        raise DataError(f"a USD account converts nothing, but an FX rate was given ({fx!r})")
    if currency != "USD" and fx is None:
        raise DataError(f"a {currency} account is sized at the day's {currency}USD rate, and none was given: no rate, no trade")
    if fx is not None and fx.currency != currency:
        raise DataError(f"the FX rate is for a {fx.currency} account ({fx!r}), the portfolio is in {currency}")


def _fx_info(book: Book, trades: Sequence[TradeLine]) -> dict | None:
    """approved.json's fx: the rate, its date, the fee and the conversion fees of the trades."""
    if book.fx is None:
        return None
    return {**book.fx.to_dict(), "fees": str(book.fees(trades))}


def _top_ranks(ranked: pd.DataFrame, n: int = 10) -> tuple[dict, ...]:
    """The first ``n`` rows of the ranking as the ticket's "why" shows them."""
    top = ranked.head(n)
    return tuple(
        {"rank": int(r), "symbol": str(s), "score": round(float(sc), 6), "selected": bool(sel)}
        for r, s, sc, sel in zip(top["rank"], top["symbol"], top["score"], top["selected"])
    )


def halt_trades(book: Book) -> list[TradeLine]:
    """Risk-off on a drawdown breach: close every priced holding.  No shaping rule applies
    (a turnover cap or a tiny-delta filter must not keep a position through a halt)."""
    return order_trades(
        _with_instrument_prices(
            [
                TradeLine("SELL", s, book.values[s], u, book.prices[s], True, book.ranks.get(s))
                for s, u in sorted(book.units.items())
                if s in book.prices and book.values.get(s, ZERO) >= DUST
            ],
            book,
        )
    )


def _halt_decision(book, portfolio, policy, rebalance, session, dd_rule, breach_reason, strategy, signal_note, regime, ranked) -> tuple[dict, Decision]:
    trades = halt_trades(book)
    notes = [f"drawdown halt: {s} has no reference price on {session} and is not on the risk-off ticket; sell it by hand" for s in book.missing_prices]
    results = (dd_rule.check_halt(trades, book, breach_reason), LongOnly().check(trades, book))
    kind = "TRADE" if trades and results[1].passed else "NO-TRADE"
    done = trades if kind == "TRADE" else []
    _, cash_after = book.after(done)
    reason = results[0].message
    risk_off = {"applied": True, "reasons": [reason], "cash_fraction": 1.0, "halt": True}
    proposed = {
        "session": session.isoformat(),
        "rebalance": rebalance,
        "strategy": strategy,
        "equity": str(book.equity.quantize(CENT, ROUND_HALF_EVEN)),
        "cash": str(book.cash.quantize(CENT, ROUND_HALF_EVEN)),
        "prices": {s: str(p) for s, p in sorted(book.prices.items()) if s in book.values},
        "current_weights": {s: str(w.quantize(WEIGHT_PLACES)) for s, w in sorted(book.weights().items())},
        "raw_target_weights": {},
        "risk_off": risk_off,
        "missing_prices": list(book.missing_prices),
    }
    decision = Decision(
        session=session,
        kind=kind,
        rebalance=rebalance,
        strategy=strategy,
        account_currency=portfolio.account_currency,
        equity=book.equity,
        cash_before=book.cash,
        cash_after=cash_after,
        drawdown=book.drawdown,
        trades=tuple(done),
        blocked=() if done else tuple(trades),
        suppressed=(),
        notes=tuple(notes),
        rules=results,
        targets=_target_rows({}, {}, book, done),
        risk_off=risk_off,
        top_ranks=_top_ranks(ranked),
        changes=_changes(done, book),
        signal_note=signal_note,
        regime=dict(regime or {}),
        halt=True,
        fx=_fx_info(book, done),
    )
    return proposed, decision
