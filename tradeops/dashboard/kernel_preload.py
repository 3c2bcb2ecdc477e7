"""Imported once by the page server's fork server (:mod:`tradeops.kernel_fork`, started by
:mod:`tradeops.dashboard.serve`): what the page's kernel imports before the page is read (the
page, the widgets, the socket the pre-heated kernel waits on) and what ipykernel imports to
start a kernel.  Neither pandas nor numpy: the page's first paint does without them."""

import gc
import importlib
import os

from tradeops.kernel_fork import IPYKERNEL

os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # debugpy's import-time notice about frozen modules, on the server's stderr
for _name in ("tradeops.dashboard", "tradeops.dashboard.app", "ipywidgets", "websockets.sync.client", "websockets.exceptions", *IPYKERNEL):
    importlib.import_module(_name)
gc.freeze()
