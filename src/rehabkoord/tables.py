"""Display tables as HTML for every study's appendix: one look (captions, indented levels,
right-aligned tabular figures, notes in the table's foot), byte-stable across runs."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape as html_escape
from importlib import metadata

import pandas as pd


def styled(table: pd.DataFrame, caption: str, uuid: str) -> str:
    """A display table as HTML: caption, labels left with levels and statistics indented
    (CSS classes `rk-level-N`), numeric columns right-aligned in tabular figures (`rk-num`),
    the footnotes in the table's foot. Every cell is HTML-escaped ("<3" stays text); `uuid`
    fixes the element ids, so two runs write identical bytes."""
    levels = table.attrs.get("levels", [0] * len(table))
    numeric = set(table.attrs.get("numeric", []))
    stub = [c for c in table.columns if c not in numeric][-1:]  # the indented label column

    def css(column: str, level: int) -> str:
        if column in numeric:
            return "rk-num"
        return f"rk-label rk-level-{level}" if column in stub else "rk-label"

    classes = pd.DataFrame([[css(c, level) for c in table.columns] for level in levels],
                           index=table.index, columns=table.columns)
    html = (table.style.hide(axis="index").format(escape="html")
            .format_index(escape="html", axis=1)
            .set_td_classes(classes).set_caption(caption).set_uuid(uuid)
            .set_table_attributes('class="rk-table"').to_html())
    for i, column in enumerate(table.columns):
        kind = "rk-num" if column in numeric else "rk-label"
        html = html.replace(f'class="col_heading level0 col{i}"',
                            f'class="col_heading level0 col{i} {kind}"', 1)
    notes = table.attrs.get("notes", [])
    if notes:
        body = "".join(f"<div>{html_escape(n)}</div>" for n in notes)
        html = html.replace("</table>", f'<tfoot><tr><td class="rk-notes" colspan="'
                            f'{len(table.columns)}">{body}</td></tr></tfoot>\n</table>', 1)
    return html


def software_versions() -> str:
    names = ["pandas", "numpy", "scipy", "statsmodels", "seaborn", "papermill", "dvc"]
    parts = [f"Python {platform.python_version()}"]
    for name in names:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(parts)


@dataclass(frozen=True)
class AppendixText:
    """Headings and numbered captions of a study's appendix in the report language.

    `headings`: language -> key -> heading; `captions`: key -> (kind "table" or "figure",
    number, Swedish text, English text)."""

    language: str
    headings: Mapping[str, Mapping[str, str]]
    captions: Mapping[str, tuple[str, int, str, str]]

    def title(self, name: str) -> str:
        return f"# {name}"

    def heading(self, key: str) -> str:
        return f"## {self.headings[self.language][key]}"

    def caption(self, key: str) -> str:
        kind, n, sv, en = self.captions[key]
        word = {("table", "sv"): "Tabell", ("table", "en"): "Table",
                ("figure", "sv"): "Figur", ("figure", "en"): "Figure"}[(kind, self.language)]
        return f"{word} {n}. {sv if self.language == 'sv' else en}"
