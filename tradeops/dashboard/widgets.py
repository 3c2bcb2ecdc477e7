"""The forms and panels of the page, built with ipywidgets.

Each panel keeps its inputs as attributes (``form.units``, ``panel.save``)
so tests fill and submit them in Python exactly as a person would in the
browser.  A panel only turns what was typed into text and shows what
``actions`` returns: checks live in ``validation``, writes in ``actions``.
Every button handler is guarded: a failure shows a plain sentence, and the
traceback goes to the server log, never to the page.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from html import escape
from typing import Callable

import ipywidgets as w

from . import budget, render
from .actions import Outcome
from .model import AccountView, HistoryEntry, LineView, TicketView
from .uploads import MAX_BYTES
from .validation import TEXT_LIMITS, LineEntry, rate_text, units_text
from .forms import HIDE, REASONS, SHOW, Checklist, Page, _big_button, _count, _error_widget, _field, _html, _label, _shared, _wide, guarded, show_error

log = logging.getLogger("tradeops.dashboard")

# --------------------------------------------------------------------------- one ticket line


class LineForm:
    """The inputs of one unconfirmed line: status, units, price, fees, time, reason, notes, screenshot."""

    FIELDS = ("status", "units", "price", "fees", "time", "reason", "notes", "explanation", "screenshot", "fx_rate")

    TEXT_FIELDS = ("status", "units", "price", "fees", "time", "reason", "notes", "explanation", "fx_rate")

    def __init__(self, line: LineView, on_edit: Callable[[], None] = lambda: None):
        self.line = line
        self.on_edit = on_edit
        self.proposal = None  # what the cash allows for a BUY that does not fit (tradeops.cashplan.Fit)
        self.status = w.ToggleButtons(
            options=[("Executed", "executed"), ("Partial", "partial"), ("Not executed", "not_executed")],
            value=None,
            tooltips=["All of it was filled", "Only part was filled", "Nothing was done for this line"],
            style={"button_width": "auto"},
        )
        self.units = w.Text(placeholder="shares, e.g. 2.5", layout=_shared("wide"), style=_shared("text"))
        self.price = w.Text(placeholder=f"price, e.g. {line.reference_price.normalize():f}", layout=_shared("wide"), style=_shared("text"))
        self.fees = w.Text(
            placeholder="fees, empty if none" if not line.converts else "empty: the conversion fee", layout=_shared("wide"), style=_shared("text")
        )
        # a GBP line: the rate eToro converted at, prefilled with the ticket's (the executor changes it if eToro's differs)
        self.fx_rate = w.Text(value=self._default_rate(), placeholder="USD per " + line.currency, layout=_shared("wide"), style=_shared("text"))
        self.time = w.Text(placeholder="HH:MM, e.g. 14:40", layout=_shared("wide"), style=_shared("text"))
        self.reason = w.Combobox(
            options=REASONS, placeholder="pick a reason or type your own", ensure_option=False, layout=_shared("wide"), style=_shared("text")
        )
        self.notes = w.Textarea(placeholder="anything unusual (optional)", layout=_shared("wide"), style=_shared("text"))
        self.explanation = w.Text(placeholder="only when a red message asks for it", layout=_shared("wide"), style=_shared("text"))
        self.screenshot = w.FileUpload(accept="image/png,image/jpeg,image/webp,application/pdf", multiple=False, description="Add screenshot")
        self.errors = {name: _error_widget() for name in self.FIELDS}
        self.counters = {name: _html(_count("", TEXT_LIMITS[name])) for name in TEXT_LIMITS}
        self.clear = w.Button(
            description="Clear this line",
            icon="undo",
            layout=w.Layout(width="auto", align_self="flex-start"),
            tooltip="Un-choose the status and empty the fields of this line (nothing is saved)",
        )
        self.clear.on_click(lambda _b: self.clear_line())
        self.budget = _html()
        self.use_proposal = w.Button(description="Fill in what the cash allows", button_style="warning", layout=w.Layout(width="auto", align_self="flex-start"))
        self.use_proposal.on_click(lambda _b: self.apply_proposal())
        self.use_proposal.layout.display = HIDE
        e = self.errors
        self._filled = w.VBox(
            [
                _field("Units filled (shares)", self.units, e["units"], "as eToro shows them"),
                _field("Average price per share, in USD", self.price, e["price"]),
                _field(f"Fees, in {line.currency}", self.fees, e["fees"], "0 or empty if none" if not line.converts else "empty: the conversion fee"),
                *(
                    [_field(f"FX rate: USD per {line.currency}", self.fx_rate, e["fx_rate"], "as eToro shows it; the ticket's rate is filled in")]
                    if line.converts
                    else []
                ),
                _field("Time of the fill, UK time (HH:MM)", self.time, e["time"], "24-hour clock"),
            ]
        )
        self._not_done = w.VBox([_field("Why was it not executed?", self.reason, w.VBox([self.counters["reason"], e["reason"]], layout=_shared("plain")))])
        self._common = w.VBox(
            [
                _field("Notes", self.notes, w.VBox([self.counters["notes"], e["notes"]], layout=_shared("plain")), "optional"),
                _field(
                    "Explain an exception", self.explanation, w.VBox([self.counters["explanation"], e["explanation"]], layout=_shared("plain")), "only if asked"
                ),
                _field("Screenshot", self.screenshot, e["screenshot"], f"optional: PNG, JPEG, WebP or PDF, up to {MAX_BYTES // 1024 // 1024} MB"),
            ]
        )
        budget = [w.VBox([self.budget, self.use_proposal])] if line.side == "BUY" else []
        self.widget = w.VBox(
            [
                _html(render.line_heading(line)),
                *budget,
                _field("What happened?", self.status, e["status"]),
                self._filled,
                self._not_done,
                self._common,
                self.clear,
            ]
        )
        self.widget.add_class("to-card")
        self.status.observe(self._on_status, "value")
        self._on_status()
        for name in self.FIELDS:  # a field's message goes away as soon as it is changed
            getattr(self, name).observe(lambda _c, n=name: (show_error(self.errors[n], None), self._count(n), self.on_edit()), "value")

    def _count(self, name: str) -> None:
        if name in self.counters:
            self.counters[name].value = _count(getattr(self, name).value or "", TEXT_LIMITS[name])

    def _default_rate(self) -> str:
        return rate_text(self.line.fx_rate) if self.line.converts else ""

    def clear_line(self) -> None:
        """Back to "not answered": a stray status is un-chosen, nothing is saved, the other lines keep what was typed."""
        for name in self.TEXT_FIELDS:
            getattr(self, name).value = None if name == "status" else self._default_rate() if name == "fx_rate" else ""
        self.screenshot.value = ()
        self.show_errors({})

    def show_budget(self, text: str, proposal) -> None:
        """The cash this BUY may use (live, from the lines above); a button that fills in what the cash allows."""
        self.budget.value = render.budget(text, proposal is not None)
        self.proposal = proposal
        self.use_proposal.layout.display = SHOW if proposal is not None else HIDE
        if proposal is not None:
            self.use_proposal.description = (
                "Fill in: not executed, not enough cash" if proposal.skipped else f"Fill in: {proposal.status.lower()}, {units_text(proposal.units)} shares"
            )

    def apply_proposal(self) -> None:
        fit = self.proposal
        if fit is None:
            return
        if fit.skipped:
            self.status.value, self.reason.value = "not_executed", fit.reason
            return
        self.status.value = fit.status.lower()
        self.units.value = units_text(fit.units)
        if fit.reason and not self.notes.value:
            self.notes.value = fit.reason

    def _on_status(self, _change=None) -> None:
        s = self.status.value
        self._filled.layout.display = SHOW if s in ("executed", "partial") else HIDE
        self._not_done.layout.display = SHOW if s == "not_executed" else HIDE
        self._common.layout.display = SHOW if s else HIDE

    def entry(self) -> LineEntry:
        return LineEntry(
            status=self.status.value,
            units=self.units.value,
            price=self.price.value,
            fees=self.fees.value,
            time=self.time.value,
            reason=self.reason.value,
            notes=self.notes.value,
            explanation=self.explanation.value,
            fx_rate=self.fx_rate.value,
        )

    def fill_from(self, entry: LineEntry) -> None:
        """Put back what was typed (after the page reloaded the ticket)."""
        for name in ("status", "units", "price", "fees", "time", "reason", "notes", "explanation", "fx_rate"):
            getattr(self, name).value = getattr(entry, name)

    def screenshot_content(self) -> bytes | None:
        files = self.screenshot.value
        return bytes(files[0]["content"]) if files else None

    def show_errors(self, errors: dict[str, str]) -> None:
        for name, widget in self.errors.items():
            show_error(widget, errors.get(name))

    def close(self) -> None:
        self.widget.close()


# --------------------------------------------------------------------------- the ticket tab


class TicketPanel:
    """What to do today, one card per line in execution order, the checklists, and Save."""

    def __init__(self, app: Page):
        self.app = app
        self.ticket: TicketView | None = None
        self.chooser = w.Dropdown(description="", layout=_wide())
        self.chooser_label = _label("Ticket", "older tickets still waiting for a confirmation are listed too")
        self.chooser_box = w.VBox([self.chooser_label, self.chooser])
        self.header = _html()
        self.before = _html()
        self.cards = w.VBox()
        self.result = _html()
        self.form_error = _error_widget()
        self.save = _big_button("Save confirmation", "success")
        self.after = _html()
        self.pre_check = Checklist()  # "Before you start", ticked off on the page
        self.post_check = Checklist()  # "After you finish" (or the one checklist of a HOLD / NO-TRADE ticket)
        self.forms: dict[int, LineForm] = {}
        self.cash = None  # the ledger's cash, for the live budget of the BUYs
        self.plan_box = _html()
        self.widget = w.VBox(self._children())
        self.chooser.observe(self._on_choose, "value")

    def _children(self) -> list[w.Widget]:
        return [
            self.chooser_box,
            self.header,
            self.before,
            self.pre_check.widget,
            self.cards,
            self.plan_box,
            self.form_error,
            self.save,
            self.result,
            self.post_check.widget,
            self.after,
        ]

    def show(self, ticket: TicketView | None, choices: list[str], now, cash=None) -> None:
        """Rebuild for ``ticket``; ``choices``: ticket ids the executor may switch to; ``cash``: the ledger's.

        When the same ticket is shown again, the cards of lines still open are kept as they are
        (what was typed stays, and the page does not jump); only saved lines change."""
        self.cash = cash
        options = list(dict.fromkeys(choices + ([ticket.ticket_id] if ticket else [])))
        self.chooser.unobserve(self._on_choose, "value")
        self.chooser.options = options
        self.chooser.value = ticket.ticket_id if ticket else None
        self.chooser.observe(self._on_choose, "value")
        self.chooser_box.layout.display = SHOW if len(options) > 1 else HIDE
        self.header.value = render.ticket_header(ticket, now)
        waiting = [c for c in choices if ticket is None or c != ticket.ticket_id]
        warn = (
            render.box(f"<b>Ticket {escape(', '.join(waiting))} still has unconfirmed lines.</b> Choose it above and confirm it.", "amber") if waiting else ""
        )
        trade = ticket is not None and ticket.kind == "TRADE"
        self.before.value = warn
        key = ticket.ticket_id if ticket is not None else None
        self.pre_check.show(key, "Before you start", ticket.pre_trade if trade and ticket.missing else ())
        same = ticket is not None and self.ticket is not None and ticket.ticket_id == self.ticket.ticket_id
        self.ticket = ticket
        keep = {n: f for n, f in self.forms.items() if same and trade and n in {ln.line_no for ln in ticket.lines if ln.fill is None}}
        for n, form in self.forms.items():
            if n not in keep:
                form.close()
        self.forms = {ln.line_no: keep.get(ln.line_no) or LineForm(ln, self._on_edit) for ln in ticket.lines if ln.fill is None} if trade else {}
        cards = []
        for line in ticket.lines if trade else ():
            cards.append(self.forms[line.line_no].widget if line.line_no in self.forms else _html(render.recorded(line)))
        heading = self.cards.children[0] if same and self.cards.children else _html("<h2>Orders, in this order</h2>")
        self.cards.children = ([heading] if cards else []) + cards
        # a fresh button each time: a click queued on the old one cannot submit the new form
        self.save.close()
        self.save = _big_button("Save confirmation", "success")
        self.save.on_click(lambda _b: self.submit())
        self.save.layout.display = SHOW if self.forms else HIDE
        self.form_error.value = ""
        if trade:
            self.post_check.show(key, "After you finish", ticket.post_trade)
        else:
            self.post_check.show(key, "Checklist", ticket.pre_trade + ticket.post_trade if ticket is not None else ())
        self.after.value = render.blocked(ticket.if_blocked) if trade else ""
        self.widget.children = self._children()
        self.replan()

    def _on_edit(self) -> None:
        show_error(self.form_error, None)
        self.replan()

    def replan(self) -> None:
        """Recompute, from what is saved and what is typed, what each BUY may spend (SELLs first)."""
        if self.ticket is None or self.ticket.kind != "TRADE" or self.cash is None:
            self.plan_box.value = ""
            return
        steps = budget.ticket_plan(self.ticket, self.cash, {n: f.entry() for n, f in self.forms.items()}, self.app.policy.account.cash_floor)
        for step in steps:
            form = self.forms.get(step.line.line_no)
            if form is not None and step.line.side == "BUY":
                typed_ok = step.line.known and step.over == 0
                form.show_budget(budget.budget_text(step, self.ticket.sign), None if typed_ok or step.line.status == "NOT_EXECUTED" else step.fit)
        self.plan_box.value = render.plan_summary(budget.summary(steps, self.ticket.sign))

    def tick(self, now) -> None:
        """Refresh the countdown only (the form keeps what was typed)."""
        self.header.value = render.ticket_header(self.ticket, now)

    def _on_choose(self, change) -> None:
        if change["new"]:
            self.result.value = ""
            self.app.refresh(ticket_id=change["new"])

    @guarded("result")
    def submit(self) -> Outcome | None:
        """Check and save every line that has a status chosen (one transaction)."""
        if self.ticket is None:
            return None
        self.save.disabled, self.save.description = True, "Saving…"
        try:
            entries = {n: f.entry() for n, f in self.forms.items()}
            shots = {n: c for n, f in self.forms.items() if (c := f.screenshot_content())}
            outcome = self.app.confirm(self.ticket.ticket_id, entries, shots)
        finally:
            self.save.disabled, self.save.description = False, "Save confirmation"
        if outcome.ok:
            self.app.refresh(ticket_id=self.ticket.ticket_id)
            self.result.value = render.saved(outcome.message, outcome.ticket, outcome.account)
            return outcome
        if outcome.ticket is not None and outcome.ticket.missing != self.ticket.missing:
            self.app.refresh(ticket_id=self.ticket.ticket_id)  # answered meanwhile (another tab): show what is recorded
        for n, form in self.forms.items():
            form.show_errors({k.split(".", 1)[1]: v for k, v in outcome.errors.items() if k.startswith(f"{n}.")})
        show_error(self.form_error, outcome.errors.get("form"))
        self.result.value = ""
        return outcome


# --------------------------------------------------------------------------- broker snapshot


class SnapshotPanel:
    """Cash and units as eToro shows them, prefilled with what the ledger expects."""

    EXTRA_ROWS = 2

    def __init__(self, app: Page):
        self.app = app
        self.intro = _html(
            "<h2>Broker snapshot</h2><p>Open your eToro portfolio. The boxes show what the ledger expects: "
            "<b>change only what eToro shows differently</b>, then press the button.</p>"
        )
        self.cash = w.Text(layout=_shared("wide"), style=_shared("text"))
        self.units: dict[str, w.Text] = {}
        self.extra: list[tuple[w.Text, w.Text]] = []
        self.errors: dict[str, w.HTML] = {}
        self.rows = w.VBox()
        self.add_row = w.Button(description="Add another position", icon="plus", layout=w.Layout(width="auto"))
        self.add_row.on_click(lambda _b: self._add_extra())
        self.save = _big_button("Save snapshot and check it", "primary")
        self.save.on_click(lambda _b: self.submit())
        self.form_error = _error_widget()
        self.result = _html()
        self.widget = w.VBox([self.intro, self.rows, self.add_row, self.form_error, self.save, self.result])

    def show(self, account: AccountView, ticket: TicketView | None) -> None:
        """Prefill with the ledger's cash and units; the widgets are rebuilt only when the symbols change."""
        symbols = sorted(set(account.positions) | ({ln.symbol for ln in ticket.lines} if ticket else set()))
        self.cash.value = f"{account.cash.quantize(Decimal('0.01')):f}"
        if symbols != list(self.units):
            self.errors = {"cash": _error_widget()}
            self.units = {s: w.Text(layout=_shared("wide"), style=_shared("text")) for s in symbols}
            children = [_field(f"Cash available, in {account.currency}", self.cash, self.errors["cash"], "as eToro shows it")]
            for s, box in self.units.items():
                self.errors[f"units:{s}"] = _error_widget()
                children.append(_field(f"{s}: units (shares)", box, self.errors[f"units:{s}"], "0 if you hold none"))
            self.rows.children = children
            self.extra = []
            for _ in range(self.EXTRA_ROWS):
                self._add_extra()
        for s, box in self.units.items():
            box.value = units_text(account.positions.get(s, Decimal(0)))
        for symbol, units in self.extra:
            symbol.value, units.value = "", ""
        for widget in self.errors.values():
            show_error(widget, None)
        self.form_error.value = ""

    def _add_extra(self) -> None:
        i = len(self.extra)
        symbol, units = (
            w.Text(placeholder="symbol, e.g. AAPL", layout=_shared("wide"), style=_shared("text")),
            w.Text(placeholder="units (shares)", layout=_shared("wide"), style=_shared("text")),
        )
        self.extra.append((symbol, units))
        self.errors[f"extra:{i}:symbol"], self.errors[f"extra:{i}:units"] = _error_widget(), _error_widget()
        row = w.VBox(
            [
                _label("Another position eToro shows", "only if it is not listed above"),
                symbol,
                self.errors[f"extra:{i}:symbol"],
                units,
                self.errors[f"extra:{i}:units"],
            ]
        )
        self.rows.children = tuple(self.rows.children) + (row,)

    @guarded("result")
    def submit(self) -> Outcome:
        outcome = self.app.snapshot(self.cash.value, {s: t.value for s, t in self.units.items()}, [(s.value, u.value) for s, u in self.extra])
        if outcome.ok:
            self.app.refresh()
            self.result.value = render.box(f"<b>✔ {escape(outcome.message)}</b>", "green") + render.reconciliation(outcome.report)
            return outcome
        for key, widget in self.errors.items():
            show_error(widget, outcome.errors.get(key))
        show_error(self.form_error, outcome.errors.get("form"))
        self.result.value = ""
        return outcome


# --------------------------------------------------------------------------- kill switch


class KillSwitchPanel:
    """On with a reason; off with a reason and a confirmation."""

    def __init__(self, app: Page):
        self.app = app
        self.status = _html()
        self.reason = w.Text(placeholder="why, in a few words", layout=_shared("wide"), style=_shared("text"))
        self.confirm = w.Checkbox(value=False, description="I have checked with the owner: trading may resume at the next run", indent=False, layout=_wide())
        self.errors = {"reason": _error_widget(), "confirm": _error_widget(), "form": _error_widget()}
        self.button = _big_button("Turn the kill switch ON", "danger")
        self.button.on_click(lambda _b: self.submit())
        self.result = _html()
        self._confirm_box = w.VBox([self.confirm, self.errors["confirm"]])
        self.widget = w.VBox(
            [
                _html("<h2>Kill switch</h2><p>While the kill switch is ON, the daily run issues NO-TRADE tickets.</p>"),
                self.status,
                _field("Reason", self.reason, self.errors["reason"], "required, goes in the log"),
                self._confirm_box,
                self.errors["form"],
                self.button,
                self.result,
            ]
        )
        self.on = False

    def show(self, account: AccountView) -> None:
        self.on = account.kill_switch.value == "ON"
        self.status.value = render.kill_status(account)
        self.button.description = "Turn the kill switch OFF" if self.on else "Turn the kill switch ON"
        self.button.button_style = "warning" if self.on else "danger"
        self._confirm_box.layout.display = SHOW if self.on else HIDE
        self.reason.value, self.confirm.value = "", False
        for widget in self.errors.values():
            show_error(widget, None)

    @guarded("result")
    def submit(self) -> Outcome:
        outcome = self.app.kill_switch(not self.on, self.reason.value, self.confirm.value)
        if outcome.ok:
            self.app.refresh()
            self.result.value = render.box(f"<b>✔ {escape(outcome.message)}</b>", "green")
            return outcome
        for key, widget in self.errors.items():
            show_error(widget, outcome.errors.get(key))
        self.result.value = ""
        return outcome


# --------------------------------------------------------------------------- history


class HistoryPanel:
    """Read-only: past tickets with their confirmations."""

    def __init__(self):
        self.body = _html()
        self.widget = w.VBox([_html("<h2>History</h2><p>The latest tickets, newest first. Click one to see its lines.</p>"), self.body])

    def show(self, entries: list[HistoryEntry]) -> None:
        self.body.value = render.history(entries)

    @guarded("body")
    def load(self, read: Callable[[], list[HistoryEntry]]) -> None:
        """Read the history (the tab was opened) and show it; a failure is a sentence in the tab."""
        self.show(read())
