"""Executed notebooks are scrubbed of what changes between runs, and keep their outputs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from rehabkoord import notebooks


def _executed(tmp_path: Path, when: str, address: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"start_time": when, "duration": 1.0, "parameters": {}}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    cell = nbformat.v4.new_code_cell("display(table.style)", execution_count=1, id="1")
    cell.metadata["papermill"] = {"start_time": when, "duration": 0.2}
    cell.metadata["execution"] = {"iopub.status.busy": when}
    cell.outputs = [nbformat.v4.new_output(
        "display_data", data={"text/html": "<table id='T_flow'></table>",
                              "text/plain": f"<pandas.io.formats.style.Styler at {address}>"})]
    nb.cells = [cell]
    path = tmp_path / f"{address}.ipynb"
    nbformat.write(nb, path)
    return path


def test_two_runs_scrub_to_identical_bytes_with_outputs_kept(tmp_path):
    a = notebooks.scrub(_executed(tmp_path, "2026-11-24T02:54:29Z", "0x7fef2449fb90"))
    b = notebooks.scrub(_executed(tmp_path, "2026-11-25T08:00:00Z", "0x7f71324b7e90"))
    assert a.read_bytes() == b.read_bytes()
    nb = json.loads(a.read_text(encoding="utf-8"))
    data = nb["cells"][0]["outputs"][0]["data"]
    assert "".join(data["text/html"]) == "<table id='T_flow'></table>"
    assert "".join(data["text/plain"]) == "<pandas.io.formats.style.Styler>"
    assert nb["cells"][0]["execution_count"] == 1
    assert "papermill" not in nb["metadata"] and nb["metadata"]["language_info"] == {"name": "python"}
