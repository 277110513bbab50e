"""The house style of every study's figures: one theme, numbers on the axes in the report
language's format, deterministic files, PNG + SVG + the figure's numbers as CSV, each stamped
with its provenance."""

from __future__ import annotations

import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.scale as mscale  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import matplotlib.transforms as mtransforms  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from . import provenance  # noqa: E402
from .fmt import PROTECTED, legend, marks_in  # noqa: E402

#: Colours for the two arms of a study, in the order (intervention, control).
ARM_COLOURS = ("#1b6f8a", "#d08c2e")


#: Decimal mark and thousands separator of axis numbers: Swedish writes 0,25 and 12 500
#: (a thin space, as Språkrådet and SI recommend); English 0.25 and 12,500.
NUMBER_MARKS = {"sv": (",", "\u2009"), "en": (".", ",")}
#: Digits of a whole number from which thousands are grouped: four-digit numbers stay whole
#: (Språkrådet allows it, and years on an axis must read 2018, not 2 018).
GROUP_FROM_DIGITS = 5

_language = "sv"


def tick_text(text: str, language: str) -> str:
    """Every plain number in `text` (as matplotlib writes it: `0.25`, `−12500`) in the
    language's format: decimal comma and thin-space thousands in Swedish."""
    decimal, thousands = NUMBER_MARKS[language]

    def local(m: re.Match) -> str:
        whole, fraction = m.group(1), m.group(2)
        if len(whole) >= GROUP_FROM_DIGITS:
            whole = f"{int(whole):,}".replace(",", thousands)
        return whole + (decimal + fraction if fraction is not None else "")

    return re.sub(r"(?<![\d.])(\d+)(?:\.(\d+))?", local, text)


class HouseFormatter(mticker.ScalarFormatter):
    """matplotlib's default tick labels (its decimals, offset and scale), written in the report
    language's number format."""

    def __init__(self, language: str | None = None) -> None:
        super().__init__()
        self.language = language or _language

    def __call__(self, x: float, pos: int | None = None) -> str:
        return tick_text(super().__call__(x, pos), self.language)

    def get_offset(self) -> str:
        return tick_text(super().get_offset(), self.language)


class LogNumberFormatter(mticker.Formatter):
    """A log axis's ticks as plain numbers (0,5  1  2  10), not powers of ten (2 × 10⁰)."""

    def __init__(self, language: str | None = None) -> None:
        self.language = language or _language

    def __call__(self, x: float, pos: int | None = None) -> str:
        if x <= 0 or not math.isfinite(x):
            return ""
        digits = max(0, -math.floor(math.log10(x) + 1e-9)) + 1
        text = f"{round(x, digits):.{digits}f}".rstrip("0").rstrip(".")
        return tick_text(text.replace("-", "\u2212"), self.language)


class ReadableLogLocator(mticker.LogLocator):
    """Ticks of a log axis that a reader can name: powers of ten over wide ranges; over a
    range of a decade or two (hazard and odds ratios) the 1–2–5 series, or 1–1,5–2–3–5–7
    when fewer than three of those fall in view."""

    SERIES = ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0))

    def __init__(self) -> None:
        super().__init__(base=10.0)

    def tick_values(self, vmin: float, vmax: float) -> list[float]:
        vmin, vmax = sorted((vmin, vmax))
        if vmin <= 0 or not math.isfinite(vmax) or math.log10(vmax / vmin) > 3:
            return super().tick_values(vmin, vmax)
        low, high = math.floor(math.log10(vmin)) - 1, math.ceil(math.log10(vmax)) + 1
        for series in self.SERIES:
            ticks = [m * 10.0**e for e in range(low, high + 1) for m in series]
            inside = [t for t in ticks if vmin * (1 - 1e-9) <= t <= vmax * (1 + 1e-9)]
            if len(inside) >= 3 or series is self.SERIES[-1]:
                return ticks
        return ticks  # unreachable: the last series returns


class HouseLinearScale(mscale.LinearScale):
    """matplotlib's linear scale with the house's number format on its major ticks."""

    def __init__(self) -> None:  # no axis parameter: matplotlib 3.11 deprecates it
        super().__init__(None)

    def set_default_locators_and_formatters(self, axis) -> None:
        super().set_default_locators_and_formatters(axis)
        axis.set_major_formatter(HouseFormatter())


class HouseLogScale(mscale.LogScale):
    """matplotlib's log scale with readable ticks: plain numbers, unlabelled minor ticks."""

    def __init__(self, *, base: float = 10, subs=None, nonpositive: str = "clip") -> None:
        super().__init__(None, base=base, subs=subs, nonpositive=nonpositive)

    def set_default_locators_and_formatters(self, axis) -> None:
        super().set_default_locators_and_formatters(axis)
        if self.base == 10:
            axis.set_major_locator(ReadableLogLocator())
            axis.set_major_formatter(LogNumberFormatter())
            axis.set_minor_formatter(mticker.NullFormatter())


def set_style(language: str = "sv") -> None:
    """The house style; deterministic SVG ids and no timestamps in saved files; axis numbers
    in `language`'s format on every axis drawn afterwards (the "linear" and "log" scales are
    registered as the house's, so a figure function needs no formatter of its own; ticks a
    figure labels itself keep its labels)."""
    global _language
    if language not in NUMBER_MARKS:
        raise ValueError(f"report language {language!r}: expected one of {sorted(NUMBER_MARKS)}")
    _language = language
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    plt.rcParams.update({"svg.hashsalt": "rehabkoord", "figure.dpi": 100,
                         "savefig.dpi": 200, "font.family": "DejaVu Sans",
                         "svg.fonttype": "none"})  # text stays text: searchable in the PDF
    for scale in (HouseLinearScale, HouseLogScale):
        mscale.register_scale(scale)


def withheld_label(language: str | None = None) -> str:
    """What a figure draws in place of a withheld bar, box, point or curve: the protection
    mark and its word ("× skyddad"), so nothing is left out without a word."""
    return f"{PROTECTED} " + ("skyddad" if (language or _language) == "sv" else "withheld")


def mark_withheld(ax, at: float, language: str | None = None, *, across: bool = False,
                  **kwargs) -> Text:
    """`withheld_label` where a withheld group would be drawn, always inside the axes: at
    x = `at` (data) reading upwards from the axis' foot (bars, boxes), or with `across` at
    y = `at` (data) centred across the axes (a forest plot's row). The position that is not
    data is in axes fractions, so the label stays inside whatever the data's range."""
    if across:
        where = mtransforms.blended_transform_factory(ax.transAxes, ax.transData)
        options = {"x": 0.5, "y": at, "ha": "center", "va": "center"}
    else:
        where = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
        options = {"x": at, "y": 0.03, "ha": "center", "va": "bottom", "rotation": 90}
    options.update(fontsize=8, color="#333333", transform=where, clip_on=False, **kwargs)
    x, y = options.pop("x"), options.pop("y")
    return ax.text(x, y, withheld_label(language), **options)


def mark_legend(fig: plt.Figure, language: str | None = None) -> Text | None:
    """The legend line (`fmt.legend`) of the marks the figure prints ("×", "<3", ".."),
    under the figure, in the report language; None when it prints none. `save` adds it to
    every figure, so no figure shows a mark without saying what it means."""
    texts = [t.get_text() for t in fig.findobj(Text) if t.get_visible()]
    if any(t.get_gid() == "rk-mark-legend" for t in fig.findobj(Text)):
        return None
    line = legend([m for t in texts for m in marks_in(t)], language or _language)
    if not line:
        return None
    return fig.text(0.01, -0.01, line, ha="left", va="top", fontsize=7.5, color="#333333",
                    wrap=True, gid="rk-mark-legend")


def _paths(stem: Path, data: pd.DataFrame | None) -> list[Path]:
    suffixes = (".png", ".svg") if data is None else (".png", ".svg", ".csv")
    return [stem.with_suffix(s) for s in suffixes]


def save(fig: plt.Figure, stem: str | Path, data: pd.DataFrame | None = None) -> list[Path]:
    """Save as PNG (200 dpi) and SVG without date metadata, with the legend of the marks it
    prints (`mark_legend`), and the figure's numbers as CSV when given; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = _paths(stem, data)
    stamp = provenance.collect(output=paths[0])
    mark_legend(fig)
    fig.savefig(paths[0], bbox_inches="tight",
                metadata={"Software": None, **provenance.png_metadata(stamp)})
    fig.savefig(paths[1], bbox_inches="tight",
                metadata={"Date": None, "Creator": None, **provenance.svg_metadata(stamp)})
    plt.close(fig)
    if data is not None:
        data.to_csv(paths[2], index=False, float_format="%.6g", lineterminator="\n")
    return paths


def two_processes() -> bool:
    """Whether `save_all` draws in two processes: on Linux (fork is safe there with the
    libraries loaded; macOS's system libraries are not fork-safe, Windows has no fork) with
    at least two CPUs ours."""
    return sys.platform.startswith("linux") and len(os.sched_getaffinity(0)) > 1


def save_all(drawings: Mapping[str, Callable[[], plt.Figure]], out_dir: str | Path,
             data: Mapping[str, pd.DataFrame | None], *, parallel: bool = True
             ) -> dict[str, list[Path]]:
    """Draw each figure (name -> a function returning it) and `save` it as `out_dir/name`
    with `data[name]`; returns name -> paths.

    Drawing and writing PNG and SVG is most of a figures stage (0.2–0.8 s a figure). Where
    `two_processes()`, a forked copy of this process works beside it:
    each process takes the next figure not yet taken (one byte each from a shared pipe), so
    a slow figure does not hold the other process idle. Each file is written by one process
    and has the same bytes either way. The copy's output (warnings, its error) is passed on
    here, and a figure it fails to draw is an error here."""
    out = Path(out_dir)
    names = list(drawings)
    if not (parallel and 1 < len(names) < 256 and two_processes()):
        return {n: save(drawings[n](), out / n, data.get(n)) for n in names}
    queue, fill = os.pipe()
    os.write(fill, bytes(range(len(names))))  # fewer than 256 bytes: one atomic write
    os.close(fill)
    reader, writer = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        os.close(reader)
        _save_in_copy(drawings, names, out, data, queue, writer)
    os.close(writer)
    try:
        _save_taken(queue, drawings, names, out, data)
    finally:
        os.close(queue)
        with os.fdopen(reader, encoding="utf-8", errors="replace") as copy_output:
            said = copy_output.read()
        status = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        if said:
            sys.stderr.write(said)
    if status != 0:
        raise RuntimeError(f"figures: the second process failed (exit status {status}); its "
                           "error is printed above")
    return {n: _paths(out / n, data.get(n)) for n in names}


def _save_taken(queue: int, drawings: Mapping[str, Callable[[], plt.Figure]],
                names: list[str], out: Path, data: Mapping[str, pd.DataFrame | None]) -> None:
    """Draw and save the figures whose numbers this process reads from `queue`, until it is
    empty; an error names its figure."""
    while taken := os.read(queue, 1):
        name = names[taken[0]]
        try:
            save(drawings[name](), out / name, data.get(name))
        except BaseException as err:
            err.add_note(f"figure {name} could not be drawn")
            raise


def _save_in_copy(drawings: Mapping[str, Callable[[], plt.Figure]], names: list[str],
                  out: Path, data: Mapping[str, pd.DataFrame | None], queue: int,
                  writer: int) -> None:
    """In the forked copy: save the figures it takes from `queue`, send what it prints to
    `writer`, then end the copy at once (no exit handlers: they belong to the parent's kernel
    and streams)."""
    code = 1
    try:
        stream = os.fdopen(writer, "w", encoding="utf-8")
        sys.stdout = sys.stderr = stream
        _save_taken(queue, drawings, names, out, data)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)
