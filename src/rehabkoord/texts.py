"""The appendices' prose as templates an author edits without touching Python.

Each study keeps its texts beside its notebooks, one Markdown template per passage and
language: ``notebooks/<study>/text/<language>/<name>.md.j2`` (Jinja2); the words every study
prints (disclosure statements, the symbol legend, the printed page's words) are glossaries
of the package, ``src/rehabkoord/text/<language>/<name>.yaml`` (`shared`). Python decides the
numbers and formats them (`rehabkoord.fmt`); a template receives them as named fields and only
words surround them. A field the template names but the caller does not give is an error
(StrictUndefined), never an empty gap in the appendix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import jinja2
import yaml
from jinja2 import meta

from . import fmt, provenance
from .params import project_root

LANGUAGES = ("sv", "en")
SUFFIX = ".md.j2"
#: The glossaries every study shares, inside the package so that an installed copy has them.
SHARED_DIR = Path(__file__).parent / "text"


def check_language(language: str) -> str:
    """`language` if the appendices are written in it, else the parameter's error."""
    if language not in LANGUAGES:
        raise ValueError(f"report.language must be one of {list(LANGUAGES)}, not {language!r}")
    return language


def text_dir(study: str, root: Path | None = None) -> Path:
    """The folder of a study's templates (`notebooks/<study>/text`)."""
    return (root or project_root()) / "notebooks" / study / "text"


@cache
def _environment(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder),
                              undefined=jinja2.StrictUndefined, autoescape=False,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)


def render(study: str, name: str, language: str, root: Path | None = None, **fields) -> str:
    """The passage `name` of `study` in `language` with `fields` filled in (Markdown)."""
    check_language(language)
    template = _environment(text_dir(study, root)).get_template(f"{language}/{name}{SUFFIX}")
    return template.render(**fields).strip()


def names(study: str, root: Path | None = None, suffix: str = SUFFIX) -> dict[str, list[str]]:
    """Language -> the study's template names in it (sorted); `suffix=".yaml"`: its
    glossaries."""
    base = text_dir(study, root)
    return {lang: sorted(p.name[:-len(suffix)] for p in (base / lang).glob(f"*{suffix}"))
            for lang in LANGUAGES}


def fields(study: str, name: str, language: str, root: Path | None = None) -> set[str]:
    """The fields a template reads (what a caller must give)."""
    folder = text_dir(study, root)
    source = (folder / language / f"{name}{SUFFIX}").read_text(encoding="utf-8")
    return meta.find_undeclared_variables(_environment(folder).parse(source))


def glossary(study: str, name: str, language: str, root: Path | None = None) -> dict:
    """A study's YAML word list `text/<language>/<name>.yaml` (parameter names and meanings,
    headings, captions: texts too short for a template of their own), in file order."""
    path = text_dir(study, root) / language / f"{name}.yaml"
    return _parsed_yaml(path, path.stat().st_mtime_ns)


def shared(name: str, language: str) -> dict:
    """A glossary every study prints (`SHARED_DIR/<language>/<name>.yaml`), read as a study's
    own (`glossary`) so an author edits the shared words in one place."""
    check_language(language)
    path = SHARED_DIR / language / f"{name}.yaml"
    return _parsed_yaml(path, path.stat().st_mtime_ns)


def shared_names() -> dict[str, list[str]]:
    """Language -> the shared glossaries' names in it (sorted)."""
    return {lang: sorted(p.stem for p in (SHARED_DIR / lang).glob("*.yaml")) for lang in LANGUAGES}


@cache
def _parsed_yaml(path: Path, mtime_ns: int) -> dict:
    """A glossary parsed once per version of the file (labels are looked up per cell);
    callers must not mutate it."""
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def fill(text: str, **fields) -> str:
    """A short text from a glossary (a caption, a heading) with its `{{ field }}`s filled; a
    field it names but `fields` lacks is an error, as in the templates."""
    return _compiled(text).render(**fields)


@cache
def _compiled(text: str) -> jinja2.Template:
    """A glossary text compiled once (an interval's words are filled per table cell)."""
    return _PHRASES.from_string(text)


def phrase_fields(text: str) -> set[str]:
    """The fields a glossary text reads."""
    return meta.find_undeclared_variables(_PHRASES.parse(text))


_PHRASES = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


def value_text(value: object, language: str) -> str:
    """A parameter's value as a reader reads it: numbers in the language's format, yes/no,
    lists joined, mappings as 'key: value'; None or empty as the word 'ingen'/'none' (a dash
    means zero in a Swedish table)."""
    words = shared("varden", language)
    if value is None:
        return words["ingen"]
    if isinstance(value, bool):
        return words["ja"] if value else words["nej"]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        decimals = len(repr(value).split(".")[1]) if "." in repr(value) else 0
        return fmt.number(value, decimals, language)
    if isinstance(value, dict):
        return ("; ".join(f"{k}: {value_text(v, language)}" for k, v in value.items())
                or value_text(None, language))
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v, language) for v in value) or value_text(None, language)
    return str(value)


def conf_label(conf_level: float, language: str) -> str:
    """'95 % KI' / '95% CI' for a confidence level (0–1), spaces non-breaking so a header
    never breaks inside it."""
    return fill(shared("varden", language)["konfidens"], percent=_level(conf_level, language))


def conf_percent(conf_level: float, language: str) -> str:
    """'95 %' / '95%' (non-breaking), for 'med 95 % konfidensintervall'."""
    return fill(shared("varden", language)["procent"], percent=_level(conf_level, language))


def _level(conf_level: float, language: str) -> str:
    """The confidence level in percent, a decimal only where it has one ('97,5')."""
    pct = 100 * float(conf_level)
    return fmt.number(pct, 0 if abs(pct - round(pct)) < 1e-9 else 1, language)


_PARENS = re.compile(r"\(([^()]*)\)")


def keep_together(text: str) -> str:
    """Spaces inside parentheses made non-breaking: a header breaks before '(N = 62)' or
    '(95 % KI)', never inside it."""
    return _PARENS.sub(lambda m: "(" + m.group(1).replace(" ", fmt.NBSP) + ")", text)


def data_statement(study: str, data_path: str, language: str, root: Path | None = None) -> str:
    """The appendix's sentence on its data at `data_path` (params.yaml's, relative to the
    project root or absolute): synthetic only when every delivered file is byte for byte what
    the project's generator wrote (`provenance.data_source`), never from a name or title."""
    source = provenance.data_source((root or project_root()) / data_path)
    return render(study, "underlag", language, root, synthetic=source.synthetic,
                  files=source.files, data_dir=data_path)


def notes_text(study: str, notes: list[dict], language: str, rules) -> str:
    """The appendix's notes on what the data did not allow (an empty level left out as R
    leaves it, a subgroup with counts only, a failed bootstrap fit), one line per note from
    `text/<language>/anmarkningar.yaml` (a phrase per note kind); "" without notes. A count of
    persons (`n`) is printed only where `rules` (`disclosure.Rules`) would print it, else as
    its mark ("<5")."""
    if not notes:
        return ""
    words = glossary(study, "anmarkningar", language)
    lines = []
    for note in notes:
        fields = {k: v for k, v in note.items() if k != "kind"}
        if "n" in fields and note["kind"] != "bootstrap_failed":
            n = int(fields["n"])
            fields["n"] = (f"<{rules.threshold}" if rules.small(n)
                           else fmt.number(rules.printed(n), 0, language))
        if "note" in fields:
            fields["reason"] = words["skal"][fields.pop("note")]
        if "estimate" in fields:
            fields["estimate"] = words["skattningar"].get(fields["estimate"], fields["estimate"])
        if isinstance(fields.get("reasons"), dict):
            fields["reasons"] = "; ".join(f"{k}: {v}" for k, v in fields["reasons"].items())
        lines.append("- " + fill(words[note["kind"]], **fields))
    return "\n".join([f"### {words['rubrik']}", "", *lines])


def appendix_words(study: str, captions: Mapping[str, tuple[str, int]]) -> tuple[dict, dict]:
    """A study's headings by language and its numbered captions as `tables.AppendixText`
    takes them: `captions` maps a key to (kind "table" or "figure", number), the words come
    from `text/<language>/rubriker.yaml` and `bildtexter.yaml`."""
    words = {lang: glossary(study, "bildtexter", lang) for lang in LANGUAGES}
    return ({lang: glossary(study, "rubriker", lang) for lang in LANGUAGES},
            {key: (kind, n, words["sv"][key], words["en"][key])
             for key, (kind, n) in captions.items()})
