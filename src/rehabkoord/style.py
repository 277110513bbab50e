"""The house style of every study's figures: one theme, deterministic files, PNG + SVG + the
figure's numbers as CSV, each stamped with its provenance."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import provenance  # noqa: E402

#: Colours for the two arms of a study, in the order (intervention, control).
ARM_COLOURS = ("#1b6f8a", "#d08c2e")


def set_style() -> None:
    """The house style; deterministic SVG ids and no timestamps in saved files."""
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    plt.rcParams.update({"svg.hashsalt": "rehabkoord", "figure.dpi": 100,
                         "savefig.dpi": 200, "font.family": "DejaVu Sans",
                         "svg.fonttype": "none"})  # text stays text: searchable in the PDF


def _paths(stem: Path, data: pd.DataFrame | None) -> list[Path]:
    suffixes = (".png", ".svg") if data is None else (".png", ".svg", ".csv")
    return [stem.with_suffix(s) for s in suffixes]


def save(fig: plt.Figure, stem: str | Path, data: pd.DataFrame | None = None) -> list[Path]:
    """Save as PNG (200 dpi) and SVG without date metadata, and the figure's numbers as CSV
    when given; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = _paths(stem, data)
    stamp = provenance.collect(output=paths[0])
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
