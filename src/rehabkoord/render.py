"""Render the executed report notebook to the appendix: self-contained HTML, and PDF.

HTML: nbconvert without code cells or prompts, figures inline (SVG), with a stylesheet that
reads on a phone and prints without cutting tables. PDF: Debian's Chromium prints that HTML
headless (no browser download at run time).

    python -m rehabkoord.render html <executed.ipynb> <out.html> <study params.yaml>
    python -m rehabkoord.render pdf <in.html> <out.pdf>
    python -m rehabkoord.render stage <notebook.ipynb> <executed.ipynb> <out.html> <study params.yaml>

`stage` executes the report notebook (`rehabkoord.stage`) and renders it in the same process
(in a fork of the warm worker while one runs: `rehabkoord.worker`).
"""

from __future__ import annotations

import base64
import csv
import io
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path

from . import worker

if __name__ == "__main__" and sys.argv[1:2] == ["stage"]:  # a warm worker, before imports
    worker.exit_if_served("rehabkoord.render", sys.argv[1:])

import nbformat  # noqa: E402
from jinja2 import BytecodeCache, FileSystemBytecodeCache  # noqa: E402
from nbconvert import HTMLExporter  # noqa: E402

from . import provenance, stage, texts  # noqa: E402
from .fmt import legend, marks_in  # noqa: E402
from .io import atomic_outputs  # noqa: E402
from .params import load_params  # noqa: E402

CSS = """
<style>
  body { max-width: 60rem; margin: 0 auto; padding: 0 0.8rem; }
  .jp-Notebook { padding: 0 !important; }
  table { font-size: 0.82rem; border-collapse: collapse; max-width: 100%; }
  .jp-RenderedHTMLCommon table { table-layout: auto; }
  .jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { padding: 0.2rem 0.45rem;
    white-space: normal; vertical-align: top; }
  .jp-RenderedHTMLCommon td:first-child, .jp-RenderedHTMLCommon th:first-child { text-align: left; }
  .jp-OutputArea-output { overflow-x: auto; }
  table.rk-table td.rk-label, table.rk-table th.rk-label { text-align: left; }
  table.rk-table td.rk-num, table.rk-table th.rk-num { text-align: right;
    font-variant-numeric: tabular-nums; }
  table.rk-table td.rk-num { white-space: nowrap; }
  table.rk-table td.rk-level-1 { padding-left: 1.5rem; }
  table.rk-table thead th { vertical-align: bottom; border-bottom: 1px solid #444; }
  table tfoot td.rk-notes { text-align: left; font-size: 0.75rem; white-space: normal;
    border-top: 1px solid #444; padding-top: 0.3rem; }
  caption { caption-side: top; text-align: left; font-weight: bold; padding: 0.3rem 0; }
  figure.figur { margin: 0.8rem 0 1.2rem; }
  figure.figur img { max-width: 100% !important; height: auto; display: block; }
  figcaption { font-weight: bold; font-size: 0.9rem; margin-top: 0.3rem; }
  nav.toc ol { margin: 0.2rem 0 0.8rem 1.2rem; padding: 0; }
  img, svg { max-width: 100% !important; height: auto; }
  @page {
    size: A4 portrait;
    margin: 22mm 18mm 20mm 20mm;
    @top-left { content: "__STUDY__"; font: 7.5pt "DejaVu Sans", sans-serif; color: #555;
                vertical-align: bottom; padding-bottom: 3mm; }
    @top-right { content: "__TITLE__"; font: 7.5pt "DejaVu Sans", sans-serif; color: #555;
                 vertical-align: bottom; padding-bottom: 3mm; white-space: nowrap; }
    @bottom-center { content: "__PAGE__ " counter(page) " __OF__ " counter(pages);
                     font: 8.5pt "DejaVu Sans", sans-serif; color: #333; }
  }
  @media print {
    html, body { max-width: none; margin: 0; padding: 0; font-size: 9.5pt; }
    .jp-Cell, .jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-output, .jp-Cell-outputWrapper,
    .jp-Cell-outputArea, .jp-RenderedHTMLCommon { overflow: visible !important;
      display: block; padding: 0 !important; margin: 0 !important; }
    h1, h2, h3, h4, caption { break-after: avoid; page-break-after: avoid; }
    /* a heading that ends its cell's output stays with what follows in the next output */
    .jp-OutputArea-child:has(> .jp-RenderedHTMLCommon > :is(h1, h2, h3, h4):last-child),
    .jp-Cell:has(.jp-OutputArea-child:last-child > .jp-RenderedHTMLCommon
                 > :is(h1, h2, h3, h4):last-child) { break-after: avoid; page-break-after: avoid; }
    h2 { margin-top: 1.1rem; }
    /* JupyterLab's headings have line-height 1: the ring of "Å" rises above the line, and
       Chromium paints it at the foot of the page before one that starts with the heading */
    h1, h2, h3, h4 { line-height: 1.3 !important; }
    p { orphans: 3; widows: 3; }
    table { font-size: 8pt; width: 100%; overflow: visible; }
    thead { display: table-header-group; }
    tr, th, td { break-inside: avoid; page-break-inside: avoid; }
    figure.figur { break-inside: avoid; page-break-inside: avoid; }
    figure.figur img { max-height: 150mm; width: auto; margin: 0 auto; }
    pre { white-space: pre-wrap; font-size: 7.5pt; }
    nav.toc a { color: inherit; text-decoration: none; }
  }
</style>
"""


def print_css(study: str, title: str, language: str) -> str:
    """The stylesheet with the running header (study, appendix title) and "Sida N av M"."""
    words = texts.shared("sidor", language)

    def quoted(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', '\\"')

    return (CSS.replace("__STUDY__", quoted(study)).replace("__TITLE__", quoted(title))
            .replace("__PAGE__", words["sida"]).replace("__OF__", words["av"]))


def appendix_title(report: dict, language: str) -> str:
    """The appendix's title (page title, running header): `report.title`, else
    `report.title_note` – "statistisk analys"; with neither, "Bilaga – statistisk analys"
    (never a header that starts with a dash)."""
    if report.get("title"):
        return report["title"]
    words = texts.shared("sidor", language)
    return texts.fill(words["titel"], note=report.get("title_note") or words["bilaga"])


def running_header(params: dict, language: str) -> tuple[str, str]:
    """(left, right) of every printed page's header: the study's name (`study.name`, else
    `report.organisation`) and the appendix's title."""
    name = (params.get("study") or {}).get("name") or params["report"].get("organisation", "")
    return name, appendix_title(params["report"], language)


def table_of_contents(body: str, language: str) -> str:
    """Insert a linked list of the second-level headings before the first of them (before
    the notebook cell holding it)."""
    headings = re.findall(r'<h2 id="([^"]+)">(.*?)<a class="anchor-link"', body, flags=re.S)
    if not headings:
        return body
    items = "".join(f'<li><a href="#{hid}">{text.strip()}</a></li>' for hid, text in headings)
    nav = (f'<nav class="toc"><p><strong>{texts.shared("sidor", language)["innehall"]}</strong></p>'
           f"<ol>{items}</ol></nav>")
    first = body.index(f'<h2 id="{headings[0][0]}"')
    # before the notebook cell that holds the heading, not inside it: a heading that ends its
    # cell's output is kept with the next output in print, which would drag the list along
    cell = body.rfind('<div class="jp-Cell ', 0, first)
    at = cell if cell != -1 else first
    return body[:at] + nav + body[at:]


def figure_html(svg_file: str | Path, caption: str, alt: str) -> str:
    """A figure and its caption as one block (printed on one page), the SVG embedded; the
    file's name in `data-file`, by which the Word version finds the figure's PNG."""
    data = base64.b64encode(Path(svg_file).read_bytes()).decode("ascii")
    return (f'<figure class="figur" data-file="{html_escape(Path(svg_file).name)}">'
            f'<img src="data:image/svg+xml;base64,{data}" '
            f'alt="{html_escape(alt)}"><figcaption>{html_escape(caption)}</figcaption></figure>')


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


def template_cache() -> BytecodeCache | None:
    """Jinja's compiled nbconvert templates, kept between renders: compiling them is about
    0.2 s of every report stage. Each entry is keyed by its template's source and Python's
    bytecode version. The folder is Jinja's own per-user one, checked to be the user's alone
    (mode 700) since its files are code; where it is not, nothing is cached."""
    try:
        return FileSystemBytecodeCache()
    except (RuntimeError, OSError):
        return None


def html(notebook: str | Path, out: str | Path, language: str | None = None, *,
         params_file: str | Path) -> Path:
    """Executed notebook -> one self-contained HTML file (no inputs, no prompts), and beside
    it `tables/` with each display table's published cells as CSV (`write_table_csvs`).

    `params_file` is the study's parameters (relative to the project root): `report.language`
    (unless `language` is given) sets the page's `lang`; the running header and the page title
    come from `study.name` and `report.title_note`, or a study's own `report.title` and
    `report.organisation`."""
    params = load_params(params_file)
    language = language or params["report"].get("language", "sv")
    nb = nbformat.read(notebook, as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.cells = [c for c in nb.cells if "remove-cell" not in c.metadata.get("tags", [])]
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    exporter.environment.bytecode_cache = template_cache()
    body, _ = exporter.from_notebook_node(nb)
    name, title = running_header(params, language)
    body = body.replace("</head>", provenance.html_meta(provenance.collect(output=out))
                        + print_css(name, title, language) + "</head>", 1)
    body = table_of_contents(body, language)
    body = add_legends(body, language)
    body = re.sub(r'<html lang="[a-z]+">', f'<html lang="{language}">', body, count=1)
    body = body.replace('alt="No description has been provided for this image"',
                        f'alt="{texts.shared("sidor", language)["figur"]}"')
    body = re.sub(r"<title>.*?</title>", f"<title>{html_escape(title)}</title>", body, count=1,
                  flags=re.S)
    with atomic_outputs(out) as (tmp,):
        tmp.write_text(body, encoding="utf-8")
    write_table_csvs(body, Path(out).parent / "tables")
    return Path(out)


def add_legends(page: str, language: str) -> str:
    """Every table of the page that prints a symbol or mark ("×", "<3", "..", ".") gets the
    legend line for exactly those marks (`fmt.legend`) as the last line of its foot, in the
    page's language; a table without marks gets none. Done here, on the rendered page, so
    every study's every table (display tables, Styler tables, plain data frames) has it, and
    the table CSVs and the Word version, both read from the page, carry it too."""
    def one(m: re.Match) -> str:
        table = m.group(0)
        (parsed,) = published_tables(table) or (None,)
        if parsed is None:
            return table
        line = legend([k for row in parsed.rows for cell in row for k in marks_in(cell)],
                      language)
        if not line or line in parsed.notes:
            return table
        note = f'<div class="rk-legend">{html_escape(line)}</div>'
        if "</tfoot>" in table:
            return re.sub(r"(</div>)(\s*</td>\s*</tr>\s*</tfoot>)", rf"\1{note}\2", table,
                          count=1)
        width = max((len(r) for r in parsed.header + parsed.rows), default=1)
        return table.replace("</table>", f'<tfoot><tr><td class="rk-notes" colspan="{width}">'
                             f"{note}</td></tr></tfoot>\n</table>", 1)

    return re.sub(r"<table\b.*?</table>", one, page, flags=re.S)


@dataclass
class PublishedTable:
    """One display table as the appendix prints it: caption, header rows, body rows and the
    notes in its foot, every cell the printed text (marks such as "<3" and "×" included)."""

    uuid: str = ""
    caption: str = ""
    header: list[list[str]] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def file_name(self, position: int) -> str:
        """`03_tabell_2_t1.csv` for the page's third table, captioned "Tabell 2. …" (English:
        `table_2`), id `t1`: the position keeps the page's order and makes names unique."""
        m = re.match(r"(Tabell|Table)\s+(\d+)", self.caption)
        parts = [f"{position:02d}", *([f"{m.group(1).lower()}_{m.group(2)}"] if m else []),
                 *([self.uuid] if self.uuid else [])]
        return re.sub(r"[^A-Za-z0-9_-]+", "_", "_".join(parts)) + ".csv"

    def csv_text(self) -> str:
        """Caption (when there is one), header, body and notes as CSV (UTF-8, comma)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if self.caption:
            writer.writerow([self.caption])
        writer.writerows(self.header)
        writer.writerows(self.rows)
        writer.writerows([n] for n in self.notes)
        return buffer.getvalue()


class _TableParser(HTMLParser):
    """Reads every table out of a page: the display tables of `tables.styled`, pandas'
    Styler tables and plain data frames alike."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[PublishedTable] = []
        self._table: PublishedTable | None = None
        self._part = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._span = 1
        self._down = 1
        self._carried: dict[int, tuple[int, str]] = {}  # column -> (rows left, text): rowspan
        self._in_caption = False
        self._note: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = PublishedTable(uuid=(a.get("id") or "").removeprefix("T_"))
        elif self._table is None:
            return
        elif tag == "caption":
            self._in_caption = True
        elif tag in ("thead", "tbody", "tfoot"):
            self._part = tag
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._part != "tfoot":
            self._cell, self._span = [], int(a.get("colspan") or 1)
            self._down = int(a.get("rowspan") or 1)
        elif tag == "div" and self._part == "tfoot":
            self._note = []

    def handle_endtag(self, tag: str) -> None:
        t = self._table
        if t is None:
            return
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._fill_carried()
            text = " ".join("".join(self._cell).split())
            for _ in range(self._span):
                if self._down > 1:
                    self._carried[len(self._row)] = (self._down - 1, text)
                self._row.append(text)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._fill_carried()
            if any(self._row):
                (t.header if self._part == "thead" else t.rows).append(self._row)
            self._row = None
        elif tag == "div" and self._note is not None:
            t.notes.append(" ".join("".join(self._note).split()))
            self._note = None
        elif tag == "table":
            self.tables.append(t)
            self._table = None

    def _fill_carried(self) -> None:
        """Cells of earlier rows that span into this one (pandas' row index uses rowspan)."""
        row = self._row
        while row is not None and len(row) in self._carried:
            left, text = self._carried.pop(len(row))
            if left > 1:
                self._carried[len(row)] = (left - 1, text)
            row.append(text)

    def handle_data(self, data: str) -> None:
        if self._table is None:
            return
        if self._in_caption:
            self._table.caption += data
        elif self._note is not None:
            self._note.append(data)
        elif self._cell is not None:
            self._cell.append(data)


def published_tables(page: str) -> list[PublishedTable]:
    """Every display table of a rendered appendix, cell by cell as printed."""
    parser = _TableParser()
    parser.feed(page)
    parser.close()
    for t in parser.tables:
        t.caption = " ".join(t.caption.split())
    return parser.tables


def write_table_csvs(page: str, out_dir: str | Path) -> list[Path]:
    """One CSV per display table of the page in `out_dir`, replacing what was there: the
    tables' data exactly as published, for authors to paste and for the output check."""
    tables = published_tables(page)
    names = [t.file_name(i) for i, t in enumerate(tables, start=1)]
    out_dir = Path(out_dir)
    finals = [out_dir / n for n in names]
    with atomic_outputs(*finals) as temps:
        for t, tmp in zip(tables, temps, strict=True):
            tmp.write_text(t.csv_text(), encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in set(out_dir.glob("*.csv")) - set(finals):
        stale.unlink()
    return finals


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
    if len(argv) == 5 and argv[0] == "stage":
        with provenance.sources_fixed():
            failed = stage.run(argv[1], argv[2])
            if failed:
                return failed
            print(html(argv[2], argv[3], params_file=argv[4]))
        return 0
    if not ((argv[:1] == ["html"] and len(argv) == 4) or (argv[:1] == ["pdf"] and len(argv) == 3)):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "pdf":
        print(pdf(argv[1], argv[2]))
        return 0
    print(html(argv[1], argv[2], params_file=argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
