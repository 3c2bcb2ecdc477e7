"""What a provider is and returns (:class:`Provider`, :class:`Payload`), apart from the
providers themselves, so that the offline generator (:mod:`tradeops.data.demo`) and
:func:`tradeops.data.providers.make_provider` need not import each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from ..clock import SYSTEM
from ..config import Instrument


def utc_now() -> str:
    return SYSTEM.now().isoformat(timespec="seconds")


@dataclass(frozen=True)
class Payload:
    """What a provider received for one symbol: the bytes and how they were asked for."""

    data: bytes
    request: dict[str, Any]  # never holds secrets
    received_at: str = field(default_factory=utc_now)
    from_cache: bool = False


class Provider(Protocol):
    name: str  # the source: picks the parser and the universe's vendor-symbol column

    def download(self, instrument: Instrument, start: date, end: date) -> Payload:
        """Daily bars for ``instrument`` from ``start`` to ``end`` (both sessions, inclusive)."""
        ...
