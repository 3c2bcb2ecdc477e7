"""The pieces every panel of the page is built from: what a panel asks of the page
(:class:`Page`), labelled fields, error lines, big buttons, the checklist and the guard
that turns a failing handler into a plain sentence."""

from __future__ import annotations

import functools
import logging
from html import escape
from collections.abc import Mapping
from typing import Callable, Protocol

import ipywidgets as w
from ipywidgets.widgets.widget_string import HTMLStyle, TextStyle  # (not exported at ipywidgets 8's top level)

from ..config import Policy
from ..errors import TradeopsError
from . import render
from .actions import Outcome
from .validation import LineEntry

log = logging.getLogger("tradeops.dashboard")


class Page(Protocol):
    """What a panel asks of the page (:class:`tradeops.dashboard.app.Dashboard`): the policy,
    a refresh and the three writes.  A protocol, so the page imports the panels and not back."""

    policy: Policy

    def refresh(self, ticket_id: str | None = None) -> None: ...

    def confirm(self, ticket_id: str, entries: Mapping[int, LineEntry], screenshots: Mapping[int, bytes]) -> Outcome: ...

    def snapshot(self, cash: str, units: Mapping[str, str], extra: list[tuple[str, str]]) -> Outcome: ...

    def kill_switch(self, turn_on: bool, reason: str, confirmed: bool) -> Outcome: ...


REASONS = ("price outside band", "not enough cash", "instrument not found on eToro, or only as a CFD", "eToro was down", "could not trade within the window")


@functools.cache
def _shared(kind: str) -> w.Widget:
    """One layout or style model for all the page's pieces that never change theirs (labels, messages,
    counters, inputs of the same width, the boxes around a field): each widget otherwise brings its own
    layout and style, and the page had about 700 models for the browser to create at start (issue 18).
    Nothing changes these models afterwards (a piece shown or hidden keeps a layout of its own)."""
    return {
        "wide": lambda: w.Layout(width="calc(100% - 8px)", max_width="460px"),
        "plain": w.Layout,
        "html": HTMLStyle,
        "text": TextStyle,
        "tick": lambda: w.Layout(align_items="flex-start"),
    }[kind]()


def _wide() -> w.Layout:
    """Full width on a phone, at most 460 px on a laptop: a layout of its own (to show or hide the widget)."""
    return w.Layout(width="calc(100% - 8px)", max_width="460px")


def _html(value: str = "") -> w.HTML:
    """A piece of HTML that is never shown or hidden on its own: the shared layout and style."""
    return w.HTML(value, layout=_shared("plain"), style=_shared("html"))


SHOW, HIDE = "flex", "none"


def _label(text: str, hint: str = "") -> w.HTML:
    hint_html = f' <span class="to-hint">{escape(hint)}</span>' if hint else ""
    return _html(f'<div class="to-label">{escape(text)}{hint_html}</div>')


def _field(label: str, widget: w.Widget, error: w.Widget, hint: str = "") -> w.VBox:
    return w.VBox([_label(label, hint), widget, error], layout=_shared("plain"))


def _error_widget() -> w.HTML:
    return _html()


def show_error(widget: w.HTML, message: str | None) -> None:
    widget.value = f'<div class="to-error">⚠ {escape(message)}</div>' if message else ""


def _count(text: str, limit: int) -> str:
    n = len(text)
    tone = " to-over" if n > limit else ""
    return f'<div class="to-count{tone}">{n:,} / {limit:,} characters</div>' if n else f'<div class="to-count">up to {limit:,} characters</div>'


def _big_button(text: str, style: str) -> w.Button:
    button = w.Button(description=text, button_style=style, layout=_wide())
    button.add_class("to-big")
    return button


class Checklist:
    """A checklist the executor ticks off as they go: one box per item, each with its whole sentence.

    The ticks belong to the page only (nothing is written to the ledger); they are kept for the same
    ticket and item while the page refreshes (after Save, every 20 s) and start empty for another ticket."""

    def __init__(self):
        self.title = _html()
        self.boxes: list[w.Checkbox] = []
        self.items: tuple[str, ...] = ()
        self.widget = w.VBox([self.title])
        self._key: tuple | None = None

    def show(self, key: str | None, title: str, items) -> None:
        items = tuple(items)
        if self._key == (key, title) and items == self.items:
            return  # the same list: keep its boxes as they are (no redraw, no jump)
        ticked = set(self.ticked) if self._key == (key, title) else set()
        self._key = (key, title)
        self.title.value = f"<h2>{escape(title)}</h2>" if items else ""
        for row in self.widget.children[1:]:
            row.close()
        self.boxes, self.items, rows = [], items, []
        for item in items:
            # the sentence in an HTML widget beside the box: a checkbox's own description is typeset as TeX ("$18,386.00 ... $5.00")
            box = w.Checkbox(value=item in ticked, indent=False, layout=w.Layout(width="30px", min_width="30px"))
            row = w.HBox([box, _html(f'<div class="to-tick-text">{escape(item)}</div>')], layout=_shared("tick"))
            row.add_class("to-tick")
            self.boxes.append(box)
            rows.append(row)
        self.widget.children = [self.title, *rows]
        self.widget.layout.display = SHOW if items else HIDE

    @property
    def ticked(self) -> list[str]:
        return [item for item, b in zip(self.items, self.boxes) if b.value]


def guarded(result_attr: str) -> Callable:
    """Run a handler; show failures in ``self.<result_attr>`` as a sentence, log the traceback."""

    def wrap(method):
        @functools.wraps(method)
        def run(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except TradeopsError as err:
                getattr(self, result_attr).value = render.refused(str(err))
            except Exception:  # noqa: BLE001 - never show a traceback on the page
                log.exception("dashboard: %s failed", method.__qualname__)
                getattr(self, result_attr).value = render.refused(
                    "Something went wrong. Look at the History tab to see what was saved, and tell the owner (the details are in the server's log)."
                )
            return None

        return run

    return wrap
