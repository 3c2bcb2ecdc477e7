"""The message catalogue: what each gate and operating state means, in plain words, written once.

Every gate, state, risk rule and stage failure has one :class:`Message`: a
title, a sentence for the executor (what happened and what to do on eToro:
usually nothing), a sentence for the owner (what to do to trade again) and
who acts.  The ticket (``tradeops.tickets``), the confirmation page
(``tradeops.dashboard.render``), the alerts and the reports take their words
from here, so the executor never sees the code's names ("gate
``confirmations``", "state ``SAFE_MODE``").

:func:`explain` turns a ticket's failures into one plain item per cause, with
lists grouped ("5 lines of ticket TICKET-20240315 are not confirmed: AMT,
NVDA, SO, PEP, CB") and nothing repeated; the advice of SAFE_MODE depends on
what put the account in it (confirmations or reconciliation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence


@dataclass(frozen=True)
class Message:
    title: str  # a few words, for a heading or a table
    executor: str  # what happened and what to do, for the person at eToro
    owner: str  # what the owner does so that trading can restart
    who: str  # who acts: "the executor", "the owner", "nobody: it clears by itself"


NOTHING = "Do nothing in eToro today."

CATALOGUE: dict[str, Message] = {
    "kill_switch": Message(
        "Kill switch is on",
        f"{NOTHING} The owner has switched trading off.",
        "Turn the kill switch off on the confirmation page (with a reason) when trading may resume.",
        "the owner",
    ),
    "drawdown": Message(
        "Account fell past the loss limit",
        f"{NOTHING} The account has lost more than the policy allows from its peak, so trading is halted. Tell the owner.",
        "Review the account and the strategy; trading stays halted until you resume it with a reason (`tradeops ledger resume`).",
        "the owner",
    ),
    "confirmations": Message(
        "The previous ticket is not fully confirmed",
        f"{NOTHING} Open the confirmation page and record what happened to every line of the previous ticket "
        "(executed, partial or not executed). The next run can trade again once every line is recorded.",
        "Make sure the executor records every line of the previous ticket; no action is needed in the code.",
        "the executor",
    ),
    "reconciliation": Message(
        "eToro and the ledger disagree",
        f"{NOTHING} Enter a fresh broker snapshot on the confirmation page: the cash and the units of every position "
        "exactly as eToro shows them. Then tell the owner about the difference.",
        "Find the difference (a missing fee, dividend or fill) and record it in the ledger; trading restarts by itself once they agree.",
        "the executor, then the owner",
    ),
    "data_quality": Message(
        "The market data failed its checks",
        f"{NOTHING} The prices the run downloaded are incomplete or look wrong. Tell the owner; the next run tries again.",
        "Look at the run's quality report; the next run tries again by itself.",
        "nobody: the next run tries again",
    ),
    "fx_rate": Message(
        "No valid pound-dollar exchange rate",
        f"{NOTHING} The account is in pounds and the run has no exchange rate it can trust for the last US session's closing prices, "
        "so no order can be sized in pounds. Tell the owner; the next run tries again.",
        "Look at the run's FX report (fx.json: missing, stale, zero or implausible GBPUSD rate); the next run tries again by itself.",
        "nobody: the next run tries again",
    ),
    "ticket_sanity": Message(
        "The proposed orders broke a safety rule",
        f"{NOTHING} The orders the run proposed broke one of the policy's safety rules, so none is issued. Tell the owner.",
        "Look at the run's approved trades and the rule that failed.",
        "the owner",
    ),
    "HALT": Message(
        "Trading is halted",
        f"{NOTHING} Trading is halted until the owner checks the account and resumes it with a reason. Tell the owner.",
        "Resume trading with a reason (`tradeops ledger resume`) once the cause is dealt with.",
        "the owner",
    ),
    "SAFE_MODE": Message(
        "The ledger cannot be trusted yet",
        f"{NOTHING} The ledger is not sure what the account holds. Tell the owner.",
        "Fix what the failed check says; trading restarts by itself once it passes.",
        "the owner",
    ),
    "DEGRADED_DATA": Message(
        "The market data is not good enough",
        f"{NOTHING} Trading restarts by itself once the market data passes its checks again. Tell the owner.",
        "Look at the run's quality report; the next run tries again by itself.",
        "nobody: the next run tries again",
    ),
    "rule": Message(
        "The risk guard refused today's orders",
        f"{NOTHING} The risk guard refused today's orders. Tell the owner.",
        "Look at the rule that failed in the run's approved trades.",
        "the owner",
    ),
    "stage": Message(
        "The morning run did not finish",
        f"{NOTHING} The morning run did not finish. Tell the owner.",
        "Open the run folder: the stage's executed notebook has the details.",
        "the owner",
    ),
}
UNKNOWN = Message("Trading is blocked", f"{NOTHING} Tell the owner.", "Look at the run folder.", "the owner")

# what put the account in SAFE_MODE decides what gets it out
SAFE_MODE_BY_CAUSE = {"confirmations": CATALOGUE["confirmations"], "reconciliation": CATALOGUE["reconciliation"]}


def message(name: str) -> Message:
    return CATALOGUE.get(name, UNKNOWN)


# the checks as a report's table names them (a passed check reads oddly as "Kill switch is on")
CHECK_NAMES = {
    "kill_switch": "Kill switch",
    "drawdown": "Loss limit (drawdown)",
    "max_drawdown": "Loss limit (drawdown)",
    "confirmations": "Previous ticket confirmed",
    "reconciliation": "eToro and the ledger agree",
    "data_quality": "Market data checks",
    "ticket_sanity": "Safety rules on the orders",
}


def check_name(name: str) -> str:
    """A check's name for a table; an unknown one in words ('max_weight' -> 'Max weight')."""
    return CHECK_NAMES.get(name) or name.replace("_", " ").capitalize()


# the operating state as the owner reads it (reports, alerts): never the code's name
STATE_LABELS = {
    "RUN": "Trading as planned",
    "HALT": CATALOGUE["HALT"].title,
    "SAFE_MODE": CATALOGUE["SAFE_MODE"].title,
    "DEGRADED_DATA": CATALOGUE["DEGRADED_DATA"].title,
}


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, UNKNOWN.title)


def to_do(name: str, *, executor: str | None = None) -> str:
    """The 'what to do' of an alert or a report: one sentence for the executor, one for the owner, who acts.

    ``executor`` replaces the catalogue's sentence for the executor where the alert knows more."""
    m = message(name)
    return f"For the executor: {executor or m.executor}\nFor the owner: {m.owner}\nWho acts: {m.who}."


def title(name: str) -> str:
    return message(name).title


_MISSING = re.compile(r"^(?P<ticket>\S+) line \d+ \((?P<side>BUY|SELL) (?P<symbol>[A-Z0-9.\-]+)\b")


def _grouped_missing(reasons: Sequence[str]) -> str | None:
    """'TICKET-X line 1 (BUY AMT ~...) has no confirmation', ... -> '5 lines of ticket TICKET-X are not confirmed: AMT, ...'."""
    by_ticket: dict[str, list[str]] = {}
    for r in reasons:
        m = _MISSING.match(r)
        if m is None:
            return None
        by_ticket.setdefault(m["ticket"], []).append(m["symbol"])
    parts = []
    for ticket, symbols in by_ticket.items():
        n = len(symbols)
        parts.append(f"{n} line{'s' if n != 1 else ''} of ticket {ticket} {'are' if n != 1 else 'is'} not confirmed: {', '.join(symbols)}")
    return "; ".join(parts) + "." if parts else None


@dataclass(frozen=True)
class Explained:
    """One cause, as the executor and the owner read it."""

    name: str
    title: str
    what: str  # what happened, grouped, without the code's names
    executor: str
    owner: str
    who: str

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "what": self.what, "executor": self.executor, "owner": self.owner, "who": self.who}


def _cause_of_state(failures: Sequence[Mapping]) -> str | None:
    names = [f["name"] for f in failures if f.get("source") == "gate"]
    return next((n for n in ("confirmations", "reconciliation") if n in names), None)


def explain(failures: Iterable[Mapping]) -> list[Explained]:
    """A ticket's failures ({source, name, reasons}) -> one plain item per cause, nothing repeated.

    A state that only repeats a failed gate (SAFE_MODE after the confirmations gate) is folded into
    that gate's item; its advice is that of its cause."""
    failures = [dict(f) for f in failures]
    cause = _cause_of_state(failures)
    out: list[Explained] = []
    for f in failures:
        name, source, reasons = f.get("name", ""), f.get("source", ""), list(f.get("reasons") or ())
        if source == "state" and name == "SAFE_MODE" and cause is not None:
            continue  # the gate that caused it is already listed, with the right advice
        msg = CATALOGUE[name] if name in CATALOGUE else message(source)
        if source == "state":
            what = ""  # the state's own reasons only name the gate or state in the code's words
        else:
            what = (_grouped_missing(reasons) if name == "confirmations" else None) or "; ".join(dict.fromkeys(reasons))
        if source == "state" and name == "SAFE_MODE":
            msg = SAFE_MODE_BY_CAUSE.get(cause or "", msg)
        out.append(Explained(name, msg.title, what, msg.executor, msg.owner, msg.who))
    return out


def headline(failures: Iterable[Mapping]) -> str:
    """'the previous ticket is not fully confirmed and the market data failed its checks'."""
    titles = list(dict.fromkeys(e.title[0].lower() + e.title[1:] for e in explain(failures)))
    if not titles:
        return "a check failed"
    return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]
