"""The executor's confirmation page: a Voilà notebook of ipywidgets.

The executor is not a programmer.  After trading on eToro they open this
page, see the current ticket (or that there is none, or why it is
NO-TRADE), record what happened to each line, enter a broker snapshot, and
can turn the kill switch on or off.  Everything is validated before
anything is written; one submit is one ledger transaction through the same
ledger functions as the CLI.

- ``model``: read-only views of the ledger (ticket, lines, account, history);
- ``validation``: what people type -> checked ledger inputs, or a message per field (pure);
- ``uploads``: screenshot checks and storage under ``tickets/<id>/``;
- ``actions``: the three writes (confirmation, snapshot, kill switch), one transaction each;
- ``render``: the HTML pieces (pure); ``widgets``: the forms; ``app``: the page;
- ``server``: how Voilà is started (localhost by default, a token when exposed);
- ``demo``: a small demo ledger for the benchmark, the browser test and trying the page.

``notebooks/dashboard.ipynb`` only calls :func:`wait_for_request` and :func:`app_from_env`.
"""

__all__ = ["Dashboard", "app_from_env", "build_app", "wait_for_request"]


def __getattr__(name: str):
    # imported on first use, so `tradeops dashboard` (which only needs .server) starts fast
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
