"""Secrets scrubbed at the edge.

One function, :func:`redact`, is applied to every message that may carry a
URL, a DSN or a credential before it leaves the process or reaches the run
archive: notification results, exception texts, log records (through
:func:`install_logging`), manifest notes and stage errors (``Manifest.write``),
and what the command line prints.

It removes, in this order:

1. the values of the secret-bearing environment variables
   (:data:`SECRET_VARIABLES`) and their parts: a webhook URL's path and
   query (Slack's secret is its path), a database URL's password, tokens;
2. whatever looks like a credential in any URL (``user:password@``), any
   http(s) URL's path and query, and the ``url: /path`` that requests and
   urllib3 put in their connection errors;
3. ``password=...``, ``token=...``, ``api_key=...`` style pairs.

The result keeps enough to act on (scheme, host, port, user name).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

MASK = "***"

#: Environment variables whose values are secret, or contain a secret.
SECRET_VARIABLES = (
    "TRADEOPS_DB_URL",
    "TRADEOPS_SMTP_PASSWORD",
    "TRADEOPS_WEBHOOK_URL",
    "TRADEOPS_DASHBOARD_TOKEN",
    "STOOQ_API_KEY",
    "ALPHAVANTAGE_API_KEY",
    "PGPASSWORD",
)

_MIN_SECRET = 4  # shorter fragments ("/", "a") would mangle ordinary text

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]+)@")
_HTTP_PATH = re.compile(r"(?P<head>https?://[^/\s?#'\"]+)(?P<rest>[/?#][^\s'\")]*)")
_URL_IN_ERROR = re.compile(r"(?P<head>\burl: )(?P<rest>/[^\s'\")]*)")
_PAIR = re.compile(r"(?P<key>\b(?:password|passwd|pwd|token|secret|api[_-]?key|apikey)\b\s*[=:]\s*)(?P<value>[^\s&,;'\")]+)", re.I)


def secret_parts(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret string (and secret part of a URL) in the environment, longest first."""
    environ = os.environ if environ is None else environ
    parts: set[str] = set()
    for name in SECRET_VARIABLES:
        value = (environ.get(name) or "").strip()
        if not value:
            continue
        if "://" in value:
            try:
                url = urlsplit(value)
            except ValueError:
                parts.add(value)
                continue
            if url.password:
                parts.add(url.password)
            if name != "TRADEOPS_DB_URL":  # a webhook's path and query are its secret
                parts.add(value)
                if url.path not in ("", "/"):
                    parts.add(url.path)
                    parts.update(seg for seg in url.path.split("/") if len(seg) >= 8)
                if url.query:
                    parts.add(url.query)
        else:
            parts.add(value)
    return sorted((p for p in parts if len(p) >= _MIN_SECRET), key=len, reverse=True)


def redact(text: object, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret, credential, URL path and token replaced by ``***``."""
    out = str(text)
    for part in secret_parts(environ):
        out = out.replace(part, MASK)
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", out)
    out = _HTTP_PATH.sub(lambda m: m["head"] + ("" if m["rest"] in ("/",) else "/" + MASK), out)
    out = _URL_IN_ERROR.sub(lambda m: m["head"] + MASK, out)
    out = _PAIR.sub(lambda m: m["key"] + MASK, out)
    return out


def redact_tree(obj, environ: Mapping[str, str] | None = None):
    """A JSON-like structure with every string passed through :func:`redact`."""
    if isinstance(obj, str):
        return redact(obj, environ)
    if isinstance(obj, dict):
        return {k: redact_tree(v, environ) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_tree(v, environ) for v in obj]
    return obj


def mask_value(name: str, value: str) -> str:
    """How ``tradeops schedule show`` prints a variable: a secret never in full
    (a URL keeps its scheme, user and host; anything else becomes ``***``)."""
    if name not in SECRET_VARIABLES or name == "TRADEOPS_DB_URL":
        return redact(value, {})  # a DSN keeps everything but its password
    if "://" in value:
        shown = redact(value, {})
        return shown if shown != value else MASK
    return MASK


# --------------------------------------------------------------------------- logging

_installed = False


def install_logging() -> None:
    """Redact every log record of this process when it is created (message, arguments and traceback)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's problem, not ours
            return record
        record.msg, record.args = redact(message), ()
        if record.exc_info and record.exc_info[1] is not None:
            import traceback

            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
            record.exc_info = None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
