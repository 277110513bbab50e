"""The appendices' prose templates: every one renders in both languages, every field it names
must be given, and the labels that follow parameters keep together."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from rehabkoord import provenance, texts
from rehabkoord.fmt import NBSP

STUDIES = ("uppsala", "caseload", "stockholm", "risk")
TEMPLATES = [(study, name) for study in STUDIES for name in texts.names(study)["sv"]]


def test_every_study_has_templates_in_both_languages_with_the_same_fields():
    for study in STUDIES:
        found = texts.names(study)
        assert found["sv"], study
        assert found["sv"] == found["en"], study  # no passage only in one language
        for name in found["sv"]:
            assert texts.fields(study, name, "sv") == texts.fields(study, name, "en"), \
                (study, name)


FLAGS = ("synthetic", "yates", "zeros", "marked", "higher", "significant")
#: Text fields that are left empty when their sentence does not apply.
OPTIONAL_TEXT = ("proportions", "sheet", "outside", "min_linkage", "p_text", "rounding")


def _sample(fields: set[str], flags: bool) -> dict:
    """A value for every field: a distinctive word, a list for the loops, `flags` for the
    yes/no fields, a count for the counts."""
    return {f: ([{"column": "Kol", "listed": "X (4)"}] if f == "unknown_codes" else
                flags if f in FLAGS else "" if f in OPTIONAL_TEXT and not flags else
                2 if f in ("n_periods", "n", "files") else f"«{f}»") for f in fields}


def _raises_without(study: str, name: str, language: str, given: dict, field: str) -> bool:
    try:
        texts.render(study, name, language, **{k: v for k, v in given.items() if k != field})
    except jinja2.UndefinedError:
        return True
    return False


@pytest.mark.parametrize(("study", "name"), TEMPLATES)
@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_every_template_renders_with_every_field_filled(study, name, language):
    """Both branches of every condition render and show the words given; a field left out
    is an error (StrictUndefined) in the branch that prints it, never an empty gap."""
    fields = texts.fields(study, name, language)
    samples = [_sample(fields, flags) for flags in (True, False)]
    for given in samples:
        out = texts.render(study, name, language, **given)
        assert out and "{{" not in out and "{%" not in out and "Undefined" not in out
        words = [v for v in given.values() if isinstance(v, str)]
        assert not words or any(w in out for w in words)
    for field in fields:
        assert any(_raises_without(study, name, language, given, field) for given in samples), \
            field


def test_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="report.language"):
        texts.render("uppsala", "metod", "de")


@pytest.mark.parametrize(("level", "language", "expected"), [
    (0.95, "sv", f"95{NBSP}%{NBSP}KI"), (0.90, "sv", f"90{NBSP}%{NBSP}KI"),
    (0.975, "sv", f"97,5{NBSP}%{NBSP}KI"), (0.95, "en", f"95%{NBSP}CI"),
    (0.99, "en", f"99%{NBSP}CI")])
def test_confidence_label_follows_the_level_and_never_breaks(level, language, expected):
    assert texts.conf_label(level, language) == expected
    assert " " not in texts.conf_label(level, language)
    assert texts.conf_percent(level, language) == expected.rsplit(NBSP, 1)[0]


def test_keep_together_binds_only_inside_parentheses():
    assert texts.keep_together("Kontroll (N = 62)") == f"Kontroll (N{NBSP}={NBSP}62)"
    assert texts.keep_together("n (koord./kontroll) x y") == "n (koord./kontroll) x y"
    assert texts.keep_together("a (b c) d (e f)") == f"a (b{NBSP}c) d (e{NBSP}f)"


def test_parameter_values_read_as_text():
    assert texts.value_text(0.05, "sv") == "0,05" and texts.value_text(0.05, "en") == "0.05"
    assert texts.value_text(True, "sv") == "ja" and texts.value_text(False, "en") == "no"
    assert texts.value_text([6, 12], "sv") == "6, 12"
    assert texts.value_text({"a": 1, "b": [2, 0.5]}, "sv") == "a: 1; b: 2, 0,5"
    assert texts.value_text(None, "sv") == "ingen" and texts.value_text([], "en") == "none"
    assert texts.value_text(20240901, "sv") == "20240901"  # a seed, not a quantity


def test_data_statement_is_decided_from_the_files(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.csv").write_text("x\n1\n")
    assert "inte projektets syntetiska data" in texts.data_statement("uppsala", str(raw), "sv")
    provenance.mark_synthetic(raw, "test")
    assert "Underlaget är syntetiskt" in texts.data_statement("uppsala", str(raw), "sv")
    assert "The data are synthetic" in texts.data_statement("uppsala", str(raw), "en")
    (raw / "a.csv").write_text("x\n22\n")  # a real value put in the generator's file
    assert "not the project's synthetic data" in texts.data_statement("uppsala", str(raw), "en")


GLOSSARIES = [(study, name) for study in STUDIES for name in texts.names(study, suffix=".yaml")["sv"]]


@pytest.mark.parametrize(("study", "name"), GLOSSARIES)
def test_every_glossary_has_the_same_keys_and_fields_in_both_languages(study, name):
    """Headings, captions and parameter names: what Swedish has, English has, with the same
    fields; each text renders with its fields and fails without one. (The caseload list's
    categories are its own Swedish words, so only English translates them.)"""
    sv, en = (texts.glossary(study, name, lang) for lang in texts.LANGUAGES)
    if name != "kategorier":
        assert list(sv) == list(en)
    for words in (sv, en):
        for key, text in words.items():
            for part in ([text] if isinstance(text, str) else text):
                fields = texts.phrase_fields(part)
                if name == "kategorier" or key not in sv:
                    continue
                other = en[key] if words is sv else sv[key]
                assert fields == set().union(*(texts.phrase_fields(o) for o in
                                               ([other] if isinstance(other, str) else other)))
                given = {f: f"«{f}»" for f in fields}
                assert all(g in texts.fill(part, **given) for g in given.values())
                for f in fields:
                    with pytest.raises(jinja2.UndefinedError):
                        texts.fill(part, **{k: v for k, v in given.items() if k != f})


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_notes_say_what_the_data_did_not_allow_and_protect_their_counts(language):
    """Every note kind the analyses write prints a line (issue 28: an empty factor level is
    left out as R does, and the appendix says so); a count of persons below min_cell prints as
    its mark, never itself."""
    from rehabkoord.disclosure import Rules

    rules = Rules(5)
    spell = [{"kind": "aliased", "estimate": "hr_adjusted", "variable": "prior", "level": "both",
              "n": 3},
             {"kind": "rows_left_out", "estimate": "hr_iptw", "n": 12},
             {"kind": "subgroup_level", "variable": "care", "level": "high", "note": "no_events",
              "reason": "english words from the analysis"},
             {"kind": "interaction_not_tested", "variable": "care"},
             {"kind": "centre_without_return", "centre": "VC2", "group": "Kontroll", "n": 0},
             {"kind": "month_one_centre", "month": 7, "group": "Koordinator"},
             {"kind": "infinite", "estimate": "hr_adjusted", "variable": "prior",
              "level": "both", "n": 4},
             {"kind": "infinite", "estimate": "hr_unadjusted", "variable": "coordinator",
              "level": "", "n": 40}]
    out = texts.notes_text("stockholm", spell, language, rules)
    lines = out.splitlines()
    assert len([x for x in lines if x.startswith("- ")]) == len(spell)
    assert "<5" in lines[2] and " 3 " not in lines[2] and "12" in lines[3]
    assert "english words" not in out and "{{" not in out
    assert ("justerade hazardkvoten" if language == "sv" else "adjusted hazard ratio") in out
    assert "<5" in lines[8] and "infinite" in lines[8] and "prior = both" in lines[8]
    assert "40" not in lines[9] and lines[9].startswith(("- Den ojusterade", "- The unadjusted"))
    risk = [{"kind": "aliased", "column": "diagnosis_group[both]"},
            {"kind": "bootstrap_failed", "n": 2, "n_boot": 200, "reasons": {"separation": 2}},
            {"kind": "subgroup_level", "level": "hög", "note": "one_cluster", "reason": "x"},
            {"kind": "interaction_not_tested"}]
    out = texts.notes_text("risk", risk, language, rules)
    assert "diagnosis_group[both]" in out and "2 " in out and "200" in out
    assert texts.notes_text("risk", [], language, rules) == ""


def test_every_note_kind_the_spell_analysis_writes_has_its_words():
    """The kinds listed in the analysis module's note documentation each have a phrase."""
    import re

    from rehabkoord.studies.stockholm import analysis

    documented = set(re.findall(r"^# - `(\w+)`", Path(analysis.__file__).read_text("utf-8"),
                                re.MULTILINE))
    assert {"aliased", "infinite", "month_one_centre"} <= documented
    for language in texts.LANGUAGES:
        assert documented <= set(texts.glossary("stockholm", "anmarkningar", language))


@pytest.mark.parametrize("study", ["stockholm", "risk"])
def test_appendix_words_number_every_caption_in_both_languages(study):
    captions = {"flow": ("table", 1)}
    headings, numbered = texts.appendix_words(study, captions)
    assert set(headings) == set(texts.LANGUAGES)
    kind, n, sv, en = numbered["flow"]
    assert (kind, n) == ("table", 1) and sv and en and sv != en


def _key_tree(words: dict) -> list:
    """A glossary's keys in file order, a section's (a mapping) with its own keys."""
    return [(k, _key_tree(v)) if isinstance(v, dict) else k for k, v in words.items()]


@pytest.mark.parametrize(("study", "name"), GLOSSARIES)
def test_every_glossary_section_has_the_same_keys_in_both_languages(study, name):
    """A section of a glossary (the risk study's exclusion words, the notes' reasons) lists
    the same keys in the same order in both languages: a Swedish key without its English
    twin fails here, not as a KeyError in an English appendix."""
    if name == "kategorier":
        return
    sv, en = (texts.glossary(study, name, lang) for lang in texts.LANGUAGES)
    assert _key_tree(sv) == _key_tree(en)


#: Study -> how many lookups its modules make at least (the scan still finds them).
REPORT_STUDIES = {"uppsala": 10, "stockholm": 10, "risk": 10, "caseload": 4}


def _glossary_lookups(study: str) -> set[tuple[str, str]]:
    """(glossary, key) of every literal key a study's modules (its report, figures, …) look
    up: `label("key", …)` in `etiketter`, `words("name", …)["key"]` and
    `texts.glossary(STUDY, "name", …)["key"]`, directly or through a local name bound to such
    a glossary."""
    import ast

    from rehabkoord.params import project_root

    base = project_root() / "src" / "rehabkoord" / "studies"
    paths = sorted((base / study).glob("*.py")) or [base / f"{study}.py"]
    found: set[tuple[str, str]] = set()
    for path in paths:
        found |= _module_lookups(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _module_lookups(tree) -> set[tuple[str, str]]:
    """`_glossary_lookups` of one module's syntax tree."""
    import ast

    def glossary_of(node) -> str | None:
        if not isinstance(node, ast.Call):
            return None
        func = node.func
        name = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else None)
        args = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if name == "words" and args:
            return args[0]
        if name == "glossary" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
            return node.args[1].value
        return None

    found: set[tuple[str, str]] = set()
    for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        bound = {t.id: glossary_of(n.value) for n in ast.walk(function)
                 if isinstance(n, ast.Assign) and glossary_of(n.value)
                 for t in n.targets if isinstance(t, ast.Name)}
        for node in ast.walk(function):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "label" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                found.add(("etiketter", node.args[0].value))
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                name = (bound.get(node.value.id) if isinstance(node.value, ast.Name)
                        else glossary_of(node.value))
                if name:
                    found.add((name, node.slice.value))
    return found


@pytest.mark.parametrize("study", REPORT_STUDIES)
def test_every_word_a_report_module_looks_up_is_in_its_glossaries_in_both_languages(study):
    """The appendix's words are in the glossaries, not in Python: every key a study module
    (report, figures) asks for is there in Swedish and English (a label missing from
    `etiketter` would print its key, silently)."""
    lookups = _glossary_lookups(study)
    assert len(lookups) >= REPORT_STUDIES[study]  # the scan still finds the modules' lookups
    missing = [(name, key, lang) for name, key in sorted(lookups) for lang in texts.LANGUAGES
               if key not in texts.glossary(study, name, lang)]
    assert not missing


SHARED = texts.shared_names()["sv"]


def test_the_shared_glossaries_exist_in_both_languages():
    assert set(SHARED) >= {"upplysningar", "tecken", "varden", "sidor", "tabell1"}
    assert texts.shared_names()["en"] == SHARED


@pytest.mark.parametrize("name", SHARED)
def test_every_shared_glossary_has_the_same_keys_and_fields_in_both_languages(name):
    """The words every study prints (`src/rehabkoord/text`): what Swedish has, English has, in
    the same order and with the same fields; each text renders with its fields and fails
    without one."""
    sv, en = (texts.shared(name, lang) for lang in texts.LANGUAGES)
    assert _key_tree(sv) == _key_tree(en)

    def leaves(words: dict, path: tuple = ()):
        for key, value in words.items():
            if isinstance(value, dict):
                yield from leaves(value, (*path, key))
            else:
                yield (*path, key), value

    english = dict(leaves(en))
    for key, text in leaves(sv):
        assert isinstance(text, str) and isinstance(english[key], str), (name, key)
        fields = texts.phrase_fields(text)
        assert fields == texts.phrase_fields(english[key]), (name, key)
        for part in (text, english[key]):
            given = {f: f"«{f}»" for f in fields}
            assert all(g in texts.fill(part, **given) for g in given.values())
            for f in fields:
                with pytest.raises(jinja2.UndefinedError):
                    texts.fill(part, **{k: v for k, v in given.items() if k != f})


def _shared_name(node) -> str | None:
    """The glossary a `shared("name", …)` call reads, else None."""
    import ast

    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        return node.args[0].value if name == "shared" else None
    return None


def _shared_keys(node, bound: dict[str, str], literals: dict[str, set[str]]
                 ) -> list[tuple[str, str]]:
    """(glossary, key) a subscript of a shared glossary looks up: a literal key, or each
    literal a local key name is bound to."""
    import ast

    if not isinstance(node, ast.Subscript):
        return []
    name = (bound.get(node.value.id) if isinstance(node.value, ast.Name)
            else _shared_name(node.value))
    if not name:
        return []
    if isinstance(node.slice, ast.Constant):
        return [(name, node.slice.value)]
    if isinstance(node.slice, ast.Name):
        return [(name, k) for k in sorted(literals.get(node.slice.id, ()))]
    return []


def _shared_uses() -> tuple[set[tuple[str, str]], list[tuple[str, str, str, set[str]]]]:
    """What the shared modules (not the studies) ask of the shared glossaries: every
    (glossary, key) they look up (`_shared_keys`, on `texts.shared("name", …)` directly or a
    local name bound to it), and every `fill` of such a text as (module, glossary, key, the
    fields the call gives)."""
    import ast

    from rehabkoord.params import project_root

    lookups: set[tuple[str, str]] = set()
    fills: list[tuple[str, str, str, set[str]]] = []
    for path in sorted((project_root() / "src" / "rehabkoord").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            assigns = [n for n in ast.walk(function) if isinstance(n, ast.Assign)]
            bound = {t.id: _shared_name(n.value) for n in assigns if _shared_name(n.value)
                     for t in n.targets if isinstance(t, ast.Name)}
            literals: dict[str, set[str]] = {}
            for n in assigns:
                values = ([n.value.body, n.value.orelse] if isinstance(n.value, ast.IfExp)
                          else [n.value])
                for t in n.targets:
                    if isinstance(t, ast.Name):
                        literals.setdefault(t.id, set()).update(
                            v.value for v in values if isinstance(v, ast.Constant))
            for node in ast.walk(function):
                lookups.update(_shared_keys(node, bound, literals))
                if (isinstance(node, ast.Call) and node.args
                        and (getattr(node.func, "id", None) == "fill"
                             or getattr(node.func, "attr", None) == "fill")):
                    given = {k.arg for k in node.keywords}
                    fills.extend((path.name, g, k, given)
                                 for g, k in _shared_keys(node.args[0], bound, literals))
    return lookups, fills


def test_every_shared_word_a_module_asks_for_is_there_and_its_fields_are_filled():
    """A shared module asks only for keys the shared glossaries have (in both languages), and
    every field a text it fills names is one the call gives: an author who adds a field to a
    text finds out here, not from a failed report."""
    lookups, fills = _shared_uses()
    assert {name for name, _ in lookups} >= {"upplysningar", "tecken", "varden", "sidor",
                                              "tabell1"}
    assert len(fills) >= 11  # the scan still finds the callers
    missing = [(name, key, lang) for name, key in sorted(lookups) for lang in texts.LANGUAGES
               if key not in texts.shared(name, lang)]
    assert not missing
    unfilled = [(module, name, key, lang, sorted(fields - given))
                for module, name, key, given in fills for lang in texts.LANGUAGES
                if (fields := texts.phrase_fields(texts.shared(name, lang)[key])) - given]
    assert not unfilled


def test_every_symbol_has_its_meaning_in_the_legend_words():
    from rehabkoord import fmt

    for lang in texts.LANGUAGES:
        words = texts.shared("tecken", lang)
        assert all(key in words for key in fmt.SYMBOLS.values())


def test_shared_words_refuse_an_unknown_language():
    with pytest.raises(ValueError):
        texts.shared("sidor", "de")
