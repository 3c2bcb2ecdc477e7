"""The pipeline runner: the only module that imports papermill.

It executes stage notebooks in order into ``runs/<session-date>/<run-id>/``,
checks each notebook's parameters before a kernel starts (papermill only
warns about unknown ones), exports every executed notebook to HTML, and
writes ``manifest.json``.  What the stages *do* lives in
:mod:`tradeops.stages`; what a daily run decides lives in :mod:`tradeops.daily`.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .clock import SYSTEM, Clock
from .errors import TradeopsError
from .files import write_atomic, write_json
from .redact import redact

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"

# Exit codes of `tradeops run daily`.
EXIT_OK = 0  # TRADE or HOLD ticket, an existing ticket reported, or market closed
EXIT_NO_TRADE = 3  # a gate failed: NO-TRADE ticket (or the drawdown halt's risk-off TRADE ticket)
EXIT_INTERNAL = 4  # a stage raised, a kernel died, or the runner failed: NO-TRADE ticket naming it


class PipelineError(TradeopsError):
    """The runner could not start or finish a stage."""


@dataclass(frozen=True)
class Stage:
    name: str  # e.g. "20_clean_qa"; the notebook is notebooks/<name>.ipynb

    @property
    def notebook(self) -> str:
        return f"{self.name}.ipynb"


@dataclass
class StageOutcome:
    stage: str
    status: str  # ok | failed | dead_kernel | not_run
    started_at: str
    seconds: float
    parameters: dict
    notebook: str | None = None  # executed copy, relative to the run folder
    html: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _stamp(clock: Clock) -> str:
    return clock.now().isoformat(timespec="seconds")


def notebook_parameters(path: str | Path) -> dict[str, object]:
    """Names and defaults declared in the notebook's cell tagged ``parameters``."""
    stat = Path(path).stat()
    return dict(_declared_parameters(str(path), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=64)
def _declared_parameters(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, object], ...]:
    # read once per version of the file (a run checks each stage's notebook before it starts)
    import papermill

    declared = papermill.inspect_notebook(path)
    if not declared:
        raise PipelineError(f"{path} has no cell tagged 'parameters'")
    return tuple((name, info.get("default")) for name, info in declared.items())


def check_parameters(path: str | Path, given: dict) -> None:
    """Refuse unknown or missing parameters before any kernel starts."""
    declared = set(notebook_parameters(path))
    unknown = sorted(set(given) - declared)
    missing = sorted(declared - set(given))
    if unknown or missing:
        raise PipelineError(
            f"{Path(path).name}: parameters do not match the notebook's parameters cell "
            f"(unknown: {unknown or 'none'}; missing: {missing or 'none'}; declared: {sorted(declared)})"
        )


@functools.cache
def _html_exporter():
    """One nbconvert exporter per process: a new one compiles its Jinja templates again (0.12 s a notebook)."""
    from nbconvert import HTMLExporter

    return HTMLExporter()


def export_html(notebook: Path) -> Path:
    """nbconvert HTML twin of an executed notebook, for auditors without Jupyter."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    body, _ = _html_exporter().from_notebook_node(nb)
    out = notebook.with_suffix(".html")
    write_atomic(out, body)
    return out


def execute_stage(
    stage: Stage, run_dir: Path, parameters: dict, notebook_dir: Path = NOTEBOOK_DIR, timeout: int = 900, export: bool = True, km=None, clock: Clock = SYSTEM
) -> StageOutcome:
    """Execute one stage notebook into ``run_dir``; never raises for a failing cell.

    A failed stage keeps its executed notebook (with the traceback) and its
    HTML export in the run folder.
    """
    import papermill

    source = notebook_dir / stage.notebook
    target = run_dir / stage.notebook
    started, t0 = _stamp(clock), time.perf_counter()
    outcome = StageOutcome(stage=stage.name, status="ok", started_at=started, seconds=0.0, parameters=parameters)
    check_parameters(source, parameters)
    try:
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters=parameters,
            kernel_name="python3",
            progress_bar=False,
            cwd=str(run_dir),
            execution_timeout=timeout,
            engine_name=_engine_name(),
            **({"km": km} if km is not None else {}),
        )
    except Exception as err:  # papermill/nbclient raise several unrelated types
        kind = type(err).__name__
        outcome.status = "dead_kernel" if "DeadKernel" in kind or "dead" in str(err).lower() else "failed"
        outcome.error = redact(f"{kind}: {_short(err)}")
    outcome.seconds = round(time.perf_counter() - t0, 3)
    if target.exists():
        outcome.notebook = target.name
        if export:
            export_outcome(run_dir, outcome)
    return outcome


def export_outcome(run_dir: Path, outcome: StageOutcome) -> None:
    """Add the HTML twin of a stage's executed notebook (``export=False`` defers this)."""
    if outcome.notebook is None or outcome.html is not None:
        return
    try:
        outcome.html = export_html(run_dir / outcome.notebook).name
    except Exception as err:  # an unreadable notebook must not hide the stage's own error
        outcome.error = (outcome.error or "") + f" (HTML export failed: {_short(err)})"


@functools.cache
def _engine_name() -> str:
    """papermill's nbclient engine, writing the executed notebook once, when the notebook ends.

    papermill writes (and validates) the whole notebook before and after every
    cell: a dozen writes per stage, about 0.1 s of every stage on the way to the
    ticket.  This engine writes it once, at the end, which papermill does also
    when a cell fails, the kernel dies or a cell times out (its own ``finally``),
    so a failed stage still keeps its executed notebook with the traceback.
    """
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class SaveAtEnd(NotebookExecutionManager):
        _ended = False

        def save(self, **kwargs):
            if self._ended:
                super().save(**kwargs)

        def notebook_complete(self, **kwargs):
            self._ended = True
            super().notebook_complete(**kwargs)

    class SaveAtEndEngine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True, log_output=False, autosave_cell_every=30, **kwargs):
            # papermill's Engine.execute_notebook, with the manager above
            nb_man = SaveAtEnd(nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output, autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register("tradeops", SaveAtEndEngine)
    return "tradeops"


RESET_NAMESPACE = "get_ipython().reset(new_session=True)"
# What a run's kernel imports while it starts: the modules the stages call, and the heavy
# ones they import on first use (the ledger with SQLAlchemy and Alembic, the calendars,
# parquet, the ticket schema's validator), so that no stage waits for an import.
# The last step freezes what the imports allocated out of the garbage collector's sight
# (gc.freeze): the namespace reset before every stage collects garbage, and without it each
# collection walked every object of pandas, SQLAlchemy and the rest, about 0.07 s per stage.
PRELOAD_MODULES = (
    "tradeops.stages",
    "tradeops.ledger.api",
    "tradeops.ledger.db",
    "tradeops.tickets",
    "tradeops.data.fetch",
    "tradeops.data.fx",
    "tradeops.calendar",
    "pyarrow.parquet",
    "pandas_market_calendars",
    "jsonschema",
    "alembic.command",
)
PRELOAD = f"import {', '.join(PRELOAD_MODULES)}; import gc; gc.freeze()"


def _run_kernel_manager():
    """A kernel manager whose every ``client()`` is one client, asked once whether the kernel is ready,
    and whose kernel is forked from the fork server of :mod:`tradeops.kernel_fork`.

    nbclient makes a new client for each notebook and waits for it to be ready,
    and jupyter_client's ready check ends by listening 0.2 s for stray IOPub
    messages: about 0.4 s per stage (measured with cProfile on the daily run),
    more than most stages' own work.  Sharing one client per kernel pays that
    once per kernel, and closes the channels nbclient leaves open when it does
    not own the manager.  Async, because nbclient drives kernels asynchronously
    and a synchronous manager never notices a kernel that died.
    """
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager

    class ReadyOnceClient(AsyncKernelClient):
        _ready = False

        def start_channels(self, *args, **kwargs):
            if not self.channels_running:
                super().start_channels(*args, **kwargs)

        async def wait_for_ready(self, timeout=None):
            """jupyter_client's ready check (a kernel_info reply on the shell channel, then any
            message on IOPub, which proves IOPub connected), without its last step: listening
            0.2 s more for stray IOPub messages, which nbclient ignores anyway (it reads only
            the messages of the cell it runs)."""
            if self._ready:
                return
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    reply = await self.get_shell_msg(timeout=1)
                    if reply["msg_type"] == "kernel_info_reply":
                        await self.get_iopub_msg(timeout=0.2)
                        self._handle_kernel_info_reply(reply)
                        break
                except Empty:
                    pass
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
            self._ready = True

    class RunKernelManager(AsyncKernelManager):
        shared_client = None

        async def _async_pre_start_kernel(self, **kw):
            if self.provisioner is None:
                from .kernel_provisioner import ForkProvisioner

                self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
                self.provisioner = ForkProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
            return await super()._async_pre_start_kernel(**kw)

        def client(self, **kwargs):
            if self.shared_client is None:
                self.client_factory = ReadyOnceClient
                self.shared_client = super().client(**kwargs)
            return self.shared_client

    return RunKernelManager(kernel_name="python3")


class RunKernel:
    """One kernel for all of a run's stages, with a clean namespace for each.

    Its fork server starts as soon as the run knows it will run (:func:`tradeops.daily.run_daily`
    calls :meth:`start` before its calendar and ledger checks, so the server's imports overlap
    the parent's own work); the kernel is forked from it for the first stage, in ``cwd``, with
    the modules the stages use imported (``preload``).  :meth:`bind` gives it the run folder once there is
    one.  Before every stage the kernel moves to the run folder and its user namespace is
    reset (variables, history, execution count), so a stage sees nothing of the stage before
    but the files it wrote; only the imported modules stay warm.  A stage that did not end
    ``ok`` (a failed cell, a timeout, a dead kernel) retires the kernel, and the next stage
    gets a new process.  ``runs verify`` re-executes every stage in a kernel of its own and
    compares the artifacts byte for byte: that is the standing proof that sharing the
    process changed nothing.  Use as a context manager.
    """

    def __init__(self, run_dir: Path, preload: str = PRELOAD, ready_timeout: float = 60, log: Path | None = None):
        self.run_dir, self.preload, self.ready_timeout = Path(run_dir), preload, ready_timeout
        self.log = log or self.run_dir / "kernels.log"  # the kernels' own chatter, kept with the run
        self._km = None
        self.started = 0  # kernel processes started for this run (tests read it)

    def _start(self):
        from jupyter_core.utils import run_sync

        km = _run_kernel_manager()
        with open(self.log, "ab") as log:
            run_sync(km.start_kernel)(
                cwd=str(self.run_dir),
                # the history in memory: a run's kernels share no IPython history file across runs
                extra_arguments=[f"--IPKernelApp.exec_lines={self.preload}", "--HistoryManager.hist_file=:memory:"],
                stdout=log,
                stderr=log,
            )
        self.started += 1
        return km

    def start(self) -> "RunKernel":
        """Get the kernel going now: start the fork server (its imports then overlap the caller's
        work); the kernel is forked from it on first use (:meth:`take`)."""
        from .kernel_fork import warm

        warm()
        return self

    def bind(self, run_dir: Path) -> None:
        """The run folder is known: the next stages run in it, and the kernel's log moves there."""
        run_dir = Path(run_dir)
        if self.log != run_dir / "kernels.log" and self.log.exists():
            self.log.rename(run_dir / "kernels.log")  # the kernel keeps writing to it: same file, new name
        self.run_dir, self.log = run_dir, run_dir / "kernels.log"

    async def _prepare(self, km) -> bool:
        kc = km.client()  # the run's one client: its channels are open and the kernel has answered
        code = f"__import__('os').chdir({str(self.run_dir)!r}); {RESET_NAMESPACE}"
        try:
            kc.start_channels()
            await kc.wait_for_ready(timeout=self.ready_timeout)
            msg_id = kc.execute(code, silent=True, store_history=False)
            while True:
                reply = await kc.get_shell_msg(timeout=self.ready_timeout)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return reply["content"].get("status") == "ok"
        except Exception:  # a kernel that cannot answer is retired, not trusted
            return False

    def take(self):
        """The kernel for the next stage, in the run folder with a clean namespace (a new one if it will not answer)."""
        from jupyter_core.utils import run_sync

        for _ in range(2):
            if self._km is None:
                self._km = self._start()
            if run_sync(self._prepare)(self._km):
                return self._km
            self.retire()
        raise PipelineError(f"no kernel answered within {self.ready_timeout:g} s (twice); see {self.log}")

    def done(self, ok: bool) -> None:
        """After a stage: a stage that did not end ok retires the kernel."""
        if not ok:
            self.retire()

    def retire(self) -> None:
        if self._km is not None:
            self.release(self._km)
        self._km = None

    @staticmethod
    def release(km) -> None:
        from jupyter_core.utils import run_sync

        client = getattr(km, "shared_client", None)
        if client is not None and client.channels_running:
            client.stop_channels()
        try:
            run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # a kernel that died on its own has nothing left to shut down
            pass

    def __enter__(self) -> "RunKernel":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.retire()


def _short(err: Exception, limit: int = 600) -> str:
    text = str(err).strip()
    # papermill's message repeats the whole traceback; keep the last, most specific lines
    lines = [ln for ln in text.splitlines() if ln.strip()]
    text = " | ".join(lines[-3:]) if len(lines) > 3 else " | ".join(lines)
    return text[:limit]


@dataclass
class Manifest:
    run_id: str
    session_date: str | None
    decision_session: str | None
    started_at: str
    kind: str = "daily"
    finished_at: str | None = None
    status: str = "running"  # running | done | market_closed | existing_ticket | failed
    git: dict = field(default_factory=dict)
    package_version: str = ""
    code_hash: str = ""
    hashes: dict = field(default_factory=dict)  # policy, universe, data snapshot
    parameters: dict = field(default_factory=dict)  # common parameters of every stage
    stages: list = field(default_factory=list)
    gates: list = field(default_factory=list)
    ticket_id: str | None = None
    ticket_kind: str | None = None
    exit_code: int | None = None
    seconds_to_ticket: float | None = None
    notes: list = field(default_factory=list)
    files: dict = field(default_factory=dict)  # every other file of the run folder: {relative path: sha256}

    def write(self, run_dir: Path) -> Path:
        """Write the manifest; every string in it (notes, stage errors, parameters) passes through
        :func:`tradeops.redact.redact` on the way to the archive."""
        from .redact import redact_tree

        return write_json_atomic(run_dir / "manifest.json", redact_tree(asdict(self)))

    @classmethod
    def read(cls, run_dir: Path) -> "Manifest":
        return cls(**json.loads((run_dir / "manifest.json").read_text()))


def write_json_atomic(path: Path, obj) -> Path:
    return write_json(path, obj, sort_keys=True, default=str)


class RunLock:
    """One run at a time per workspace (a lock file under runs/)."""

    def __init__(self, runs_dir: Path):
        from filelock import FileLock, Timeout

        runs_dir.mkdir(parents=True, exist_ok=True)
        self.path = runs_dir / ".run.lock"
        self._lock = FileLock(str(self.path), timeout=0)
        self._timeout = Timeout

    def __enter__(self) -> "RunLock":
        try:
            self._lock.acquire()
        except self._timeout:
            raise PipelineError(f"another run holds the lock {self.path}; wait for it to finish") from None
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()
