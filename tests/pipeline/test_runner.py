"""The papermill runner on small throw-away notebooks: parameter checks before
any kernel starts, failed and killed stages kept in the archive with HTML."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tradeops.runner import PipelineError, RunLock, Stage, check_parameters, execute_stage, notebook_parameters


def make_notebook(folder: Path, name: str, params: str, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def test_parameters_are_read_from_the_tagged_cell(tmp_path):
    nb = make_notebook(tmp_path, "s", "run_dir = ''\nsession_date = '2025-01-10'\n", "x = 1")
    assert notebook_parameters(nb) == {"run_dir": "''", "session_date": "'2025-01-10'"}


def test_unknown_or_missing_parameters_fail_before_a_kernel_starts(tmp_path):
    nb = make_notebook(tmp_path, "s", "run_dir = ''\nsession_date = ''\n", "x = 1")
    with pytest.raises(PipelineError, match=r"unknown: \['password'\]"):
        check_parameters(nb, {"run_dir": "x", "session_date": "y", "password": "secret"})
    with pytest.raises(PipelineError, match=r"missing: \['session_date'\]"):
        check_parameters(nb, {"run_dir": "x"})
    check_parameters(nb, {"run_dir": "x", "session_date": "y"})


def test_notebook_without_parameters_cell_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, tmp_path / "plain.ipynb")
    with pytest.raises(PipelineError, match="no cell tagged 'parameters'"):
        notebook_parameters(tmp_path / "plain.ipynb")


@pytest.mark.slow
def test_ok_failed_and_dead_kernel_stages_are_archived(tmp_path):
    src, run = tmp_path / "nb", tmp_path / "run"
    src.mkdir(), run.mkdir()
    make_notebook(src, "ok", "value = 0\n", "import json, pathlib\npathlib.Path('out.json').write_text(json.dumps(value * 2))")
    make_notebook(src, "boom", "value = 0\n", "raise ValueError(f'bad value {value}')")
    make_notebook(src, "killed", "value = 0\n", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")

    ok = execute_stage(Stage("ok"), run, {"value": 21}, notebook_dir=src)
    assert ok.ok and json.loads((run / "out.json").read_text()) == 42  # cwd is the run folder
    assert (run / "ok.ipynb").exists() and (run / "ok.html").exists()

    boom = execute_stage(Stage("boom"), run, {"value": 7}, notebook_dir=src)
    assert boom.status == "failed" and "bad value 7" in boom.error
    executed = (run / "boom.ipynb").read_text()
    assert "ValueError" in executed and "bad value 7" in executed  # the traceback stays in the archive
    assert "bad value 7" in (run / "boom.html").read_text()

    killed = execute_stage(Stage("killed"), run, {"value": 1}, notebook_dir=src, timeout=60)
    assert killed.status == "dead_kernel", killed.error
    assert (run / "killed.ipynb").exists()

    # the executed notebook is written once, when the notebook ends: also after a cell timed out
    make_notebook(src, "slow", "value = 0\n", "print('started', value)\nimport time\ntime.sleep(30)")
    slow = execute_stage(Stage("slow"), run, {"value": 3}, notebook_dir=src, timeout=2)
    assert slow.status == "failed" and "Timeout" in slow.error, slow.error
    assert "started 3" in (run / "slow.ipynb").read_text()  # the output before the timeout is archived


def test_run_lock_allows_one_run_at_a_time(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(PipelineError, match="another run holds the lock"):
            with RunLock(tmp_path):
                pass
    with RunLock(tmp_path):  # released
        pass


@pytest.mark.slow
def test_one_kernel_per_run_with_a_clean_namespace_per_stage(tmp_path):
    """RunKernel: the stages of a run share one kernel process, yet a stage sees nothing
    of the stage before (variables, history, execution count); a stage that fails or
    kills its kernel retires it, and the next stage gets a new process."""
    from tradeops.runner import RunKernel

    src, run = tmp_path / "nb", tmp_path / "run"
    src.mkdir(), run.mkdir()
    pid = "import os, pathlib\npathlib.Path(f'pid-{tag}.txt').write_text(str(os.getpid()))\n"
    make_notebook(src, "leave", "tag = ''\n", pid + "left_behind = 42\nIn_count = len(In)")
    make_notebook(
        src,
        "look",
        "tag = ''\n",
        pid + "assert 'left_behind' not in globals(), 'namespace leaked'\nassert len(In) == 4, In  # this stage's three cells, nothing of the last",
    )
    make_notebook(src, "boom", "tag = ''\n", pid + "raise ValueError('boom on purpose')")
    make_notebook(src, "killed", "tag = ''\n", pid + "import signal\nos.kill(os.getpid(), signal.SIGKILL)")

    def stage(kernel, name, tag):
        outcome = execute_stage(Stage(name), run, {"tag": tag}, notebook_dir=src, export=False, km=kernel.take(), timeout=60)
        kernel.done(outcome.ok)
        return outcome

    def pid_of(tag):
        return (run / f"pid-{tag}.txt").read_text()

    with RunKernel(run) as kernel:
        assert stage(kernel, "leave", "a").ok
        second = stage(kernel, "look", "b")
        assert second.ok, second.error  # the previous stage's variables are gone
        assert pid_of("a") == pid_of("b") and kernel.started == 1  # ... from the same process
        executed = nbformat.read(run / "look.ipynb", as_version=4)
        assert [c.execution_count for c in executed.cells] == [1, 2, 3]  # a new session: counts restart

        assert stage(kernel, "boom", "c").status == "failed"
        assert stage(kernel, "look", "d").ok and pid_of("d") != pid_of("c") and kernel.started == 2

        assert stage(kernel, "killed", "e").status == "dead_kernel"
        after = stage(kernel, "look", "f")
        assert after.ok, after.error
        assert pid_of("f") != pid_of("e") and kernel.started == 3


def test_the_daily_run_module_imports_no_pandas_before_its_kernel_starts():
    # run_daily starts the run's kernel right after the configuration and slot checks; what
    # brings in pandas (stages, calendar, outbox) is imported after that, so the two overlap
    code = "import sys, tradeops.daily; print(sorted(m for m in ('pandas', 'numpy', 'papermill') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_forked_kernel_is_a_fresh_process_with_the_environment_and_folder_of_its_launch(tmp_path, monkeypatch):
    """tradeops.kernel_fork: the run's kernel is forked from the fork server, not from this
    process: it sees an environment variable set after the server started (the server's own
    environment is older), runs in the run folder, has the stages' modules imported already,
    and sees nothing of this process's state (a module attribute changed here)."""
    import os

    import tradeops.calendar
    from tradeops.runner import RunKernel

    src, run = tmp_path / "nb", tmp_path / "run"
    src.mkdir(), run.mkdir()
    with RunKernel(run) as kernel:  # the fork server is up (or starting) from here on
        monkeypatch.setenv("TRADEOPS_PROBE", "set after the fork server started")
        monkeypatch.setattr(tradeops.calendar, "FIRST_YEAR", 1066)
        probe = (
            "import json, os, sys\n"
            "import tradeops.calendar\n"
            "json.dump({'env': os.environ.get('TRADEOPS_PROBE'), 'cwd': os.getcwd(), 'pid': os.getpid(), 'ppid': os.getppid(),\n"
            "           'preloaded': 'tradeops.stages' in sys.modules, 'first_year': tradeops.calendar.FIRST_YEAR}, open('probe.json', 'w'))"
        )
        make_notebook(src, "probe", "tag = ''\n", probe)
        outcome = execute_stage(Stage("probe"), run, {"tag": "x"}, notebook_dir=src, export=False, km=kernel.take(), timeout=60)
        assert outcome.ok, outcome.error
    seen = json.loads((run / "probe.json").read_text())
    assert seen["env"] == "set after the fork server started" and Path(seen["cwd"]) == run.resolve()
    assert seen["preloaded"] and seen["first_year"] != 1066  # warm imports, none of this process's state
    assert os.getpid() not in (seen["pid"], seen["ppid"])  # a child of the fork server, not of this process
    assert kernel.started == 1


def test_a_forked_kernel_gets_voilas_enum_named_variables_as_plain_strings(tmp_path):
    """Voilà names the variables it gives its kernels with a str enum (voila.utils.ENV_VARIABLE).
    The forked kernel is sent them as plain strings: it sees them, and never imports voila.utils
    (Jupyter Server and nbconvert, 0.4 s of the page's start) to unpickle them."""
    from jupyter_client.manager import KernelManager
    from voila.utils import ENV_VARIABLE

    from tradeops.kernel_fork import plain_environment
    from tradeops.kernel_provisioner import ForkProvisioner

    env = {**os.environ, ENV_VARIABLE.VOILA_PREHEAT: "True"}
    assert {type(k) for k in plain_environment(env)} == {str} and plain_environment(env)["VOILA_PREHEAT"] == "True"
    km = KernelManager(kernel_name="python3")
    km.kernel_id = "probe"
    km.provisioner = ForkProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
    km.start_kernel(env=env, cwd=str(tmp_path))
    try:
        assert isinstance(km.provisioner, ForkProvisioner) and km.provisioner.pgid is None  # forked, not a new interpreter
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        seen: list[str] = []
        reply = kc.execute_interactive(
            "import json, os, sys; print(json.dumps([os.environ.get('VOILA_PREHEAT'), 'voila.utils' in sys.modules]))",
            timeout=60,
            output_hook=lambda msg: seen.append(msg["content"]["text"]) if msg["msg_type"] == "stream" else None,
        )
        kc.stop_channels()
    finally:
        km.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok"
    assert json.loads("".join(seen)) == ["True", False]


def test_a_run_kernel_started_from_an_unguarded_script_does_not_run_the_script_again(tmp_path):
    """multiprocessing's children re-import the parent's main script unless told otherwise: a
    kernel started from a script without ``if __name__ == '__main__'`` must not run it twice."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import pathlib, sys\n"
        "from tradeops.runner import RunKernel\n"
        "here = pathlib.Path(sys.argv[1])\n"
        "with open(here / 'ran.txt', 'a') as f:\n"
        "    f.write('ran\\n')\n"
        "with RunKernel(here, ready_timeout=60) as kernel:\n"
        "    kernel.take()\n"
        "print('kernel ready')\n"
    )
    out = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert out.returncode == 0 and "kernel ready" in out.stdout, out.stderr[-2000:]
    assert (tmp_path / "ran.txt").read_text() == "ran\n"
