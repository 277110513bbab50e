"""The house style's files: the same bytes whether figures are saved in one process or two,
and a figure that fails in the second process is reported, never left out silently."""

from __future__ import annotations

import os
import sys
import time

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from rehabkoord import style

needs_fork = pytest.mark.skipif(not style.two_processes(),
                                reason="the second process needs Linux and two CPUs")


def _drawing(i: int):
    def draw() -> plt.Figure:
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.bar(["Intervention", "Kontroll"], [i + 1, 2 * i + 1])
        ax.set_title(f"Figur {i}: andel (%)")
        return fig
    return draw


def _figures(n: int) -> tuple[dict, dict]:
    drawings = {f"fig{i}": _drawing(i) for i in range(n)}
    data = {f"fig{i}": pd.DataFrame({"group": ["a", "b"], "value": [i, 0.5]}) for i in range(n)}
    data["fig0"] = None  # a figure saved without its numbers
    return drawings, data


@needs_fork
def test_two_processes_write_the_same_files_as_one(tmp_path):
    style.set_style()
    drawings, data = _figures(5)
    one = style.save_all(drawings, tmp_path / "one", data, parallel=False)
    two = style.save_all(drawings, tmp_path / "two", data)
    assert list(two) == list(drawings)
    assert [p.name for p in two["fig0"]] == ["fig0.png", "fig0.svg"]
    assert [p.name for p in two["fig1"]] == ["fig1.png", "fig1.svg", "fig1.csv"]
    for name in drawings:
        for a, b in zip(one[name], two[name], strict=True):
            assert a.read_bytes() == b.read_bytes(), b.name
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir())


def _slow_here(draw, pid: int):
    """`draw`, taking a while in the process `pid`: the other process takes figures too."""
    def drawing() -> plt.Figure:
        if os.getpid() == pid:
            time.sleep(0.3)
        return draw()
    return drawing


@needs_fork
def test_a_figure_failing_in_the_second_process_is_an_error_with_its_traceback(tmp_path,
                                                                                capfd):
    here = os.getpid()

    def broken_in_the_copy() -> plt.Figure:
        if os.getpid() != here:
            raise ValueError("no such column: andel_42")
        time.sleep(0.3)
        return _drawing(9)()

    drawings, data = _figures(6)
    drawings = {n: broken_in_the_copy for n in drawings}
    with pytest.raises(RuntimeError, match="the second process failed"):
        style.save_all(drawings, tmp_path, data)
    err = capfd.readouterr().err
    assert "could not be drawn" in err and "ValueError: no such column: andel_42" in err


@needs_fork
def test_what_the_second_process_prints_reaches_this_one(tmp_path, capfd):
    def noisy() -> plt.Figure:
        print("Glyph missing from font: ≥", file=sys.stderr)  # as a library's warning would
        return _drawing(1)()

    drawings, data = _figures(4)
    drawings = {n: _slow_here(noisy, os.getpid()) for n in drawings}
    style.save_all(drawings, tmp_path, data)
    assert "Glyph missing from font: ≥" in capfd.readouterr().err


def test_one_process_when_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked"))
    drawings, data = _figures(3)
    saved = style.save_all(drawings, tmp_path, data, parallel=False)
    assert all(p.exists() for paths in saved.values() for p in paths)
