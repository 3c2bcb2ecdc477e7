"""``python -m tradeops.dashboard.serve ARGS``: Voilà's own command line, started from the package.

The same as ``python -m voila ARGS``, except that ``tradeops`` is imported
first, so its skip of the ``rfc3987_syntax`` import (see ``tradeops/__init__.py``)
applies to the server too: Jupyter Server's event schemas go through jsonschema,
whose "iri" format check would otherwise build a Lark grammar at start (about
0.8 s of CPU before the server listens); and the first page request waits for
the pre-heated kernel (:func:`_first_request_waits_for_the_pool`); and the page's kernels are
forked from a fork server started before Voilà is imported (:mod:`tradeops.kernel_fork`).  :func:`tradeops.dashboard.server.launch_spec`
builds the arguments.
"""

from __future__ import annotations

import asyncio
import sys

import tradeops  # noqa: F401 - first, for the import skip above


STARTUP_WAIT_S = 60.0


def _first_request_waits_for_the_pool() -> None:
    """A page asked for before the pre-heated kernel has started waits for it instead of starting a second.

    Voilà 0.5 uses the pool only once its first kernel is up (``notebook_data`` filled); a request
    arriving sooner (the browser opened right after the server listens) got a kernel of its own, and
    the two started side by side on the same CPUs (page ready 11-13 s instead of 7-9 s at load 3-5).
    Only the very first kernel is waited for: a request while the pool refills gets its own, as before."""
    from voila.handler import VoilaHandler

    original = VoilaHandler.get_generator

    async def get_generator(self, path=None):
        manager = self.kernel_manager
        if not getattr(manager, "notebook_data", True):  # no kernel started yet: the server has just started
            starting = [pool[0] for pool in getattr(manager, "_pools", {}).values() if pool and not pool[0].done()]
            if starting:
                await asyncio.wait(starting, timeout=STARTUP_WAIT_S)
        async for chunk in original(self, path=path):
            yield chunk

    VoilaHandler.get_generator = get_generator


# What the page's kernels need before the page is read: the package's page, the widgets, the
# kernel and the socket it waits on (tradeops.dashboard.kernel_preload imports them).
KERNEL_PRELOAD = ["tradeops.dashboard.kernel_preload"]


def main() -> None:
    from tradeops.kernel_fork import warm

    warm(KERNEL_PRELOAD)  # first: the fork server imports the page's modules while Voilà starts
    from voila.app import main as voila_main

    _first_request_waits_for_the_pool()
    sys.exit(voila_main())


if __name__ == "__main__":  # pragma: no cover - run by launch_spec's command line
    main()
