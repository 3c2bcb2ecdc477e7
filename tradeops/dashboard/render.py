"""The page's HTML pieces (pure functions of the views; every typed text escaped).

Large plain type, explicit units, status badges in colour *and* words, the
execution window in UK time with a countdown.  ``STYLE`` is the one style
sheet; the app adds the ``to-page`` class to its root widget.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Iterable, Sequence

from .. import messages
from ..reconcile import ReconciliationReport
from .model import AccountView, FillView, HistoryEntry, LineView, TicketView, Window
from .model import CURRENCY_SIGN
from .validation import STATUS_LABELS, clean_text, hhmm, money, rate_text, units_text

STYLE = """<style>
.to-page { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; font-size: 17px;
  line-height: 1.45; color: #1b1b1b; max-width: 920px; }
.to-page h1 { font-size: 26px; margin: 6px 0 4px; } .to-page h2 { font-size: 21px; margin: 14px 0 6px; }
.to-page h3 { font-size: 19px; margin: 4px 0; }
.to-page p { margin: 4px 0; }
.to-badge { display: inline-block; padding: 2px 10px; border-radius: 12px; font-weight: 700; font-size: 15px;
  letter-spacing: .03em; vertical-align: middle; }
.to-green { background: #d7f0dc; color: #0d5a24; } .to-red { background: #fbdcdc; color: #8e1515; }
.to-amber { background: #ffefc2; color: #6e4a00; } .to-grey { background: #e6e6e6; color: #333; }
.to-blue { background: #dce8fa; color: #184a8c; }
.to-box { border-radius: 8px; padding: 10px 14px; margin: 8px 0; border-left: 6px solid; }
.to-box.to-green { border-color: #1f8a3b; } .to-box.to-red { border-color: #c62828; }
.to-box.to-amber { border-color: #c98a00; } .to-box.to-grey { border-color: #888; } .to-box.to-blue { border-color: #2f6fca; }
.to-card { border: 1px solid #c9c9c9; border-radius: 10px; padding: 10px 14px; margin: 10px 0; background: #fff; }
.to-label { font-size: 16px; font-weight: 600; margin-top: 8px; }
.to-hint { font-size: 15px; color: #555; }
.to-error { color: #b00020; font-weight: 600; font-size: 15px; }
.to-page table { border-collapse: collapse; margin: 4px 0; }
.to-page th, .to-page td { text-align: left; padding: 4px 10px 4px 0; border-bottom: 1px solid #e2e2e2; vertical-align: top; }
.to-page td.num, .to-page th.num { text-align: right; }
.to-page .to-tick { margin: 4px 0; } .to-page .to-tick .widget-checkbox { height: auto; margin-top: 2px; }
.to-page .to-tick .to-tick-text { font-size: 17px; line-height: 1.45; } .to-page .to-tick .widget-html { flex: 1 1 auto; min-width: 0; }
.to-page .to-tick input[type=checkbox] { width: 22px; height: 22px; min-width: 22px; margin: 0; cursor: pointer; }
.to-page .widget-text input, .to-page .widget-textarea textarea, .to-page .widget-combobox input { font-size: 17px; min-height: 38px; }
.to-page .widget-toggle-buttons .widget-toggle-button { font-size: 16px; height: 40px; margin-bottom: 4px; }
.to-page .jupyter-button.to-big { font-size: 17px; height: auto; min-height: 46px; padding: 10px 16px; line-height: 1.3; font-weight: 600;
  justify-content: center; text-align: center; }
.to-page .lm-TabBar { min-height: 38px; height: auto !important; }
.to-page .lm-TabBar-content { flex-wrap: wrap; }
.to-page .lm-TabBar-tab { font-size: 16px; min-height: 36px; line-height: 36px; flex: 0 0 auto !important; max-width: none !important; }
.to-count { font-size: 13px; color: #666; } .to-count.to-over { color: #b00020; font-weight: 700; }
.to-budget { font-size: 15px; margin: 4px 0; } .to-budget.to-short { color: #6e4a00; font-weight: 600; }
.to-card, .to-box { overflow-wrap: anywhere; word-break: break-word; }
.to-card .to-scroll, .to-box .to-scroll { overflow-x: auto; max-width: 100%; }
@media (max-width: 600px) { .to-page { font-size: 16px; } .to-page h1 { font-size: 22px; } }
</style>"""

KIND_TONES = {"TRADE": "blue", "HOLD": "green", "NO-TRADE": "red"}
STATUS_TONES = {"EXECUTED": "green", "PARTIAL": "amber", "NOT_EXECUTED": "grey"}


def badge(text: str, tone: str) -> str:
    return f'<span class="to-badge to-{tone}">{escape(text)}</span>'


def box(body: str, tone: str) -> str:
    return f'<div class="to-box to-{tone}">{body}</div>'


def fatal(message: str) -> str:
    """The whole page when it cannot start: a plain sentence, never a traceback."""
    return STYLE + f'<div class="to-page"><h1>Confirmation page</h1>{box("<b>The page cannot start.</b> " + escape(message), "red")}</div>'


def refused(message: str) -> str:
    return box(f"<b>{escape(message)}</b>", "red")


def day(d) -> str:
    return f"{d:%A} {d.day} {d:%B %Y}"


def duration(delta: timedelta) -> str:
    """'2 days 3 h', '1 h 05 min', '42 min' (rounded down to the minute; never negative)."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days > 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {mins:02d} min"
    return f"{mins} min"


def countdown(window: Window, now: datetime) -> tuple[str, str]:
    """(plain sentence, tone) for the execution window seen at ``now``."""
    zone = window.start.tzname()
    span = f"{hhmm(window.start)}–{hhmm(window.end)} UK time ({zone}) on {day(window.start)}"
    early = " The US market closes early that day." if window.early_close else ""
    if now < window.start:
        return f"Trade only {span}. The window opens in {duration(window.start - now)}. Do not trade before {hhmm(window.start)}.{early}", "blue"
    if now <= window.end:
        return f"OPEN NOW: {duration(window.end - now)} left. Trade only until {hhmm(window.end)} UK time ({zone}).{early}", "green"
    return (
        f"The window closed at {hhmm(window.end)} UK time on {day(window.start)} ({duration(now - window.end)} ago). Do not trade now. Record below what happened.",
        "grey",
    )


def window_box(ticket: TicketView, now: datetime) -> str:
    text, tone = countdown(ticket.window, now)
    return box(f"<b>{escape(text)}</b>", tone)


def ticket_header(ticket: TicketView | None, now: datetime) -> str:
    """Title, kind badge, headline; what to do when there is no ticket, a HOLD or a NO-TRADE."""
    if ticket is None:
        return "<h2>No ticket</h2>" + box("<b>There is no open ticket.</b> Nothing to do on eToro. A new ticket appears here after the morning run.", "grey")
    head = f"<h2>{escape(ticket.ticket_id)} {badge(ticket.kind, KIND_TONES.get(ticket.kind, 'grey'))}</h2>"
    head += f"<p><b>{escape(ticket.headline)}</b></p>"
    if ticket.kind == "HOLD":
        return head + box("<b>HOLD: do nothing on eToro today.</b> All checks passed and there is nothing worth trading.", "green") + ticket_account(ticket)
    if ticket.kind == "NO-TRADE":
        items = (
            "".join(
                f"<li><b>{escape(e.title)}.</b> {escape(e.what)}<br>What to do: {escape(e.executor)}"
                f'<br><span class="to-hint">Who acts: {escape(e.who)}.</span></li>'
                for e in messages.explain(ticket.failures)
            )
            or "<li>The ticket does not say why. Do nothing on eToro and tell the owner.</li>"
        )
        return head + box(f"<b>NO-TRADE: do not trade today.</b><ol>{items}</ol>", "red") + ticket_account(ticket)
    done = len(ticket.lines) - len(ticket.missing)
    state = badge("ALL CONFIRMED", "green") if ticket.confirmed else badge(f"{done} OF {len(ticket.lines)} CONFIRMED", "amber")
    due = ""
    if ticket.confirm_by is not None and ticket.missing:
        late = now > ticket.confirm_by
        due = f" Confirm by {hhmm(ticket.confirm_by)} UK time on {day(ticket.confirm_by)}" + (" (that time has passed: confirm now)." if late else ".")
    return head + window_box(ticket, now) + f"<p>{state}{escape(due)}</p>"


def ticket_account(ticket: TicketView) -> str:
    """The account figures the ticket states (from the ledger, on every kind of ticket)."""
    acc = ticket.account
    if not acc.get("cash_before"):
        return ""
    return (
        f'<p class="to-account">The ticket\'s account figures: equity <b>{money(Decimal(acc.get("equity", "0")), ticket.sign)}</b>, '
        f"cash <b>{money(Decimal(acc['cash_before']), ticket.sign)}</b>.</p>"
    )


def line_heading(line: LineView) -> str:
    """'1. SELL AAPL': what to do, the eToro search name and the do-not-execute price."""
    side = badge(line.side, "red" if line.side == "SELL" else "green")
    value = money(line.value, line.sign)
    if line.converts:  # pounds to enter; the dollars eToro quotes the price in, beside them
        value += f" ≈ {money(line.value * line.rate)} at {rate_text(line.rate)} USD per {line.currency}"
    if line.close_position:
        what = f"close the whole position: all {units_text(line.approx_units)} shares (about {value})"
    elif line.enter_by == "units":
        what = f"{units_text(line.approx_units)} shares (about {value})"
    else:
        what = f"{value} (about {units_text(line.approx_units)} shares)"
    fee = f" · conversion fee about {money(line.fx_fee, line.sign)}" if line.converts and line.fx_fee else ""
    direction = "above" if line.side == "BUY" else "below"
    company = f" ({escape(line.company)})" if line.company else ""
    return (
        f"<h3>{line.line_no}. {side} {escape(line.symbol)}: {escape(what)}</h3>"
        f'<p class="to-hint">eToro search: “{escape(line.search_name)}”{company} · reference price {money(line.reference_price)} · '
        f"{escape(line.order_type)} order{escape(fee)}</p>"
        f"<p><b>Do not execute if eToro's {line.side} price is {direction} {money(line.band_price)}.</b></p>"
    )


def budget(text: str, short: bool) -> str:
    """The live cash line on a BUY card."""
    return f'<p class="to-budget{" to-short" if short else ""}">{"⚠ " if short else ""}{escape(text)}</p>'


def plan_summary(sentences: Sequence[str]) -> str:
    """Which SELLs came out short and which BUYs to shrink or skip (empty when every BUY fits)."""
    if not sentences:
        return ""
    items = "".join(f"<li>{escape(t)}</li>" for t in sentences)
    return box(f"<b>Not enough cash for every BUY.</b><ul>{items}</ul>", "amber")


def fill_text(fill: FillView) -> str:
    if fill.status == "NOT_EXECUTED":
        return f"reason: {fill.reason}"
    sign = CURRENCY_SIGN.get(fill.currency, fill.currency + " ")
    paid = (
        f" = {money(fill.account_amount, sign)} at {rate_text(fill.fx_rate)} USD per {fill.currency}"
        if fill.converts and fill.account_amount is not None
        else ""
    )
    return (
        f"{units_text(fill.units)} shares at {money(fill.price)}{paid}, fees {money(fill.fees, sign)}, "
        f"at {hhmm(fill.filled_at)} UK time on {fill.filled_at:%d %b %Y}"
    )


def recorded(line: LineView) -> str:
    """A line that already has its answer."""
    fill = line.fill
    extra = ""
    if fill.notes:
        extra += f"<br>Notes: {escape(clean_text(fill.notes))}"
    if fill.override_reason:
        extra += f"<br>Exception explained: {escape(fill.override_reason)}"
    if fill.attachment:
        extra += f"<br>Screenshot: {escape(fill.attachment)}"
    status = badge(STATUS_LABELS[fill.status].upper(), STATUS_TONES[fill.status])
    return f'<div class="to-card">{line_heading(line)}<p>Recorded: {status} {escape(fill_text(fill))}{extra}</p></div>'


def blocked(items: Sequence[str]) -> str:
    if not items:
        return ""
    return "<h2>If something blocks you</h2><ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def _sign(currency: str) -> str:
    return CURRENCY_SIGN.get(currency, currency + " ")


def positions_table(account: AccountView) -> str:
    rows = "".join(f"<tr><td>{escape(s)}</td><td class='num'>{units_text(u)}</td></tr>" for s, u in account.positions.items())
    rows = rows or "<tr><td colspan='2'>no positions</td></tr>"
    return (
        f"<p>Cash: <b>{money(account.cash, _sign(account.currency))}</b> ({escape(account.currency)})</p>"
        f"<table><tr><th>Symbol</th><th class='num'>Units (shares)</th></tr>{rows}</table>"
    )


def account_bar(account: AccountView, now: datetime) -> str:
    """One line under the title: cash, kill switch, state, last broker snapshot."""
    kill = badge("KILL SWITCH ON", "red") if account.kill_switch.value == "ON" else badge("kill switch off", "green")
    value = account.state.value or "RUN"
    state = badge("trading allowed" if value == "RUN" else messages.title(value).lower(), "green" if value == "RUN" else "red")
    snap = f"last broker snapshot {duration(now - account.last_snapshot)} ago" if account.last_snapshot else "no broker snapshot yet"
    return f"<p>Ledger cash <b>{money(account.cash, _sign(account.currency))}</b> · {kill} {state} · {escape(snap)}</p>"


def saved(message: str, ticket: TicketView | None, account: AccountView | None) -> str:
    """The success box: what was saved, positions and cash now, what is still missing."""
    body = f"<b>✔ {escape(message)}</b>"
    if account is not None:
        body += "<h3>Positions and cash now (from the ledger)</h3>" + positions_table(account)
    if ticket is not None:
        if ticket.missing:
            items = "".join(f"<li>line {ln.line_no}: {escape(ln.side)} {escape(ln.symbol)}</li>" for ln in ticket.missing)
            body += f"<h3>Still missing</h3><ul>{items}</ul>"
        else:
            body += "<h3>Still missing</h3><p>Every line of this ticket is confirmed. Next: enter a broker snapshot (tab “Broker snapshot”).</p>"
    return box(body, "green")


def reconciliation(report: ReconciliationReport) -> str:
    verdict = badge("MATCH", "green") if report.passed else badge("MISMATCH", "red")
    items = "".join(f"<li>{badge('PROBLEM' if d.blocking else 'ok', 'red' if d.blocking else 'grey')} {escape(d.describe())}</li>" for d in report.differences)
    body = f"<h3>Reconciliation {verdict}</h3>"
    body += f"<ul>{items}</ul>" if items else "<p>Cash and every position agree with the ledger.</p>"
    if report.matched:
        body += f"<p class='to-hint'>Matching: {escape(', '.join(report.matched))}</p>"
    if not report.passed:
        body += "<p><b>Trading stays blocked until this is resolved. Check the figures, then tell the owner.</b></p>"
    return box(body, "green" if report.passed else "red")


def kill_status(account: AccountView) -> str:
    flag = account.kill_switch
    if flag.value == "ON":
        when = f" since {flag.at:%d %b %Y %H:%M} UTC" if flag.at else ""
        return box(f"<b>The kill switch is ON{escape(when)}</b>: the daily run will not trade.<br>Reason: {escape(flag.reason or '')}", "red")
    return box("<b>The kill switch is OFF</b>: the daily run may trade when every check passes.", "green")


def _event(item, sign: str = "$") -> str:
    p = item.payload
    label = {"FILL_RECORDED": "confirmed", "FILL_REVERSED": "reversed", "FILL_CORRECTED": "corrected"}[item.kind]
    if item.kind == "FILL_REVERSED":
        what = f"fill {p.get('fill_id')} reversed: {p.get('reason', '')}"
    elif p.get("status") == "NOT_EXECUTED":
        what = f"line {p.get('line_no')} {p.get('symbol')}: not executed ({p.get('reason', '')})"
    else:
        what = (
            f"line {p.get('line_no')} {p.get('side')} {p.get('symbol')}: {str(p.get('status', '')).lower().replace('_', ' ')} "
            f"{units_text(Decimal(p['units']))} @ {money(Decimal(p['price']))}"
            + (f" = {money(Decimal(str(p['account_amount'])), sign)} at {rate_text(Decimal(str(p['fx_rate'])))}" if p.get("fx_rate") is not None else "")
            + f", fees {money(Decimal(p['fees']), sign)}"
        )
    return f"<li>{item.at:%d %b %Y %H:%M} UK · {escape(label)} by {escape(item.actor)}: {escape(what)}</li>"


def history(entries: Iterable[HistoryEntry]) -> str:
    """Past tickets, newest first, with each line's answer and the log of confirmations."""
    parts = []
    for entry in entries:
        t = entry.ticket
        done = len(t.lines) - len(t.missing)
        counts = f"{done}/{len(t.lines)} confirmed" if t.lines else "no lines"
        status = "" if t.status == "OPEN" else " " + badge(t.status, "grey")
        rows = "".join(
            f"<tr><td>{ln.line_no}</td><td>{escape(ln.side)} {escape(ln.symbol)}</td><td class='num'>{money(ln.value, ln.sign)}</td>"
            f"<td>{badge(STATUS_LABELS[ln.fill.status].upper(), STATUS_TONES[ln.fill.status]) + ' ' + escape(fill_text(ln.fill)) if ln.fill else badge('MISSING', 'amber')}</td></tr>"
            for ln in t.lines
        )
        table = f"<table><tr><th>#</th><th>Order</th><th class='num'>Asked</th><th>Answer</th></tr>{rows}</table>" if rows else ""
        log = "<ul>" + "".join(_event(i, t.sign) for i in entry.items) + "</ul>" if entry.items else ""
        parts.append(
            f"<details class='to-card'><summary><b>{escape(t.ticket_id)}</b> {badge(t.kind, KIND_TONES.get(t.kind, 'grey'))}{status} "
            f"· {day(t.session_date)} · {counts}</summary><p>{escape(t.headline)}</p>{table}{log}</details>"
        )
    return "".join(parts) or "<p>No tickets yet.</p>"
