"""Imported once by the run kernels' fork server (:mod:`tradeops.kernel_fork`): every module a
run's kernel imports while it starts (:data:`tradeops.runner.PRELOAD_MODULES`) and what
ipykernel imports to start a kernel; then the imports' objects are frozen out of the garbage
collector's sight, as the kernel's own preload does."""

import gc
import importlib
import os

from tradeops.kernel_fork import IPYKERNEL
from tradeops.runner import PRELOAD_MODULES

os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # debugpy's import-time notice about frozen modules, on the fork server's stderr
for _name in (*PRELOAD_MODULES, *IPYKERNEL):
    importlib.import_module(_name)
gc.freeze()
