"""The appendix as printed: page layout checked page by page with poppler on the real PDF of
every study's appendix, printed from the shared pipeline run (`built`, conftest.py).

The rules (tests/page_rules.py, shared with the Word version's test): every page A4 portrait;
every page carries the running header (study, appendix) and "Sida N av M"; no blank page and
nothing printed in the margins but header and page number; every figure caption is on the page
of its figure; no page ends with a heading or a table caption; a table continued on a new page
repeats its header row and brings at least two rows. Each page is kept as a PNG under
`test-artifacts/`. The layout tests are slow (the pipeline run); skipped locally without
chromium or poppler-utils, an error in CI.
"""

from __future__ import annotations

import base64
import html as htmllib
import os
import re
import shutil
import subprocess
from pathlib import Path

import page_rules
import pytest
import yaml
from page_rules import STUDIES, norm

from rehabkoord import render

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


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


@pytest.fixture(scope="module")
def printed_all(built, tmp_path_factory) -> dict[str, page_rules.Printed]:
    """Every study's appendix printed to PDF (outside the shared run), pages kept as PNGs."""
    _need("pdftotext", "pdfinfo", "pdftoppm")
    out = tmp_path_factory.mktemp("pdf")
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("*-sida-*.png"):
        if not old.name.startswith("word-"):
            old.unlink()
    printed = {}
    for study, (stem, _, _) in STUDIES.items():
        html_file = built / "reports" / study / f"{stem}.html"
        pdf = render.pdf(html_file, out / f"{study}.pdf")
        subprocess.run(["pdftoppm", "-r", "70", "-png", str(pdf), str(ARTIFACTS / f"{study}-sida")],
                       check=True)
        shutil.copy(pdf, ARTIFACTS / f"{study}.pdf")
        printed[study] = page_rules.read(study, pdf, html_file.read_text(encoding="utf-8"),
                                         page_rules.header_of(built, study))
    return printed


@pytest.fixture(params=list(STUDIES))
def printed(request, printed_all) -> page_rules.Printed:
    return printed_all[request.param]


@pytest.mark.slow
def test_every_page_is_a4_portrait(printed):
    page_rules.assert_a4_portrait(printed)


@pytest.mark.slow
def test_every_page_has_running_header_and_page_number(printed):
    page_rules.assert_running_header_and_page_numbers(printed)
    assert len(list(ARTIFACTS.glob(f"{printed.study}-sida-*.png"))) == len(printed.pages)


@pytest.mark.slow
def test_no_blank_page_and_nothing_in_the_margins(printed):
    """Stockholm's page 1 was blank but for the header and a stray "å"."""
    page_rules.assert_no_blank_page(printed)
    page_rules.assert_nothing_in_the_margins(printed)


@pytest.mark.slow
def test_table_of_contents_and_numbered_references(printed):
    first = printed.content[0]
    h2 = re.findall(r'<h2 id="[^"]+">(.*?)<a class="anchor-link"', printed.html, re.S)
    assert "Innehåll" in first and norm(htmllib.unescape(h2[0])) in first
    numbers = [int(n) for n in re.findall(r"<figcaption>Figur (\d+)\.", printed.html)]
    tables = [int(n) for n in re.findall(r"<caption[^>]*>Tabell (\d+)\.", printed.html)]
    _, at_least_tables, at_least_figures = STUDIES[printed.study]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= at_least_figures
    if printed.study != "caseload":  # its tables are captioned by their headings
        assert tables == list(range(1, len(tables) + 1)) and len(tables) >= at_least_tables
    if printed.study == "uppsala":
        body = " ".join(printed.content)
        for ref in ("Tabell 2 beskriver", "Figur 1–2 och Tabell 1", "Tabell 3–4 redovisar"):
            assert ref in body, ref


def _figures(html: str) -> list[tuple[str, list[str]]]:
    """(caption, longest texts drawn in the SVG) for each figure block."""
    out = []
    for block in re.findall(r'<figure class="figur"[^>]*>(.*?)</figure>', html, re.S):
        data = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', block).group(1)
        caption = re.search(r"<figcaption>(.*?)</figcaption>", block, re.S).group(1)
        svg = base64.b64decode(data).decode("utf-8")
        drawn = {norm(htmllib.unescape(re.sub(r"<[^>]+>", "", t)))
                 for t in re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)}
        longest = sorted((t for t in drawn if len(t) >= 8), key=len, reverse=True)[:2]
        out.append((norm(htmllib.unescape(caption)), longest))
    return out


@pytest.mark.slow
def test_every_caption_is_on_the_page_of_its_figure(printed):
    figures = _figures(printed.html)
    assert len(figures) >= STUDIES[printed.study][2]
    for caption, drawn in figures:
        assert drawn, caption
        on = [i for i, page in enumerate(printed.content) if caption[:60] in page]
        assert len(on) == 1, (printed.study, caption, on)
        for text in drawn:
            assert text in printed.content[on[0]], (printed.study, caption, text, on[0] + 1)


@pytest.mark.slow
def test_no_page_ends_with_a_heading(printed):
    """Stockholm's "Flöde av deltagare" stood alone at the foot of page 2."""
    if printed.study == "uppsala":
        assert "Parametrar och version" in page_rules.headings(printed.html)
    page_rules.assert_no_page_ends_with_a_heading(printed)


@pytest.mark.slow
def test_no_page_starts_with_a_lone_table_row(printed):
    assert len(page_rules.tables(printed.html)) >= STUDIES[printed.study][1]
    page_rules.assert_no_page_starts_with_a_lone_table_row(printed)


def test_a_title_never_starts_with_a_dash():
    """Stockholm's params have neither report.title nor title_note: its running header read
    "– statistisk analys"."""
    assert render.appendix_title({}, "sv") == "Bilaga – statistisk analys"
    assert render.appendix_title({"title_note": "Bilaga till slutrapport"}, "sv") == \
        "Bilaga till slutrapport – statistisk analys"
    assert render.appendix_title({"title": "Uppföljning"}, "en") == "Uppföljning"
    assert render.running_header({"study": {"name": "S"}, "report": {}}, "en") == \
        ("S", "Appendix – statistical analysis")


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
    assert block.startswith('<figure class="figur" data-file="f.svg"><img src="data:image/svg+xml;'
                            'base64,')
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
