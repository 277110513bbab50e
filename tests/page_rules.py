"""The rules of a printed appendix page, read with poppler from a PDF: shared by the print test
(Chromium's PDF of the HTML, test_render.py) and the Word test (LibreOffice's PDF of the .docx,
test_word.py), so both versions are held to the same layout."""

from __future__ import annotations

import html as htmllib
import re
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rehabkoord import render

A4_PT = (595.28, 841.89)
MM = 2.835
#: The body's band on the page (top and bottom margins of render.CSS's @page, 22 and 20 mm):
#: lines above are the running header, below the page number.
BODY = (20 * MM, 842 - 18 * MM)
#: Characters of content that must follow a heading on its page.
AFTER_HEADING = 40
#: Published appendices, by study: (file stem, tables at least, figures at least).
STUDIES = {"uppsala": ("bilaga", 4, 7), "stockholm": ("bilaga", 5, 5), "risk": ("bilaga", 6, 3),
           "caseload": ("sammanstallning", 2, 0)}


def norm(text: str) -> str:
    """One space between words, ligatures ('ﬁ') and non-breaking spaces unfolded (NFKC)."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


@dataclass
class Printed:
    """One printed appendix: its PDF, the HTML it shows, each page's text (with and without
    the running header and page number), the printed lines and the words' boxes."""

    study: str
    pdf: Path
    html: str
    header: tuple[str, str]
    pages: list[str]
    content: list[str]
    lines: list[list[tuple[float, float, str]]]
    words: dict[int, list[tuple[float, float, float, str]]]


def read(study: str, pdf: Path, html: str, header: tuple[str, str]) -> Printed:
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    pages = text.split("\f")[:-1]
    content = []
    for i, page in enumerate(pages, start=1):
        page = norm(page)
        for running in (*header, f"Sida {i} av {len(pages)}"):
            if running:
                page = page.replace(norm(running), " ")
        content.append(norm(page))
    words = _words(pdf)
    return Printed(study, pdf, html, header, pages, content, visual_lines(words), words)


def _words(pdf: Path) -> dict[int, list[tuple[float, float, float, str]]]:
    """Per page, each printed word as (top, left, bottom, text)."""
    tsv = subprocess.run(["pdftotext", "-tsv", "-enc", "UTF-8", str(pdf), "-"],
                         capture_output=True, text=True, check=True).stdout
    words: dict[int, list[tuple[float, float, float, str]]] = {}
    for row in tsv.splitlines()[1:]:
        level, page, *_, x, y, _w, height, _conf, text = row.split("\t")
        if level == "5" and text.strip():
            words.setdefault(int(page), []).append((float(y), float(x), float(y) + float(height),
                                                    norm(text)))
    return words


def visual_lines(words: dict[int, list[tuple[float, float, float, str]]]
                 ) -> list[list[tuple[float, float, str]]]:
    """Per page, the printed lines below the running header and above the page number:
    (top, left, text), words on the same baseline band (2 pt) joined left to right."""
    pages = []
    for page in sorted(words):
        body = sorted(w for w in words[page] if BODY[0] < w[0] < BODY[1])
        lines: list[list[tuple[float, float, float, str]]] = []
        for word in body:
            if lines and abs(word[0] - lines[-1][0][0]) <= 2:
                lines[-1].append(word)
            else:
                lines.append([word])
        pages.append([(ln[0][0], min(w[1] for w in ln),
                       " ".join(w[3] for w in sorted(ln, key=lambda w: w[1]))) for ln in lines])
    return pages


def headings(html: str) -> list[str]:
    found = re.findall(r"<h[1-4][^>]*>(.*?)</h[1-4]>|<caption[^>]*>(.*?)</caption>", html, re.S)
    texts = [norm(re.sub(r"<[^>]+>", "", htmllib.unescape(h or c)).replace("¶", ""))
             for h, c in found]
    return [t for t in texts if t]


def figure_captions(html: str) -> list[str]:
    return [norm(htmllib.unescape(re.sub(r"<[^>]+>", "", c)))
            for c in re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)]


def tables(html: str) -> list[tuple[str, list[str]]]:
    """(header text, first-cell text of each body row) for each table."""
    found = []
    for table in re.findall(r"<table.*?</table>", html, re.S):
        head = re.search(r"<thead>(.*?)</thead>", table, re.S)
        body = re.search(r"<tbody>(.*?)</tbody>", table, re.S)
        if not head or not body or not norm(re.sub(r"<[^>]+>", " ", head.group(1))):
            continue
        header = norm(htmllib.unescape(re.sub(r"<[^>]+>", " ", head.group(1))))
        firsts = [norm(htmllib.unescape(re.sub(r"<[^>]+>", " ", m)))
                  for m in re.findall(r"<tr[^>]*>\s*<t[dh][^>]*>(.*?)</t[dh]>", body.group(1),
                                      re.S)]
        found.append((header, firsts))
    return found


def header_of(project: Path, study: str) -> tuple[str, str]:
    """The running header a study's appendix prints (render.running_header of its params)."""
    from rehabkoord.params import load_params

    params = load_params(project / "notebooks" / study / "params.yaml")
    return render.running_header(params, params["report"].get("language", "sv"))


# The rules: each raises AssertionError naming the study and page.

def assert_a4_portrait(p: Printed) -> None:
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", str(len(p.pages)), str(p.pdf)],
                          capture_output=True, text=True, check=True).stdout
    sizes = [tuple(map(float, m)) for m in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)",
                                                       info)]
    assert len(sizes) == len(p.pages) >= 2, (p.study, len(sizes))
    for width, height in sizes:
        assert abs(width - A4_PT[0]) < 2 and abs(height - A4_PT[1]) < 2, (p.study, width, height)


def assert_running_header_and_page_numbers(p: Printed) -> None:
    n = len(p.pages)
    left, right = p.header
    assert left and right and not right.startswith("–"), (p.study, p.header)
    for i, page in enumerate(p.pages, start=1):
        text = norm(page)
        assert f"Sida {i} av {n}" in text, (p.study, i)
        assert norm(left) in text and norm(right) in text, (p.study, i)


def assert_no_blank_page(p: Printed) -> None:
    for i, page in enumerate(p.content, start=1):
        assert len(page) >= 40, f"{p.study}: page {i} holds only {page!r}"


def assert_nothing_in_the_margins(p: Printed) -> None:
    """Above the body only the running header, below it only the page number: no stray
    glyph (the ring of an "Å" painted at the foot of the page before its heading)."""
    allowed = set(norm(" ".join(p.header)).split())
    for page, words in p.words.items():
        allowed_below = {"Sida", "av", str(page), str(len(p.pages))}
        for top, _left, bottom, text in words:
            if top < BODY[0] - 6:
                assert text in allowed, f"{p.study}: page {page}: {text!r} above the body"
            elif bottom > BODY[1] + 4 and top > BODY[0]:
                assert text in allowed_below, f"{p.study}: page {page}: {text!r} in the margin"


def assert_no_page_ends_with_a_heading(p: Printed) -> None:
    """No heading or table caption (whole lines, up to three when it wraps) is followed on its
    page by fewer than AFTER_HEADING characters: a caption that only mentions a heading's
    words ("se Röjandekontroll") is not a heading."""
    found = set(headings(p.html))
    assert found, p.study
    for i, lines in enumerate(p.lines, start=1):
        texts = [text for _, _, text in lines]
        for j in range(len(texts)):
            for k in (1, 2, 3):
                if norm(" ".join(texts[j:j + k])) in found:
                    after = " ".join(texts[j + k:])
                    assert len(after) >= AFTER_HEADING, \
                        f"{p.study}: page {i} ends with the heading {' '.join(texts[j:j + k])!r}"


def assert_no_page_starts_with_a_lone_table_row(p: Printed) -> None:
    """A page's first line below the running header may be a table's header row (a table
    continued with its header repeated; then at least two rows follow) but never a body row."""
    found = [(h, f) for h, f in tables(p.html) if len(h.split()) >= 2]
    left = min(line[1] for page in p.lines for line in page)
    headings = {" ".join(htmllib.unescape(re.sub(r"<[^>]+>", "", h)).replace("¶", "").split())
                for h in re.findall(r"<h[1-4][^>]*>(.*?)</h[1-4]>", p.html, re.S)}
    for i, lines in enumerate(p.lines[1:], start=2):
        top_text = lines[0][2]
        if " ".join(top_text.split()) in headings:  # a section's heading, not a row
            continue
        continued = [(h, f) for h, f in found if top_text.startswith(" ".join(h.split()[:2]))]
        for _, firsts in continued:
            words = {f.split()[0] for f in firsts if f}
            at_margin = [text for _, x, text in lines if x < left + 6 and text.split()[0] in words]
            assert len(at_margin) >= min(2, len(firsts)), \
                f"{p.study}: page {i} holds a single row of a table"
        if not continued and lines[0][1] < left + 6 and len(top_text.split()) >= 3:
            for _, firsts in found:
                assert not any(top_text.startswith(f.split()[0] + " ") for f in firsts if f), \
                    f"{p.study}: page {i} starts with a table row without its header: {top_text!r}"
