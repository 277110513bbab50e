"""The warm worker: a served stage command behaves as the command itself (streams, exit
status, directory, environment), a command from another environment is not served, and a
stage command starts a worker by itself, detached, which exits when idle."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
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
    monkeypatch.setenv(worker.IDLE, "0")  # commands it does not serve start no other worker
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
    monkeypatch.setenv(worker.IDLE, "0")  # 0: start none
    assert worker.delegate("rehabkoord.stage", ["a.ipynb", "b.ipynb"]) is None
    assert list((tmp_path / f"rehabkoord-{os.getuid()}").iterdir()) == []
    monkeypatch.delenv(worker.IDLE)
    monkeypatch.setenv(worker.DISABLE, "1")  # bypassed: not even a folder
    shutil.rmtree(tmp_path / f"rehabkoord-{os.getuid()}")
    assert worker.delegate("rehabkoord.stage", ["a.ipynb", "b.ipynb"]) is None
    assert list(tmp_path.iterdir()) == []


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_stage_command_starts_a_worker_that_serves_the_next_and_exits_when_idle(
        tmp_path, monkeypatch):
    """Nothing started by hand: the first command runs itself and leaves a detached worker
    (the command's captured streams are not held: `run` returns while the worker lives); the
    next command is served; a command from another environment is not served by it (it
    starts its own); each worker exits after the idle period and removes its socket."""
    run = tempfile.mkdtemp(prefix="rkw-")
    monkeypatch.setenv("XDG_RUNTIME_DIR", run)
    monkeypatch.delenv(worker.DISABLE, raising=False)
    monkeypatch.setenv(worker.IDLE, "8")
    folder = Path(run) / f"rehabkoord-{os.getuid()}"
    probe = "import os\nprint(os.environ.get('REHABKOORD_IN_WORKER'))"
    try:
        _notebook(tmp_path / "a.ipynb", probe)
        first = _stage(tmp_path, "a")
        assert first.returncode == 0, first.stderr
        assert _first_output(tmp_path / "a_out.ipynb").strip() == "None"  # ran itself
        [lock] = folder.glob("worker-*.lock")
        assert worker._held(lock)  # alive after the command returned with its streams
        sock = lock.with_suffix(".sock")
        _wait(sock.exists, 120, "the worker did not start listening")
        served = _stage(tmp_path, "a")
        assert served.returncode == 0, served.stderr
        assert _first_output(tmp_path / "a_out.ipynb").strip() == "1"
        other = _stage(tmp_path, "a", MPLBACKEND="agg")  # another environment: another key
        assert other.returncode == 0, other.stderr
        assert _first_output(tmp_path / "a_out.ipynb").strip() == "None"
        assert len(list(folder.glob("worker-*.lock"))) == 2
        log = lock.with_suffix(".log")
        assert log.read_text().count("-> exit 0") == 1
        _wait(lambda: not any(worker._held(f) for f in folder.glob("worker-*.lock")), 120,
              "a worker did not exit when idle")
        assert "no stage for 8 s, stopping" in log.read_text()
        assert list(folder.glob("*.sock")) == []
    finally:
        for lock in folder.glob("worker-*.lock"):  # a failed test leaves no worker behind
            if worker._held(lock):
                os.kill(int(lock.read_text()), signal.SIGTERM)
        shutil.rmtree(run, ignore_errors=True)


def test_a_worker_that_closes_without_taking_the_command_leaves_it_to_run_here(monkeypatch):
    """A worker stopping when idle may close a connection it has not taken: the command then
    runs itself (no answer yet means nothing ran), never reports a failure."""
    run = tempfile.mkdtemp(prefix="rkw-")  # short: socket paths are limited to about 100 bytes
    monkeypatch.setenv("XDG_RUNTIME_DIR", run)
    monkeypatch.setenv(worker.IDLE, "0")
    path = worker.socket_path(create=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    with server:
        def close_unanswered():  # reads the whole request, then closes without answering
            conn, _ = server.accept()
            head, fds, _, _ = socket.recv_fds(conn, 8, 3)
            size = int.from_bytes(head, "big")
            while size > 0:
                size -= len(conn.recv(size))
            for fd in fds:
                os.close(fd)
            conn.close()

        import threading

        closer = threading.Thread(target=close_unanswered)
        closer.start()
        assert worker.delegate("rehabkoord.stage", ["a.ipynb", "b.ipynb"]) is None
        closer.join()
    shutil.rmtree(run)


def test_no_worker_is_started_beyond_the_limit_or_beside_a_running_one(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv(worker.IDLE, raising=False)
    folder = worker.socket_path(create=True).parent
    held = [open(folder / f"worker-other{i}.lock", "a") for i in range(worker.MAX_WORKERS)]
    for f in held:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        assert not worker.start()  # as many workers as allowed already run
        held.pop().close()
        own = open(worker.socket_path().with_suffix(".lock"), "a")  # this key's, starting
        fcntl.flock(own, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert not worker.start()
        own.close()
    finally:
        for f in held:
            f.close()
    assert not list(folder.glob("*.log"))  # nothing was started


def test_an_edited_worker_module_is_another_environment(tmp_path, monkeypatch):
    base = worker.key()
    edited = tmp_path / "worker.py"
    edited.write_bytes(Path(worker.__file__).read_bytes() + b"\n")
    monkeypatch.setattr(worker, "__file__", str(edited))
    assert worker.key() != base


def test_a_second_worker_for_the_same_environment_refuses_to_start(running, tmp_path):
    second = subprocess.run([sys.executable, "-m", "rehabkoord.worker"], capture_output=True,
                            text=True, timeout=120)
    assert second.returncode == 1
    assert "already serving" in second.stderr
    _notebook(tmp_path / "still.ipynb", "1")
    assert _stage(tmp_path, "still").returncode == 0
    assert "still.ipynb still_out.ipynb -> exit 0" in running.read_text()  # the first serves


def test_the_worker_takes_only_its_documented_options():
    for argv in (["--ready"], ["--other"], ["a"], ["--idle", "soon"]):
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
