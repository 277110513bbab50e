"""The appendix's words and tables, generated from the numbers so they can never disagree.

Swedish by default (`language: sv`), English with `language: en`. The prose is in templates
beside the notebooks (`notebooks/uppsala/text/<language>/*.md.j2`, `rehabkoord.texts`): this
module decides and formats the numbers they receive and builds the tables. Every cell
arrives already decided by `rehabkoord.disclosure` (value, or withheld with its mark and
reason); this module only formats. Person-level rows never reach its output.
"""

from __future__ import annotations

import pandas as pd

from ... import disclosure, provenance, texts
from ...contract import GROUP_CONTROL, GROUP_INTERVENTION
from ...fmt import NOT_APPLICABLE, interval, number, pvalue
from ...params import project_root
from ...registeryears import WINDOW_RULES
from ...tables import software_versions
from .cohort import EXCLUSION_REASONS, REASON_EMPLOYMENT_MISSING

STUDY = "uppsala"


def label(key: str, language: str) -> str:
    """A variable's, level's or heading's words (`text/<language>/etiketter.yaml`); a key
    without words is shown as it is."""
    return texts.glossary(STUDY, "etiketter", language).get(str(key), str(key))


def words(name: str, language: str) -> dict:
    """The glossary `text/<language>/<name>.yaml` (`bilaga`: the title block, references to
    tables and figures, short phrases): the words are edited there, not here."""
    return texts.glossary(STUDY, name, language)


def _notes(prefix: str, language: str) -> dict[str, str]:
    """Footnotes and statistics' names of `text/<language>/noter.yaml` under `prefix`."""
    return {k[len(prefix):]: v for k, v in texts.glossary(STUDY, "noter", language).items()
            if k.startswith(prefix)}


def effect_heading(conf_level: float, language: str) -> str:
    """'Skillnad (90 % KI)': the effect column's header at the analysis' confidence level."""
    return f"{label('effect', language)} ({texts.conf_label(conf_level, language)})"


def _group_cells(row: dict, prefix: str, language: str) -> str:
    """'46 (74,2)' for a level of Table 1 (the count's mark when withheld)."""
    count, pct = row[f"events_{prefix}"], row[f"pct_{prefix}"]
    if count.withheld or pct.withheld:
        return count.text
    return f"{count.text} ({number(pct.value, 1, language)})"


def _effect(row: dict, language: str) -> str:
    cell = row["effect"]
    if cell.withheld:
        return cell.mark
    if cell.value is None:
        return NOT_APPLICABLE
    unit = label("pp" if row["kind"] == "binary" else "days", language)
    v = cell.value
    return (f"{number(v['estimate'], 1, language)} {unit} "
            f"({interval(v['low'], v['high'], 1, language)})")


#: Footnote marks of the tests behind p-values, in order of first use.
SUPERSCRIPTS = "¹²³⁴⁵⁶⁷⁸⁹"


class _Notes:
    """Footnote marks numbered in order of first use within one table."""

    def __init__(self, language: str):
        self.language = language
        self.keys: list[str] = []

    def mark(self, test: str | None, two_by_two: bool, yates: bool) -> str:
        if not test or test == "none":
            return ""
        key = "chisq_yates" if test == "chisq" and two_by_two and yates else test
        if key not in self.keys:
            self.keys.append(key)
        return SUPERSCRIPTS[self.keys.index(key)]

    def lines(self) -> list[str]:
        notes = _notes("test_", self.language)  # "chisq_yates": a 2×2 table with Yates
        return [f"{SUPERSCRIPTS[i]} {notes.get(k, label(k, self.language))}"
                for i, k in enumerate(self.keys)]


def group_heading(pub: disclosure.Publication, group: str, language: str) -> str:
    """'Intervention (N = 62)': N is the published randomised count (its mark if withheld);
    the bare group name when the publication has no flow."""
    for by_group in pub.flow.values():
        if group in by_group:
            return texts.keep_together(
                f"{label(group, language)} (N = {by_group[group]['randomised'].text})")
    return label(group, language)


def _summary_rows(row: dict, prefix: str, language: str) -> list[tuple[str, str]]:
    """'Median [IQR]' and 'Medel (SD)' sub-rows of a days summary, each its mark when
    withheld (quantiles and means are decided apart)."""
    stats = _notes("stat_", language)
    q, m = row[f"quantiles_{prefix}"], row[f"mean_{prefix}"]
    median = q.mark if q.withheld else (
        f"{number(q.value['median'], 1, language)} "
        f"[{number(q.value['q1'], 1, language)}–{number(q.value['q3'], 1, language)}]")
    mean = m.mark if m.withheld else (
        f"{number(m.value['mean'], 1, language)} ({number(m.value['sd'], 1, language)})")
    return [(stats["median_iqr"], median), (stats["mean_sd"], mean)]


def _p(cell: disclosure.SafeCell, language: str) -> str:
    """A p-value as printed: three decimals, or its mark when withheld."""
    return cell.mark if cell.withheld else pvalue(cell.value, language)


def _events_of_n(row: dict, prefix: str, language: str) -> str:
    """'9 / 21 (42,9)': events, analysed n and share, each its mark when withheld."""
    count, n, pct = row[f"events_{prefix}"], row[f"n_{prefix}"], row[f"pct_{prefix}"]
    share = "" if pct.withheld else f" ({number(pct.value, 1, language)})"
    return f"{count.text} / {n.text}{share}"


def _table(rows: list[dict], levels: list[int], numeric: list[str], notes: list[str]
           ) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.attrs.update(levels=levels, numeric=numeric, notes=notes)
    return frame


def outcome_display(pub: disclosure.Publication, window: int, *, language: str,
                    conf_level: float, yates: bool = True) -> pd.DataFrame:
    """The published outcome table for one window (all, women, men), laid out as gtsummary:
    one label row per group × outcome (binary outcomes: n / N (%) on it), then indented n,
    median [IQR] and mean (SD) rows for day counts. p carries a numbered mark for its test;
    `attrs` holds the indentation per row, the numeric columns and the footnotes;
    `conf_level` (0–1) is the analysis' level, named in the effect column's header."""
    notes = _Notes(language)
    stats = _notes("stat_", language)
    c_stratum, c_outcome = label("stratum", language), label("outcome", language)
    c_int = group_heading(pub, GROUP_INTERVENTION, language)
    c_ctl = group_heading(pub, GROUP_CONTROL, language)
    c_p, c_holm = label("p", language), label("p_holm", language)
    c_eff = effect_heading(conf_level, language)
    rows: list[dict] = []
    levels: list[int] = []
    for r in pub.outcomes:
        if r["window"] != window:
            continue
        mark = "" if r["pvalue"].withheld else notes.mark(r["test"], True, yates)
        head = {c_stratum: label(r["stratum"], language), c_outcome: label(r["outcome"], language),
                c_int: "", c_ctl: "", c_p: _p(r["pvalue"], language) + mark,
                c_holm: _p(r["pvalue_holm"], language), c_eff: _effect(r, language)}
        if r["kind"] == "binary":
            head[c_outcome] += f", {stats['n_of_n']}"
            head[c_int] = _events_of_n(r, "int", language)
            head[c_ctl] = _events_of_n(r, "ctl", language)
            rows.append(head)
            levels.append(0)
            continue
        rows.append(head)
        levels.append(0)
        blank = {c_stratum: "", c_p: "", c_holm: "", c_eff: ""}
        rows.append({**blank, c_outcome: stats["n"], c_int: r["n_int"].text,
                     c_ctl: r["n_ctl"].text})
        levels.append(1)
        for (name, v_int), (_, v_ctl) in zip(_summary_rows(r, "int", language),
                                             _summary_rows(r, "ctl", language), strict=True):
            rows.append({**blank, c_outcome: name, c_int: v_int, c_ctl: v_ctl})
            levels.append(1)
    lines = notes.lines()
    if any(r["window"] == window and (r["pvalue_holm"].withheld
                                      or r["pvalue_holm"].value is not None)
           for r in pub.outcomes):
        lines.append(texts.glossary(STUDY, "noter", language)["holm"])
    return _table(rows, levels, [c_int, c_ctl, c_p, c_holm, c_eff], lines)


def baseline_display(pub: disclosure.Publication, *, language: str,
                     yates: bool = True) -> pd.DataFrame:
    """Published Table 1 laid out as gtsummary: a label row per variable (with p and its
    test's numbered mark), one indented row per level of a categorical variable, indented
    median [IQR] and mean (SD) rows for continuous ones; binary variables on one row."""
    notes = _Notes(language)
    c_var = label("variable", language)
    c_int = group_heading(pub, GROUP_INTERVENTION, language)
    c_ctl = group_heading(pub, GROUP_CONTROL, language)
    c_p = label("p", language)
    n_levels: dict[str, int] = {}
    for r in pub.baseline:
        n_levels[r["variable"]] = n_levels.get(r["variable"], 0) + 1
    rows: list[dict] = []
    levels: list[int] = []
    seen: set[str] = set()
    for r in pub.baseline:
        var = r["variable"]
        first = var not in seen
        seen.add(var)
        two_by_two = r["kind"] == "binary" or n_levels[var] == 2
        p = (_p(r["pvalue"], language) + ("" if r["pvalue"].withheld else
                                           notes.mark(r.get("test"), two_by_two, yates))
             if first else "")
        name = label(var, language)
        if r["kind"] == "days":
            rows.append({c_var: name, c_int: "", c_ctl: "", c_p: p})
            levels.append(0)
            for (stat, v_int), (_, v_ctl) in zip(_summary_rows(r, "int", language),
                                                 _summary_rows(r, "ctl", language), strict=True):
                rows.append({c_var: stat, c_int: v_int, c_ctl: v_ctl, c_p: ""})
                levels.append(1)
        elif r["kind"] == "binary":
            rows.append({c_var: f"{name}, n (%)", c_int: _group_cells(r, "int", language),
                         c_ctl: _group_cells(r, "ctl", language), c_p: p})
            levels.append(0)
        else:
            if first:
                rows.append({c_var: f"{name}, n (%)", c_int: "", c_ctl: "", c_p: p})
                levels.append(0)
            rows.append({c_var: label(r["level"], language),
                         c_int: _group_cells(r, "int", language),
                         c_ctl: _group_cells(r, "ctl", language), c_p: ""})
            levels.append(1)
    return _table(rows, levels, [c_int, c_ctl, c_p], notes.lines())


def flow_display(pub: disclosure.Publication, *, language: str) -> pd.DataFrame:
    """CONSORT counts as a publishable table."""
    rows = []
    for window, groups in sorted(pub.flow.items()):  # 6 months before 12
        for group, g in groups.items():
            row = {label("window_short", language): window,
                   label("stratum", language): label(group, language),
                   label("randomised", language): g["randomised"].text}
            for reason in EXCLUSION_REASONS:
                row[label(reason, language)] = g["excluded"][reason].text
            row[label("analysed", language)] = g["analysed"].text
            row[label(REASON_EMPLOYMENT_MISSING, language)] = g[REASON_EMPLOYMENT_MISSING].text
            rows.append(row)
    return pd.DataFrame(rows)


#: The template field that counts each reason a cell is withheld for (`undertryckta`).
REASON_FIELDS = {disclosure.SMALL: "small", disclosure.COMPLEMENT: "complement",
                 disclosure.REVEALS: "reveals", disclosure.SMALL_GROUP: "small_group",
                 disclosure.FEW_FOR_QUANTILES: "few_for_quantiles",
                 disclosure.DOMINATED: "dominated"}
#: Where a withheld cell is shown: the CONSORT figures, a numbered table, a figure (its file
#: stem) or the power section; `place_row` sorts every cell kind into one.
CONSORT, POWER = ("figure", "consort"), ("section", "power")


def place_row(key: tuple, kinds: dict) -> tuple[tuple[str, str], object, object]:
    """(place, row, level) of a withheld cell's key: the table, figure or section it is shown
    in, and its row there (None for a place without rows) with the row's level (None for a
    one-line row). `kinds` maps Table 2's (variable, level) to its kind (a binary variable is
    one line). An unknown kind of cell is an error, never left out of the appendix."""
    kind, *rest = key
    if kind == "randomised_total":
        return CONSORT, None, None
    if kind == "power n":
        return POWER, None, None
    if kind == "randomised":
        return ("table", "flow"), "randomised", rest[0]
    if kind == "flow":
        return ("table", "flow"), ("window", rest[0]), rest[1]
    if kind == "t1":  # a variable's p is on its label row, a level's cells on the level's
        var, level, column = rest
        one_line = (kinds.get((var, level)) in ("binary", "days") or level in ("", None)
                    or column == "pvalue")
        return ("table", "table1"), var, None if one_line else level
    if kind == "t1 n":
        return ("table", "table1"), rest[0], None
    if kind in ("n", "events", "outcome", "any days"):
        w, stratum, outcome = rest[:3]
        shown = outcome if stratum == "alla" else (outcome, stratum)  # a figure's row
        if kind == "any days":
            return ("figure", "andel_med_dagar"), ("window", w), shown
        if kind == "outcome" and str(rest[3]).startswith("deciles"):
            return ("figure", "dagar_bland_dem_med_dagar"), ("window", w), shown
        return ("table", f"outcomes_{w}"), stratum, outcome
    raise ValueError(f"withheld cell {key!r}: no place in the Uppsala appendix for its kind")


def _row_text(row: object, language: str) -> str:
    """A row's or level's words: a window as its column in the flow table ('Fönster
    (månader) 6'), a figure's (outcome, stratum) as 'Nettodagar med sjukpenning (män)'."""
    if isinstance(row, tuple) and row[0] == "window":
        return f"{label('window_short', language)} {row[1]}"
    if isinstance(row, tuple):
        return f"{label(row[0], language)} ({label(row[1], language).lower()})"
    return label(row, language)


def _table_order(pub: disclosure.Publication) -> dict:
    """Each row's and level's position as the tables print them (windows by length, groups,
    strata and outcomes as in the outcome tables, Table 2's variables and levels)."""
    seen = [*(("window", w) for w in sorted(pub.flow)), "randomised",
            GROUP_INTERVENTION, GROUP_CONTROL]
    for r in pub.outcomes:
        seen += [r["stratum"], r["outcome"], (r["outcome"], r["stratum"])]
    for r in pub.baseline:
        seen += [r["variable"], r["level"]]
    return {x: i for i, x in reversed(list(enumerate(seen)))}


def _in_order(items, position: dict) -> list:
    """`items` in the order the tables print them (`_table_order`); any other last."""
    return sorted(items, key=lambda x: position.get(x, len(position)))


def _rounded_sentence(r: dict, window: str, language: str) -> str:
    """A binary outcome's difference computed from the rounded counts (`report.protection:
    round`): shares and interval, no p-value and no claim of significance."""
    v = r["effect"].value
    diff, ci = number(abs(v["estimate"]), 1, language), interval(v["low"], v["high"], 1, language)
    shares = [number(r[f"pct_{g}"].value, 1, language) for g in ("int", "ctl")]
    return texts.render(STUDY, "resultat_avrundat", language, window=window, diff=diff,
                        higher=v["estimate"] > 0, pct_int=shares[0], pct_ctl=shares[1], ci=ci)


def result_sentences(pub: disclosure.Publication, *, alpha: float, language: str) -> list[str]:
    """One sentence per whole-cohort outcome and window, phrased like the study's report
    (templates `resultat_andel`, `resultat_dagar`, `resultat_undertryckt`)."""
    out = []
    alla = [r for r in pub.outcomes if r["stratum"] == "alla" and r["test"] != "none"]
    for r in alla:
        window = label("window", language).format(m=r["window"]).lower()
        outcome = label(r["outcome"], language).lower()
        p = _p(r["pvalue"], language)
        p_text = f"p {p}" if p.startswith("<") else f"p = {p}"
        cells = [r["effect"], r["pvalue"]] + [r[f"{stat}_{g}"] for g in ("int", "ctl") for stat in
                                              (("pct",) if r["kind"] == "binary"
                                               else ("quantiles", "mean"))]
        if r["effect"].reason == disclosure.ROUNDED and not any(
                c.withheld for c in cells if c is not r["pvalue"]):
            out.append(_rounded_sentence(r, window, language))
            continue
        if any(c.withheld for c in cells) or r["effect"].value is None:
            out.append(texts.render(STUDY, "resultat_undertryckt", language, window=window,
                                    outcome=outcome,
                                    p_text="" if r["pvalue"].withheld else p_text))
            continue
        significant = r["pvalue"].value < alpha
        estimate = r["effect"].value["estimate"]
        if r["kind"] == "binary":
            out.append(texts.render(
                STUDY, "resultat_andel", language, window=window,
                diff=number(abs(estimate), 1, language), higher=estimate > 0,
                pct_int=number(r["pct_int"].value, 1, language),
                pct_ctl=number(r["pct_ctl"].value, 1, language), p_text=p_text,
                significant=significant))
            continue
        v_int = {**r["quantiles_int"].value, **r["mean_int"].value}
        v_ctl = {**r["quantiles_ctl"].value, **r["mean_ctl"].value}
        out.append(texts.render(
            STUDY, "resultat_dagar", language, window=window, outcome=outcome,
            median_int=number(v_int["median"], 1, language),
            median_ctl=number(v_ctl["median"], 1, language),
            mean_int=number(v_int["mean"], 1, language),
            mean_ctl=number(v_ctl["mean"], 1, language), p_text=p_text,
            significant=significant))
    return out


def methods_text(params: dict, language: str) -> str:
    """Methods paragraph from the parameters actually used (template `metod`)."""
    a, c = params["analysis"], params["cohort"]
    if c["window_rule"] not in WINDOW_RULES:
        raise ValueError(f"cohort.window_rule must be one of {list(WINDOW_RULES)}, "
                         f"not {c['window_rule']!r}")
    zero_figures = ReportText(params, language)._ref(
        "figure", ["andel_med_dagar", "dagar_bland_dem_med_dagar"])
    return texts.render(
        STUDY, "metod", language,
        windows=", ".join(str(m) for m in c["offsets_months"]), window_rule=c["window_rule"],
        yates=bool(a["chisq_correct"]),
        fisher_below=number(a["fisher_expected_below"], 0, language),
        zero_figures=zero_figures, alpha=number(a["alpha"], 2, language),
        conf=texts.conf_percent(a["conf_level"], language),
        min_cell=params["report"]["min_cell"], versions=software_versions())


def code_version(language: str = "sv") -> str:
    """The git commit of the report's sources (provenance), with a note when they differ from
    it ('+ändringar' / '+changes')."""
    stamp = _appendix_stamp()
    commit = stamp.git_commit[:12]
    if not stamp.git_dirty:
        return commit
    return texts.fill(words("bilaga", language)["changed"], commit=commit)


#: Figures in the appendix after the CONSORT diagrams (one per window), in order.
REPORT_FIGURES = ["andel_sysselsatta", "andel_sysselsatta_kon", "forest_riskskillnad",
                  "dagar_sjukpenning", "andel_med_dagar", "dagar_bland_dem_med_dagar"]

class ReportText:
    """The appendix's fixed texts in the report language, filled from the parameters."""

    def __init__(self, params: dict, language: str):
        self.params = params
        self.language = texts.check_language(language)

    def heading(self, key: str) -> str:
        return f"## {texts.glossary(STUDY, 'rubriker', self.language)[key]}"

    @property
    def tables(self) -> list[str]:
        """Numbered tables in order of appearance."""
        return ["flow", "table1", *(f"outcomes_{m}" for m in self.params["cohort"]["offsets_months"]),
                "parameters"]

    @property
    def figures(self) -> list[str]:
        """Numbered figures in order of appearance: CONSORT per window, then REPORT_FIGURES."""
        return [*(f"consort_{m}m" for m in self.params["cohort"]["offsets_months"]),
                *REPORT_FIGURES]

    def _ref(self, kind: str, keys: list[str]) -> str:
        numbers = sorted((self.tables if kind == "table" else self.figures).index(k) + 1
                         for k in keys)
        word = words("bilaga", self.language)[kind]
        span = str(numbers[0]) if len(numbers) == 1 else (
            f"{numbers[0]}–{numbers[-1]}" if numbers == list(range(numbers[0], numbers[-1] + 1))
            else ", ".join(map(str, numbers)))
        return f"{word} {span}"

    def table_caption(self, key: str, months: int | None = None) -> str:
        """'Tabell N. …' for `key` (flow, table1, outcomes with `months`)."""
        name = key if months is None else f"{key}_{months}"
        text = texts.fill(texts.glossary(STUDY, "bildtexter", self.language)[f"table_{key}"],
                          m=months)
        return f"{self._ref('table', [name])}. {text}"

    def figure_caption(self, name: str) -> str:
        """'Figur N. …' for a figure file stem."""
        key, months = ("consort", name[len("consort_"):-1]) if name.startswith("consort_") \
            else (name, None)
        q = disclosure.Rules.from_params(self.params["report"]).min_quantile_n
        conf = self.params["analysis"]["conf_level"]
        caption = texts.fill(texts.glossary(STUDY, "bildtexter", self.language)[key],
                             m=months, q=q, conf=texts.conf_percent(conf, self.language),
                             ci=texts.conf_label(conf, self.language))
        return f"{self._ref('figure', [name])}. {caption}"

    def reference(self, section: str) -> str:
        """The sentence that points the reader to a section's numbered tables and figures."""
        windows = self.params["cohort"]["offsets_months"]
        consort = [f"consort_{m}m" for m in windows]
        outcomes = [f"outcomes_{m}" for m in windows]
        refs = {"flow": {"figures": self._ref("figure", consort),
                         "table": self._ref("table", ["flow"])},
                "table1": {"table": self._ref("table", ["table1"])},
                "results": {"tables": self._ref("table", outcomes),
                            "figures": self._ref("figure", REPORT_FIGURES)}}
        if section not in refs:
            raise KeyError(f"no reference sentence for section {section!r}")
        return texts.fill(words("bilaga", self.language)[f"ref_{section}"], **refs[section])


    def title_block(self, commit: str) -> str:
        s = self.params["study"]
        title_words = words("bilaga", self.language)
        rows = [
            (title_words["study"], s["name"]),
            (title_words["owner"], s["owner"]),
            (title_words["partners"], ", ".join(s["partners"])),
            (title_words["period"], s["period"]),
            (title_words["sources"], ", ".join(s["sources"])),
            (title_words["date"], _today()),
            (title_words["code_version"], commit),
        ]
        table = "\n".join(f"| {k} | {v} |" for k, v in rows)
        title = texts.fill(title_words["title"], note=self.params["report"].get("title_note", ""))
        return f"# {title}\n\n| | |\n|---|---|\n{table}"

    def flow_intro(self, clean_flow: dict) -> str:
        """The deliveries' rows and years, the lowest linkage share and the unknown codes
        counted and ignored in cleaning (counts below min_cell shown as "<min_cell")."""
        lang, m = self.language, self.params["report"]["min_cell"]
        n = {k: number(v, 0, lang) for k, v in clean_flow.items()
             if k.endswith("_rows_read") or k.endswith("_not_in_study")}
        shares = [s for per in clean_flow.get("linkage", {}).values() for s in per.values()]
        unknown = [{"column": column,
                    "listed": ", ".join(f"{code} ({number(k, 0, lang) if k >= m else f'<{m}'})"
                                        for code, k in codes.items())}
                   for column, codes in sorted(clean_flow.get("unknown_codes_ignored", {}).items())]
        return texts.render(
            STUDY, "flode", lang, lisa_rows=n["lisa_rows_read"], bas_rows=n["bas_rows_read"],
            lisa_outside=n["lisa_rows_not_in_study"], bas_outside=n["bas_rows_not_in_study"],
            lisa_years=_years(clean_flow["lisa_years"]), bas_years=_years(clean_flow["bas_years"]),
            min_linkage=number(100 * min(shares), 0, lang) if shares else "",
            unknown_codes=unknown)

    def power_text(self, power: dict, achieved: disclosure.SafeCell, detectable_pp: float) -> str:
        """`power` is power.json (the design); `achieved` the published analysed n and
        `detectable_pp` the difference detectable with it, withheld with the n."""
        lang = self.language
        return texts.render(
            STUDY, "styrka", lang, power_pct=number(100 * power["power"], 0, lang),
            alpha=number(power["alpha"], 2, lang),
            p_control=number(100 * power["p_control"], 0, lang),
            p_intervention=number(100 * power["p_intervention"], 0, lang),
            n_ceiling=power["a_priori_n_per_group_ceiling"],
            n_exact=number(power["a_priori_n_per_group"], 2, lang), n_analysed=achieved.text,
            window_months=power["window_months"],
            detectable=(disclosure.SUPPRESSED if achieved.withheld
                        else number(detectable_pp, 1, lang)),
            n_per_group=power["n_per_group"],
            days=number(power["mean_sick_days_control"], 0, lang),
            ratio=number(power["effect_sick_days_ratio"], 2, lang),
            comp=number(100 * power["p_sickness_compensation"], 0, lang), n_sim=power["n_sim"],
            simulated=number(100 * power["simulated_power_sjukpenning"], 1, lang))

    def withheld_list(self, pub: disclosure.Publication) -> list[str]:
        """One sentence per table, figure or section with withheld cells (template
        `undertryckta`), in the appendix's order: where, how many cells, in which rows (never
        a value) and, when small counts are marked (`report.mark_small_counts`), how many for
        each reason; unmarked, the reasons would tell small counts from their complements.
        Every cell by key and reason stays in the internal decision record
        (data/processed/uppsala/disclosure.json, `Publication.record`)."""
        kinds = {(r["variable"], r["level"]): r["kind"] for r in pub.baseline}
        places: dict[tuple, tuple[dict, dict]] = {}
        for key, reason in pub.withheld_cells():
            if reason not in REASON_FIELDS:
                raise ValueError(f"withheld cell {key!r}: reason {reason!r} has no words in "
                                 "the appendix (report.REASON_FIELDS)")
            place, row, level = place_row(key, kinds)
            counts, rows = places.setdefault(place, (dict.fromkeys(REASON_FIELDS.values(), 0),
                                                     {}))
            counts[REASON_FIELDS[reason]] += 1
            if row is not None:
                levels = rows.setdefault(row, [])
                if level is not None and level not in levels:
                    levels.append(level)
        order = [CONSORT, *(("table", t) for t in self.tables),
                 *(("figure", f) for f in REPORT_FIGURES), POWER]
        unplaced = [place for place in places if place not in order]
        if unplaced:
            raise ValueError(f"withheld cells in {unplaced}, which the appendix does not show "
                             "(cohort.offsets_months differs from the analysed windows: re-run "
                             "the pipeline)")
        position = _table_order(pub)
        out = []
        for place in sorted(places, key=order.index):
            counts, rows = places[place]
            rows_text = "; ".join(
                _row_text(row, self.language) + (
                    ": " + ", ".join(_row_text(v, self.language)
                                     for v in _in_order(rows[row], position))
                    if rows[row] else "")
                for row in _in_order(rows, position))
            out.append(texts.render(STUDY, "undertryckta", self.language,
                                    place=self._place_name(place), n=sum(counts.values()),
                                    marked=pub.rules.mark_small, rows=rows_text, **counts))
        return out

    def _place_name(self, place: tuple[str, str]) -> str:
        """'Tabell 3', 'Figur 1–2' (the CONSORT diagrams) or the power section's heading."""
        kind, name = place
        if place == CONSORT:
            return self._ref("figure", [f for f in self.figures if f.startswith("consort_")])
        if kind == "section":
            return texts.glossary(STUDY, "rubriker", self.language)[name]
        return self._ref(kind, [name])

    def suppression_text(self, pub: disclosure.Publication) -> str:
        """The release rules applied, what the protection cost
        (`disclosure.Publication.cost_statement`), then one sentence per table with withheld
        cells (`withheld_list`)."""
        r = self.params["report"]
        rules = disclosure.Rules.from_params(r)
        m, zeros = r["min_cell"], r.get("zeros_disclosive", False)
        head = texts.render(STUDY, "rojande", self.language, min_cell=m, zeros=zeros,
                            low=0 if zeros else 1, high=m - 1,
                            rules=rules.describe(self.language),
                            suppressed=disclosure.SUPPRESSED)
        cost = pub.cost_statement(self.language)
        if rules.method == disclosure.ROUND:  # the rounding rule replaces the suppression rule
            head, cost = cost, rules.describe(self.language)
        withheld = self.withheld_list(pub)
        items = ("\n\n".join(withheld) if withheld
                 else words("bilaga", self.language)["none_withheld"])
        return f"{head} {cost}\n\n{items}" if cost else f"{head}\n\n{items}"

    def parameters_table(self) -> pd.DataFrame:
        """The study's parameters as a table in the report language: name, value, meaning
        (words from `text/<language>/parametrar.yaml`, in its order; a key without words
        there is listed last by its params.yaml name, never left out)."""
        words = texts.glossary(STUDY, "parametrar", self.language)
        values = {f"{section}.{key}": value for section in PARAMETER_SECTIONS
                  for key, value in (self.params.get(section) or {}).items()}
        keys = [k for k in words if k in values] + [k for k in values if k not in words]
        heads = [label("parameter", self.language), label("value", self.language),
                 label("meaning", self.language)]
        rows = []
        for k in keys:
            name, meaning = words.get(k, (k, ""))
            rows.append((name, texts.value_text(values[k], self.language), meaning))
        return pd.DataFrame(rows, columns=heads)


#: The params.yaml sections the appendix's parameter table lists.
PARAMETER_SECTIONS = ("data", "cohort", "analysis", "power", "report")


def _years(years: list[int]) -> str:
    return f"{min(years)}–{max(years)}" if years else "–"


def _today() -> str:
    """The run's date as stamped in provenance (SOURCE_DATE_EPOCH, else the commit's)."""
    return _appendix_stamp().run_time[:10]


def _appendix_stamp() -> provenance.Provenance:
    """The appendix's provenance, the same whether DVC or Jupyter runs the notebook."""
    return provenance.collect(output=project_root() / "reports" / "uppsala" / "bilaga.html")
