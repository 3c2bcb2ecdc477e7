"""tradeops.redact: one function for every message that may carry a URL, DSN or credential."""

from __future__ import annotations

import logging
import string

from hypothesis import given
from hypothesis import strategies as st

from tradeops.redact import MASK, install_logging, mask_value, redact, secret_parts

HOOK = "https://hooks.slack.com/services/T0AAAA111/B0BBBB222/xyzSecretPath999"


def test_a_requests_error_loses_the_webhook_path():
    err = (
        "HTTPSConnectionPool(host='hooks.slack.com', port=443): Max retries exceeded with url: "
        "/services/T0AAAA111/B0BBBB222/xyzSecretPath999 (Caused by NewConnectionError('refused'))"
    )
    for env in ({"TRADEOPS_WEBHOOK_URL": HOOK}, {}):  # known value, and the generic pattern alone
        out = redact(err, env)
        assert "xyzSecretPath999" not in out and "T0AAAA111" not in out and "/services" not in out
        assert "hooks.slack.com" in out and "port=443" in out  # what to act on stays


def test_dsn_password_pairs_and_urls():
    env = {"TRADEOPS_DB_URL": "postgresql+psycopg://trader:pw-9911zz@db:5432/ledger", "TRADEOPS_SMTP_PASSWORD": "mailpw-4242"}
    text = (
        "connect to postgresql+psycopg://trader:pw-9911zz@db:5432/ledger failed; login mailpw-4242 refused; "
        "password=hunter22 token: abcdef123 see " + HOOK + "?x=1"
    )
    out = redact(text, env)
    for secret in ("pw-9911zz", "mailpw-4242", "hunter22", "abcdef123", "xyzSecretPath999", "x=1"):
        assert secret not in out, out
    assert "postgresql+psycopg://trader:***@db:5432/ledger" in out
    assert redact("nothing secret here: 3 lines, 2 gates", env) == "nothing secret here: 3 lines, 2 gates"
    assert set(secret_parts(env)) == {"pw-9911zz", "mailpw-4242"}


def test_schedule_show_never_prints_a_secret_in_full():
    assert mask_value("TRADEOPS_WEBHOOK_URL", HOOK) == "https://hooks.slack.com/***"
    assert mask_value("TRADEOPS_SMTP_PASSWORD", "mailpw-4242") == MASK
    assert mask_value("TRADEOPS_DB_URL", "postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"
    assert mask_value("TRADEOPS_SMTP_HOST", "smtp.example.org") == "smtp.example.org"


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=8, max_size=40), st.text(alphabet=string.printable, max_size=60))
def test_any_webhook_path_segment_is_scrubbed_wherever_it_appears(segment, noise):
    url = f"https://hooks.example.org/services/{segment}"
    for text in (f"{noise} {url} {noise}", f"{noise}url: /services/{segment}", f"{segment}{noise}"):
        assert segment not in redact(text, {"TRADEOPS_WEBHOOK_URL": url})


def test_log_records_are_redacted_when_created(monkeypatch, caplog):
    monkeypatch.setenv("TRADEOPS_WEBHOOK_URL", HOOK)
    install_logging()
    with caplog.at_level(logging.WARNING):
        logging.getLogger("tradeops.test").warning("posting to %s failed", HOOK)
        try:
            raise ConnectionError("with url: /services/T0AAAA111/B0BBBB222/xyzSecretPath999")
        except ConnectionError:
            logging.getLogger("other.lib").exception("boom")
    assert "xyzSecretPath999" not in caplog.text and "posting to *** failed" in caplog.text and "with url: ***" in caplog.text
