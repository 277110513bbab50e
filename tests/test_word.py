"""The appendix as a Word document: built from the rendered page, with exactly its headings,
tables (native Word tables, cell by cell as `render.published_tables` reads the page, captions
before and notes after), figures (the print-resolution PNG, with its caption), running header,
page numbers as Word fields, and the page's language.

The slow tests build every study's document from the shared pipeline run (`built`), convert
it to PDF with LibreOffice (headless) and hold it to the print test's page rules
(tests/page_rules.py); one page of each is kept as a PNG under `test-artifacts/`. Skipped
locally without LibreOffice (Debian's libreoffice-writer) or poppler-utils, an error in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import page_rules
import pandas as pd
import pytest
import yaml
from docx import Document
from docx.oxml.ns import qn
from page_rules import STUDIES

from rehabkoord import render, style, word
from rehabkoord.tables import styled

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


def _output(html: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data={"text/html": html, "text/plain": ""})


def _appendix(tmp_path: Path, language: str = "sv", with_file: bool = True) -> Path:
    """A small rendered appendix: title, text, a display table with marks and notes, a data
    frame with a row index, a figure, a list."""
    out = tmp_path / "reports" / "demo"
    style.set_style(language)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(["Koordinator", "Kontroll"], [0.42, 0.31])
    style.save(fig, out / "figures" / "andel")
    style.set_style()
    figure = render.figure_html(out / "figures" / "andel.svg", "Figur 1. Andel åter i arbete.",
                                alt="Figur 1")
    if not with_file:
        figure = re.sub(r' data-file="[^"]*"', "", figure)
    table = pd.DataFrame({"Grupp": ["Alla", "Män"], "n": ["55", "<3"], "%": ["0,0", "×"]})
    table.attrs.update(numeric=["n", "%"], notes=["¹ Wilcoxons test"], levels=[0, 1])
    index = pd.MultiIndex.from_tuples([("Diagnos", "F43"), ("Diagnos", "F32")])
    frame = pd.DataFrame({"Arvika": ["3", "0"], "Alla": ["7", "4"]}, index=index)
    cells = [nbformat.v4.new_markdown_cell("# Bilaga\n\nText med **fet** och *kursiv* ²."),
             nbformat.v4.new_markdown_cell("## Resultat\n\n- ett\n- två"),
             nbformat.v4.new_code_cell(outputs=[_output(styled(table, "Tabell 1. Utfall.", "t1")),
                                                _output(frame.to_html())]),
             nbformat.v4.new_markdown_cell("## Figurer"),
             nbformat.v4.new_code_cell(outputs=[_output(figure)])]
    notebook = tmp_path / "r.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), notebook)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"study": {"name": "Studie Å"},
                                      "report": {"language": language}}, allow_unicode=True),
                      encoding="utf-8")
    return render.html(notebook, out / "bilaga.html", params_file=params)


def _cells(table) -> list[list[str]]:
    return [[cell.text for cell in row.cells] for row in table.rows]


def _paragraphs(doc) -> list[str]:
    return [p.text for p in doc.paragraphs if p.text]


def test_word_has_the_pages_headings_text_and_exact_table_cells(tmp_path):
    page = _appendix(tmp_path)
    doc = Document(str(word.docx(page, tmp_path / "bilaga.docx")))
    headings = [(p.style.name, p.text) for p in doc.paragraphs
                if p.style.name.startswith(("Title", "Heading"))]
    assert headings == [("Title", "Bilaga"), ("Heading 1", "Resultat"), ("Heading 1", "Figurer")]
    text = _paragraphs(doc)
    assert "Text med fet och kursiv ²." in text
    bold = [r.text for p in doc.paragraphs for r in p.runs if r.bold]
    assert "fet" in bold
    assert [p.text for p in doc.paragraphs if p.style.name == "List Bullet"] == ["ett", "två"]
    published = render.published_tables(page.read_text(encoding="utf-8"))
    assert len(doc.tables) == len(published) == 2
    for table, shown in zip(doc.tables, published, strict=True):
        assert _cells(table) == shown.header + shown.rows
    assert _cells(doc.tables[0])[1:] == [["Alla", "55", "0,0"], ["Män", "<3", "×"]]  # as printed
    legend = ("Teckenförklaring: × uppgift skyddad av sekretesskäl (röjandekontroll); "
              "<3 färre än 3 personer.")
    assert text.index("Tabell 1. Utfall.") < text.index("¹ Wilcoxons test") < text.index(legend)
    assert text.count(legend) == 1  # the table without marks (zeros only) has no legend
    header_rows = [row for row in doc.tables[0].rows
                   if row._tr.trPr is not None and row._tr.trPr.find(qn("w:tblHeader")) is not None]
    assert len(header_rows) == 1  # repeated on each page the table runs over


def test_word_figures_are_the_print_resolution_png_with_caption(tmp_path):
    page = _appendix(tmp_path)
    doc = Document(str(word.docx(page, tmp_path / "bilaga.docx")))
    assert len(doc.inline_shapes) == 1
    blip = doc.inline_shapes[0]._inline.graphic.graphicData.pic.blipFill.blip
    image = doc.part.related_parts[blip.embed].blob
    assert image == (page.parent / "figures" / "andel.png").read_bytes()
    assert doc.inline_shapes[0].width <= word.TEXT_WIDTH
    paragraphs = [p for p in doc.paragraphs if p.text or p._p.xpath(".//w:drawing")]
    at = next(i for i, p in enumerate(paragraphs) if p._p.xpath(".//w:drawing"))
    assert paragraphs[at].paragraph_format.keep_with_next
    assert paragraphs[at + 1].text == "Figur 1. Andel åter i arbete."


@pytest.mark.parametrize(("language", "words", "tag"), [("sv", ("Sida", "av"), "sv-SE"),
                                                        ("en", ("Page", "of"), "en-GB")])
def test_word_has_the_running_header_page_fields_and_language(tmp_path, language, words, tag):
    doc = Document(str(word.docx(_appendix(tmp_path, language), tmp_path / "b.docx")))
    section = doc.sections[0]
    title = "Bilaga – statistisk analys" if language == "sv" else "Appendix – statistical analysis"
    assert [c.text for c in section.header.tables[0].rows[0].cells] == ["Studie Å", title]
    footer = section.footer.paragraphs[0]._p
    assert [f.get(qn("w:instr")) for f in footer.iter(qn("w:fldSimple"))] == ["PAGE", "NUMPAGES"]
    assert "".join(t.text for t in footer.iter(qn("w:t"))).split() == [words[0], "1", words[1], "1"]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    lang = doc.styles.element.find(qn("w:docDefaults")).find(".//" + qn("w:lang"))
    assert lang.get(qn("w:val")) == tag and doc.core_properties.language == tag


def test_a_figure_without_its_file_is_an_error(tmp_path):
    page = _appendix(tmp_path, with_file=False)
    with pytest.raises(ValueError, match="no data-file: render the appendix again"):
        word.docx(page, tmp_path / "b.docx")
    page = _appendix(tmp_path)
    (page.parent / "figures" / "andel.png").unlink()
    with pytest.raises(FileNotFoundError, match="no andel.png in"):
        word.docx(page, tmp_path / "b.docx")
    assert not (tmp_path / "b.docx").exists()


# Every study's document, laid out by LibreOffice

def _need() -> str:
    office = shutil.which("soffice") or shutil.which("libreoffice")
    missing = [t for t in ("pdftotext", "pdfinfo", "pdftoppm", "pdfimages") if not shutil.which(t)]
    if office is None:
        missing.append("soffice")
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"missing {missing}: install Debian's libreoffice-writer, poppler-utils")
        pytest.skip(f"missing {missing} (Debian packages libreoffice-writer, poppler-utils)")
    return office


@pytest.fixture(scope="module")
def documents(built, tmp_path_factory) -> dict[str, tuple[Path, page_rules.Printed]]:
    """Each study's .docx (outside the shared run) and LibreOffice's PDF of it."""
    office = _need()
    out = tmp_path_factory.mktemp("word")
    files = {}
    for study, (stem, _, _) in STUDIES.items():
        files[study] = word.docx(built / "reports" / study / f"{stem}.html", out / f"{study}.docx")
    profile = out / "libreoffice-profile"
    subprocess.run([office, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                    "--convert-to", "pdf", "--outdir", str(out), *map(str, files.values())],
                   check=True, capture_output=True, timeout=600)
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("word-*.png"):
        old.unlink()
    result = {}
    for study, (stem, _, _) in STUDIES.items():
        html = (built / "reports" / study / f"{stem}.html").read_text(encoding="utf-8")
        printed = page_rules.read(study, out / f"{study}.pdf", html,
                                  page_rules.header_of(built, study))
        shown = next((i for i, page in enumerate(printed.content, start=1)
                      if re.search(r"Tabell \d+\.", page)), 1)
        subprocess.run(["pdftoppm", "-r", "70", "-png", "-singlefile", "-f", str(shown), "-l",
                        str(shown), str(printed.pdf), str(ARTIFACTS / f"word-{study}-sida-{shown}")],
                       check=True)
        result[study] = (files[study], printed)
    return result


@pytest.fixture(params=list(STUDIES))
def document(request, documents) -> tuple[Path, page_rules.Printed]:
    return documents[request.param]


@pytest.mark.slow
def test_every_studys_word_tables_have_exactly_the_published_cells(document):
    docx_file, printed = document
    doc = Document(str(docx_file))
    published = render.published_tables(printed.html)
    assert len(doc.tables) == len(published) >= STUDIES[printed.study][1]
    text = _paragraphs(doc)
    for table, shown in zip(doc.tables, published, strict=True):
        assert _cells(table) == shown.header + shown.rows, (printed.study, shown.caption)
        if shown.caption:
            assert shown.caption in text
        assert all(note in text for note in shown.notes), (printed.study, shown.caption)
    headings = [p.text for p in doc.paragraphs if p.style.name.startswith(("Title", "Heading"))]
    captions = {t.caption for t in published}
    assert headings == [h for h in page_rules.headings(printed.html) if h not in captions]
    assert len(doc.inline_shapes) == len(page_rules.figure_captions(printed.html))


@pytest.mark.slow
def test_every_studys_word_pages_follow_the_print_rules(document):
    _, printed = document
    page_rules.assert_a4_portrait(printed)
    page_rules.assert_running_header_and_page_numbers(printed)
    page_rules.assert_no_blank_page(printed)
    page_rules.assert_nothing_in_the_margins(printed)
    page_rules.assert_no_page_ends_with_a_heading(printed)
    page_rules.assert_no_page_starts_with_a_lone_table_row(printed)
    assert len(list(ARTIFACTS.glob(f"word-{printed.study}-sida-*.png"))) == 1


@pytest.mark.slow
def test_every_word_figure_is_on_the_page_of_its_caption(document):
    _, printed = document
    listing = subprocess.run(["pdfimages", "-list", str(printed.pdf)], capture_output=True,
                             text=True, check=True).stdout.splitlines()[2:]
    pages = [int(line.split()[0]) for line in listing if line.split()[2] == "image"]
    captions = page_rules.figure_captions(printed.html)
    assert len(pages) == len(captions)
    for page, caption in zip(pages, captions, strict=True):
        assert caption[:60] in printed.content[page - 1], (printed.study, caption, page)


def _make_project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """This checkout's Makefile over a built appendix, with the test's own Python as .venv."""
    venv = Path(sys.executable).parents[1]
    if not (venv / ".installed").exists():
        pytest.skip(f"{venv} was not set up by `make setup`")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Makefile", "requirements.lock", "requirements-uv.lock", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
        os.utime(project / name, (0, 0))  # older than .venv/.installed: no re-install
    (project / ".venv").symlink_to(venv)
    page = _appendix(project)
    shutil.move(page.parent, project / "reports" / "stockholm")
    tools = tmp_path / "bin"  # a PATH with make and a shell, and no chromium
    tools.mkdir()
    for tool in ("make", "bash", "sh", "env"):
        (tools / tool).symlink_to(shutil.which(tool))
    environment = {"PATH": str(tools), "HOME": str(tmp_path)}
    if os.environ.get("PYTHONPATH"):
        environment["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return project, environment


def test_make_leaves_no_stale_word_or_pdf_version_silently(tmp_path):
    """`make report` ends with `refresh-formats`: an older .docx is rebuilt from the new
    appendix, an older PDF without Chromium at hand is named with the command to rebuild it."""
    project, environment = _make_project(tmp_path)
    folder = project / "reports" / "stockholm"
    for name in ("bilaga.docx", "bilaga.pdf"):
        (folder / name).write_bytes(b"last week's")
        os.utime(folder / name, (1, 1))
    done = subprocess.run(["make", "refresh-formats", "STUDY=stockholm"], cwd=project,
                          env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert Document(str(folder / "bilaga.docx")).tables  # rebuilt from the appendix
    assert done.stderr.strip() == ("Out of date: reports/stockholm/bilaga.pdf is older than its "
                                   "appendix (`make pdf STUDY=stockholm` rebuilds it with chromium)")
    again = subprocess.run(["make", "refresh-formats", "STUDY=stockholm"], cwd=project,
                           env=environment, capture_output=True, text=True, timeout=300)
    assert "rehabkoord.word" not in again.stdout  # up to date now: not rebuilt again
