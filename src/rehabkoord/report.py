"""The appendix's words and tables, generated from the numbers so they can never disagree.

Swedish by default (`language: sv`), English with `language: en`. Every published count goes
through `rehabkoord.disclosure`; person-level rows never reach this module's output.
"""

from __future__ import annotations

import math
import platform
from importlib import metadata

import pandas as pd
import yaml

from . import disclosure, provenance
from .cohort import EXCLUSION_REASONS, REASON_EMPLOYMENT_MISSING
from .contract import GROUP_CONTROL, GROUP_INTERVENTION
from .fmt import interval, number, pvalue
from .params import project_root

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


def _group_cells(row: pd.Series, prefix: str, min_cell: int, language: str) -> str:
    n = int(row[f"n_{prefix}"])
    if row["kind"] == "days":
        if n < min_cell:
            return disclosure.SUPPRESSED
        return (f"{number(row[f'median_{prefix}'], 1, language)} "
                f"[{number(row[f'q1_{prefix}'], 1, language)}–"
                f"{number(row[f'q3_{prefix}'], 1, language)}]; "
                f"{number(row[f'mean_{prefix}'], 1, language)} "
                f"({number(row[f'sd_{prefix}'], 1, language)})")
    pub = disclosure.publish_binary(int(row[f"events_{prefix}"]), n, min_cell,
                                    number(row[f"pct_{prefix}"], 1, language))
    return pub.count if pub.pct is None else f"{pub.count} ({pub.pct})"


def is_suppressed(row: pd.Series, min_cell: int) -> bool:
    """Whether a result row's counts (and so its effect estimate) are withheld."""
    if row["kind"] == "days":
        return min(row["n_int"], row["n_ctl"]) < min_cell
    return any(disclosure.publish_binary(int(row[f"events_{p}"]), int(row[f"n_{p}"]),
                                         min_cell, "").suppressed for p in ("int", "ctl"))


def _effect(row: pd.Series, min_cell: int, language: str) -> str:
    if not isinstance(row.get("estimate"), float) or math.isnan(row["estimate"]):
        return "–"
    if is_suppressed(row, min_cell):
        return disclosure.SUPPRESSED
    unit = label("pp" if row["kind"] == "binary" else "days", language)
    return (f"{number(row['estimate'], 1, language)} {unit} "
            f"({interval(row['conf_low'], row['conf_high'], 1, language)})")


def outcome_display(results: pd.DataFrame, window: int, *, min_cell: int,
                    language: str) -> pd.DataFrame:
    """The published outcome table for one window: all, women, men."""
    w = results[results["window_months"] == window]
    rows = []
    for _, r in w.iterrows():
        rows.append({
            label("stratum", language): label(r["stratum"], language),
            label("outcome", language): label(r["outcome"], language)
            + (f", {label('n_pct', language)}" if r["kind"] == "binary"
               else f", {label('median_iqr', language)}; {label('mean_sd', language)}"),
            f"n {label(GROUP_INTERVENTION, language)}": _n(r["n_int"], min_cell),
            label(GROUP_INTERVENTION, language): _group_cells(r, "int", min_cell, language),
            f"n {label(GROUP_CONTROL, language)}": _n(r["n_ctl"], min_cell),
            label(GROUP_CONTROL, language): _group_cells(r, "ctl", min_cell, language),
            label("test", language): label(r["test"], language),
            label("p", language): pvalue(r["pvalue"], language),
            label("p_holm", language): pvalue(r["pvalue_holm"], language),
            label("effect", language): _effect(r, min_cell, language),
        })
    return pd.DataFrame(rows)


def _n(n: float, min_cell: int) -> str:
    return str(int(n)) if n >= min_cell else f"<{min_cell}"


def baseline_display(baseline: pd.DataFrame, *, min_cell: int, language: str) -> pd.DataFrame:
    """Published Table 1."""
    rows = []
    seen: set[str] = set()
    for _, r in baseline.iterrows():
        first = r["variable"] not in seen
        seen.add(r["variable"])
        name = label(r["variable"], language)
        if r["kind"] != "days":
            name = f"{name}: {label(r['level'], language)}" if r["kind"] == "categorical" \
                else name
        rows.append({
            label("variable", language): name + (", " + label("median_iqr", language)
                                                 if r["kind"] == "days" else ", n (%)"),
            label(GROUP_INTERVENTION, language): _group_cells(r, "int", min_cell, language),
            label(GROUP_CONTROL, language): _group_cells(r, "ctl", min_cell, language),
            label("test", language): label(r.get("test", "none"), language) if first else "",
            label("p", language): pvalue(r.get("pvalue"), language) if first else "",
        })
    return pd.DataFrame(rows)


def flow_display(flow: dict, *, min_cell: int, language: str) -> pd.DataFrame:
    """CONSORT counts as a publishable table (small exclusion counts suppressed)."""
    rows = []
    for window, groups in flow["windows"].items():
        for group, g in groups.items():
            row = {label("window_short", language): int(window),
                   label("stratum", language): label(group, language),
                   label("randomised", language): str(g["randomised"])}
            for reason in EXCLUSION_REASONS:
                row[label(reason, language)] = disclosure.publish_count(
                    g["excluded"][reason], min_cell).count
            row[label("analysed", language)] = str(g["analysed"])
            row[label(REASON_EMPLOYMENT_MISSING, language)] = disclosure.publish_count(
                g[REASON_EMPLOYMENT_MISSING], min_cell).count
            rows.append(row)
    return pd.DataFrame(rows)


def suppression_list(results: pd.DataFrame, baseline: pd.DataFrame, flow: dict, *,
                     min_cell: int, language: str) -> list[str]:
    """Which published cells were suppressed (names only, never the hidden numbers)."""
    out = []
    for _, r in results.iterrows():
        if is_suppressed(r, min_cell):
            out.append(f"{label('window', language).format(m=r['window_months'])}, "
                       f"{label(r['stratum'], language)}, {label(r['outcome'], language)}")
    for _, r in baseline.iterrows():
        if r["kind"] != "days" and is_suppressed(r, min_cell):
            out.append(f"Tabell 1: {label(r['variable'], language)} {label(r['level'], language)}"
                       if language == "sv" else
                       f"Table 1: {label(r['variable'], language)} {label(r['level'], language)}")
    for window, groups in flow["windows"].items():
        for group, g in groups.items():
            for reason, count in [*g["excluded"].items(),
                                  (REASON_EMPLOYMENT_MISSING, g[REASON_EMPLOYMENT_MISSING])]:
                if disclosure.is_small(count, min_cell):
                    out.append(f"{label('window', language).format(m=window)}, "
                               f"{label(group, language)}: {label(reason, language)}")
    return out


def result_sentences(results: pd.DataFrame, *, alpha: float, min_cell: int,
                     language: str) -> list[str]:
    """One sentence per whole-cohort outcome and window, phrased like the study's report."""
    out = []
    alla = results[(results["stratum"] == "alla") & (results["test"] != "none")]
    for _, r in alla.iterrows():
        window = label("window", language).format(m=r["window_months"]).lower()
        significant = r["pvalue"] < alpha
        p = pvalue(r["pvalue"], language)
        p_text = f"p {p}" if p.startswith("<") else f"p = {p}"
        if is_suppressed(r, min_cell):
            out.append(("Under " + window + f" redovisas inte skillnaden för "
                        f"{label(r['outcome'], language).lower()} av sekretesskäl ({p_text})."
                        ) if language == "sv" else
                       (f"In the {window}, the difference in "
                        f"{label(r['outcome'], language).lower()} is suppressed ({p_text})."))
            continue
        diff = abs(r["estimate"])
        if r["kind"] == "binary":
            more = r["estimate"] > 0
            if language == "sv":
                text = (f"Under {window} var andelen som var huvudsakligen sysselsatta i arbete "
                        f"eller studier {number(diff, 1, language)} procentenheter "
                        f"{'högre' if more else 'lägre'} i interventionsgruppen än i "
                        f"kontrollgruppen ({number(r['pct_int'], 1, language)} mot "
                        f"{number(r['pct_ctl'], 1, language)} procent, {p_text}); skillnaden var "
                        f"{'' if significant else 'inte '}statistiskt signifikant.")
            else:
                text = (f"In the {window}, the share mainly employed or studying was "
                        f"{number(diff, 1, language)} percentage points "
                        f"{'higher' if more else 'lower'} in the intervention group than in the "
                        f"control group ({number(r['pct_int'], 1, language)} vs "
                        f"{number(r['pct_ctl'], 1, language)} per cent, {p_text}); the difference "
                        f"was {'' if significant else 'not '}statistically significant.")
        else:
            name = label(r["outcome"], language).lower()
            if language == "sv":
                text = (f"Under {window} var medianen för {name} "
                        f"{number(r['median_int'], 1, language)} dagar i interventionsgruppen och "
                        f"{number(r['median_ctl'], 1, language)} dagar i kontrollgruppen (medelvärde "
                        f"{number(r['mean_int'], 1, language)} respektive "
                        f"{number(r['mean_ctl'], 1, language)}; {p_text}); skillnaden var "
                        f"{'' if significant else 'inte '}statistiskt signifikant.")
            else:
                text = (f"In the {window}, the median of {name} was "
                        f"{number(r['median_int'], 1, language)} days in the intervention group "
                        f"and {number(r['median_ctl'], 1, language)} days in the control group "
                        f"(means {number(r['mean_int'], 1, language)} and "
                        f"{number(r['mean_ctl'], 1, language)}; {p_text}); the difference was "
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
        "correction) with the Hodges–Lehmann shift. Risk differences are in percentage points "
        "with Newcombe's (Wilson) interval, odds ratios the conditional maximum-likelihood "
        f"estimate with exact interval. All tests were two-sided at α = {alpha}; p-values are "
        "reported unadjusted and Holm-adjusted across outcomes and windows. Results are also "
        f"given for women and men. Counts below {params['report']['min_cell']} are not "
        f"published (disclosure control). Software: {versions}."
    )


def software_versions() -> str:
    names = ["pandas", "numpy", "scipy", "statsmodels", "seaborn", "papermill", "dvc"]
    parts = [f"Python {platform.python_version()}"]
    for name in names:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(parts)


def code_version() -> str:
    """The git commit of the report's sources (provenance), '+ändringar' when dirty."""
    stamp = _appendix_stamp()
    return stamp.git_commit[:12] + (" (+ändringar)" if stamp.git_dirty else "")


HEADINGS = {
    "sv": {"methods": "Metod", "flow": "Flöde av deltagare", "table1": "Tabell 1. Deltagarnas "
           "egenskaper vid randomisering", "results": "Resultat", "figures": "Figurer",
           "power": "Styrka och stickprovsstorlek", "disclosure": "Röjandekontroll",
           "parameters": "Parametrar och version"},
    "en": {"methods": "Methods", "flow": "Flow of participants", "table1": "Table 1. "
           "Characteristics at randomisation", "results": "Results", "figures": "Figures",
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
           "morrhår: 10:e–90:e percentilen).",
           "dagar_sjukersattning": "Nettodagar med sjuk- eller aktivitetsersättning per grupp."},
    "en": {"andel_sysselsatta": "Share mainly employed or studying by group and window "
           "(95% Wilson intervals).",
           "andel_sysselsatta_kon": "As above, for women and men.",
           "forest_riskskillnad": "Difference in the share employed or studying (intervention "
           "minus control), percentage points with Newcombe 95% CI.",
           "dagar_sjukpenning": "Net days of sickness benefit by group (box: quartiles; "
           "whiskers: 10th–90th percentile).",
           "dagar_sjukersattning": "Net days of sickness or activity compensation by group."},
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

    def window_heading(self, months: int) -> str:
        return f"#### {label('window', self.language).format(m=months)}"

    def figure_caption(self, name: str) -> str:
        return f"**{CAPTIONS[self.language][name]}**"

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
                    f"{_years(clean_flow['lisa_years'])}; BAS-år: {_years(clean_flow['bas_years'])}.")
        n = {k: number(v, 0, "en") for k, v in clean_flow.items() if k.endswith("_rows_read")
             or k.endswith("_not_in_study")}
        return (f"The deliveries held {n['lisa_rows_read']} LISA rows and "
                f"{n['bas_rows_read']} BAS rows; {n['lisa_rows_not_in_study']} "
                f"and {n['bas_rows_not_in_study']} rows concerned people outside the "
                f"study and were removed. LISA years: {_years(clean_flow['lisa_years'])}; BAS "
                f"years: {_years(clean_flow['bas_years'])}.")

    def power_text(self, power: dict) -> str:
        lang = self.language
        pc, pi = number(100 * power["p_control"], 0, lang), number(100 * power["p_intervention"],
                                                                  0, lang)
        pw = number(100 * power["power"], 0, lang)
        if lang == "sv":
            return (f"För att med {pw} % styrka (tvåsidigt α = {number(power['alpha'], 2, lang)}) "
                    f"upptäcka en ökning av andelen i arbete eller studier från {pc} % till {pi} % "
                    f"behövs {power['a_priori_n_per_group_ceiling']} personer per grupp (R: "
                    f"power.prop.test, n = {number(power['a_priori_n_per_group'], 2, lang)}). Med "
                    f"{power['achieved_n_per_group']} analyserade per grupp "
                    f"({power['window_months']}-månadersfönstret) är den minsta skillnad som kan "
                    f"upptäckas med {pw} % styrka "
                    f"{number(power['detectable_difference_pp'], 1, lang)} procentenheter. För "
                    "nettodagar med sjukpenning gav simulering från den syntetiska generatorn "
                    f"({power['n_sim']} replikat, sann kvot "
                    f"{number(power['simulated_effect_sick_days_ratio'], 2, lang)}) styrkan "
                    f"{number(100 * power['simulated_power_sjukpenning'], 1, lang)} %. Ingen "
                    "'observerad styrka' beräknas.")
        return (f"Detecting an increase in the share employed or studying from {pc}% to {pi}% "
                f"with {pw}% power (two-sided α = {number(power['alpha'], 2, lang)}) needs "
                f"{power['a_priori_n_per_group_ceiling']} people per group (R: power.prop.test, "
                f"n = {number(power['a_priori_n_per_group'], 2, lang)}). With "
                f"{power['achieved_n_per_group']} analysed per group "
                f"({power['window_months']}-month window), the smallest difference detectable "
                f"with {pw}% power is {number(power['detectable_difference_pp'], 1, lang)} "
                "percentage points. For net days of sickness benefit, simulation from the "
                f"synthetic generator ({power['n_sim']} replicates, true ratio "
                f"{number(power['simulated_effect_sick_days_ratio'], 2, lang)}) gave a power of "
                f"{number(100 * power['simulated_power_sjukpenning'], 1, lang)}%. No 'observed "
                "power' is computed.")

    def suppression_text(self, suppressed: list[str]) -> str:
        m = self.params["report"]["min_cell"]
        if self.language == "sv":
            head = (f"Antal under {m} visas som \"<{m}\"; celler som annars kunde räknas fram ur "
                    "totaler visas som \"–\", liksom andelar och skillnader som skulle avslöja "
                    "dem. Testen är beräknade på de verkliga antalen.")
            none = "Inga celler undertrycktes."
        else:
            head = (f"Counts below {m} are shown as \"<{m}\"; cells that could be derived from "
                    "totals are shown as \"–\", as are shares and differences that would reveal "
                    "them. Tests are computed on the real counts.")
            none = "No cells were suppressed."
        items = "\n".join(f"- {s}" for s in suppressed) if suppressed else none
        return f"{head}\n\n{items}"

    def parameters_block(self) -> str:
        shown = {k: self.params[k] for k in ("data", "cohort", "analysis", "report")}
        return "```yaml\n" + yaml.safe_dump(shown, allow_unicode=True, sort_keys=True) + "```"


def _years(years: list[int]) -> str:
    return f"{min(years)}–{max(years)}" if years else "–"


def _today() -> str:
    """The run's date as stamped in provenance (SOURCE_DATE_EPOCH, else the commit's)."""
    return _appendix_stamp().run_time[:10]


def _appendix_stamp() -> provenance.Provenance:
    """The appendix's provenance, the same whether DVC or Jupyter runs the notebook."""
    return provenance.collect(output=project_root() / "reports" / "bilaga.html")
