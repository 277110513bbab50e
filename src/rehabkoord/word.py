"""The appendix as a Word document, for authors who paste its tables into the
samordningsförbund's slutrapport form (a Word template).

    python -m rehabkoord.word <appendix.html> <out.docx>

Built from the rendered appendix (`rehabkoord.render.html`), so it holds exactly what the page
publishes: headings, text and lists; every table as a native Word table with the page's cells
(marks such as "<3" and "×" included), its caption before it and its notes after it, header
rows repeated on each page; every figure as its PNG (the print-resolution file next to the SVG
the page embeds, found by the `data-file` of its <figure>) with its caption. Pages are A4 with
the page's running header (study, appendix title) and "Sida N av M" (Word's PAGE and NUMPAGES
fields); the document language is the page's (`report.language`).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import lxml.html
from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.image.image import Image
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Emu, Mm, Pt, RGBColor
from docx.table import Table
from docx.text.paragraph import Paragraph

from . import texts
from .io import atomic_outputs

#: Page and margins of the printed appendix (render.CSS's @page).
PAGE = {"width": Mm(210), "height": Mm(297), "top": Mm(22), "right": Mm(18), "bottom": Mm(20),
        "left": Mm(20)}
TEXT_WIDTH = PAGE["width"] - PAGE["left"] - PAGE["right"]
#: A figure's largest printed height (render.CSS: figure.figur img max-height).
FIGURE_MAX_HEIGHT = Mm(150)
#: Word's language tags for the report languages.
LANGUAGES = {"sv": "sv-SE", "en": "en-GB"}
HEADING_LEVELS = {"h1": 0, "h2": 1, "h3": 2, "h4": 3}
#: Tables up to this many rows are kept on one page (each row kept with the next).
KEEP_WHOLE_ROWS = 25
FORMATS = {"strong": {"bold": True}, "b": {"bold": True}, "em": {"italic": True},
           "i": {"italic": True}, "sup": {"superscript": True}, "sub": {"subscript": True},
           "code": {"mono": True}}
#: Width of a character of table text (8 pt, bold headers included) and a cell's margins.
CHAR = Mm(1.85)
CELL_PADDING = Mm(4.2)
#: Numbers up to this many characters are never wrapped ("0,0 [36,3–54,5]").
NUMBER_CHARS = 16
#: Characters of a header's word kept unbroken when its column is narrow.
HEADER_WORD = 10
#: Columns at most this wide keep their width when long words elsewhere must be squeezed.
NARROW = Mm(25)
#: The document's font: Arial in Word, its metric twin Liberation Sans (or DejaVu Sans)
#: where it is missing.
FONT = "Arial"
INLINE = {"a", "strong", "b", "em", "i", "sup", "sub", "code", "span", "br", "small", "abbr"}


def text_of(element) -> str:
    """An element's text as the page shows it: whitespace collapsed, heading anchors ("¶")
    left out."""
    parts = []

    def walk(e) -> None:
        if not _is_anchor(e):
            parts.append(e.text or "")
            for child in e:
                walk(child)
        parts.append(e.tail or "" if e is not element else "")

    walk(element)
    return " ".join("".join(parts).split())


def _is_anchor(e) -> bool:
    return e.tag == "a" and "anchor-link" in (e.get("class") or "")


def _classes(e) -> set[str]:
    return set((e.get("class") or "").split())


@dataclass
class _Cell:
    text: str
    header: bool
    classes: set[str]
    rows: int = 1
    cols: int = 1


class _Builder:
    """Appends the page's blocks to a Word document in page order."""

    def __init__(self, doc, html_dir: Path) -> None:
        self.doc = doc
        self.html_dir = html_dir

    def block(self, e) -> None:
        tag = e.tag if isinstance(e.tag, str) else ""
        if tag in ("style", "script", "head", "") or "jp-Collapser" in _classes(e):
            return
        if tag in HEADING_LEVELS:
            if text_of(e):
                heading = self.doc.add_heading(text_of(e), HEADING_LEVELS[tag])
                heading.paragraph_format.keep_with_next = True
        elif tag == "p":
            self.paragraph(e)
        elif tag in ("ul", "ol"):
            for item in e.iterfind("li"):
                self.paragraph(item, style="List Number" if tag == "ol" else "List Bullet")
        elif tag == "table":
            self.table(e)
        elif tag == "figure":
            self.figure(e)
        elif tag == "img":
            raise ValueError("an image outside a <figure> (render.figure_html): the Word "
                             "version cannot find its print-resolution file")
        elif tag == "pre":
            self.preformatted(e)
        elif tag in INLINE:
            self.paragraph(e)
        else:
            self.container(e)

    def container(self, e) -> None:
        """A <div> and the like: its blocks in order; loose text and inline elements between
        them as paragraphs of their own."""
        loose: list = []
        if (e.text or "").strip():
            loose.append(e.text)
        for child in e:
            if isinstance(child.tag, str) and child.tag in INLINE:
                loose.append(child)
            else:
                self._loose(loose)
                loose = []
                self.block(child)
            if (child.tail or "").strip():
                loose.append(child.tail)
        self._loose(loose)

    def _loose(self, parts: list) -> None:
        if not any(isinstance(p, str) and p.strip() or not isinstance(p, str) for p in parts):
            return
        paragraph = self.doc.add_paragraph()
        for part in parts:
            if isinstance(part, str):
                paragraph.add_run(" ".join(part.split()))
            else:
                self.runs(paragraph, part, {})
                if part.tail:
                    paragraph.add_run(" ".join(part.tail.split()))

    def paragraph(self, e, style: str | None = None) -> Paragraph:
        paragraph = self.doc.add_paragraph(style=style)
        self.runs(paragraph, e, {}, top=True)
        return paragraph

    def runs(self, paragraph: Paragraph, e, outer: dict, top: bool = False) -> None:
        """The inline content of `e` as runs: bold, italic, super- and subscript kept; its
        tail (unless `top`) in the format around it, `outer`."""
        if not _is_anchor(e):
            tag = e.tag if isinstance(e.tag, str) else ""
            fmt = {**outer, **FORMATS.get(tag, {})}
            if tag == "br":
                paragraph.add_run().add_break(WD_BREAK.LINE)
            self._run(paragraph, e.text, fmt, first=top)
            for child in e:
                self.runs(paragraph, child, fmt)
        if not top:
            self._run(paragraph, e.tail, outer)

    @staticmethod
    def _run(paragraph: Paragraph, text: str | None, fmt: dict, first: bool = False) -> None:
        if not text:
            return
        text = re.sub(r"\s+", " ", text)
        if first or not paragraph.runs:
            text = text.lstrip()
        if not text:
            return
        run = paragraph.add_run(text)
        run.bold = fmt.get("bold") or None
        run.italic = fmt.get("italic") or None
        run.font.superscript = fmt.get("superscript") or None
        run.font.subscript = fmt.get("subscript") or None
        if fmt.get("mono"):
            run.font.name = "DejaVu Sans Mono"

    def preformatted(self, e) -> None:
        paragraph = self.doc.add_paragraph()
        lines = "".join(e.itertext()).rstrip("\n").split("\n")
        for i, line in enumerate(lines):
            run = paragraph.add_run(line)
            run.font.name = "DejaVu Sans Mono"
            run.font.size = Pt(7.5)
            if i < len(lines) - 1:
                run.add_break(WD_BREAK.LINE)

    def figure(self, e) -> None:
        """The figure's PNG, fitted to the text width and the printed height, kept with its
        caption below it."""
        caption = e.find("figcaption")
        caption_text = text_of(caption) if caption is not None else ""
        name = e.get("data-file")
        if not name:
            raise ValueError(f"figure {caption_text[:60]!r} has no data-file: render the "
                             "appendix again (render.figure_html records it)")
        png = self._png(Path(name).with_suffix(".png").name, caption_text)
        image = Image.from_file(str(png))
        width, height = image.width, image.height  # EMU at the file's own resolution
        scale = min(1.0, TEXT_WIDTH / width, FIGURE_MAX_HEIGHT / height)
        picture = self.doc.add_paragraph()
        picture.alignment = WD_ALIGN_PARAGRAPH.CENTER
        picture.paragraph_format.keep_with_next = True
        shape = picture.add_run().add_picture(str(png), width=Emu(int(width * scale)),
                                              height=Emu(int(height * scale)))
        img = e.find("img")
        shape._inline.docPr.set("descr", (img.get("alt") if img is not None else "") or
                                caption_text)
        if caption is not None:
            paragraph = self.paragraph(caption, style="Caption")
            for run in paragraph.runs:
                run.bold = True

    def _png(self, name: str, caption: str) -> Path:
        for candidate in (self.html_dir / "figures" / name, self.html_dir / name):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"figure {caption[:60]!r}: no {name} in "
                                f"{self.html_dir / 'figures'} (the figures stage writes it)")

    def table(self, e) -> None:
        caption = e.find("caption")
        if caption is not None and text_of(caption):
            paragraph = self.doc.add_paragraph()
            paragraph.add_run(text_of(caption)).bold = True
            paragraph.paragraph_format.keep_with_next = True
            paragraph.paragraph_format.space_after = Pt(3)
        header, body = self._rows(e)
        if header or body:
            self._word_table(header, body)
        for note in self._notes(e):
            paragraph = self.doc.add_paragraph()
            run = paragraph.add_run(note)
            run.font.size = Pt(7.5)
            paragraph.paragraph_format.space_after = Pt(0)
        self.doc.add_paragraph().paragraph_format.space_after = Pt(2)

    @staticmethod
    def _rows(e) -> tuple[list[list[_Cell]], list[list[_Cell]]]:
        """Header and body rows of cells as the page has them; rows with no text are left out,
        as in `render.published_tables`."""
        header, body = [], []
        for tr in e.iter("tr"):
            part = tr.getparent().tag
            if part == "tfoot":
                continue
            cells = [_Cell(text_of(c), c.tag == "th" or part == "thead", _classes(c),
                           int(c.get("rowspan") or 1), int(c.get("colspan") or 1))
                     for c in tr if c.tag in ("td", "th")]
            if any(c.text for c in cells):
                (header if part == "thead" else body).append(cells)
            elif any(c.rows > 1 for c in cells):
                (header if part == "thead" else body).append(cells)
        return header, body

    @staticmethod
    def _notes(e) -> list[str]:
        notes = []
        for foot in e.iterfind("tfoot"):
            divs = foot.findall(".//div")
            notes.extend(text_of(d) for d in divs) if divs else notes.append(text_of(foot))
        return [n for n in notes if n]

    def _word_table(self, header: list[list[_Cell]], body: list[list[_Cell]]) -> Table:
        rows = header + body
        grid: dict[tuple[int, int], _Cell] = {}
        spans: list[tuple[int, int, _Cell]] = []
        for r, cells in enumerate(rows):
            c = 0
            for cell in cells:
                while (r, c) in grid:
                    c += 1
                spans.append((r, c, cell))
                for dr in range(cell.rows):
                    for dc in range(cell.cols):
                        grid[(r + dr, c + dc)] = cell
                c += cell.cols
        n_rows = len(rows)
        n_cols = max(c for _, c in grid) + 1
        table = self.doc.add_table(rows=n_rows, cols=n_cols)
        table.alignment = WD_TABLE_ALIGNMENT.LEFT
        _borders(table)
        widths = _column_widths(grid, n_cols)
        # a data frame without the display tables' classes: numbers right, as the page's
        # stylesheet sets them (every cell but a row's first)
        plain = not any(cell.classes & {"rk-num", "rk-label"} for _, _, cell in spans)
        row_first = {r: cells[0] for r, cells in enumerate(rows) if cells}
        for r, c, cell in spans:
            target = table.cell(r, c)
            last = (min(r + cell.rows, n_rows) - 1, min(c + cell.cols, n_cols) - 1)
            if last != (r, c):
                target = target.merge(table.cell(*last))
            paragraph = target.paragraphs[0]
            run = paragraph.add_run(cell.text)
            run.font.size = Pt(8)
            run.bold = True if cell.header else None
            if "rk-num" in cell.classes or (plain and c > 0 and cell is not row_first[r]):
                paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            level = next((int(k.rsplit("-", 1)[1]) for k in cell.classes
                          if re.fullmatch(r"rk-level-\d+", k)), 0)
            if level:
                paragraph.paragraph_format.left_indent = Mm(4 * level)
        # the header with the first row, and the table's last two groups (rows from the
        # next-to-last that starts with a label) together: a page never gets a lone row
        starts = [r for r in range(len(header), n_rows) if (r, 0) in grid and grid[(r, 0)].text
                  and any(sr == r and sc == 0 for sr, sc, _ in spans)]
        tail = starts[-2] if len(starts) >= 2 else n_rows - 2
        for i, row in enumerate(table.rows):
            _row_properties(row, header=i < len(header))
            for c, cell in enumerate(row.cells):
                cell.width = widths[c]
                for paragraph in cell.paragraphs:
                    paragraph.paragraph_format.space_after = Pt(0)
                    paragraph.paragraph_format.space_before = Pt(0)
                    keep = i < n_rows - 1 and (n_rows <= KEEP_WHOLE_ROWS or i <= len(header)
                                               or i >= min(tail, n_rows - 2))
                    paragraph.paragraph_format.keep_with_next = keep
        for c, width in enumerate(widths):
            table.columns[c].width = width
        if header:
            for cell in table.rows[len(header) - 1].cells:
                _cell_border(cell, "bottom")
        return table


def _column_widths(grid: dict, n_cols: int) -> list[int]:
    """Column widths over the text width. Each column's least width is its longest unbroken
    text: a number (up to NUMBER_CHARS characters: as on the page, numbers do not wrap), a
    body word, or a header word's first HEADER_WORD characters. Columns of numbers and narrow
    columns keep their least width; the others share what is left by how much more their
    longest text needs (cells spanning columns left out)."""
    longest, word, numeric = [1] * n_cols, [1] * n_cols, [False] * n_cols
    for (_, c), cell in grid.items():
        if cell.cols != 1:
            continue
        longest[c] = max(longest[c], len(cell.text))
        number = "rk-num" in cell.classes and not cell.header
        numeric[c] = numeric[c] or number
        parts = [cell.text] if number and len(cell.text) <= NUMBER_CHARS else cell.text.split()
        cap = HEADER_WORD if cell.header else len(cell.text)
        word[c] = max([word[c], *(min(len(w), cap) for w in parts)])
    need = [CHAR * n + CELL_PADDING for n in longest]
    least = [CHAR * n + CELL_PADDING for n in word]
    if sum(need) <= TEXT_WIDTH:
        return [Emu(int(n * TEXT_WIDTH / sum(need))) for n in need]
    fixed = [lo if numeric[c] or lo <= NARROW else 0 for c, lo in enumerate(least)]
    spare = TEXT_WIDTH - sum(fixed)
    flexible = [(c, lo, n) for c, (lo, n) in enumerate(zip(least, need, strict=True))
                if not fixed[c]]
    if not flexible or spare <= sum(lo for _, lo, _ in flexible):
        scale = TEXT_WIDTH / sum(least)  # too little room for least widths: all shrink
        return [Emu(int(lo * scale)) for lo in least]
    widths = list(fixed)
    extra = spare - sum(lo for _, lo, _ in flexible)
    wanted = sum(n - lo for _, lo, n in flexible) or 1
    for c, lo, n in flexible:
        widths[c] = lo + (n - lo) * extra / wanted
    return [Emu(int(w)) for w in widths]


def _row_properties(row, header: bool) -> None:
    """A row never split across pages; header rows repeated on each page."""
    tr_pr = row._tr.get_or_add_trPr()
    tr_pr.append(OxmlElement("w:cantSplit"))
    if header:
        tr_pr.append(OxmlElement("w:tblHeader"))


def _rules(kind: str, sides: tuple[str, ...]):
    """A `w:tblBorders`/`w:tcBorders` element with the page's thin dark rule on `sides`."""
    borders = OxmlElement(kind)
    for side in sides:
        border = OxmlElement(f"w:{side}")
        border.set(qn("w:val"), "single")
        border.set(qn("w:sz"), "6")
        border.set(qn("w:color"), "444444")
        borders.append(border)
    return borders


def _borders(table: Table) -> None:
    """A rule above and below the table (the page's look), none inside."""
    table._tbl.tblPr.append(_rules("w:tblBorders", ("top", "bottom")))


def _cell_border(cell, side: str) -> None:
    cell._tc.get_or_add_tcPr().append(_rules("w:tcBorders", (side,)))


def _field(paragraph: Paragraph, instruction: str, size: Pt) -> None:
    """A Word field (PAGE, NUMPAGES) that Word and LibreOffice fill in when laying out."""
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), instruction)
    run = OxmlElement("w:r")
    r_pr = OxmlElement("w:rPr")
    sz = OxmlElement("w:sz")
    sz.set(qn("w:val"), str(int(size.pt * 2)))
    r_pr.append(sz)
    run.append(r_pr)
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def _page_setup(doc, left: str, right: str, language: str) -> None:
    section = doc.sections[0]
    section.page_width, section.page_height = PAGE["width"], PAGE["height"]
    section.top_margin, section.bottom_margin = PAGE["top"], PAGE["bottom"]
    section.left_margin, section.right_margin = PAGE["left"], PAGE["right"]
    section.header_distance, section.footer_distance = Mm(10), Mm(8)
    # Study left, title right, as the printed page's margin boxes: two cells of a borderless
    # table, so that long texts wrap in their own cell instead of running into each other.
    header = section.header.add_table(rows=1, cols=2, width=TEXT_WIDTH)
    share = min(0.7, max(0.3, len(left) / max(1, len(left) + len(right))))
    for cell, text, width, align in zip(
            header.rows[0].cells, (left, right), (share, 1 - share),
            (WD_ALIGN_PARAGRAPH.LEFT, WD_ALIGN_PARAGRAPH.RIGHT), strict=True):
        cell.width = Emu(int(TEXT_WIDTH * width))
        paragraph = cell.paragraphs[0]
        paragraph.alignment = align
        paragraph.paragraph_format.space_after = Pt(0)
        run = paragraph.add_run(text)
        run.font.size = Pt(7.5)
        run.font.color.rgb = RGBColor(0x55, 0x55, 0x55)
    last = section.header.paragraphs[0]  # a header ends with a paragraph: the empty one, below
    header._tbl.addnext(last._p)
    last.paragraph_format.space_after = Pt(0)
    last.paragraph_format.line_spacing = Pt(2)
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    words = texts.shared("sidor", language)
    size = Pt(8.5)
    footer.add_run(f"{words['sida']} ").font.size = size
    _field(footer, "PAGE", size)
    footer.add_run(f" {words['av']} ").font.size = size
    _field(footer, "NUMPAGES", size)


def _language(doc, language: str) -> None:
    """The document's proofing language: Swedish text is not marked as misspelt English."""
    tag = LANGUAGES.get(language, language)
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    r_pr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    lang = r_pr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        r_pr.append(lang)
    lang.set(qn("w:val"), tag)
    doc.core_properties.language = tag


def running_header(page) -> tuple[str, str]:
    """The (left, right) running header the page prints, from its print stylesheet."""
    css = "".join(s.text or "" for s in page.iter("style"))

    def content(box: str) -> str:
        m = re.search(r"@" + box + r'\s*\{\s*content:\s*"((?:[^"\\]|\\.)*)"', css)
        return re.sub(r"\\(.)", r"\1", m.group(1)) if m else ""

    return content("top-left"), content("top-right")


def docx(html_file: str | Path, out: str | Path) -> Path:
    """The rendered appendix `html_file` as a Word document at `out`."""
    html_file = Path(html_file)
    page = lxml.html.fromstring(html_file.read_bytes())
    language = page.get("lang") or "sv"
    if language not in texts.LANGUAGES:
        raise ValueError(f"{html_file}: page language {language!r}, expected one of "
                         f"{sorted(texts.LANGUAGES)}")
    doc = Document()
    for name in ("Normal", "Title", "Heading 1", "Heading 2", "Heading 3", "Caption"):
        style = doc.styles[name]
        style.font.name = FONT
        style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)
        style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:cs"), FONT)
    normal = doc.styles["Normal"]
    normal.font.size = Pt(10)
    normal.paragraph_format.space_after = Pt(5)
    _language(doc, language)
    left, right = running_header(page)
    _page_setup(doc, left, right, language)
    title = page.find(".//title")
    doc.core_properties.title = title.text_content().strip() if title is not None else right
    doc.core_properties.author = left
    main = page.find(".//main")
    _Builder(doc, html_file.parent).container(main if main is not None else page.find("body"))
    with atomic_outputs(out) as (tmp,):
        doc.save(str(tmp))
    return Path(out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(docx(argv[0], argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
