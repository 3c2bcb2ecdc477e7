"""Imported once by the page server's fork server (:mod:`tradeops.kernel_fork`, started by
:mod:`tradeops.dashboard.serve`): what the page's kernel imports before the page is read (the
page, the widgets, the socket the pre-heated kernel waits on).  Neither pandas nor numpy: the
page's first paint does without them."""

from tradeops.kernel_fork import preload

preload(("tradeops.dashboard", "tradeops.dashboard.app", "ipywidgets", "websockets.sync.client", "websockets.exceptions"))
