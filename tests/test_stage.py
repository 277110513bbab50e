"""The stage runner: outputs as under a separate kernel; a contract failure ends with its
message alone; other errors keep their traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

CONTRACT = ("from rehabkoord.clean import ValidationError, Violation\n"
            "raise ValidationError([Violation('lisa/LISA2018.csv', 'SjukP_Ndag_MiDAS', "
            "'outside 0–366', 1, [2])])")


def notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata.kernelspec = {"name": "rehabkoord", "display_name": "Python (rehabkoord)",
                              "language": "python"}
    nbformat.write(nb, path)
    return path


def run_stage(tmp_path: Path, *cells: str, **env: str) -> subprocess.CompletedProcess:
    src = notebook(tmp_path / "in.ipynb", *cells)
    return subprocess.run([sys.executable, "-m", "rehabkoord.stage", str(src),
                           str(tmp_path / "out.ipynb")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})


def test_outputs_are_those_of_a_kernel(tmp_path):
    done = run_stage(tmp_path, "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()",
                     "from IPython.display import Markdown, display\ndisplay(Markdown('**x**'))",
                     "import pandas as pd\npd.DataFrame({'a': [1]})", "print('hej')")
    assert done.returncode == 0, done.stderr
    cells = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
    kinds = [[(o.output_type, sorted(o.get("data", {}))) for o in c.outputs] for c in cells]
    assert ("display_data", ["image/png", "text/plain"]) in kinds[0]
    assert kinds[1] == [("display_data", ["text/markdown", "text/plain"])]
    assert kinds[2] == [("execute_result", ["text/html", "text/plain"])]
    assert cells[3].outputs[0].text == "hej\n"
    assert done.stderr == ""


def test_contract_failure_prints_only_its_message(tmp_path):
    done = run_stage(tmp_path, "x = 1", CONTRACT)
    assert done.returncode == 1
    assert done.stderr == ("1 contract violation(s):\n  - lisa/LISA2018.csv: column "
                           "'SjukP_Ndag_MiDAS': outside 0–366: 1 row(s) (rows 2)\n")
    cells = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
    errors = [o.ename for c in cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == ["ValidationError"]  # the executed copy keeps it
    assert re.fullmatch(r"stage in\.ipynb: failed after \d+\.\d s", done.stdout.splitlines()[-1])


@pytest.mark.parametrize("code", ["1 / 0", "raise ValueError('not a contract')"])
def test_other_errors_keep_their_traceback(tmp_path, code):
    done = run_stage(tmp_path, code)
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "PapermillExecutionError" in done.stderr


def test_a_stage_leaves_the_users_ipython_history_alone(tmp_path):
    """A stage is no interactive session: its cells are not appended (and synced, cell by
    cell) to the SQLite history of the user's IPython profile."""
    profile = tmp_path / "ipython"
    done = run_stage(tmp_path, "x = 1", "x + 1", IPYTHONDIR=str(profile))
    assert done.returncode == 0, done.stderr
    assert nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[1].outputs[0].data == {
        "text/plain": "2"}
    assert not list(profile.rglob("history.sqlite"))


def test_a_stage_says_when_it_starts_and_how_long_it_took(tmp_path):
    """A first run of a long stage (the risk model's fit) is not silent."""
    done = run_stage(tmp_path, "import time\ntime.sleep(0.3)")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "stage in.ipynb: started"
    assert re.fullmatch(r"stage in\.ipynb: finished in \d+\.\d s", lines[-1])
    assert float(lines[-1].split()[-2]) >= 0.3


@pytest.mark.parametrize(("seconds", "text"), [(0.04, "0.0 s"), (12.34, "12.3 s"),
                                                (59.94, "59.9 s"), (185.4, "3 min 05 s")])
def test_elapsed_reads_as_seconds_then_minutes(seconds, text):
    from rehabkoord.stage import elapsed

    assert elapsed(seconds) == text
