"""Imported once by the run kernels' fork server (:mod:`tradeops.kernel_fork`): every module a
run's kernel imports while it starts (:data:`tradeops.runner.PRELOAD_MODULES`)."""

from tradeops.kernel_fork import preload
from tradeops.runner import PRELOAD_MODULES

preload(PRELOAD_MODULES)
