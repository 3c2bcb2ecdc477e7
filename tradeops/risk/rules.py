"""The risk rules: each validates its limits when built, may shape targets and trades, and checks
the final trade list (see :mod:`tradeops.risk` for the table); :func:`rules_from_policy` builds them in order."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Iterable, Sequence


from ..config import Policy, Universe
from ..errors import ConfigError
from ..checks import Check
from .book import Book, DUST, ONE, rule_result, Targets, TradeLine, ZERO, dec, money, pct
from .sizing import _shrink


# --------------------------------------------------------------------------- rules


class Rule:
    """A risk rule: validates its limits when built, may shape, always checks."""

    name: ClassVar[str]

    def limits(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.limits().items())
        return f"{type(self).__name__}({args})"

    def shape_targets(self, targets: Targets, book: Book) -> tuple[Targets, list[str]]:
        return targets, []

    def shape_trades(self, trades: list[TradeLine], book: Book) -> tuple[list[TradeLine], list[str]]:
        return trades, []

    def check(self, trades: Sequence[TradeLine], book: Book) -> Check:
        raise NotImplementedError

    def _result(self, passed: bool, reason: str) -> Check:
        return rule_result(self.name, passed, reason)


def _bounded(rule: str, key: str, value, lo, hi, lo_open: bool = False, hi_open: bool = False):
    bad = value is None or (value <= lo if lo_open else value < lo) or (value >= hi if hi_open else value > hi)
    if bad:
        span = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        raise ConfigError(f"{rule}: {key} must be in {span}, got {value!r}")
    return value


class DrawdownKillSwitch(Rule):
    """Check only: refuse everything while the kill switch is on or the drawdown is past the limit."""

    name = "drawdown_kill_switch"

    def __init__(self, max_drawdown: float):
        self.max_drawdown = dec(_bounded(self.name, "max_drawdown", max_drawdown, 0, 1, lo_open=True, hi_open=True))

    def limits(self) -> dict:
        return {"max_drawdown": float(self.max_drawdown)}

    def check(self, trades, book):
        if book.kill_switch:
            return self._result(False, f"the kill switch is on ({book.kill_switch_reason}); only an explicit resume clears it")
        if book.drawdown >= self.max_drawdown:
            return self._result(
                False, f"drawdown {pct(book.drawdown)} from peak equity {money(book.peak_equity)} is at or past the kill-switch limit {pct(self.max_drawdown)}"
            )
        return self._result(True, f"drawdown {pct(book.drawdown)} is below the kill-switch limit {pct(self.max_drawdown)}")

    def breached(self, book: Book) -> bool:
        return book.drawdown >= self.max_drawdown

    def check_halt(self, trades: Sequence[TradeLine], book: Book, breach_reason: str = "") -> Check:
        """The verdict on a breach (kill switch off): failed, so the state enters HALT, with the
        risk-off ticket's reason."""
        why = breach_reason or (
            f"drawdown {pct(book.drawdown)} from peak equity {money(book.peak_equity)} is at or past the kill-switch limit {pct(self.max_drawdown)}"
        )
        what = (
            f"risk-off: every position ({len(trades)}) is sold to cash at the next execution window" if trades else "risk-off: the book holds nothing to sell"
        )
        return self._result(False, f"{why}; {what}, then HALT: nothing is bought until an explicit `tradeops resume --reason ...`")


class KnownTradable(Rule):
    """Check only: every traded symbol is in the universe and tradable as real shares, and
    every held or traded symbol has a reference price."""

    name = "known_tradable"

    def __init__(self, known: Iterable[str], tradable: Iterable[str]):
        self.known = frozenset(known)
        self.tradable = frozenset(tradable)
        if not self.known or not all(isinstance(s, str) and s for s in self.known):
            raise ConfigError(f"{self.name}: known must be a non-empty set of symbols, got {sorted(self.known)!r}")
        if not self.tradable <= self.known:
            raise ConfigError(f"{self.name}: tradable symbols {sorted(self.tradable - self.known)} are not in the known set")

    @classmethod
    def from_universe(cls, universe: Universe) -> "KnownTradable":
        return cls(universe.symbols, [i.internal_symbol for i in universe.instruments if i.tradable_as_underlying])

    def limits(self) -> dict:
        return {"known": len(self.known), "tradable": len(self.tradable)}

    def check(self, trades, book):
        problems = []
        if book.missing_prices:
            problems.append(f"no reference price on {book.session} for {', '.join(book.missing_prices)} (held or targeted), so they cannot be valued or sized")
        for t in trades:
            if t.symbol not in self.known:
                problems.append(f"{t.side} {t.symbol}: {t.symbol} is not in the universe (config/universe.csv)")
            elif t.symbol not in self.tradable:
                problems.append(f"{t.side} {t.symbol}: {t.symbol} is not tradable as real shares (tradable_as_underlying=false)")
            if t.symbol not in book.prices:
                problems.append(f"{t.side} {t.symbol}: no reference price on {book.session}")
        if problems:
            return self._result(False, "; ".join(problems))
        return self._result(True, f"{len(trades)} traded symbol(s), all known, tradable as real shares and priced")


class LongOnly(Rule):
    """Shape: negative targets become 0.  Check: no sell of more than is held."""

    name = "long_only"

    def shape_targets(self, targets, book):
        neg = sorted(s for s, w in targets.items() if w < 0)
        return {s: max(w, ZERO) for s, w in targets.items()}, [f"long_only: negative target for {s} set to 0" for s in neg]

    def check(self, trades, book):
        bad = [
            f"SELL {t.symbol} {money(t.value)} is more than the {money(book.values.get(t.symbol, ZERO))} held"
            for t in trades
            if t.side == "SELL" and not t.close_position and (t.value > book.values.get(t.symbol, ZERO) or t.units > book.units.get(t.symbol, ZERO))
        ]
        bad += [f"SELL {t.symbol}: nothing is held" for t in trades if t.side == "SELL" and t.close_position and t.symbol not in book.units]
        if bad:
            return self._result(False, "; ".join(bad) + " (that would be a short)")
        return self._result(True, "no sell exceeds what is held")


class NoBuy(Rule):
    """Shape: a listed name's target is capped at its current weight.  Check: no BUY of a listed name."""

    name = "no_buy"

    def __init__(self, symbols: Iterable[str]):
        self.symbols = frozenset(symbols)
        if not all(isinstance(s, str) and s.strip() for s in self.symbols):
            raise ConfigError(f"{self.name}: symbols must be non-empty strings, got {sorted(map(repr, self.symbols))}")

    def limits(self) -> dict:
        return {"symbols": sorted(self.symbols)}

    def shape_targets(self, targets, book):
        out, notes = dict(targets), []
        for s in sorted(self.symbols & set(targets)):
            cap = book.weight(s)
            if out[s] > cap:
                notes.append(f"no_buy: {s} is on the no-buy list; target {pct(out[s])} capped at its current {pct(cap)}")
                out[s] = cap
        return out, notes

    def check(self, trades, book):
        bad = sorted(t.symbol for t in trades if t.side == "BUY" and t.symbol in self.symbols)
        if bad:
            return self._result(False, f"BUY of {', '.join(bad)}, which the policy lists under portfolio.no_buy")
        return self._result(True, f"no buy of the {len(self.symbols)} no-buy names")


class MaxPositions(Rule):
    """Shape: keep the best-ranked ``max_positions`` targets.  Check: no new name opened past the count."""

    name = "max_positions"

    def __init__(self, max_positions: int):
        self.max_positions = _bounded(self.name, "max_positions", max_positions, 1, 1000)
        if not isinstance(max_positions, int):
            raise ConfigError(f"{self.name}: max_positions must be an integer, got {max_positions!r}")

    def limits(self) -> dict:
        return {"max_positions": self.max_positions}

    def shape_targets(self, targets, book):
        held = [s for s, w in targets.items() if w > 0]
        if len(held) <= self.max_positions:
            return targets, []
        order = sorted(held, key=lambda s: (book.ranks.get(s, 10**9), -targets[s], s))
        cut = order[self.max_positions :]
        out = {s: (ZERO if s in cut else w) for s, w in targets.items()}
        return out, [f"max_positions: {len(held)} targets > {self.max_positions}; dropped {', '.join(sorted(cut))}"]

    def check(self, trades, book):
        post, _ = book.after(trades)
        opened = sorted(t.symbol for t in trades if t.side == "BUY" and book.values.get(t.symbol, ZERO) == 0)
        n = sum(1 for v in post.values() if v >= DUST)
        if n > self.max_positions and opened:
            return self._result(False, f"{n} positions after trading > max {self.max_positions}, and the ticket opens {', '.join(opened)}")
        return self._result(True, f"{n} positions after trading (max {self.max_positions})")


class MaxWeight(Rule):
    """Shape: clip each target at ``max_weight`` (excess stays cash).  Check: no buy ends above it,
    no name's weight grows above it."""

    name = "max_weight"

    def __init__(self, max_weight: float):
        self.max_weight = dec(_bounded(self.name, "max_weight", max_weight, 0, 1, lo_open=True))

    def limits(self) -> dict:
        return {"max_weight": float(self.max_weight)}

    def shape_targets(self, targets, book):
        out, notes = dict(targets), []
        for s in sorted(targets):
            if targets[s] > self.max_weight:
                out[s] = self.max_weight
                notes.append(f"max_weight: {s} target {pct(targets[s])} clipped to {pct(self.max_weight)}")
        return out, notes

    def check(self, trades, book):
        post, _ = book.after(trades)
        limit = self.max_weight * book.equity
        bought = {t.symbol for t in trades if t.side == "BUY"}
        bad = [f"{s} would be {pct(v / book.equity)} of equity" for s, v in sorted(post.items()) if v > limit and (s in bought or v > book.values.get(s, ZERO))]
        if bad:
            return self._result(False, f"{'; '.join(bad)}, above the max weight {pct(self.max_weight)}")
        top = max(post.items(), key=lambda kv: kv[1], default=("-", ZERO))
        w = top[1] / book.equity if book.equity > 0 else ZERO
        return self._result(True, f"largest position after trading {top[0]} {pct(w)} (max {pct(self.max_weight)}; no buy exceeds it)")


class CashBuffer(Rule):
    """Shape: scale targets so at least ``min_cash_buffer`` of equity stays cash; later, shrink buys
    if dropped sells left them unfunded.  Check: after any buy, cash >= the buffer."""

    name = "cash_buffer"

    def __init__(self, min_cash_buffer: float):
        self.buffer = dec(_bounded(self.name, "min_cash_buffer", min_cash_buffer, 0, 1, hi_open=True))

    def limits(self) -> dict:
        return {"min_cash_buffer": float(self.buffer)}

    def shape_targets(self, targets, book):
        total = sum(targets.values(), ZERO)
        room = ONE - self.buffer
        if total <= room or total == 0:
            return targets, []
        k = room / total
        return {s: w * k for s, w in targets.items()}, [f"cash_buffer: targets sum to {pct(total)}; scaled by {float(k):.4f} to keep {pct(self.buffer)} cash"]

    def shape_trades(self, trades, book):
        buys = [t for t in trades if t.side == "BUY"]
        _, cash = book.after(trades)
        short = self.buffer * book.equity - cash
        total = sum((t.value for t in buys), ZERO)
        if short <= 0 or total == 0:
            return trades, []
        k = max(ZERO, (total - short) / total)
        shrunk = {t.symbol: _shrink(t, t.value * k, book) for t in buys}
        out = [shrunk.get(t.symbol, t) if t.side == "BUY" else t for t in trades]
        return [t for t in out if t.value > 0], [f"cash_buffer: buys shrunk by {money(short)} so {pct(self.buffer)} stays cash"]

    def check(self, trades, book):
        _, cash = book.after(trades)
        need = self.buffer * book.equity
        buys = any(t.side == "BUY" for t in trades)
        if buys and cash < need:
            return self._result(False, f"cash after trading {money(cash)} is below the buffer {money(need)} ({pct(self.buffer)} of equity)")
        return self._result(True, f"cash after trading {money(cash)} ({pct(cash / book.equity) if book.equity > 0 else '-'}; buffer {pct(self.buffer)})")


def turnover(trades: Iterable[TradeLine], equity: Decimal) -> Decimal:
    """One-way turnover: half the sum of traded values, as a fraction of equity."""
    return sum((t.value for t in trades), ZERO) / 2 / equity if equity > 0 else ZERO


class MaxTurnover(Rule):
    """Shape: scale buys (then sells) so turnover stays within ``max_turnover``.  Check: it does."""

    name = "max_turnover"

    def __init__(self, max_turnover: float):
        self.max_turnover = dec(_bounded(self.name, "max_turnover", max_turnover, 0, 2, lo_open=True))

    def limits(self) -> dict:
        return {"max_turnover": float(self.max_turnover)}

    def shape_trades(self, trades, book):
        now = turnover(trades, book.equity)
        if now <= self.max_turnover:
            return trades, []
        budget = 2 * self.max_turnover * book.equity
        sells = sum((t.value for t in trades if t.side == "SELL"), ZERO)
        buys = sum((t.value for t in trades if t.side == "BUY"), ZERO)
        if sells <= budget:
            k_sell, k_buy = ONE, (budget - sells) / buys
        else:
            k_sell, k_buy = budget / sells, ZERO
        out = []
        for t in trades:
            k = k_sell if t.side == "SELL" else k_buy
            if k != ONE:
                t = _shrink(t, t.value * k, book)
            if t.value > 0:
                out.append(t)
        return out, [f"max_turnover: turnover {pct(now)} > cap {pct(self.max_turnover)}; buys scaled by {float(k_buy):.4f}, sells by {float(k_sell):.4f}"]

    def check(self, trades, book):
        now = turnover(trades, book.equity)
        ok = now <= self.max_turnover
        return self._result(ok, f"turnover {pct(now, 2)} {'within' if ok else 'above'} the cap {pct(self.max_turnover)}")


class SmallTradeFilter(Rule):
    """Base of the rules that drop small trades (never a whole-position close).  The guard
    records every dropped trade in ``Decision.suppressed`` (the ticket's "tiny deltas" list)."""

    def why_small(self, t: TradeLine, book: Book) -> str | None:
        raise NotImplementedError

    def shape_trades(self, trades, book):
        return [t for t in trades if t.close_position or not self.why_small(t, book)], []

    def check(self, trades, book):
        bad = [f"{t.side} {t.symbol} {money(t.value)} ({self.why_small(t, book)})" for t in trades if not t.close_position and self.why_small(t, book)]
        if bad:
            return self._result(False, "small trades left on the ticket: " + "; ".join(bad))
        return self._result(True, f"no trade is {self.threshold()} (whole-position closes excepted)")

    def threshold(self) -> str:
        raise NotImplementedError


class TinyDeltas(SmallTradeFilter):
    """Shape: drop trades below ``tiny_delta_value`` or ``tiny_delta_weight`` of equity ("do nothing").
    Check: none is left."""

    name = "tiny_deltas"

    def __init__(self, value: Decimal, weight: float):
        self.value = dec(_bounded(self.name, "tiny_delta_value", dec(value), 0, Decimal("1000000")))
        self.weight = dec(_bounded(self.name, "tiny_delta_weight", weight, 0, 0.5))

    def limits(self) -> dict:
        return {"tiny_delta_value": str(self.value), "tiny_delta_weight": float(self.weight)}

    def threshold(self) -> str:
        return f"below {money(self.value)} or {pct(self.weight, 2)} of equity"

    def why_small(self, t, book):
        if t.value < self.value:
            return f"below {money(self.value)}"
        if book.equity > 0 and t.value / book.equity < self.weight:
            return f"below {pct(self.weight, 2)} of equity"
        return None


class MinOrderValue(SmallTradeFilter):
    """Shape: drop trades below the broker's minimum order.  Check: none is left."""

    name = "min_order_value"

    def __init__(self, min_order_value: Decimal):
        self.min_value = dec(_bounded(self.name, "min_order_value", dec(min_order_value), 0, Decimal("1000000")))

    def limits(self) -> dict:
        return {"min_order_value": str(self.min_value)}

    def threshold(self) -> str:
        return f"below the minimum order {money(self.min_value)}"

    def why_small(self, t, book):
        return self.threshold() if t.value < self.min_value else None


def rules_from_policy(policy: Policy, universe: Universe) -> list[Rule]:
    """The rules in the order they shape (see the module docstring)."""
    p = policy.portfolio
    return [
        DrawdownKillSwitch(policy.risk.kill_switch_drawdown),
        KnownTradable.from_universe(universe),
        LongOnly(),
        NoBuy(p.no_buy),
        MaxPositions(p.max_positions),
        MaxWeight(p.max_weight),
        MaxTurnover(p.max_turnover),
        TinyDeltas(p.tiny_delta_value, p.tiny_delta_weight),
        MinOrderValue(p.min_order_value),
        CashBuffer(p.min_cash_buffer),
    ]
