"""Risk guard (a package: :mod:`.book` the values, :mod:`.sizing`, :mod:`.rules`, :mod:`.guard`,
:mod:`.io` the stage's files): ranked list + account + prices -> approved targets and an ordered trade list.

The guard works in three steps, and keeps *shaping* (changing what we aim
for) apart from *checking* (saying yes or no):

1. **Raw targets** (``proposed.json``).  On a rebalance day: equal weights
   over the names the signal selected.  On any other day: today's weights,
   so the answer is normally HOLD and only a real limit breach trades.
   Risk-off (rebalance days only, when ``portfolio.risk_off_to_cash``): if
   the benchmark is below its moving average or no name has positive
   momentum, every target is multiplied by ``1 - risk_off_cash_fraction``.
2. **Shaping** (:func:`shape`), rules in the order of :func:`rules_from_policy`:
   first every rule shapes the weight targets, then the trades are sized
   (account currency; fractional: money to cents and units to 6 dp, whole
   units: value = units x price; rounding always on the safe side: buys
   down, sells up, never more than is held), then every rule shapes the
   trades, and the small-trade filters run once more:

   ==================  =====================  ==================================
   rule                shapes targets         shapes trades
   ==================  =====================  ==================================
   long_only           negative -> 0
   no_buy              capped at the current
                       weight
   max_positions       keeps the best-ranked
                       (unranked held last)
   max_weight          clipped at the limit;
                       the excess stays cash
   max_turnover                               scales buys (then sells, if sells
                                              alone exceed it) so turnover =
                                              sum(|trade|) / 2 / equity <= cap
   tiny_deltas                                drops trades below
                                              ``tiny_delta_value`` or
                                              ``tiny_delta_weight`` of equity
   min_order_value                            drops trades below the minimum
   cash_buffer         scaled so the buffer   shrinks buys if a dropped sell
                       stays cash             left one unfunded
   ==================  =====================  ==================================

   Closing a whole position is never dropped as "tiny": leaving a name is a
   decision, not noise.
3. **Checking**: every rule (also ``drawdown_kill_switch`` and
   ``known_tradable``, which only check) looks at the final trade list and
   returns a :class:`tradeops.checks.Check` (source ``risk``) with its reason.  Any failure makes the
   decision NO-TRADE; the trades it would have made are kept as ``blocked``
   for the audit, never shown as orders.

The max-drawdown halt is the exception to all three steps: with the kill
switch off, a drawdown at or past ``risk.kill_switch_drawdown`` (or a failed
ledger drawdown gate) skips shaping; the trades close every priced position
(:func:`halt_trades`), the drawdown rule fails (the state enters HALT) and the
decision is a TRADE of SELL lines with ``halt=True`` (NO-TRADE when nothing
is held).  With the kill switch on, nothing is traded.

Limits are checked as "the ticket does not create or worsen a breach": a
BUY may not end above the max weight, open a position past the max count or
eat into the cash buffer; SELLs only lower risk.  A name that drifted above a
limit by market moves alone is trimmed when the trim is bigger than a tiny
delta, and otherwise at the next rebalance.
"""

from __future__ import annotations

from .book import (
    ACCOUNT_PRICE_PLACES,
    Book,
    BPS,
    CENT,
    conversion_fee,
    dec,
    DUST,
    FRACTIONAL_UNIT,
    Fx,
    HALF_CENT,
    make_book,
    MAX_FX_FEE_BPS,
    money,
    ONE,
    pct,
    PRICE_PLACES,
    rule_from_dict,
    rule_result,
    rule_to_dict,
    Targets,
    TradeLine,
    WEIGHT_PLACES,
    WHOLE_UNIT,
    ZERO,
)
from .sizing import make_trades, order_trades
from .rules import (
    CashBuffer,
    DrawdownKillSwitch,
    KnownTradable,
    LongOnly,
    MaxPositions,
    MaxTurnover,
    MaxWeight,
    MinOrderValue,
    NoBuy,
    Rule,
    rules_from_policy,
    SmallTradeFilter,
    TinyDeltas,
    turnover,
)
from .guard import apply_risk_off, decide, Decision, halt_trades, raw_targets, shape
from .io import ledger_drawdown_breach, read_decision, rebalance_due, reference_prices, run_fx, run_risk_stage, write_json

__all__ = [
    "ACCOUNT_PRICE_PLACES",
    "BPS",
    "Book",
    "CENT",
    "CashBuffer",
    "DUST",
    "Decision",
    "DrawdownKillSwitch",
    "FRACTIONAL_UNIT",
    "Fx",
    "HALF_CENT",
    "KnownTradable",
    "LongOnly",
    "MAX_FX_FEE_BPS",
    "MaxPositions",
    "MaxTurnover",
    "MaxWeight",
    "MinOrderValue",
    "NoBuy",
    "ONE",
    "PRICE_PLACES",
    "Rule",
    "rule_from_dict",
    "rule_result",
    "rule_to_dict",
    "SmallTradeFilter",
    "Targets",
    "TinyDeltas",
    "TradeLine",
    "WEIGHT_PLACES",
    "WHOLE_UNIT",
    "ZERO",
    "apply_risk_off",
    "conversion_fee",
    "dec",
    "decide",
    "halt_trades",
    "ledger_drawdown_breach",
    "make_book",
    "make_trades",
    "money",
    "order_trades",
    "pct",
    "raw_targets",
    "read_decision",
    "rebalance_due",
    "reference_prices",
    "rules_from_policy",
    "run_fx",
    "run_risk_stage",
    "shape",
    "turnover",
    "write_json",
]
