"""Render the executed report notebook to the appendix: self-contained HTML, and PDF.

HTML: nbconvert without code cells or prompts, figures inline (SVG), with a stylesheet that
reads on a phone and prints without cutting tables. PDF: Debian's Chromium prints that HTML
headless (no browser download at run time).

    python -m rehabkoord.render html <executed.ipynb> <out.html>
    python -m rehabkoord.render pdf <in.html> <out.pdf>
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from . import provenance
from .io import atomic_outputs
from .params import load_params

CSS = """
<style>
  body { max-width: 60rem; margin: 0 auto; padding: 0 0.8rem; }
  .jp-Notebook { padding: 0 !important; }
  table.dataframe { font-size: 0.82rem; border-collapse: collapse; display: block;
                    overflow-x: auto; max-width: 100%; }
  table.dataframe td, table.dataframe th { padding: 0.2rem 0.4rem; white-space: normal; }
  img, svg { max-width: 100% !important; height: auto; }
  @media print {
    @page { size: A4 landscape; margin: 12mm; }
    table.dataframe { display: table; font-size: 7.5pt; overflow: visible; }
    table.dataframe, img, svg { page-break-inside: avoid; }
    h2 { page-break-before: auto; }
  }
</style>
"""


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError("Chromium not found: install Debian's 'chromium' package "
                            "(apt-get install chromium); `make pdf` does this when run as root")


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--hide-scrollbars"]


def html(notebook: str | Path, out: str | Path, language: str | None = None) -> Path:
    """Executed notebook -> one self-contained HTML file (no inputs, no prompts).

    `language` (default: `report.language` in params.yaml) sets the page's `lang`."""
    language = language or load_params()["report"]["language"]
    nb = nbformat.read(notebook, as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.cells = [c for c in nb.cells if "remove-cell" not in c.metadata.get("tags", [])]
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    body = body.replace("</head>", provenance.html_meta(provenance.collect(output=out)) + CSS + "</head>", 1)
    body = re.sub(r'<html lang="[a-z]+">', f'<html lang="{language}">', body, count=1)
    body = body.replace('alt="No description has been provided for this image"',
                        'alt="Figur"' if language == "sv" else 'alt="Figure"')
    body = re.sub(r"<title>.*?</title>", "<title>Bilaga – statistisk analys</title>", body,
                  count=1, flags=re.S)
    with atomic_outputs(out) as (tmp,):
        tmp.write_text(body, encoding="utf-8")
    return Path(out)


def pdf(html_file: str | Path, out: str | Path) -> Path:
    """Print the HTML to PDF with headless Chromium (vector text and SVG figures)."""
    with tempfile.TemporaryDirectory() as profile, atomic_outputs(out) as (tmp,):
        subprocess.run([chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                        "--no-pdf-header-footer", f"--print-to-pdf={tmp}",
                        Path(html_file).resolve().as_uri()],
                       check=True, capture_output=True, timeout=180)
        if tmp.stat().st_size == 0:
            raise RuntimeError(f"Chromium wrote an empty PDF for {html_file}")
    return Path(out)


def screenshot(html_file: str | Path, out: str | Path, width: int = 1200,
               height: int = 3000) -> Path:
    """PNG screenshot of the HTML in headless Chromium (a test artifact)."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", f"--screenshot={Path(out).resolve()}",
                        Path(html_file).resolve().as_uri()],
                       check=True, capture_output=True, timeout=180)
    return Path(out)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("html", "pdf"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, src, dst = argv
    print((html if kind == "html" else pdf)(src, dst))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
