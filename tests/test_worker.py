"""The warm worker: a served stage command behaves as the command itself (streams, exit
status, directory, environment), and a command from another environment is not served."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from rehabkoord import worker

pytestmark = pytest.mark.skipif(not worker.available(), reason="no fork or Unix sockets here")


def _notebook(path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.metadata.kernelspec = {"name": "rehabkoord", "display_name": "Python (rehabkoord)",
                              "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture()
def running(tmp_path, monkeypatch):
    """A worker with its own socket directory (short: socket paths are limited to about 100
    bytes), stopped after the test."""
    run = tempfile.mkdtemp(prefix="rkw-")
    monkeypatch.setenv("XDG_RUNTIME_DIR", run)
    monkeypatch.delenv(worker.DISABLE, raising=False)
    ready = tmp_path / "ready"
    log = open(tmp_path / "worker.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "rehabkoord.worker", "--ready", str(ready)],
                            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert proc.poll() is None, (tmp_path / "worker.log").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    yield tmp_path / "worker.log"
    proc.terminate()
    proc.wait(timeout=30)
    log.close()
    assert "leaked" not in (tmp_path / "worker.log").read_text()  # unfrozen before exit
    assert not Path(ready.read_text()).exists()  # the socket is removed on exit
    shutil.rmtree(run)


def _stage(tmp_path: Path, name: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rehabkoord.stage", f"{name}.ipynb",
                           f"{name}_out.ipynb"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, **env})


def _first_output(path: Path) -> str:
    return "".join(nbformat.read(path, as_version=4).cells[0].outputs[0]["text"])


def test_a_served_stage_runs_in_the_callers_directory_and_environment(running, tmp_path):
    _notebook(tmp_path / "where.ipynb", "import gc, os\nprint(os.getcwd(), os.environ['PROBE'], "
                                        "os.environ.get('REHABKOORD_IN_WORKER'), "
                                        "gc.get_freeze_count() > 0)")
    done = _stage(tmp_path, "where", PROBE="x1")
    assert done.returncode == 0, done.stderr
    # the worker's heap is frozen: the fork's collections do not copy its pages
    assert _first_output(tmp_path / "where_out.ipynb").split() == [str(tmp_path), "x1", "1",
                                                                   "True"]
    assert "rehabkoord.stage where.ipynb where_out.ipynb -> exit 0" in running.read_text()


def test_a_served_stage_gives_the_same_notebook_as_its_own_process(running, tmp_path):
    _notebook(tmp_path / "same.ipynb", "import pandas as pd\nimport matplotlib.pyplot as plt\n"
                                       "plt.plot([1, 2])\nplt.show()\npd.DataFrame({'a': [1, 2]})")
    assert _stage(tmp_path, "same").returncode == 0
    served = (tmp_path / "same_out.ipynb").read_bytes()
    outputs = nbformat.read(tmp_path / "same_out.ipynb", as_version=4).cells[0].outputs
    assert [sorted(o.get("data", {})) for o in outputs] == [["image/png", "text/plain"],
                                                            ["text/html", "text/plain"]]
    assert _stage(tmp_path, "same", REHABKOORD_NO_WORKER="1").returncode == 0
    assert (tmp_path / "same_out.ipynb").read_bytes() == served
    assert running.read_text().count("-> exit 0") == 1


def test_a_failing_stage_reports_its_error_and_status(running, tmp_path):
    _notebook(tmp_path / "bad.ipynb", "raise ValueError('boom 42')")
    done = _stage(tmp_path, "bad")
    assert done.returncode == 1
    assert "ValueError: boom 42" in done.stderr
    assert "-> exit 1" in running.read_text()


def test_a_command_from_another_environment_is_not_served(running, tmp_path):
    _notebook(tmp_path / "other.ipynb", "import os\nprint(os.environ.get('REHABKOORD_IN_WORKER'))")
    done = _stage(tmp_path, "other", MPLBACKEND="agg")  # read when matplotlib is imported
    assert done.returncode == 0, done.stderr
    assert _first_output(tmp_path / "other_out.ipynb").strip() == "None"
    assert "other.ipynb" not in running.read_text()


def test_the_key_follows_what_the_preloaded_libraries_read(monkeypatch):
    base = worker.key()
    monkeypatch.setenv("DVC_STAGE", "anything")  # DVC sets it per stage: not a reason
    assert worker.key() == base
    monkeypatch.setenv("MPLBACKEND", "agg")
    assert worker.key() != base


def test_without_a_worker_the_command_runs_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert worker.delegate("rehabkoord.stage", ["a.ipynb", "b.ipynb"]) is None
    assert list(tmp_path.iterdir()) == []  # a command only looks; the worker makes the folder


def test_a_second_worker_for_the_same_environment_refuses_to_start(running, tmp_path):
    second = subprocess.run([sys.executable, "-m", "rehabkoord.worker"], capture_output=True,
                            text=True, timeout=120)
    assert second.returncode == 1
    assert "already serving" in second.stderr
    _notebook(tmp_path / "still.ipynb", "1")
    assert _stage(tmp_path, "still").returncode == 0
    assert "still.ipynb still_out.ipynb -> exit 0" in running.read_text()  # the first serves


def test_the_worker_takes_only_its_documented_option():
    for argv in (["--ready"], ["--other"], ["a"]):
        with pytest.raises(SystemExit) as done:
            worker.main(argv)
        assert done.value.code == 2


def test_a_new_file_in_the_project_does_not_change_the_key(tmp_path, monkeypatch):
    project, packages = tmp_path / "src", tmp_path / "site"
    (project / "rehabkoord").mkdir(parents=True)
    packages.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(project), str(packages)])
    base = worker.key()
    (project / "notes.py").write_text("")
    os.utime(project, ns=(1, 1))
    assert worker.key() == base  # the worker never imports the project's own code
    os.utime(packages, ns=(1, 1))  # as an install into the packages' folder would
    assert worker.key() != base


def test_a_socket_folder_that_is_not_ours_alone_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    folder = tmp_path / f"rehabkoord-{os.getuid()}"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    with pytest.raises(PermissionError, match="mode 700"):
        worker.socket_path()
    assert worker.delegate("rehabkoord.stage", ["a.ipynb", "b.ipynb"]) is None


IMPORTS_OF_A_STAGE = """
import json, sys
from rehabkoord import worker
worker.preload()
before = set(sys.modules)
from rehabkoord import stage
stage.execute(sys.argv[1], sys.argv[2])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_after_the_preloads_a_stage_imports_only_the_projects_own_code(tmp_path):
    """What a stage's kernel and runner import is preloaded: in a fork it would be imported
    again for every stage (ipykernel's debugger alone, 0.18 s)."""
    one = _notebook(tmp_path / "one.ipynb", "1 + 1")
    done = subprocess.run([sys.executable, "-c", IMPORTS_OF_A_STAGE, str(one),
                           str(tmp_path / "out.ipynb")], capture_output=True, text=True,
                          check=True, env={**os.environ, worker.DISABLE: "1"})
    imported = json.loads(done.stdout.splitlines()[-1])
    assert [m for m in imported if m.split(".")[0] != "rehabkoord"] == []
