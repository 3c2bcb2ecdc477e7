"""The page's forms driven in Python, on SQLite and PostgreSQL.

Filling and submitting the widget objects writes the expected fills through
the ledger; every invalid input shows its message next to the field and
leaves the ledger untouched (the append-only event log does not grow).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal as D
from html import escape
from zoneinfo import ZoneInfo

import pytest

from tradeops.calendar import get_calendar
from tradeops.dashboard import app_from_env, build_app
from tradeops.dashboard.app import TABS
from tradeops.dashboard.demo import create_demo, record, universe
from tradeops.ledger import api, db
from tradeops.tickets import build_ticket

UK = ZoneInfo("Europe/London")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def upload(form, name: str, content: bytes) -> None:
    form.screenshot.value = (
        {"name": name, "type": "image/png", "size": len(content), "content": memoryview(content), "last_modified": datetime(2024, 1, 1, tzinfo=timezone.utc)},
    )


# --------------------------------------------------------------------------- what the page shows


def test_page_shows_the_ticket_its_lines_in_order_and_the_window(page, demo):
    ticket = page.ticket.ticket
    assert ticket.ticket_id == demo.ticket_id and ticket.kind == "TRADE"
    header = page.ticket.header.value
    window = ticket.window
    assert f"The window closed at {window.end:%H:%M} UK time" in header and "Do not trade now" in header  # the demo session is over
    assert f"between {window.start:%H:%M} and {window.end:%H:%M} UK time" in header  # the ticket's own headline
    assert "0 OF 3 CONFIRMED" in header
    cards = [form.widget.children[0].value for form in page.ticket.forms.values()]
    assert [c.split("</span>")[1].split(":")[0].strip() for c in cards] == ["AAPL", "AVGO", "MSFT"]
    assert "Do not execute if eToro's SELL price is below $137.10" in cards[0]
    assert "Do not execute if eToro's BUY price is above $303.65" in cards[1]
    assert "Before you start" in page.ticket.pre_check.title.value and "After you finish" in page.ticket.post_check.title.value
    assert page.ticket.pre_check.items == ticket.pre_trade and len(page.ticket.pre_check.boxes) == len(ticket.pre_trade)
    assert "If something blocks you" in page.ticket.after.value


def test_the_checklist_boxes_can_be_ticked_and_stay_ticked_while_the_page_refreshes(page, demo):
    boxes = page.ticket.pre_check.boxes
    assert boxes and not any(b.value for b in boxes) and not any(b.disabled for b in boxes)
    boxes[0].value = True  # what a click in the browser does (test_browser ticks one for real)
    boxes[-1].value = True
    post = page.ticket.post_check.boxes
    post[0].value = True
    page.refresh(ticket_id=demo.ticket_id)  # what Save and the 20 s tick do
    pre, after = page.ticket.pre_check.items, page.ticket.post_check.items
    assert page.ticket.pre_check.ticked == [pre[0], pre[-1]]
    assert page.ticket.post_check.ticked == [after[0]]
    page.ticket.pre_check.boxes[0].value = False  # and un-ticked
    assert page.ticket.pre_check.ticked == [pre[-1]]
    assert "$18,386.00" in page.account_bar.value and "kill switch off" in page.account_bar.value


def test_fields_appear_for_the_chosen_status(page):
    form = page.ticket.forms[1]
    assert form._filled.layout.display == "none" and form._not_done.layout.display == "none"
    form.status.value = "partial"
    assert form._filled.layout.display == "flex" and form._not_done.layout.display == "none"
    form.status.value = "not_executed"
    assert form._filled.layout.display == "none" and form._not_done.layout.display == "flex"


# --------------------------------------------------------------------------- confirming


def test_executed_partial_and_not_executed_lines_are_written(page, demo, kit):
    t = kit.fill_time(page)
    kit.enter(page.ticket.forms[1], "executed", units="5", price="141.00", fees="0.50", time=t, notes="smooth")
    kit.enter(page.ticket.forms[2], "partial", units="2", price="$295.10", time=t)
    kit.enter(page.ticket.forms[3], "not_executed", reason="not enough cash")
    outcome = page.ticket.submit()
    assert outcome.ok, outcome.errors
    got = kit.fills(demo.engine, demo.ticket_id)
    assert (got[1].status, got[1].units, got[1].price, got[1].fees, got[1].notes) == ("EXECUTED", D(5), D("141"), D("0.5"), "smooth")
    assert got[1].filled_at == datetime.combine(page.ticket.ticket.window.start.date(), datetime.strptime(t, "%H:%M").time(), UK)
    assert (got[2].status, got[2].units, got[2].price, got[2].fees) == ("PARTIAL", D(2), D("295.1"), D(0))
    assert (got[3].status, got[3].units, got[3].price, got[3].reason) == ("NOT_EXECUTED", D(0), None, "not enough cash")
    assert {f.actor for f in got.values()} == {"test"}
    # the page shows the recomputed positions and cash, and that nothing is missing
    with db.transaction(demo.engine) as s:
        cash = api.compute_cash(s).amount
        positions = api.compute_positions(s)
    assert positions == {"AVGO": D(2), "KO": D(4)}
    assert cash == D("18386.00") + D("705.00") - D("0.50") - D("590.20")
    shown = page.ticket.result.value
    assert f"${cash:,.2f}" in shown and "AVGO" in shown and "AAPL" not in shown.split("Positions and cash now")[1].split("Still missing")[0]
    assert "Every line of this ticket is confirmed" in shown
    assert page.ticket.forms == {} and page.ticket.save.layout.display == "none"
    assert "ALL CONFIRMED" in page.ticket.header.value
    assert page.ticket.cards.children[1].value.count("Recorded:") == 1


def test_a_partial_submission_says_what_is_still_missing(page, demo, kit):
    kit.enter(page.ticket.forms[1], "executed", units="5", price="141", time=kit.fill_time(page))
    assert page.ticket.submit().ok
    assert "line 2: BUY AVGO" in page.ticket.result.value and "line 3: BUY MSFT" in page.ticket.result.value
    assert sorted(page.ticket.forms) == [2, 3]
    kit.enter(page.ticket.forms[3], "executed", units="2.4", price="415", time=kit.fill_time(page, 20))
    assert page.ticket.submit().ok
    assert "line 2: BUY AVGO" in page.ticket.result.value and "MSFT" not in page.ticket.result.value.split("Still missing")[1]
    assert [n for n, f in kit.fills(demo.engine, demo.ticket_id).items() if f is None] == [2]


INVALID = [
    # line, status, fields, field with the message, words in the message
    (2, "executed", {"units": "4.5", "price": "320"}, "price", "outside this line's band"),
    (2, "executed", {"units": "10", "price": "295"}, "units", "more than this line asks for"),
    (1, "executed", {"units": "6", "price": "141"}, "units", "holds only 5 AAPL"),
    (1, "executed", {"units": "-5", "price": "141"}, "units", "negative"),
    (1, "executed", {"units": "5", "price": "abc"}, "price", "is not a number"),
    (1, "executed", {"units": "5", "price": "141,20"}, "price", "use a dot"),
    (1, "executed", {"units": "5", "price": "141", "fees": "-1"}, "fees", "negative"),
    (1, "executed", {"units": "5", "price": "NaN"}, "price", "is not a number"),
    (1, "executed", {"units": "5", "price": "141", "time": ""}, "time", "HH:MM"),
    (1, "executed", {"units": "5", "price": "141", "time": "23:59"}, "time", "had expired"),
    (1, "not_executed", {"reason": ""}, "reason", "Say why"),
    (2, "executed", {"units": "1", "price": "295"}, "status", "choose Partial"),
    (2, "partial", {"units": "4.52", "price": "294.81"}, "status", "choose Executed"),
]


@pytest.mark.parametrize("line,status,fields,field,words", INVALID, ids=[f"{c[3]}-{c[4][:18]}" for c in INVALID])
def test_invalid_input_shows_the_message_and_writes_nothing(page, demo, kit, line, status, fields, field, words):
    fields = {"time": kit.fill_time(page), **fields}
    kit.enter(page.ticket.forms[line], status, **fields)
    before = kit.event_count(demo.engine)
    outcome = page.ticket.submit()
    assert not outcome.ok
    assert words in outcome.errors[f"{line}.{field}"]
    assert escape(words) in page.ticket.forms[line].errors[field].value  # next to the field
    assert "Nothing was saved" in page.ticket.form_error.value
    assert kit.event_count(demo.engine) == before
    assert all(f is None for f in kit.fills(demo.engine, demo.ticket_id).values())


def test_one_bad_line_blocks_the_whole_submission(page, demo, kit):
    kit.enter(page.ticket.forms[1], "executed", units="5", price="141", time=kit.fill_time(page))
    kit.enter(page.ticket.forms[2], "executed", units="4.5", price="999", time=kit.fill_time(page))
    assert not page.ticket.submit().ok
    assert all(f is None for f in kit.fills(demo.engine, demo.ticket_id).values())
    assert page.ticket.forms[1].errors["price"].value == ""  # only the bad field is marked


def test_an_explained_exception_is_saved_with_its_reason(page, demo, kit):
    kit.enter(page.ticket.forms[2], "executed", units="4.3", price="310", time=kit.fill_time(page), explanation="price jumped on news, filled anyway")
    assert page.ticket.submit().ok
    fill = kit.fills(demo.engine, demo.ticket_id)[2]
    assert fill.price == D(310) and fill.override_reason == "price jumped on news, filled anyway"


def test_nothing_chosen_is_refused(page, demo, kit):
    before = kit.event_count(demo.engine)
    outcome = page.ticket.submit()
    assert not outcome.ok and "Nothing to save yet" in page.ticket.form_error.value
    assert kit.event_count(demo.engine) == before


def test_a_line_confirmed_in_another_tab_is_not_recorded_twice(demo, kit, clock):
    tab1 = build_app(demo.ws, engine=demo.engine, actor="tab1", clock=clock)
    tab2 = build_app(demo.ws, engine=demo.engine, actor="tab2", clock=clock)
    for tab, price in ((tab1, "141.00"), (tab2, "141.50")):
        kit.enter(tab.ticket.forms[1], "executed", units="5", price=price, time=kit.fill_time(tab))
    assert tab1.ticket.submit().ok
    before = kit.event_count(demo.engine)
    outcome = tab2.ticket.submit()
    assert not outcome.ok and "already confirmed" in outcome.message
    assert kit.event_count(demo.engine) == before
    assert kit.fills(demo.engine, demo.ticket_id)[1].price == D("141")
    assert 1 not in tab2.ticket.forms  # the stale tab now shows what is recorded
    assert "already confirmed" in tab2.ticket.form_error.value


def test_a_superseded_ticket_cannot_be_confirmed(page, demo, kit):
    kit.enter(page.ticket.forms[1], "executed", units="5", price="141", time=kit.fill_time(page))
    with db.transaction(demo.engine) as s:
        old = api.get_ticket(s, demo.ticket_id)
        api.record_ticket(s, "TICKET-NEW", old.session_date, "HOLD", "h", supersede_reason="re-run after a data fix", actor="test")
    before = kit.event_count(demo.engine)
    outcome = page.ticket.submit()
    assert not outcome.ok and "was superseded (re-run after a data fix)" in page.ticket.form_error.value
    assert kit.event_count(demo.engine) == before


# --------------------------------------------------------------------------- other tickets


def _record_other(demo, kind_gates, days_after=1):
    policy = demo.ws.policy()
    cal = get_calendar()
    with db.transaction(demo.engine) as s:
        current = api.get_ticket(s, demo.ticket_id).session_date
    execution = cal.session_offset(current, days_after)
    window = cal.execution_window(execution, 5, 60)
    ticket = build_ticket(None, kind_gates, window, policy, universe(), "c", "k", "d", cal.previous_session(execution))
    with db.transaction(demo.engine) as s:
        record(s, ticket)
    return ticket


def test_a_no_trade_ticket_says_plainly_why(demo, clock):
    gate = {"name": "kill_switch", "passed": False, "reasons": ["the kill switch is ON (set by owner: broker outage)"]}
    ticket = _record_other(demo, [gate])
    page = build_app(demo.ws, engine=demo.engine, clock=clock)
    shown = page.ticket.header.value
    assert ticket.kind == "NO-TRADE" and "NO-TRADE: do not trade today" in shown
    assert "broker outage" in shown and "What to do: Do nothing in eToro" in shown
    # the unconfirmed demo ticket is still offered
    assert page.ticket.chooser_box.layout.display == "flex" and demo.ticket_id in page.ticket.chooser.options
    assert f"Ticket {demo.ticket_id} still has unconfirmed lines" in page.ticket.before.value
    page.ticket.chooser.value = demo.ticket_id
    assert page.ticket.ticket.ticket_id == demo.ticket_id and sorted(page.ticket.forms) == [1, 2, 3]


def test_no_ticket_at_all(tmp_path, clock):
    from tradeops.config import Workspace

    ws = Workspace.at(tmp_path).ensure()
    ws.policy_path.write_text("{}\n")
    engine = db.init_db(ws.default_db_url)
    page = build_app(ws, engine=engine, clock=clock)
    assert "There is no open ticket" in page.ticket.header.value and page.ticket.save.layout.display == "none"
    page.tabs.selected_index = TABS.index("History")
    assert "No tickets yet" in page.history.body.value
    engine.dispose()


# --------------------------------------------------------------------------- screenshots


def test_a_screenshot_is_stored_in_the_tickets_folder(page, demo, kit):
    kit.enter(page.ticket.forms[1], "executed", units="5", price="141", time=kit.fill_time(page))
    upload(page.ticket.forms[1], "../../../etc/evil.png", PNG)
    assert page.ticket.submit().ok
    attachment = kit.fills(demo.engine, demo.ticket_id)[1].attachment
    stored = (demo.ws.root / attachment).resolve()
    assert attachment.startswith(f"tickets/{demo.ticket_id}/line1-AAPL-") and attachment.endswith(".png")
    assert stored.parent == (demo.ws.tickets_dir / demo.ticket_id).resolve() and stored.read_bytes() == PNG


@pytest.mark.parametrize(
    "content,words", [(b"#!/bin/sh\nrm -rf /\n", "not a screenshot"), (PNG + b"\x00" * (5 * 1024 * 1024), "the limit is 5 MB")], ids=["not-an-image", "too-big"]
)
def test_a_bad_screenshot_is_refused_and_nothing_is_written(page, demo, kit, content, words):
    kit.enter(page.ticket.forms[1], "executed", units="5", price="141", time=kit.fill_time(page))
    upload(page.ticket.forms[1], "shot.png", content)
    before = kit.event_count(demo.engine)
    assert not page.ticket.submit().ok
    assert words in page.ticket.forms[1].errors["screenshot"].value
    assert kit.event_count(demo.engine) == before
    assert not (demo.ws.tickets_dir / demo.ticket_id).exists()


def test_a_refusal_by_the_ledger_itself_is_shown_and_its_screenshot_removed(page, demo, kit):
    """The ledger refuses entries dated before a recorded split; the page has no such check of its own."""
    with db.transaction(demo.engine) as s:
        after = get_calendar().next_session(api.get_ticket(s, demo.ticket_id).session_date)
        api.record_split(s, "AVGO", "4", after, actor="test")
    kit.enter(page.ticket.forms[2], "executed", units="4.5", price="295", time=kit.fill_time(page))
    upload(page.ticket.forms[2], "shot.png", PNG)
    before = kit.event_count(demo.engine)
    outcome = page.ticket.submit()
    assert not outcome.ok and "before the 4:1 split" in outcome.errors["2.status"]
    assert "before the 4:1 split" in page.ticket.forms[2].errors["status"].value and "Nothing was saved" in page.ticket.form_error.value
    assert kit.event_count(demo.engine) == before
    assert list((demo.ws.tickets_dir / demo.ticket_id).iterdir()) == []


# --------------------------------------------------------------------------- broker snapshot


def test_snapshot_is_prefilled_with_what_the_ledger_expects_and_reconciles(page, demo, kit):
    panel = page.snapshot_panel
    assert panel.cash.value == "18386.00"
    assert {s: t.value for s, t in panel.units.items()} == {"AAPL": "5", "AVGO": "0", "KO": "4", "MSFT": "0"}
    outcome = panel.submit()
    assert outcome.ok and outcome.report.passed
    assert "MATCH" in panel.result.value and "agree" in panel.result.value
    with db.transaction(demo.engine) as s:
        snap = api.latest_snapshot(s)
        assert (snap.cash, {p.symbol: p.units for p in snap.positions}, snap.source) == (D("18386"), {"AAPL": D(5), "KO": D(4)}, "dashboard")
        assert api.events(s, kind="RECONCILIATION", limit=1)[0].payload["passed"] is True
    assert "last broker snapshot 0 min ago" in page.account_bar.value


def test_snapshot_differences_are_shown(page, kit):
    panel = page.snapshot_panel
    panel.cash.value = "18286.00"
    panel.extra[0][0].value, panel.extra[0][1].value = "tsla", "1.5"
    outcome = panel.submit()
    assert outcome.ok and not outcome.report.passed
    text = panel.result.value
    assert "MISMATCH" in text and "cash: broker 18286" in text and "unknown position TSLA" in text
    assert "Trading stays blocked" in text


@pytest.mark.parametrize(
    "where,value,key,words",
    [
        ("cash", "lots", "cash", "is not a number"),
        ("cash", "-5", "cash", "negative"),
        ("KO", "four", "units:KO", "is not a number"),
        ("extra", ("AAPL", "1"), "extra:0:symbol", "already in the list"),
        ("extra", ("TSLA", ""), "extra:0:units", "Enter a number"),
        ("extra", ("no way!", "1"), "extra:0:symbol", "is not a symbol"),
    ],
)
def test_invalid_snapshot_shows_the_message_and_writes_nothing(page, demo, kit, where, value, key, words):
    panel = page.snapshot_panel
    if where == "cash":
        panel.cash.value = value
    elif where == "extra":
        panel.extra[0][0].value, panel.extra[0][1].value = value
    else:
        panel.units[where].value = value
    before = kit.event_count(demo.engine)
    outcome = panel.submit()
    assert not outcome.ok and words in panel.errors[key].value
    assert kit.event_count(demo.engine) == before


def test_more_snapshot_rows_can_be_added(page):
    panel = page.snapshot_panel
    panel.add_row.click()
    assert len(panel.extra) == 3 and "extra:2:units" in panel.errors


# --------------------------------------------------------------------------- kill switch


def test_kill_switch_on_needs_a_reason_and_off_needs_a_confirmation(page, demo, kit):
    panel = page.kill
    before = kit.event_count(demo.engine)
    assert not panel.submit().ok and "Write why" in panel.errors["reason"].value
    assert kit.event_count(demo.engine) == before
    panel.reason.value = "eToro shows wrong prices"
    assert panel.submit().ok
    assert "KILL SWITCH ON" in page.account_bar.value and "eToro shows wrong prices" in panel.status.value
    assert panel.button.description == "Turn the kill switch OFF"
    panel.reason.value = "prices fixed"
    before = kit.event_count(demo.engine)
    assert not panel.submit().ok and "Tick the box" in panel.errors["confirm"].value
    assert kit.event_count(demo.engine) == before
    panel.reason.value, panel.confirm.value = "prices fixed", True
    assert panel.submit().ok
    with db.transaction(demo.engine) as s:
        flag = api.kill_switch(s)
    assert (flag.value, flag.reason, flag.actor) == ("OFF", "prices fixed", "test")
    assert panel.button.description == "Turn the kill switch ON"


# --------------------------------------------------------------------------- history and safety


def test_history_shows_past_tickets_with_their_confirmations(page, demo, kit):
    kit.enter(page.ticket.forms[1], "executed", units="5", price="141", time=kit.fill_time(page), notes="<script>alert(1)</script>")
    assert page.ticket.submit().ok
    page.tabs.selected_index = TABS.index("History")
    text = page.history.body.value
    assert text.index(demo.ticket_id) < text.index("TICKET-", text.index(demo.ticket_id) + 1)  # newest first
    assert "1/3 confirmed" in text and "2/2 confirmed" in text
    assert "confirmed by test: line 1 SELL AAPL: executed 5 @ $141.00" in text
    assert "<script>" not in page.ticket.cards.children[1].value and "&lt;script&gt;" in page.ticket.cards.children[1].value


def test_the_history_is_read_when_its_tab_is_opened_and_kept_current_while_open(page, demo, kit, monkeypatch):
    """A Save redraws the page from the ledger; the history (20 tickets with their fills) is read only
    while its tab is open, and read afresh each time it is opened."""
    from tradeops.dashboard import model

    reads = []
    real = model.history
    monkeypatch.setattr(model, "history", lambda *a, **k: reads.append(1) or real(*a, **k))
    kit.enter(page.ticket.forms[1], "executed", units="5", price="141", time=kit.fill_time(page))
    assert page.ticket.submit().ok and reads == []  # saved on the Ticket tab: the history was not read
    page.tabs.selected_index = TABS.index("History")
    assert len(reads) == 1 and "1/3 confirmed" in page.history.body.value  # opened: what was just saved is there
    kit.enter(page.ticket.forms[2], "not_executed", reason="eToro was down")
    assert page.ticket.submit().ok and len(reads) == 2 and "2/3 confirmed" in page.history.body.value  # open: kept current
    page.tabs.selected_index = TABS.index("Ticket")
    monkeypatch.setattr(model, "history", lambda *a, **k: 1 / 0)
    page.tabs.selected_index = TABS.index("History")
    assert "Something went wrong" in page.history.body.value  # a failed read is a sentence, not a traceback


def test_the_page_explains_a_ledger_that_is_not_set_up(tmp_path, monkeypatch):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "policy.yml").write_text("{}\n")
    monkeypatch.delenv("TRADEOPS_DB_URL", raising=False)
    widget = app_from_env({"TRADEOPS_HOME": str(tmp_path)})
    assert "The page cannot start" in widget.value and "run `tradeops ledger init`" in widget.value
    assert "Traceback" not in widget.value
    widget = app_from_env({"TRADEOPS_HOME": str(tmp_path / "nowhere")})
    assert "policy file not found" in widget.value


def test_an_unexpected_failure_shows_a_sentence_not_a_traceback(tmp_path, kit, clock, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("tradeops.dashboard"), "propagate", True)  # app_from_env sends it to the server log only
    ws, url, _ = create_demo(tmp_path / "ws", session=kit.session, clock=clock)  # SQLite: the test breaks the database file under the page
    engine = db.make_engine(url)
    page = build_app(ws, engine=engine, clock=clock)
    kit.enter(page.ticket.forms[1], "executed", units="5", price="141", time=kit.fill_time(page))
    engine.dispose()
    (ws.data_dir / "ledger.sqlite").write_bytes(b"this is not a database" * 100)
    assert page.ticket.submit() is None
    shown = page.ticket.result.value
    assert "Something went wrong" in shown and "Traceback" not in shown and "sqlite" not in shown.lower()
    assert "TicketPanel.submit failed" in caplog.text
    engine.dispose()
