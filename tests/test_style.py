"""The house style: axis numbers in the report language's format on every figure (decimal
comma, thin-space thousands, log ticks as plain numbers); the same file bytes whether figures
are saved in one process or two, and a figure that fails in the second process is reported,
never left out silently."""

from __future__ import annotations

import os
import re
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


@pytest.fixture
def house():
    """The house style in Swedish again after each test (the language is process-wide)."""
    yield style
    style.set_style("sv")


def _labels(ax, axis: str = "x", which: str = "major") -> list[str]:
    """The labels of the ticks in view, as drawn."""
    ax.figure.canvas.draw()
    low, high = sorted(getattr(ax, f"get_{axis}lim")())
    ticks = getattr(ax, f"get_{axis}ticklabels")(minor=which == "minor")
    return [t.get_text() for t in ticks if low <= t.get_position()[axis == "y"] <= high]


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("0.25", "sv", "0,25"), ("−12500", "sv", "−12\u2009500"), ("2018", "sv", "2018"),
    ("1234567.5", "sv", "1\u2009234\u2009567,5"), ("12500", "en", "12,500"), ("0.5", "en", "0.5"),
    ("1e6", "sv", "1e6"), ("", "sv", "")])
def test_tick_text_writes_numbers_in_the_language(text, language, expected):
    assert style.tick_text(text, language) == expected


def test_a_figure_drawn_after_set_style_has_swedish_axis_numbers(house, tmp_path):
    """No figure function sets a formatter: the house's linear scale does it, into the SVG."""
    house.set_style()
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 0.5], [0, 25000])
    assert _labels(ax, "x") == ["0,0", "0,1", "0,2", "0,3", "0,4", "0,5"]
    assert _labels(ax, "y") == ["0", "5000", "10\u2009000", "15\u2009000", "20\u2009000",
                                "25\u2009000"]
    svg = style.save(fig, tmp_path / "andel")[1].read_text(encoding="utf-8")
    drawn = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "0,3" in drawn and "10\u2009000" in drawn
    assert not [t for t in drawn if re.fullmatch(r"[−-]?\d+\.\d+", t)]


def test_english_figures_keep_decimal_points(house):
    house.set_style("en")
    fig, ax = plt.subplots()
    ax.plot([0, 0.5], [0, 25000])
    assert "0.3" in _labels(ax, "x") and "10,000" in _labels(ax, "y")
    plt.close(fig)


@pytest.mark.parametrize(("limits", "expected"), [
    ((0.56, 2.46), ["0,7", "1", "1,5", "2"]),  # a forest plot of hazard ratios
    ((0.3, 3.4), ["0,5", "1", "2"]),
    ((0.0005, 6000), ["0,001", "0,01", "0,1", "1", "10", "100", "1000"])])
def test_log_axes_read_as_plain_numbers(house, limits, expected):
    house.set_style()
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.set_xscale("log")
    ax.set_xlim(*limits)
    assert _labels(ax) == expected
    assert not any(_labels(ax, which="minor"))  # no "6 × 10⁻¹" between them
    plt.close(fig)


def test_ticks_a_figure_labels_itself_keep_their_labels(house):
    house.set_style()
    fig, ax = plt.subplots()
    ax.set_xscale("log")
    ax.set_xlim(0.5, 2)
    ax.set_xticks([0.75, 1.5], ["0,75 (egen)", "1,50 (egen)"])
    assert _labels(ax) == ["0,75 (egen)", "1,50 (egen)"]
    plt.close(fig)


def test_an_unknown_language_is_refused(house):
    with pytest.raises(ValueError, match="report language 'de'"):
        house.set_style("de")


def _inside(text) -> bool:
    fig = text.axes.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    box, axes = text.get_window_extent(r), text.axes.get_window_extent(r)
    return axes.x0 <= box.x0 and box.x1 <= axes.x1 and axes.y0 <= box.y0 and box.y1 <= axes.y1


@pytest.mark.parametrize("language, word", [("sv", "× skyddad"), ("en", "× withheld")])
def test_a_withheld_mark_stays_inside_its_axes_whatever_the_data(house, language, word):
    """A bar slot's mark reads up from the foot of the axes, a forest row's sits across the
    middle: neither depends on the data's range (a mark at y = 2 on an axis of thousands, or
    at x = 0 when every interval is above 1, would fall outside)."""
    house.set_style(language)
    fig, (bars, forest) = plt.subplots(1, 2, figsize=(6, 3))
    bars.bar([0], [25000])
    bars.set_xlim(-0.6, 1.6)
    up = style.mark_withheld(bars, 1)
    forest.errorbar([2.0], [0], xerr=[[0.5], [1.0]], fmt="o")
    forest.set_xscale("log")
    forest.set_ylim(-0.6, 1.6)
    across = style.mark_withheld(forest, 1, across=True)
    assert up.get_text() == across.get_text() == word
    assert _inside(up) and _inside(across)


def test_a_saved_figure_explains_its_marks_and_one_without_marks_has_no_legend(house, tmp_path):
    house.set_style("sv")
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar([0], [3])
    ax.text(0, 1, "n = <3")
    style.mark_withheld(ax, 0.5)
    svg = style.save(fig, tmp_path / "flode")[1].read_text(encoding="utf-8")
    drawn = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))  # wrapped lines joined
    assert drawn.endswith("Teckenförklaring: × uppgift skyddad av sekretesskäl "
                          "(röjandekontroll); &lt;3 färre än 3 personer.")
    plain, ax = plt.subplots(figsize=(4, 3))
    ax.bar([0], [0])
    svg = style.save(plain, tmp_path / "andel")[1].read_text(encoding="utf-8")
    assert "Teckenförklaring" not in svg
