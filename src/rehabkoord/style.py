"""The house style of every study's figures: one theme, deterministic files, PNG + SVG + the
figure's numbers as CSV, each stamped with its provenance."""

from __future__ import annotations

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


def save(fig: plt.Figure, stem: str | Path, data: pd.DataFrame | None = None) -> list[Path]:
    """Save as PNG (200 dpi) and SVG without date metadata, and the figure's numbers as CSV
    when given; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    stamp = provenance.collect(output=paths[0])
    fig.savefig(paths[0], bbox_inches="tight",
                metadata={"Software": None, **provenance.png_metadata(stamp)})
    fig.savefig(paths[1], bbox_inches="tight",
                metadata={"Date": None, "Creator": None, **provenance.svg_metadata(stamp)})
    plt.close(fig)
    if data is not None:
        paths.append(stem.with_suffix(".csv"))
        data.to_csv(paths[2], index=False, float_format="%.6g", lineterminator="\n")
    return paths
