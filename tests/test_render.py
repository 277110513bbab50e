"""The appendix as printed: page layout checked page by page with poppler on the real PDF.

The rules (each a test below): every page A4 portrait; every page carries the running header
(study, appendix) and "Sida N av M"; every figure caption is on the page of its figure; no page
ends with a heading or a table caption; a table continued on a new page repeats its header
row and brings at least two rows. Each page is kept as a PNG under `test-artifacts/`.
The layout tests are slow (one pipeline run); skipped locally without chromium or
poppler-utils, an error in CI.
"""

from __future__ import annotations

import base64
import html as htmllib
import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
import yaml
from pipeline_helpers import UPPSALA_PARAMS, copy_project, dvc, set_params

from rehabkoord import render

A4_PT = (595.28, 841.89)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
#: Characters of content that must follow a heading on its page.
AFTER_HEADING = 40


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    try:
        render.chromium_path()
    except FileNotFoundError:
        missing.append("chromium")
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"missing {missing}: install Debian's chromium and poppler-utils")
        pytest.skip(f"missing {missing} (Debian packages chromium, poppler-utils)")


def norm(text: str) -> str:
    """One space between words, ligatures ('ﬁ') and non-breaking spaces unfolded (NFKC)."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> dict:
    _need("pdftotext", "pdfinfo", "pdftoppm")
    project = copy_project(tmp_path_factory.mktemp("print"))
    params = yaml.safe_load((project / UPPSALA_PARAMS).read_text(encoding="utf-8"))
    set_params(project, power={"n_sim": 20})
    dvc("repro", "notebooks/uppsala/dvc.yaml:report", cwd=project)
    html_file = project / "reports" / "uppsala" / "bilaga.html"
    pdf = render.pdf(html_file, project / "reports" / "uppsala" / "bilaga.pdf")
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    pages = text.split("\f")[:-1]
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("bilaga-sida-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "70", "-png", str(pdf), str(ARTIFACTS / "bilaga-sida")],
                   check=True)
    shutil.copy(pdf, ARTIFACTS / "bilaga.pdf")
    study = params["study"]["name"]
    title = f"{params['report']['title_note']} – statistisk analys"
    content = []
    for i, page in enumerate(pages, start=1):
        page = norm(page)
        for running in (study, title, f"Sida {i} av {len(pages)}"):
            page = page.replace(running, " ")
        content.append(norm(page))
    return {"pdf": pdf, "html": html_file.read_text(encoding="utf-8"), "pages": pages,
            "content": content, "study": study, "title": title, "lines": visual_lines(pdf)}


def visual_lines(pdf: Path) -> list[list[tuple[float, float, str]]]:
    """Per page, the printed lines below the running header and above the page number:
    (top, left, text), words on the same baseline band (2 pt) joined left to right."""
    tsv = subprocess.run(["pdftotext", "-tsv", "-enc", "UTF-8", str(pdf), "-"],
                         capture_output=True, text=True, check=True).stdout
    words: dict[int, list[tuple[float, float, str]]] = {}
    for row in tsv.splitlines()[1:]:
        level, page, *_, x, y, _w, height, _conf, text = row.split("\t")
        if level == "5" and text.strip():
            words.setdefault(int(page), []).append((float(y), float(x), norm(text)))
    pages = []
    for page in sorted(words):
        body = sorted(w for w in words[page] if 20 * 2.835 < w[0] < 842 - 18 * 2.835)
        lines: list[list[tuple[float, float, str]]] = []
        for word in body:
            if lines and abs(word[0] - lines[-1][0][0]) <= 2:
                lines[-1].append(word)
            else:
                lines.append([word])
        pages.append([(ln[0][0], min(w[1] for w in ln),
                       " ".join(w[2] for w in sorted(ln, key=lambda w: w[1]))) for ln in lines])
    return pages


def _headings(html: str) -> list[str]:
    found = re.findall(r"<h[1-4][^>]*>(.*?)</h[1-4]>|<caption[^>]*>(.*?)</caption>", html, re.S)
    texts = [norm(re.sub(r"<[^>]+>", "", htmllib.unescape(h or c)).replace("¶", ""))
             for h, c in found]
    return [t for t in texts if t]


def _figures(html: str) -> list[tuple[str, list[str]]]:
    """(caption, longest texts drawn in the SVG) for each figure block."""
    out = []
    for block in re.findall(r'<figure class="figur">(.*?)</figure>', html, re.S):
        data = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', block).group(1)
        caption = re.search(r"<figcaption>(.*?)</figcaption>", block, re.S).group(1)
        svg = base64.b64decode(data).decode("utf-8")
        drawn = {norm(htmllib.unescape(re.sub(r"<[^>]+>", "", t)))
                 for t in re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)}
        longest = sorted((t for t in drawn if len(t) >= 8), key=len, reverse=True)[:2]
        out.append((norm(htmllib.unescape(caption)), longest))
    return out


def _tables(html: str) -> list[tuple[str, list[str]]]:
    """(header text, first-cell text of each body row) for each table."""
    tables = []
    for table in re.findall(r"<table.*?</table>", html, re.S):
        head = re.search(r"<thead>(.*?)</thead>", table, re.S)
        body = re.search(r"<tbody>(.*?)</tbody>", table, re.S)
        if not head or not body or not norm(re.sub(r"<[^>]+>", " ", head.group(1))):
            continue
        header = norm(htmllib.unescape(re.sub(r"<[^>]+>", " ", head.group(1))))
        firsts = [norm(htmllib.unescape(re.sub(r"<[^>]+>", " ", m)))
                  for m in re.findall(r"<tr[^>]*>\s*<t[dh][^>]*>(.*?)</t[dh]>", body.group(1),
                                      re.S)]
        tables.append((header, firsts))
    return tables


@pytest.mark.slow
def test_every_page_is_a4_portrait(printed):
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", str(len(printed["pages"])),
                           str(printed["pdf"])], capture_output=True, text=True, check=True).stdout
    sizes = [tuple(map(float, m)) for m in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)",
                                                       info)]
    assert len(sizes) == len(printed["pages"]) >= 3
    for width, height in sizes:
        assert abs(width - A4_PT[0]) < 2 and abs(height - A4_PT[1]) < 2, (width, height)


@pytest.mark.slow
def test_every_page_has_running_header_and_page_number(printed):
    n = len(printed["pages"])
    for i, page in enumerate(printed["pages"], start=1):
        text = norm(page)
        assert f"Sida {i} av {n}" in text, i
        assert printed["study"] in text and printed["title"] in text, i
    assert len(list(ARTIFACTS.glob("bilaga-sida-*.png"))) == n


@pytest.mark.slow
def test_table_of_contents_and_numbered_references(printed):
    first = printed["content"][0]
    assert "Innehåll" in first and "Deltagarnas egenskaper vid randomisering" in first
    body = " ".join(printed["content"])
    for ref in ("Tabell 2 beskriver", "Figur 1–2 och Tabell 1", "Tabell 3–4 redovisar"):
        assert ref in body, ref
    numbers = [int(n) for n in re.findall(r"<figcaption>Figur (\d+)\.", printed["html"])]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 7
    tables = [int(n) for n in re.findall(r"<caption[^>]*>Tabell (\d+)\.", printed["html"])]
    assert tables == list(range(1, len(tables) + 1)) and len(tables) >= 4


@pytest.mark.slow
def test_every_caption_is_on_the_page_of_its_figure(printed):
    figures = _figures(printed["html"])
    assert len(figures) >= 7
    for caption, drawn in figures:
        assert drawn, caption
        on = [i for i, page in enumerate(printed["content"]) if caption[:60] in page]
        assert len(on) == 1, (caption, on)
        for text in drawn:
            assert text in printed["content"][on[0]], (caption, text, on[0] + 1)


@pytest.mark.slow
def test_no_page_ends_with_a_heading(printed):
    headings = [h for h in _headings(printed["html"])]
    assert "Parametrar och version" in headings
    for i, page in enumerate(printed["content"], start=1):
        for heading in headings:
            start = page.find(heading)
            while start >= 0:
                after = page[start + len(heading):].strip()
                assert len(after) >= AFTER_HEADING, f"page {i} ends with the heading {heading!r}"
                start = page.find(heading, start + 1)


@pytest.mark.slow
def test_no_page_starts_with_a_lone_table_row(printed):
    """A page's first line below the running header may be a table's header row (a table
    continued with its header repeated; then at least two rows follow) but never a body row."""
    tables = _tables(printed["html"])
    assert len(tables) >= 4
    left = min(line[1] for page in printed["lines"] for line in page)
    for i, lines in enumerate(printed["lines"][1:], start=2):
        top_text = lines[0][2]
        for header, firsts in tables:
            words = {f.split()[0] for f in firsts if f}
            at_margin = [text for _, x, text in lines if x < left + 6 and text.split()[0] in words]
            if top_text.startswith(header.split()[0] + " " + header.split()[1]):
                assert len(at_margin) >= min(2, len(firsts)), \
                    f"page {i} holds a single row of a table"
            elif lines[0][1] < left + 6 and len(top_text.split()) >= 3:
                assert not any(top_text.startswith(f.split()[0] + " ") for f in firsts if f), \
                    f"page {i} starts with a table row without the table's header: {top_text!r}"


def test_print_css_has_the_running_header_and_page_numbers():
    css = render.print_css('Studie "X"', "Bilaga – analys", "sv")
    assert "size: A4 portrait" in css and '@top-left { content: "Studie \\"X\\""' in css
    assert 'content: "Sida " counter(page) " av " counter(pages)' in css
    assert 'content: "Page " counter(page) " of " counter(pages)' in render.print_css("S", "T",
                                                                                     "en")


def test_table_of_contents_lists_second_level_headings_before_the_first():
    body = ('<h1 id="t">Titel<a class="anchor-link" href="#t">¶</a></h1><p>x</p>'
            '<h2 id="Metod">Metod<a class="anchor-link" href="#Metod">¶</a></h2><p>y</p>'
            '<h2 id="R">Resultat<a class="anchor-link" href="#R">¶</a></h2>')
    out = render.table_of_contents(body, "sv")
    assert out.index('<nav class="toc">') < out.index('<h2 id="Metod"')
    assert re.findall(r'<li><a href="#([^"]+)">([^<]+)</a></li>', out) == [("Metod", "Metod"),
                                                                         ("R", "Resultat")]
    assert render.table_of_contents("<p>no headings</p>", "sv") == "<p>no headings</p>"


def test_figure_block_embeds_the_svg_with_its_caption(tmp_path):
    svg = tmp_path / "f.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><text>Andel</text></svg>')
    block = render.figure_html(svg, "Figur 1. Andel <5 %", alt="Figur 1")
    assert block.startswith('<figure class="figur"><img src="data:image/svg+xml;base64,')
    assert "<figcaption>Figur 1. Andel &lt;5 %</figcaption></figure>" in block
    data = re.search(r"base64,([^\"]+)", block).group(1)
    assert base64.b64decode(data) == svg.read_bytes()


def test_a_study_renders_with_its_own_title_and_header(tmp_path):
    """The caseload summary takes its title and running header from its own params file."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Hagfors")])
    path = tmp_path / "r.ipynb"
    nbformat.write(nb, path)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"report": {"title": "Uppföljning av ärenden",
                                                 "organisation": "Region Värmland"}},
                                     allow_unicode=True), encoding="utf-8")
    out = render.html(path, tmp_path / "s.html", params_file=params)
    text = out.read_text(encoding="utf-8")
    assert "<title>Uppföljning av ärenden</title>" in text
    assert "Region Värmland" in text and '<html lang="sv">' in text
    assert "Registerstudie" not in text


def _small_report(tmp_path: Path) -> tuple[Path, Path]:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Resultat\n\n*text*")])
    path = tmp_path / "r.ipynb"
    nbformat.write(nb, path)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"report": {"title": "T", "organisation": "O"}}),
                      encoding="utf-8")
    return path, params


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="Jinja's per-user folder (POSIX)")
def test_compiled_templates_give_the_same_page(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # Jinja's cache folder goes here
    notebook, params = _small_report(tmp_path)
    pages = [render.html(notebook, tmp_path / f"{i}.html", params_file=params).read_bytes()
             for i in range(2)]  # the first compiles and keeps, the second loads
    cached = list((tmp_path / f"_jinja2-cache-{os.getuid()}").iterdir())
    monkeypatch.setattr(render, "template_cache", lambda: None)
    fresh = render.html(notebook, tmp_path / "fresh.html", params_file=params).read_bytes()
    assert cached and pages[0] == pages[1] == fresh


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="Jinja's per-user folder (POSIX)")
def test_a_template_cache_folder_that_is_not_ours_alone_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    (tmp_path / f"_jinja2-cache-{os.getuid()}").write_text("")  # not a private folder
    assert render.template_cache() is None
    notebook, params = _small_report(tmp_path)
    assert "Resultat" in render.html(notebook, tmp_path / "r.html",
                                     params_file=params).read_text(encoding="utf-8")


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_the_appendix_and_its_tables_get_the_users_umask(tmp_path, umask):
    """Not mkstemp's 0600: co-authors on a shared project folder must be able to read them."""
    import nbformat

    notebook = tmp_path / "r.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "## Resultat\n\n| Grupp | n |\n|---|---|\n| Alla | 12 |")]), notebook)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"report": {"title": "T", "organisation": "O"}}),
                      encoding="utf-8")
    old = os.umask(umask)
    try:
        page = render.html(notebook, tmp_path / "out" / "bilaga.html", params_file=params)
    finally:
        os.umask(old)
    written = [page, *sorted((page.parent / "tables").iterdir())]
    assert len(written) == 2
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(0o666 & ~umask)}
