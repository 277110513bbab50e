"""The appendix's words and tables, generated from the numbers so they can never disagree.

Swedish by default (`language: sv`), English with `language: en`. Every cell arrives already
decided by `rehabkoord.disclosure` (value, or withheld with its mark and reason); this module
only formats. Person-level rows never reach its output.
"""

from __future__ import annotations

import pandas as pd
import yaml

from ... import disclosure, provenance
from ...contract import GROUP_CONTROL, GROUP_INTERVENTION
from ...fmt import interval, number, pvalue
from ...params import project_root
from ...tables import software_versions
from .cohort import EXCLUSION_REASONS, REASON_EMPLOYMENT_MISSING

LABELS = {
    "sv": {
        "sjukpenning_netdays": "Nettodagar med sjukpenning",
        "sjukersattning_netdays": "Nettodagar med sjuk- eller aktivitetsersättning",
        "employed_or_studying": "Huvudsakligen i arbete eller studier",
        "age_at_randomisation": "Ålder vid randomisering, år",
        "sex": "Kön", "Diagnosgrupp": "Diagnosgrupp", "Arbetsgivare": "Har arbetsgivare",
        "baseline_sjukpenning_netdays": "Nettodagar med sjukpenning året före randomisering",
        "baseline_employed_or_studying": "I arbete eller studier året före randomisering",
        "alla": "Alla", "kvinna": "Kvinnor", "man": "Män",
        GROUP_INTERVENTION: "Intervention", GROUP_CONTROL: "Kontroll",
        "variable": "Variabel", "test": "Test", "p": "p", "p_holm": "p (Holm)",
        "effect": "Skillnad (95 % KI)", "outcome": "Utfall", "stratum": "Grupp",
        "wilcoxon": "Wilcoxon rangsummetest", "fisher": "Fishers exakta test",
        "chisq": "Pearsons chi2-test", "none": "ej testat",
        "window": "Kalenderåret minst {m} månader efter randomisering",
        "randomised": "Randomiserade", "analysed": "Analyserade",
        "outcome_year_not_in_registers": "Utfallsåret finns ännu inte i registren",
        "absent_from_lisa_in_outcome_year": "Saknas i LISA utfallsåret (utvandrat/avlidit)",
        "employment_status_missing": "varav sysselsättningsstatus saknas",
        "True": "Ja", "False": "Nej", "Ja": "Ja", "Nej": "Nej",
        "median_iqr": "median [IQR]", "mean_sd": "medel (SD)", "n_pct": "n (%)",
        "pp": "procentenheter", "days": "dagar", "window_short": "Fönster (månader)",
    },
    "en": {
        "sjukpenning_netdays": "Net days of sickness benefit",
        "sjukersattning_netdays": "Net days of sickness or activity compensation",
        "employed_or_studying": "Mainly employed or studying",
        "age_at_randomisation": "Age at randomisation, years",
        "sex": "Sex", "Diagnosgrupp": "Diagnosis group", "Arbetsgivare": "Has an employer",
        "baseline_sjukpenning_netdays": "Net days of sickness benefit, year before randomisation",
        "baseline_employed_or_studying": "Employed or studying, year before randomisation",
        "alla": "All", "kvinna": "Women", "man": "Men",
        GROUP_INTERVENTION: "Intervention", GROUP_CONTROL: "Control",
        "variable": "Variable", "test": "Test", "p": "p", "p_holm": "p (Holm)",
        "effect": "Difference (95% CI)", "outcome": "Outcome", "stratum": "Group",
        "wilcoxon": "Wilcoxon rank-sum test", "fisher": "Fisher's exact test",
        "chisq": "Pearson's chi-square test", "none": "not tested",
        "window": "Calendar year at least {m} months after randomisation",
        "randomised": "Randomised", "analysed": "Analysed",
        "outcome_year_not_in_registers": "Outcome year not yet in the registers",
        "absent_from_lisa_in_outcome_year": "Absent from LISA in the outcome year (emigrated/died)",
        "employment_status_missing": "of whom employment status missing",
        "True": "Yes", "False": "No", "Ja": "Yes", "Nej": "No",
        "median_iqr": "median [IQR]", "mean_sd": "mean (SD)", "n_pct": "n (%)",
        "pp": "percentage points", "days": "days", "window_short": "Window (months)",
    },
}


def label(key: str, language: str) -> str:
    return LABELS[language].get(str(key), str(key))


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
        return "–"
    unit = label("pp" if row["kind"] == "binary" else "days", language)
    v = cell.value
    return (f"{number(v['estimate'], 1, language)} {unit} "
            f"({interval(v['low'], v['high'], 1, language)})")


#: The test behind a p-value, as a footnote ("chisq_yates": a 2×2 table with Yates' correction).
TEST_NOTES = {
    "sv": {"wilcoxon": "Wilcoxons rangsummetest", "chisq": "Pearsons chi2-test",
           "chisq_yates": "Pearsons chi2-test med Yates korrektion",
           "fisher": "Fishers exakta test"},
    "en": {"wilcoxon": "Wilcoxon rank-sum test", "chisq": "Pearson's chi-square test",
           "chisq_yates": "Pearson's chi-square test with Yates' continuity correction",
           "fisher": "Fisher's exact test"},
}
SUPERSCRIPTS = "¹²³⁴⁵⁶⁷⁸⁹"
HOLM_NOTE = {
    "sv": "p (Holm): p-värdet justerat för flera jämförelser med Holms metod, över utfall och "
          "fönster inom varje grupp (alla, kvinnor, män).",
    "en": "p (Holm): the p-value adjusted for multiple comparisons with Holm's method, across "
          "outcomes and windows within each group (all, women, men).",
}
STAT_LABELS = {"sv": {"n": "n", "median_iqr": "Median [IQR]", "mean_sd": "Medel (SD)",
                      "n_of_n": "n / N (%)"},
               "en": {"n": "n", "median_iqr": "Median [IQR]", "mean_sd": "Mean (SD)",
                      "n_of_n": "n / N (%)"}}


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
        notes = TEST_NOTES[self.language]
        return [f"{SUPERSCRIPTS[i]} {notes.get(k, label(k, self.language))}"
                for i, k in enumerate(self.keys)]


def group_heading(pub: disclosure.Publication, group: str, language: str) -> str:
    """'Intervention (N = 62)': N is the published randomised count (its mark if withheld);
    the bare group name when the publication has no flow."""
    for by_group in pub.flow.values():
        if group in by_group:
            return f"{label(group, language)} (N = {by_group[group]['randomised'].text})"
    return label(group, language)


def _summary_rows(row: dict, prefix: str, language: str) -> list[tuple[str, str]]:
    """'Median [IQR]' and 'Medel (SD)' sub-rows of a days summary, each its mark when
    withheld (quantiles and means are decided apart)."""
    stats = STAT_LABELS[language]
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
                    yates: bool = True) -> pd.DataFrame:
    """The published outcome table for one window (all, women, men), laid out as gtsummary:
    one label row per group × outcome (binary outcomes: n / N (%) on it), then indented n,
    median [IQR] and mean (SD) rows for day counts. p carries a numbered mark for its test;
    `attrs` holds the indentation per row, the numeric columns and the footnotes."""
    notes = _Notes(language)
    stats = STAT_LABELS[language]
    c_stratum, c_outcome = label("stratum", language), label("outcome", language)
    c_int = group_heading(pub, GROUP_INTERVENTION, language)
    c_ctl = group_heading(pub, GROUP_CONTROL, language)
    c_p, c_holm, c_eff = (label(k, language) for k in ("p", "p_holm", "effect"))
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
        lines.append(HOLM_NOTE[language])
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


def cell_name(key: tuple, language: str) -> str:
    """A withheld cell's name in the appendix (which table, row and column; never a value)."""
    kind, *rest = key
    def window(months: int) -> str:
        return label("window", language).format(m=months)

    t1 = "Tabell 2" if language == "sv" else "Table 2"
    if kind in ("n", "events"):
        w, stratum, outcome, group = rest
        what = "n" if kind == "n" else label("n_pct", language)
        return (f"{window(w)}, {label(stratum, language)}, {label(outcome, language)}, "
                f"{label(group, language)}: {what}")
    if kind == "any days":
        w, stratum, outcome, group = rest
        what = "minst en dag" if language == "sv" else "at least one day"
        return (f"{window(w)}, {label(stratum, language)}, {label(outcome, language)}, "
                f"{label(group, language)}: {what}")
    if kind == "outcome":
        w, stratum, outcome, column = rest
        return (f"{window(w)}, {label(stratum, language)}, {label(outcome, language)}: "
                f"{_column_name(column, language)}")
    if kind == "flow":
        w, group, step = rest
        return f"{window(w)}, {label(group, language)}: {label(step, language)}"
    if kind == "t1":
        if rest[-1] in (GROUP_INTERVENTION, GROUP_CONTROL):
            var, level, group = rest
            return (f"{t1}: {label(var, language)} {label(level, language)}, "
                    f"{label(group, language)}")
        var, level, column = rest
        return f"{t1}: {label(var, language)} {label(level, language)}".rstrip() + \
            f": {_column_name(column, language)}"
    if kind == "t1 n":
        var, group = rest
        return f"{t1}: {label(var, language)}, {label(group, language)}: N"
    if kind == "randomised":
        return f"{label('randomised', language)}, {label(rest[0], language)}"
    if kind == "randomised_total":
        return label("randomised", language)
    if kind == "power n":
        return HEADINGS[language]["power"]
    return " ".join(map(str, key))


def _column_name(column: str, language: str) -> str:
    """'pct_ctl' -> 'Kontroll, %'; 'effect', 'pvalue', 'pvalue_holm' -> their headings;
    'deciles_int' -> the figure's deciles among those with days."""
    if column in ("effect", "pvalue", "pvalue_holm"):
        return label({"pvalue": "p", "pvalue_holm": "p_holm"}.get(column, column), language)
    what, prefix = column.split("_")
    group = label(GROUP_INTERVENTION if prefix == "int" else GROUP_CONTROL, language)
    stat = {"pct": "%", "quantiles": label("median_iqr", language),
            "mean": label("mean_sd", language),
            "deciles": "deciler bland dem med minst en dag" if language == "sv"
            else "deciles among those with at least one day"}[what]
    return f"{group}, {stat}"


def suppression_list(pub: disclosure.Publication, *, language: str) -> list[str]:
    """Which published cells were withheld and why (names only, never the hidden numbers)."""
    reasons = {"sv": {disclosure.SMALL: "litet antal",
                      disclosure.COMPLEMENT: "sekundär undertryckning",
                      disclosure.REVEALS: "skulle avslöja ett undertryckt antal",
                      disclosure.SMALL_GROUP: "gruppen är mindre än gränsen",
                      disclosure.FEW_FOR_QUANTILES: "färre personer än gränsen för kvantiler",
                      disclosure.DOMINATED: "domineras av få personer"},
               "en": {disclosure.SMALL: "small count",
                      disclosure.COMPLEMENT: "complementary suppression",
                      disclosure.REVEALS: "would reveal a withheld count",
                      disclosure.SMALL_GROUP: "group smaller than the threshold",
                      disclosure.FEW_FOR_QUANTILES: "fewer persons than the quantile threshold",
                      disclosure.DOMINATED: "dominated by few persons"}}[language]
    return [f"{cell_name(key, language)} ({reasons[reason]})"
            for key, reason in pub.withheld_cells()]


def _rounded_sentence(r: dict, window: str, language: str) -> str:
    """A binary outcome's difference computed from the rounded counts (`report.protection:
    round`): shares and interval, no p-value and no claim of significance."""
    v = r["effect"].value
    diff, ci = number(abs(v["estimate"]), 1, language), interval(v["low"], v["high"], 1, language)
    shares = [number(r[f"pct_{g}"].value, 1, language) for g in ("int", "ctl")]
    if language == "sv":
        return (f"Under {window} var andelen som var huvudsakligen sysselsatta i arbete eller "
                f"studier {diff} procentenheter {'högre' if v['estimate'] > 0 else 'lägre'} i "
                f"interventionsgruppen än i kontrollgruppen ({shares[0]} mot {shares[1]} procent, "
                f"konfidensintervall {ci}), beräknat på de avrundade antalen; p-värdet redovisas "
                "inte.")
    return (f"In the {window}, the share mainly employed or studying was {diff} percentage points "
            f"{'higher' if v['estimate'] > 0 else 'lower'} in the intervention group than in "
            f"the control group ({shares[0]} vs {shares[1]} per cent, confidence interval {ci}), "
            "computed from the rounded counts; the p-value is not shown.")


def result_sentences(pub: disclosure.Publication, *, alpha: float, language: str) -> list[str]:
    """One sentence per whole-cohort outcome and window, phrased like the study's report."""
    out = []
    alla = [r for r in pub.outcomes if r["stratum"] == "alla" and r["test"] != "none"]
    for r in alla:
        window = label("window", language).format(m=r["window"]).lower()
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
            p_note = "" if r["pvalue"].withheld else f" ({p_text})"
            out.append(("Under " + window + f" redovisas inte skillnaden för "
                        f"{label(r['outcome'], language).lower()} av sekretesskäl{p_note}."
                        ) if language == "sv" else
                       (f"In the {window}, the difference in "
                        f"{label(r['outcome'], language).lower()} is suppressed{p_note}."))
            continue
        significant = r["pvalue"].value < alpha
        estimate = r["effect"].value["estimate"]
        diff = abs(estimate)
        if r["kind"] == "binary":
            pct_int, pct_ctl = r["pct_int"].value, r["pct_ctl"].value
            more = estimate > 0
            if language == "sv":
                text = (f"Under {window} var andelen som var huvudsakligen sysselsatta i arbete "
                        f"eller studier {number(diff, 1, language)} procentenheter "
                        f"{'högre' if more else 'lägre'} i interventionsgruppen än i "
                        f"kontrollgruppen ({number(pct_int, 1, language)} mot "
                        f"{number(pct_ctl, 1, language)} procent, {p_text}); skillnaden var "
                        f"{'' if significant else 'inte '}statistiskt signifikant.")
            else:
                text = (f"In the {window}, the share mainly employed or studying was "
                        f"{number(diff, 1, language)} percentage points "
                        f"{'higher' if more else 'lower'} in the intervention group than in the "
                        f"control group ({number(pct_int, 1, language)} vs "
                        f"{number(pct_ctl, 1, language)} per cent, {p_text}); the difference "
                        f"was {'' if significant else 'not '}statistically significant.")
        else:
            v_int = {**r["quantiles_int"].value, **r["mean_int"].value}
            v_ctl = {**r["quantiles_ctl"].value, **r["mean_ctl"].value}
            name = label(r["outcome"], language).lower()
            if language == "sv":
                text = (f"Under {window} var medianen för {name} "
                        f"{number(v_int['median'], 1, language)} dagar i interventionsgruppen och "
                        f"{number(v_ctl['median'], 1, language)} dagar i kontrollgruppen (medelvärde "
                        f"{number(v_int['mean'], 1, language)} respektive "
                        f"{number(v_ctl['mean'], 1, language)}; {p_text}); skillnaden var "
                        f"{'' if significant else 'inte '}statistiskt signifikant.")
            else:
                text = (f"In the {window}, the median of {name} was "
                        f"{number(v_int['median'], 1, language)} days in the intervention group "
                        f"and {number(v_ctl['median'], 1, language)} days in the control group "
                        f"(means {number(v_int['mean'], 1, language)} and "
                        f"{number(v_ctl['mean'], 1, language)}; {p_text}); the difference was "
                        f"{'' if significant else 'not '}statistically significant.")
        out.append(text)
    return out


def methods_text(params: dict, language: str) -> str:
    """Methods paragraph from the parameters actually used."""
    a = params["analysis"]
    c = params["cohort"]
    windows = ", ".join(str(m) for m in c["offsets_months"])
    rule_sv = {"first_full_year": "det första kalenderår vars 1 januari infaller på eller efter "
                                  "randomiseringsdatum plus {m} månader",
               "year_containing": "det kalenderår som innehåller randomiseringsdatum plus {m} "
                                  "månader"}
    rule_en = {"first_full_year": "the first calendar year whose 1 January falls on or after the "
                                  "randomisation date plus {m} months",
               "year_containing": "the calendar year that contains the randomisation date plus "
                                  "{m} months"}
    alpha = number(a["alpha"], 2, language)
    corr = a["chisq_correct"]
    versions = software_versions()
    zero_figures = ReportText(params, language)._ref(
        "figure", ["andel_med_dagar", "dagar_bland_dem_med_dagar"])
    if language == "sv":
        return (
            f"Utfallen mättes under kalenderåret minst {windows} månader efter randomiseringen, "
            f"definierat som {rule_sv[c['window_rule']].format(m='N')}. Nettodagar med sjukpenning "
            "är LISA:s SjukP_Ndag_MiDAS; nettodagar med sjuk- eller aktivitetsersättning är "
            "summan av SjukErs_Ndag_MiDAS och AktErs_Ndag_MiDAS. Huvudsakligen i arbete eller "
            "studier är BAS-kod 1 (sysselsatt) eller 3 (studerande); för år före BAS används "
            "LISA:s SyssStat (förvärvsarbetande), som inte fångar studier. Personer som saknas i "
            "LISA utfallsåret (utvandrade eller avlidna) räknas som bortfall, inte som noll dagar. "
            "Andelar jämfördes med Pearsons chi2-test"
            + (" med Yates kontinuitetskorrektion" if corr else " utan kontinuitetskorrektion")
            + f", eller Fishers exakta test när någon förväntad cellfrekvens var under "
            f"{number(a['fisher_expected_below'], 0, language)}. Fördelningar av dagar jämfördes "
            "med Wilcoxons rangsummetest (exakt p-värde när båda grupperna har färre än 50 "
            "observationer och inga lika värden, annars normalapproximation med korrektion för "
            "lika värden och kontinuitet) med Hodges–Lehmann-skattning av skillnaden. "
            "Hodges–Lehmann-skattningen är medianen av alla parvisa skillnader mellan en person "
            "i interventionsgruppen och en i kontrollgruppen; när de flesta i båda grupperna "
            "har 0 dagar är de flesta parvisa skillnader 0, och skattningen och dess intervall "
            "blir 0 även när andelen med dagar skiljer sig. Därför redovisas för dagar även "
            f"andelen med minst en dag och fördelningen bland dem med dagar ({zero_figures}). "
            "Riskskillnader anges i procentenheter med Newcombes (Wilson) konfidensintervall och "
            "oddskvoter som betingad ML-skattning med exakt intervall. Alla test var tvåsidiga med "
            f"signifikansnivån {alpha}; p-värden redovisas både ojusterade och Holm-justerade "
            "över utfall och fönster. Resultaten redovisas även för kvinnor och män. Antal under "
            f"{params['report']['min_cell']} redovisas inte (röjandekontroll). "
            f"Programvara: {versions}."
        )
    return (
        f"Outcomes were measured in the calendar year at least {windows} months after "
        f"randomisation, defined as {rule_en[c['window_rule']].format(m='N')}. Net days of "
        "sickness benefit are LISA's SjukP_Ndag_MiDAS; net days of sickness or activity "
        "compensation are SjukErs_Ndag_MiDAS plus AktErs_Ndag_MiDAS. Mainly employed or "
        "studying is BAS code 1 (employed) or 3 (studying); for years before BAS, LISA's "
        "SyssStat (gainfully employed) is used, which does not capture studies. People absent "
        "from LISA in the outcome year (emigrated or died) are missing, not zero days. "
        "Proportions were compared with Pearson's chi-square test"
        + (" with Yates' continuity correction" if corr else " without continuity correction")
        + f", or Fisher's exact test when any expected count was below "
        f"{number(a['fisher_expected_below'], 0, language)}. Distributions of days were compared "
        "with the Wilcoxon rank-sum test (exact p when both groups have fewer than 50 "
        "observations and no ties, otherwise the normal approximation with tie and continuity "
        "correction) with the Hodges–Lehmann shift. The Hodges–Lehmann estimate is the median "
        "of all pairwise differences between a person in the intervention group and one in the "
        "control group; when most people in both groups have 0 days, most pairwise differences "
        "are 0, and the estimate and its interval are 0 even when the share with days differs. "
        "Days are therefore also shown as the share with at least one day and the distribution "
        f"among those with days ({zero_figures}). Risk differences are in percentage points "
        "with Newcombe's (Wilson) interval, odds ratios the conditional maximum-likelihood "
        f"estimate with exact interval. All tests were two-sided at α = {alpha}; p-values are "
        "reported unadjusted and Holm-adjusted across outcomes and windows. Results are also "
        f"given for women and men. Counts below {params['report']['min_cell']} are not "
        f"published (disclosure control). Software: {versions}."
    )


def code_version() -> str:
    """The git commit of the report's sources (provenance), '+ändringar' when dirty."""
    stamp = _appendix_stamp()
    return stamp.git_commit[:12] + (" (+ändringar)" if stamp.git_dirty else "")


HEADINGS = {
    "sv": {"methods": "Metod", "flow": "Flöde av deltagare", "table1": "Deltagarnas "
           "egenskaper vid randomisering", "results": "Resultat", "figures": "Figurer",
           "power": "Styrka och stickprovsstorlek", "disclosure": "Röjandekontroll",
           "parameters": "Parametrar och version"},
    "en": {"methods": "Methods", "flow": "Flow of participants", "table1": "Characteristics "
           "at randomisation", "results": "Results", "figures": "Figures",
           "power": "Power and sample size", "disclosure": "Disclosure control",
           "parameters": "Parameters and version"},
}

CAPTIONS = {
    "sv": {"andel_sysselsatta": "Andel huvudsakligen i arbete eller studier per grupp och "
           "fönster (95 % Wilson-intervall).",
           "andel_sysselsatta_kon": "Som ovan, för kvinnor och män.",
           "forest_riskskillnad": "Skillnad i andel i arbete eller studier (intervention minus "
           "kontroll), procentenheter med Newcombes 95 % KI.",
           "dagar_sjukpenning": "Nettodagar med sjukpenning per grupp (låda: kvartiler; "
           "morrhår: 10:e–90:e percentilen; grupper under {q} personer visas inte).",
           "consort": "Flöde av deltagare, kalenderåret minst {m} månader efter randomisering.",
           "andel_med_dagar": "Andel med minst en nettodag per grupp och fönster (95 % "
           "Wilson-intervall).",
           "dagar_bland_dem_med_dagar": "Nettodagar bland dem med minst en dag: kumulativ andel "
           "vid 10:e–90:e percentilen per grupp; grupper med färre än {q} personer med dagar "
           "visas inte."},
    "en": {"andel_sysselsatta": "Share mainly employed or studying by group and window "
           "(95% Wilson intervals).",
           "andel_sysselsatta_kon": "As above, for women and men.",
           "forest_riskskillnad": "Difference in the share employed or studying (intervention "
           "minus control), percentage points with Newcombe 95% CI.",
           "dagar_sjukpenning": "Net days of sickness benefit by group (box: quartiles; "
           "whiskers: 10th–90th percentile; groups below {q} persons are not shown).",
           "consort": "Flow of participants, calendar year at least {m} months after "
           "randomisation.",
           "andel_med_dagar": "Share with at least one net day by group and window (95% Wilson "
           "intervals).",
           "dagar_bland_dem_med_dagar": "Net days among those with at least one day: cumulative "
           "share at the 10th–90th percentiles by group; groups with fewer than {q} persons "
           "with days are not shown."},
}

#: Figures in the appendix after the CONSORT diagrams (one per window), in order.
REPORT_FIGURES = ["andel_sysselsatta", "andel_sysselsatta_kon", "forest_riskskillnad",
                  "dagar_sjukpenning", "andel_med_dagar", "dagar_bland_dem_med_dagar"]

TABLE_CAPTIONS = {
    "sv": {"flow": "Flöde av deltagare per grupp och fönster.",
           "table1": "Deltagarnas egenskaper vid randomisering.",
           "outcomes": "Utfall kalenderåret minst {m} månader efter randomisering."},
    "en": {"flow": "Flow of participants by group and window.",
           "table1": "Characteristics at randomisation.",
           "outcomes": "Outcomes in the calendar year at least {m} months after randomisation."},
}


class ReportText:
    """The appendix's fixed texts in the report language, filled from the parameters."""

    def __init__(self, params: dict, language: str):
        if language not in LABELS:
            raise ValueError(f"report.language must be one of {sorted(LABELS)}, not {language!r}")
        self.params = params
        self.language = language

    def heading(self, key: str) -> str:
        return f"## {HEADINGS[self.language][key]}"

    @property
    def tables(self) -> list[str]:
        """Numbered tables in order of appearance."""
        return ["flow", "table1", *(f"outcomes_{m}" for m in self.params["cohort"]["offsets_months"])]

    @property
    def figures(self) -> list[str]:
        """Numbered figures in order of appearance: CONSORT per window, then REPORT_FIGURES."""
        return [*(f"consort_{m}m" for m in self.params["cohort"]["offsets_months"]),
                *REPORT_FIGURES]

    def _ref(self, kind: str, keys: list[str]) -> str:
        numbers = sorted((self.tables if kind == "table" else self.figures).index(k) + 1
                         for k in keys)
        word = {"table": {"sv": "Tabell", "en": "Table"},
                "figure": {"sv": "Figur", "en": "Figure"}}[kind][self.language]
        span = str(numbers[0]) if len(numbers) == 1 else (
            f"{numbers[0]}–{numbers[-1]}" if numbers == list(range(numbers[0], numbers[-1] + 1))
            else ", ".join(map(str, numbers)))
        return f"{word} {span}"

    def table_caption(self, key: str, months: int | None = None) -> str:
        """'Tabell N. …' for `key` (flow, table1, outcomes with `months`)."""
        name = key if months is None else f"{key}_{months}"
        text = TABLE_CAPTIONS[self.language][key].format(m=months)
        return f"{self._ref('table', [name])}. {text}"

    def figure_caption(self, name: str) -> str:
        """'Figur N. …' for a figure file stem."""
        key, months = ("consort", name[len("consort_"):-1]) if name.startswith("consort_") \
            else (name, None)
        q = disclosure.Rules.from_params(self.params["report"]).min_quantile_n
        caption = CAPTIONS[self.language][key].format(m=months, q=q)
        return f"{self._ref('figure', [name])}. {caption}"

    def reference(self, section: str) -> str:
        """The sentence that points the reader to a section's numbered tables and figures."""
        windows = self.params["cohort"]["offsets_months"]
        consort = [f"consort_{m}m" for m in windows]
        outcomes = [f"outcomes_{m}" for m in windows]
        sv = self.language == "sv"
        if section == "flow":
            return (f"{self._ref('figure', consort)} och {self._ref('table', ['flow'])} visar "
                    "flödet av deltagare per fönster." if sv else
                    f"{self._ref('figure', consort)} and {self._ref('table', ['flow'])} show "
                    "the flow of participants per window.")
        if section == "table1":
            return (f"{self._ref('table', ['table1'])} beskriver deltagarna vid randomisering "
                    "med testet som valts per variabel." if sv else
                    f"{self._ref('table', ['table1'])} describes the participants at "
                    "randomisation with the test chosen per variable.")
        if section == "results":
            return (f"{self._ref('table', outcomes)} redovisar utfallen per fönster; "
                    f"{self._ref('figure', REPORT_FIGURES)} visar dem som figurer." if sv else
                    f"{self._ref('table', outcomes)} give the outcomes per window; "
                    f"{self._ref('figure', REPORT_FIGURES)} show them as figures.")
        raise KeyError(f"no reference sentence for section {section!r}")


    def title_block(self, commit: str) -> str:
        s = self.params["study"]
        sv = self.language == "sv"
        rows = [
            ("Insatsens namn" if sv else "Study", s["name"]),
            ("Insatsägare" if sv else "Owner", s["owner"]),
            ("Samverkansparter" if sv else "Partners", ", ".join(s["partners"])),
            ("Period" if sv else "Period", s["period"]),
            ("Datakällor" if sv else "Data sources", ", ".join(s["sources"])),
            ("Datum" if sv else "Date", _today()),
            ("Kodversion (git)" if sv else "Code version (git)", commit),
        ]
        table = "\n".join(f"| {k} | {v} |" for k, v in rows)
        return (f"# {self.params['report'].get('title_note', '')}: "
                f"{'statistisk analys' if sv else 'statistical analysis'}\n\n"
                f"| | |\n|---|---|\n{table}")

    def flow_intro(self, clean_flow: dict) -> str:
        if self.language == "sv":
            n = {k: number(v, 0, "sv") for k, v in clean_flow.items() if k.endswith("_rows_read")
                 or k.endswith("_not_in_study")}
            return (f"Leveranserna innehöll {n['lisa_rows_read']} LISA-rader och "
                    f"{n['bas_rows_read']} BAS-rader; {n['lisa_rows_not_in_study']}"
                    f" respektive {n['bas_rows_not_in_study']} rader gällde personer "
                    "utanför studien och togs bort. LISA-år: "
                    f"{_years(clean_flow['lisa_years'])}; BAS-år: {_years(clean_flow['bas_years'])}."
                    + _delivery_notes(clean_flow, "sv", self.params["report"]["min_cell"]))
        n = {k: number(v, 0, "en") for k, v in clean_flow.items() if k.endswith("_rows_read")
             or k.endswith("_not_in_study")}
        return (f"The deliveries held {n['lisa_rows_read']} LISA rows and "
                f"{n['bas_rows_read']} BAS rows; {n['lisa_rows_not_in_study']} "
                f"and {n['bas_rows_not_in_study']} rows concerned people outside the "
                f"study and were removed. LISA years: {_years(clean_flow['lisa_years'])}; BAS "
                f"years: {_years(clean_flow['bas_years'])}." + _delivery_notes(clean_flow, "en",
                                                                 self.params["report"]["min_cell"]))

    def power_text(self, power: dict, achieved: disclosure.SafeCell, detectable_pp: float) -> str:
        """`power` is power.json (the design); `achieved` the published analysed n and
        `detectable_pp` the difference detectable with it, withheld with the n."""
        lang = self.language
        n_text = achieved.text
        detectable = (disclosure.SUPPRESSED if achieved.withheld
                      else number(detectable_pp, 1, lang))
        pc, pi = number(100 * power["p_control"], 0, lang), number(100 * power["p_intervention"],
                                                                  0, lang)
        pw = number(100 * power["power"], 0, lang)
        days = number(power["mean_sick_days_control"], 0, lang)
        comp = number(100 * power["p_sickness_compensation"], 0, lang)
        if lang == "sv":
            return (f"För att med {pw} % styrka (tvåsidigt α = {number(power['alpha'], 2, lang)}) "
                    f"upptäcka en ökning av andelen i arbete eller studier från {pc} % till {pi} % "
                    f"behövs {power['a_priori_n_per_group_ceiling']} personer per grupp (R: "
                    f"power.prop.test, n = {number(power['a_priori_n_per_group'], 2, lang)}). Med "
                    f"{n_text} analyserade per grupp "
                    f"({power['window_months']}-månadersfönstret) är den minsta skillnad som kan "
                    f"upptäckas med {pw} % styrka "
                    f"{detectable} procentenheter. För "
                    "nettodagar med sjukpenning gav simulering under studiens designantaganden "
                    f"({power['n_per_group']} per grupp, i genomsnitt {days} dagar per år utan "
                    f"insats, kvot {number(power['effect_sick_days_ratio'], 2, lang)} med insats, "
                    f"{comp} % med sjukersättning; {power['n_sim']} replikat) styrkan "
                    f"{number(100 * power['simulated_power_sjukpenning'], 1, lang)} %. "
                    "Antagandena är studiens egna (params.yaml, avsnitt power), inte skattade ur "
                    "data. Ingen 'observerad styrka' beräknas.")
        return (f"Detecting an increase in the share employed or studying from {pc}% to {pi}% "
                f"with {pw}% power (two-sided α = {number(power['alpha'], 2, lang)}) needs "
                f"{power['a_priori_n_per_group_ceiling']} people per group (R: power.prop.test, "
                f"n = {number(power['a_priori_n_per_group'], 2, lang)}). With "
                f"{n_text} analysed per group "
                f"({power['window_months']}-month window), the smallest difference detectable "
                f"with {pw}% power is {detectable} "
                "percentage points. For net days of sickness benefit, simulation under the "
                f"study's design assumptions ({power['n_per_group']} per group, on average {days} "
                "days a year without the intervention, ratio "
                f"{number(power['effect_sick_days_ratio'], 2, lang)} with it, {comp}% on "
                f"sickness compensation; {power['n_sim']} replicates) gave a power of "
                f"{number(100 * power['simulated_power_sjukpenning'], 1, lang)}%. The assumptions "
                "are the study's own (params.yaml, section power), not estimated from the data. "
                "No 'observed power' is computed.")

    def suppression_text(self, suppressed: list[str], cost: str = "") -> str:
        """The release rules applied, what the protection cost (`cost`, from
        `disclosure.Publication.cost_statement`), then every withheld cell by name and reason."""
        r = self.params["report"]
        rules = disclosure.Rules.from_params(r)
        m = r["min_cell"]
        zeros = r.get("zeros_disclosive", False)
        low = 0 if zeros else 1
        if self.language == "sv":
            head = (f"Regler: antal under {m} redovisas inte"
                    + (" (även noll räknas som litet antal)" if zeros else " (noll redovisas)")
                    + f" och visas som \"<{m}\". Varje tabell anger sina additiva samband "
                    "(rader och totaler, alla = kvinnor + män, nivåer mot N i Tabell 1, "
                    "randomiserade − exkluderade = analyserade, samma randomiserade i båda "
                    "fönstren, analyserade mot tabellernas n). Ytterligare celler undertrycks "
                    "(visas som \"–\") tills en granskning med linjärprogrammering (som i "
                    "tau-ARGUS och sdcTable) visar att inget litet antal kan räknas fram eller "
                    f"ringas in snävare än {low}–{m - 1}. Andelar, skillnader, konfidensintervall, "
                    "p-värden, medianer och styrkeberäkningar som skulle avslöja ett undertryckt "
                    "antal visas inte heller (de är funktioner av antalen); Holm-justerade "
                    "p-värden visas bara när alla p-värden i deras grupp visas. Testen är "
                    "beräknade på de verkliga antalen. " + rules.describe("sv"))
            none = "Inga celler undertrycktes."
        else:
            head = (f"Rules: counts below {m} are not published"
                    + (" (zero counts as small too)" if zeros else " (zeros are published)")
                    + f" and are shown as \"<{m}\". Each table declares its additive relations "
                    "(rows and totals, all = women + men, levels against N in Table 1, "
                    "randomised − excluded = analysed, the same randomised people in both "
                    "windows, analysed against the tables' n). Further cells are withheld "
                    "(shown as \"–\") until a linear-programming audit (as in tau-ARGUS and "
                    "sdcTable) shows that no small count can be derived or narrowed below "
                    f"{low}–{m - 1}. Shares, differences, confidence intervals, p-values, "
                    "medians and power figures that would reveal a withheld count are not shown "
                    "either (they are functions of the counts); Holm-adjusted p-values are shown "
                    "only when every p-value of their group is. Tests are computed on the real "
                    "counts. " + rules.describe("en"))
            none = "No cells were suppressed."
        if rules.method == disclosure.ROUND:  # the rounding rule replaces the suppression rule
            head, cost = cost, rules.describe(self.language)
        items = "\n".join(f"- {s}" for s in suppressed) if suppressed else none
        return f"{head} {cost}\n\n{items}" if cost else f"{head}\n\n{items}"

    def parameters_block(self) -> str:
        shown = {k: self.params[k] for k in ("data", "cohort", "analysis", "power", "report")}
        return "```yaml\n" + yaml.safe_dump(shown, allow_unicode=True, sort_keys=True) + "```"


def _delivery_notes(clean_flow: dict, language: str, min_cell: int) -> str:
    """The linkage check's lowest share and the unknown codes counted and ignored in cleaning
    (counts below `min_cell` shown as "<min_cell")."""
    shares = [s for per in clean_flow.get("linkage", {}).values() for s in per.values()]
    out = ""
    if shares:
        low = number(100 * min(shares), 0, language)
        out += (f" Varje registerår innehöll minst {low} % av de randomiserade personerna."
                if language == "sv" else
                f" Every register year held at least {low}% of the randomised persons.")
    for column, codes in sorted(clean_flow.get("unknown_codes_ignored", {}).items()):
        listed = ", ".join(f"{code} ({number(n, 0, language) if n >= min_cell else f'<{min_cell}'})"
                           for code, n in codes.items())
        out += (f" Okända koder i {column}, som inte används de år BAS täcker, räknades och "
                f"lämnades utan avseende: {listed}." if language == "sv" else
                f" Unknown codes in {column}, which is not used in years BAS covers, were "
                f"counted and ignored: {listed}.")
    return out


def _years(years: list[int]) -> str:
    return f"{min(years)}–{max(years)}" if years else "–"


def _today() -> str:
    """The run's date as stamped in provenance (SOURCE_DATE_EPOCH, else the commit's)."""
    return _appendix_stamp().run_time[:10]


def _appendix_stamp() -> provenance.Provenance:
    """The appendix's provenance, the same whether DVC or Jupyter runs the notebook."""
    return provenance.collect(output=project_root() / "reports" / "uppsala" / "bilaga.html")
