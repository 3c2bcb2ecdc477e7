"""Sending the ticket and the alerts: email (SMTP + STARTTLS) and/or a
Slack-compatible webhook.

Settings come only from the environment (secrets never enter notebook
parameters or the run archive):

==========================  ==================================================
TRADEOPS_SMTP_HOST          SMTP server; email is off when unset
TRADEOPS_SMTP_PORT          default 587
TRADEOPS_SMTP_USER          login (optional)
TRADEOPS_SMTP_PASSWORD      password (optional)
TRADEOPS_SMTP_FROM          sender address (default: the user)
TRADEOPS_SMTP_TO            recipients, comma-separated
TRADEOPS_SMTP_STARTTLS      true (default) / false, for local test servers only
TRADEOPS_WEBHOOK_URL        Slack-compatible incoming webhook; off when unset
TRADEOPS_DASHBOARD_URL      the confirmation page every message links to
==========================  ==================================================

Each channel is retried (tenacity, exponential back-off) and every failure
is logged.  ``send_ticket`` and ``send_alert`` never raise: they return a
:class:`SendResult` saying what went out and what failed, so a mail outage
can never stop a ticket from being written.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import requests
from tenacity import Retrying, before_sleep_log, retry_if_exception_type, stop_after_attempt, wait_exponential, wait_none

from .alerts import Alert
from .errors import ConfigError
from .redact import redact

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    user: str | None = None
    password: str | None = None
    starttls: bool = True

    def __repr__(self) -> str:  # never print the password
        return f"SmtpSettings(host={self.host!r}, port={self.port}, sender={self.sender!r}, starttls={self.starttls})"


@dataclass(frozen=True)
class NotifySettings:
    smtp: SmtpSettings | None = None
    webhook_url: str | None = None
    dashboard_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "NotifySettings":
        """Read the TRADEOPS_* variables; raise ConfigError naming a bad one."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(f"TRADEOPS_{name}", "").strip()
            return value or None

        smtp = None
        if host := get("SMTP_HOST"):
            port_text = get("SMTP_PORT") or "587"
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ConfigError(f"TRADEOPS_SMTP_PORT must be a port number 1..65535, got {port_text!r}")
            tls_text = (get("SMTP_STARTTLS") or "true").lower()
            if tls_text not in _TRUE | _FALSE:
                raise ConfigError(f"TRADEOPS_SMTP_STARTTLS must be true or false, got {tls_text!r}")
            user = get("SMTP_USER")
            sender = get("SMTP_FROM") or user
            recipients = tuple(a.strip() for a in (get("SMTP_TO") or "").split(",") if a.strip())
            if not sender or not recipients:
                raise ConfigError("TRADEOPS_SMTP_HOST is set, so TRADEOPS_SMTP_FROM (or _USER) and TRADEOPS_SMTP_TO are required")
            starttls = tls_text in _TRUE
            if not starttls and user and host not in _LOOPBACK:
                raise ConfigError(
                    f"TRADEOPS_SMTP_STARTTLS is false for {host}: refusing to send the password unencrypted (plain SMTP is only allowed to localhost)"
                )
            smtp = SmtpSettings(host, int(port_text), sender, recipients, user, get("SMTP_PASSWORD"), starttls)
        return cls(smtp=smtp, webhook_url=get("WEBHOOK_URL"), dashboard_url=get("DASHBOARD_URL"))


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff_seconds: float = 2.0  # first wait; doubles, at most 30 s

    def retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_seconds, max=30) if self.backoff_seconds else wait_none(),
            retry=retry_if_exception_type((OSError, smtplib.SMTPException, requests.RequestException, _Retryable)),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )


class _Retryable(Exception):
    """A webhook answer worth retrying (429 or 5xx)."""


@dataclass(frozen=True)
class ChannelResult:
    channel: str  # email | webhook | config
    ok: bool
    attempts: int
    error: str | None = None


@dataclass(frozen=True)
class SendResult:
    results: tuple[ChannelResult, ...]

    @property
    def ok(self) -> bool:
        """Every configured channel delivered."""
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def delivered(self) -> bool:
        """At least one channel delivered: someone has been told."""
        return any(r.ok for r in self.results)

    @property
    def failures(self) -> list[ChannelResult]:
        return [r for r in self.results if not r.ok]


@dataclass(frozen=True)
class Message:
    subject: str
    text: str  # plain text, the link already in it
    attachments: tuple[Path, ...] = ()


# --------------------------------------------------------------------------- channels


def _email(message: Message, smtp: SmtpSettings) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = smtp.sender
    mail["To"] = ", ".join(smtp.recipients)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain="tradeops")
    mail.set_content(message.text)
    for path in message.attachments:
        subtype = {".md": "markdown", ".json": "json", ".html": "html"}.get(path.suffix, "plain")
        maintype = "application" if subtype == "json" else "text"
        if maintype == "text":
            mail.add_attachment(path.read_text(), subtype=subtype, filename=path.name)
        else:
            mail.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return mail


def _send_smtp(mail: EmailMessage, smtp: SmtpSettings, timeout: float) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout) as server:
        server.ehlo()
        if smtp.starttls:
            server.starttls(context=ssl.create_default_context())
            server.ehlo()
        if smtp.user and smtp.password:
            server.login(smtp.user, smtp.password)
        server.send_message(mail)


def _post_webhook(url: str, text: str, timeout: float) -> None:
    answer = requests.post(url, json={"text": text}, timeout=timeout)
    if answer.status_code == 429 or answer.status_code >= 500:
        raise _Retryable(f"webhook answered HTTP {answer.status_code}")
    if answer.status_code >= 400:
        raise ValueError(f"webhook refused the message: HTTP {answer.status_code} {answer.text[:200]!r}")


def _attempt(channel: str, fn, retry: RetryPolicy) -> ChannelResult:
    attempts = 0
    try:
        for attempt in retry.retrying():
            with attempt:
                attempts = attempt.retry_state.attempt_number
                fn()
    except Exception as err:  # a send failure is reported, never raised
        error = redact(f"{type(err).__name__}: {err}")  # a webhook's URL path is its secret
        log.error("%s not sent after %d attempt(s): %s", channel, attempts, error)
        return ChannelResult(channel, False, attempts, error)
    log.info("%s sent (%d attempt(s))", channel, attempts)
    return ChannelResult(channel, True, attempts)


def send(message: Message, settings: NotifySettings, retry: RetryPolicy = RetryPolicy(), timeout: float = 20.0) -> SendResult:
    """Send ``message`` on every configured channel; never raises."""
    results = []
    if settings.smtp is not None:
        smtp = settings.smtp
        try:
            mail = _email(message, smtp)
        except OSError as err:
            log.error("email not built: %s", err)
            results.append(ChannelResult("email", False, 0, f"attachment unreadable: {err}"))
        else:
            results.append(_attempt("email", lambda: _send_smtp(mail, smtp, timeout), retry))
    if settings.webhook_url:
        url = settings.webhook_url
        text = f"*{message.subject}*\n{message.text}"
        results.append(_attempt("webhook", lambda: _post_webhook(url, text, timeout), retry))
    if not results:
        log.error("nothing sent: no channel configured (set TRADEOPS_SMTP_HOST or TRADEOPS_WEBHOOK_URL)")
        results.append(ChannelResult("config", False, 0, "no channel configured: set TRADEOPS_SMTP_HOST or TRADEOPS_WEBHOOK_URL"))
    return SendResult(tuple(results))


def _settings(settings: NotifySettings | None) -> NotifySettings | SendResult:
    if settings is not None:
        return settings
    try:
        return NotifySettings.from_env()
    except ConfigError as err:
        log.error("notification settings invalid: %s", err)
        return SendResult((ChannelResult("config", False, 0, str(err)),))


def _link(settings: NotifySettings) -> str:
    if settings.dashboard_url:
        return f"Confirmation page: {settings.dashboard_url}"
    return "Confirmation page: start it with `make dashboard` (set TRADEOPS_DASHBOARD_URL to link it here)."


# --------------------------------------------------------------------------- what we send


def ticket_message(ticket_id: str, kind: str, markdown_path: Path, json_path: Path | None, settings: NotifySettings) -> Message:
    """The ticket email: subject with id and kind, link first, the ticket inline, files attached."""
    body = markdown_path.read_text()
    todo = {
        "TRADE": "Execute the trades on the broker in the execution window, then confirm each line",
        "HOLD": "Nothing to trade today; no confirmation needed",
        "NO-TRADE": "Do not trade today; read why below and fix the cause",
    }.get(kind, "Read the ticket below")
    text = f"{todo}.\n{_link(settings)}\n\n{body}"
    files = (markdown_path,) + ((json_path,) if json_path is not None else ())
    return Message(f"[tradeops] {kind} ticket {ticket_id}", text, files)


def alert_message(alert: Alert, settings: NotifySettings) -> Message:
    tag = "ALERT" if alert.severity == "critical" else "warning"
    return Message(f"[tradeops {tag}] {alert.subject}", f"{alert.body}\n\n{_link(settings)}\n\n(alert key: {alert.key})")


def send_ticket(
    ticket_id: str,
    kind: str,
    markdown_path: str | Path,
    json_path: str | Path | None = None,
    settings: NotifySettings | None = None,
    retry: RetryPolicy = RetryPolicy(),
) -> SendResult:
    """Email/post the ticket (TRADE, HOLD or NO-TRADE) with the .md and .json attached."""
    resolved = _settings(settings)
    if isinstance(resolved, SendResult):
        return resolved
    try:
        message = ticket_message(ticket_id, kind, Path(markdown_path), Path(json_path) if json_path else None, resolved)
    except OSError as err:
        log.error("ticket %s not sent: %s", ticket_id, err)
        return SendResult((ChannelResult("ticket", False, 0, f"ticket file unreadable: {err}"),))
    return send(message, resolved, retry)


def send_alert(alert: Alert, settings: NotifySettings | None = None, retry: RetryPolicy = RetryPolicy()) -> SendResult:
    resolved = _settings(settings)
    if isinstance(resolved, SendResult):
        return resolved
    return send(alert_message(alert, resolved), resolved, retry)
