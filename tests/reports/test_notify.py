"""Sending through a real SMTP server (aiosmtpd) and a real HTTP server on
localhost; failing servers give retries, a logged failure and a result,
never an exception."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import threading
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from tradeops import alerts, notify
from tradeops.checks import Check
from tradeops.errors import ConfigError
from tradeops.notify import NotifySettings, RetryPolicy, SmtpSettings

FAST = RetryPolicy(attempts=3, backoff_seconds=0)
DASHBOARD = "http://127.0.0.1:8866/voila/render/dashboard.ipynb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


@pytest.fixture
def ticket_files(tmp_path):
    md = tmp_path / "TICKET-20240506.md"
    md.write_text("# TICKET-20240506: TRADE\n\n1. SELL MSFT 2 units (about 804.00 USD)\n")
    js = tmp_path / "TICKET-20240506.json"
    js.write_text(json.dumps({"ticket_id": "TICKET-20240506", "kind": "TRADE"}))
    return md, js


def _smtp_settings(port: int, starttls: bool = False) -> NotifySettings:
    return NotifySettings(smtp=SmtpSettings("127.0.0.1", port, "tradeops@example.org", ("owner@example.org",), starttls=starttls), dashboard_url=DASHBOARD)


def test_ticket_arrives_by_email_with_attachments(smtp_server, ticket_files):
    controller, inbox = smtp_server
    md, js = ticket_files
    result = notify.send_ticket("TICKET-20240506", "TRADE", md, js, settings=_smtp_settings(controller.port), retry=FAST)
    assert result.ok and result.results[0].attempts == 1
    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == ["owner@example.org"]
    mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert mail["Subject"] == "[tradeops] TRADE ticket TICKET-20240506"
    text = mail.get_body(("plain",)).get_content()
    assert DASHBOARD in text and "SELL MSFT 2 units" in text
    files = {part.get_filename(): part for part in mail.iter_attachments()}
    assert sorted(files) == ["TICKET-20240506.json", "TICKET-20240506.md"]
    assert files["TICKET-20240506.md"].get_content().replace("\r\n", "\n") == md.read_text()  # SMTP sends CRLF
    assert json.loads(files["TICKET-20240506.json"].get_content()) == {"ticket_id": "TICKET-20240506", "kind": "TRADE"}


def test_alert_arrives_by_email(smtp_server):
    controller, inbox = smtp_server
    now = datetime(2024, 5, 6, 7, 40, tzinfo=ZoneInfo("Europe/London"))
    alert = alerts.data_quality_alert(date(2024, 5, 3), [Check("quality", "coverage", "95.0% < 98%")], now)
    assert notify.send_alert(alert, settings=_smtp_settings(controller.port), retry=FAST).ok
    mail = email.message_from_bytes(inbox.messages[0].content, policy=email.policy.default)
    assert mail["Subject"] == "[tradeops warning] Data quality failed for 2024-05-03: coverage"
    assert "What to do" in mail.get_content() and DASHBOARD in mail.get_content()


def test_starttls_is_required_unless_switched_off(smtp_server, ticket_files, caplog):
    """A server without STARTTLS is refused, never used in plain text behind the user's back."""
    controller, inbox = smtp_server
    md, js = ticket_files
    with caplog.at_level(logging.WARNING, logger="tradeops.notify"):
        result = notify.send_ticket("TICKET-20240506", "TRADE", md, js, settings=_smtp_settings(controller.port, starttls=True), retry=FAST)
    assert not result.ok and result.failures[0].attempts == 3
    assert "STARTTLS" in result.failures[0].error
    assert inbox.messages == []


def test_unreachable_smtp_is_retried_logged_and_returned(ticket_files, caplog):
    md, js = ticket_files
    with caplog.at_level(logging.WARNING, logger="tradeops.notify"):
        result = notify.send_ticket("TICKET-20240506", "TRADE", md, js, settings=_smtp_settings(_free_port()), retry=FAST)
    (failure,) = result.results
    assert (failure.channel, failure.ok, failure.attempts) == ("email", False, 3)
    assert "ConnectionRefusedError" in failure.error
    retries = [r for r in caplog.records if r.levelno == logging.WARNING and "Retrying" in r.getMessage()]
    assert len(retries) == 2
    assert any(r.levelno == logging.ERROR and "email not sent after 3 attempt(s)" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------- webhook


@pytest.fixture
def webhook():
    class Hook(BaseHTTPRequestHandler):
        answers: list[int] = []
        received: list[dict] = []

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            Hook.received.append(json.loads(body))
            status = Hook.answers.pop(0) if Hook.answers else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"no")

        def log_message(self, *args):  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", Hook
    finally:
        server.shutdown()
        server.server_close()


def test_ticket_posts_to_the_webhook_with_the_link(webhook, ticket_files):
    url, hook = webhook
    md, js = ticket_files
    result = notify.send_ticket("TICKET-20240506", "TRADE", md, js, NotifySettings(webhook_url=url, dashboard_url=DASHBOARD), FAST)
    assert result.ok and [r.channel for r in result.results] == ["webhook"]
    (payload,) = hook.received
    assert payload["text"].startswith("*[tradeops] TRADE ticket TICKET-20240506*")
    assert DASHBOARD in payload["text"]


def test_webhook_5xx_is_retried_then_succeeds(webhook, ticket_files):
    url, hook = webhook
    hook.answers[:] = [503, 502]
    result = notify.send_ticket("TICKET-20240506", "HOLD", ticket_files[0], settings=NotifySettings(webhook_url=url), retry=FAST)
    assert result.ok and result.results[0].attempts == 3


def test_webhook_4xx_is_not_retried(webhook, ticket_files, caplog):
    url, hook = webhook
    hook.answers[:] = [404]
    with caplog.at_level(logging.ERROR, logger="tradeops.notify"):
        result = notify.send_ticket("TICKET-20240506", "HOLD", ticket_files[0], settings=NotifySettings(webhook_url=url), retry=FAST)
    assert not result.ok and result.results[0].attempts == 1 and "HTTP 404" in result.results[0].error
    assert "webhook not sent" in caplog.text


def test_one_channel_down_still_delivers_on_the_other(webhook, ticket_files):
    url, hook = webhook
    settings = NotifySettings(smtp=_smtp_settings(_free_port()).smtp, webhook_url=url)
    result = notify.send_ticket("TICKET-20240506", "TRADE", *ticket_files, settings=settings, retry=FAST)
    assert not result.ok and result.delivered
    assert [(r.channel, r.ok) for r in result.results] == [("email", False), ("webhook", True)]


# ----------------------------------------------------------------- settings


def test_settings_from_the_environment():
    env = {
        "TRADEOPS_SMTP_HOST": "smtp.example.org",
        "TRADEOPS_SMTP_USER": "bot@example.org",
        "TRADEOPS_SMTP_PASSWORD": "s3cret",
        "TRADEOPS_SMTP_TO": "a@example.org, b@example.org",
        "TRADEOPS_WEBHOOK_URL": "https://hooks.example.org/x",
        "TRADEOPS_DASHBOARD_URL": DASHBOARD,
    }
    s = NotifySettings.from_env(env)
    assert (s.smtp.port, s.smtp.sender, s.smtp.recipients, s.smtp.starttls) == (587, "bot@example.org", ("a@example.org", "b@example.org"), True)
    assert "s3cret" not in repr(s)
    assert NotifySettings.from_env({}) == NotifySettings()


@pytest.mark.parametrize(
    "env, message",
    [
        ({"TRADEOPS_SMTP_HOST": "h", "TRADEOPS_SMTP_PORT": "smtp", "TRADEOPS_SMTP_FROM": "a@b", "TRADEOPS_SMTP_TO": "c@d"}, "TRADEOPS_SMTP_PORT"),
        ({"TRADEOPS_SMTP_HOST": "h", "TRADEOPS_SMTP_FROM": "a@b"}, "TRADEOPS_SMTP_TO"),
        ({"TRADEOPS_SMTP_HOST": "h", "TRADEOPS_SMTP_STARTTLS": "maybe", "TRADEOPS_SMTP_FROM": "a@b", "TRADEOPS_SMTP_TO": "c@d"}, "STARTTLS"),
        ({"TRADEOPS_SMTP_HOST": "smtp.example.org", "TRADEOPS_SMTP_STARTTLS": "false", "TRADEOPS_SMTP_USER": "u", "TRADEOPS_SMTP_TO": "c@d"}, "unencrypted"),
    ],
)
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        NotifySettings.from_env(env)


def test_bad_settings_or_missing_files_never_raise_from_send(monkeypatch, tmp_path):
    monkeypatch.setenv("TRADEOPS_SMTP_HOST", "h")
    monkeypatch.setenv("TRADEOPS_SMTP_PORT", "not-a-port")
    result = notify.send_ticket("TICKET-1", "TRADE", tmp_path / "TICKET-1.md")
    assert not result.ok and result.results[0].channel == "config" and "TRADEOPS_SMTP_PORT" in result.results[0].error
    monkeypatch.delenv("TRADEOPS_SMTP_HOST")
    result = notify.send_ticket("TICKET-1", "TRADE", tmp_path / "TICKET-1.md", settings=NotifySettings(webhook_url="http://127.0.0.1:9/x"))
    assert not result.ok and "ticket file unreadable" in result.results[0].error
    no_channel = notify.send_alert(
        alerts.run_failed_alert(date(2024, 5, 6), "r1", "boom", datetime(2024, 5, 6, 8, tzinfo=ZoneInfo("UTC"))), settings=NotifySettings()
    )
    assert not no_channel.ok and "no channel configured" in no_channel.results[0].error
