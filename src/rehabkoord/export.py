"""`make export`: a study's publishable files, checked, in one folder and a zip for SCB's
output review.

Gathers `reports/<study>/` (the appendix, its figures and the published data of every table and
figure), runs every output check on what is gathered, and writes beside the files an output-
check report for the reviewer (`utdatakontroll.html`) and the same as JSON
(`utdatakontroll.json`): each file with its sha256, the release rules with their values, every
table cell's status (published, or withheld with its mark and rule), and each check with its
result. Its `results` section follows the record layout of ACRO (the SACRO project's output
checker: per output a status pass/fail/review, its type, files and summary), so a reviewer who
knows ACRO's results reads it the same way. If any check fails nothing is written, the
command exits non-zero and its last lines name the failing check.

    python -m rehabkoord.export [--out dist/export] [study ...]

The checks (`CHECKS`): only publishable kinds of file; no person key, personnummer or
individual date; no minimum or maximum; the linear audit of every count, re-solved from the
study's internal decision record (`data/processed/<study>/disclosure.json`); quantiles only for
groups of at least `report.min_quantile_n`; the study's other statistics (dominance, degrees of
freedom) as it recorded them.
"""

from __future__ import annotations

import argparse
import base64
import csv
import datetime
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from . import __version__, disclosure
from .fmt import SMALL_MARK, marks_in
from .params import load_params, project_root

STUDIES = ("uppsala", "caseload", "stockholm", "risk")
#: What may leave the secure environment, by kind of file.
PUBLISHABLE = {".html": "appendix", ".pdf": "appendix", ".docx": "appendix",
               ".png": "figure", ".svg": "figure", ".csv": "data", ".json": "model card"}
#: The project's own files in reports/, never exported: its README and DVC's .gitignore.
BOOKKEEPING = ("README.md", ".gitignore")
#: A JSON file is publishable only as one of these (a study's model card).
PUBLISHABLE_JSON = {"modell.json"}
#: Personnummer and samordningsnummer: (YY)YYMMDD, optional - or +, four digits.
PERSONNUMMER = re.compile(r"(?<![\w.])(?:19|20)?\d{2}[01]\d[0-9]\d[-+]?\d{4}(?![\w.])")
PERSON_KEY_COLUMNS = re.compile(r"lopnr|personnr|personnummer|person_?id|pnr\b", re.I)
DATE = re.compile(r"(?<!\d)(?:19|20)\d{2}-[01]\d-[0-3]\d(?!\d)")
EXTREMES = re.compile(r"^(min|max|minimum|maximum|range|min[-–]max)(\b|_|$)|"
                      r"(\b|_)(min|max|minimum|maximum)$|\bmin[-–]max\b|\[min|max\]", re.I)
QUANTILE_COLUMNS = re.compile(r"^(median|q1|q3|p\d{1,2}|decile_?\d*|quantile.*|whisker.*|"
                              r"iqr.*|percentile.*)$", re.I)
DATA_URI = re.compile(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)")


@dataclass
class Check:
    """One output check: its name, whether it passed, and what it found (never a value that
    the check protects)."""

    name: str
    description: str
    beskrivning: str = ""
    passed: bool = True
    findings: list[str] = field(default_factory=list)
    status: str = "pass"  # pass, fail or review (ACRO's three)

    def fail(self, finding: str) -> None:
        self.passed, self.status = False, "fail"
        self.findings.append(finding)


@dataclass
class Output:
    """One file of the export, as ACRO records an output."""

    name: str
    kind: str
    sha256: str
    size: int
    cells: list[dict] = field(default_factory=list)
    status: str = "pass"
    summary: str = ""


@dataclass
class Result:
    study: str
    outputs: list[Output]
    checks: list[Check]
    rules: disclosure.Rules
    cells: list[dict]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _texts(path: Path) -> list[str]:
    """The text a reader can see in a file: the file itself; for HTML also its embedded SVG
    figures decoded; a Word file's document parts without their markup; a PDF's text
    (Poppler's `pdftotext`, where installed)."""
    if path.suffix == ".docx":
        with zipfile.ZipFile(path) as z:
            return [re.sub(r"<[^>]+>", " ", z.read(n).decode("utf-8", "replace"))
                    for n in z.namelist() if n.startswith("word/") and n.endswith(".xml")]
    if path.suffix == ".pdf":
        if shutil.which("pdftotext") is None:
            return []
        done = subprocess.run(["pdftotext", "-q", str(path), "-"], capture_output=True,
                              text=True, check=False)
        return [done.stdout]
    if path.suffix not in (".html", ".csv", ".svg", ".json"):
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    decoded = [base64.b64decode(m).decode("utf-8", "replace") for m in DATA_URI.findall(text)]
    return [DATA_URI.sub("data:image/svg+xml;base64,", text), *decoded]


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [row for row in csv.reader(f) if row and not row[0].startswith("#")]


def _csv_layout(rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Header and body of a published CSV: figure data has its header first; a display
    table (`render.write_table_csvs`) has its caption first, then the header."""
    if len(rows) > 1 and len(rows[0]) == 1 and len(rows[1]) > 1:
        rows = rows[1:]
    return (rows[0], rows[1:]) if rows else ([], [])


def check_files(outputs: list[Output], check: Check) -> None:
    for o in outputs:
        suffix = Path(o.name).suffix.lower()
        if suffix not in PUBLISHABLE or (suffix == ".json"
                                         and Path(o.name).name not in PUBLISHABLE_JSON):
            check.fail(f"{o.name}: not a publishable kind of file (executed notebooks, Parquet "
                       "and analysis tables belong under data/processed/)")


def check_persons(files: list[Path], root: Path, check: Check) -> None:
    for path in files:
        name = path.relative_to(root).as_posix()
        for text in _texts(path):
            hits = len(PERSONNUMMER.findall(text))
            if hits:
                check.fail(f"{name}: {hits} string(s) shaped like a personnummer")
                break
        if path.suffix == ".csv":
            header, body = _csv_layout(_read_csv(path))
            keys = [c for c in header if PERSON_KEY_COLUMNS.search(c)]
            if keys:
                check.fail(f"{name}: column(s) {', '.join(keys)} look like person keys")
            for i, column in enumerate(header):
                cells = [row[i] for row in body if i < len(row) and row[i].strip()]
                dated = sum(bool(DATE.search(c)) for c in cells)
                if dated >= 2 and 2 * dated > len(cells):
                    check.fail(f"{name}: column {column or i + 1} holds {dated} full dates "
                               "(dates of persons can identify them; publish years or periods)")


def check_extremes(files: list[Path], root: Path, check: Check) -> None:
    for path in files:
        if path.suffix != ".csv":
            continue
        header, body = _csv_layout(_read_csv(path))
        labels = [*header, *(row[i] for row in body for i in range(min(2, len(row))))]
        found = sorted({c for c in labels if EXTREMES.search(c.strip())})
        if found:
            check.fail(f"{path.relative_to(root).as_posix()}: {', '.join(found[:3])} "
                       "(a minimum or maximum is one person's value)")


def check_quantile_files(files: list[Path], root: Path, rules: disclosure.Rules,
                         check: Check) -> None:
    """Figure data with quantile columns: every row that shows a quantile must carry its
    group's n, at least `min_quantile_n`: the column `n_at_least` (the smallest size the
    published counts allow, for a group whose n is withheld), else `n`, else the one `n_…`
    column (e.g. `n_with_days` for quantiles among those with days)."""
    for path in files:
        if path.suffix != ".csv":
            continue
        header, body = _csv_layout(_read_csv(path))
        qcols = [i for i, c in enumerate(header) if QUANTILE_COLUMNS.match(c.strip())]
        if not qcols:
            continue
        name = path.relative_to(root).as_posix()
        counts = [c for c in header if c == "n" or c.startswith("n_")]
        chosen = next((c for c in ("n_at_least", "n") if c in counts),
                      counts[0] if len(counts) == 1 else None)
        if chosen is None:
            check.fail(f"{name}: quantile columns without the one column of the group's n "
                       "(`n_at_least`, `n` or a single `n_…`)")
            continue
        ni = header.index(chosen)
        bad = 0
        for row in body:
            shown = any(i < len(row) and row[i].strip() for i in qcols)
            try:
                n = float(row[ni])
            except (ValueError, IndexError):
                n = 0.0
            bad += shown and n < rules.min_quantile_n
        if bad:
            check.fail(f"{name}: {bad} row(s) show quantiles of fewer than "
                       f"{rules.min_quantile_n} persons")


def check_audit(record: dict, rules: disclosure.Rules, check: Check) -> list[dict]:
    """Re-solve the linear audit from the study's decision record; returns every count cell's
    status (never a withheld value)."""
    structure, withheld, recorded = disclosure.from_record(record)
    if recorded != rules:
        check.fail("the decision record was made under other rules than params.yaml states; "
                   "re-run the study's report stage (make report)")
        return []
    failing = [iv for iv in disclosure.audit(structure, withheld, rules) if not iv.protected]
    for iv in failing:
        check.fail(f"count {' / '.join(map(str, iv.key))} can be narrowed to "
                   f"[{iv.low:g}, {iv.high:g}]")
    check.findings.insert(0, f"{len(structure.values)} counts, {len(structure.relations)} "
                             f"relations, {len(withheld)} withheld, {len(failing)} too narrow")
    marks = {disclosure.SMALL: rules.mark}
    return [{"key": [str(k) for k in key], "status": "withheld" if key in withheld else
             "published", "rule": withheld.get(key, ""),
             "mark": marks.get(withheld.get(key, ""), disclosure.SUPPRESSED)
             if key in withheld else ""}
            for key in structure.values if key in structure.shown]


def check_statistics(record: dict, rules: disclosure.Rules, check: Check) -> list[dict]:
    """The study's other statistics as it recorded them: a published quantile needs
    `min_quantile_n` persons, a published mean or sum no dominance reason and at least
    `min_cell` persons, a published model estimate `min_df` residual degrees of freedom.
    Statistics recorded by key and status only (the study decided them itself) are listed."""
    stats = record.get("statistics", [])
    if not stats:
        check.status = "review"
        check.findings.append("the study records no statistics other than counts; the "
                              "file checks above are all that covers them")
        return []
    bad = 0
    for s in stats:
        if s.get("status") != "published" or "kind" not in s:
            continue
        kind, n, df = s.get("kind"), s.get("n"), s.get("df")
        if ((kind == "quantile" and (n is None or n < rules.min_quantile_n))
                or (kind in ("mean", "sum", "sd") and (n is None or n < rules.min_cell
                                                       or s.get("dominance")))
                or (kind == "estimate" and df is not None and df < rules.min_df)):
            bad += 1
            check.fail(f"{' / '.join(map(str, s.get('key', [])))}: a {kind} published against "
                       "the rules")
    ruled = sum("kind" in s for s in stats)
    check.findings.insert(0, f"{len(stats)} statistics recorded ({len(stats) - ruled} by the "
                             f"study's own decision, status only), {bad} against the rules")
    return [{"key": [str(k) for k in s.get("key", [])], "kind": s.get("kind"),
             "status": s.get("status"), "rule": s.get("reason", "")} for s in stats]


def _withheld_mark(text: str) -> bool:
    """Whether a printed cell holds a withheld value: the protection mark "×" or a small
    count's "<3", alone or within the cell ("× (×)", "9 / ×")."""
    return any(m == disclosure.SUPPRESSED or SMALL_MARK.fullmatch(m) for m in marks_in(text))


#: A cell made only of dashes (and brackets): "–" in Swedish statistics means zero, so a
#: withheld or missing value printed so would be read as a zero.
DASH_CELL = re.compile(r"[\s()\[\]]*[–—-]+[\s()\[\]–—-]*")


def table_cells(path: Path, root: Path) -> list[dict]:
    """Every withheld cell of a published table or figure CSV, by row and column: a mark
    ("<3", "×") in a table, a row flagged `suppressed` (with its `reason`) in figure data."""
    header, body = _csv_layout(_read_csv(path))
    flag = header.index("suppressed") if "suppressed" in header else None
    why = header.index("reason") if "reason" in header else None
    out = []
    for r, row in enumerate(body, start=1):
        if flag is not None and flag < len(row) and row[flag] == "True":
            out.append({"row": r, "column": "suppressed",
                        "text": row[why] if why is not None and why < len(row) else "True"})
            continue
        if len(row) == 1 < len(header):
            continue  # a table's note or symbol legend (one field), not a cell
        for c, cell in enumerate(row):
            if _withheld_mark(cell.strip()):
                out.append({"row": r, "column": header[c] if c < len(header) else c,
                            "text": cell.strip()})
    return out


def check_dashes(files: list[Path], reports: Path, check: Check) -> None:
    """No published cell printed as a bare dash: in a Swedish table "–" means zero, so a
    withheld (or missing) value printed so is read as 0 (withheld is "×", see `fmt.SYMBOLS`)."""
    for path in files:
        if path.suffix != ".csv":
            continue
        header, body = _csv_layout(_read_csv(path))
        dashes = [(r, header[c] if c < len(header) else c)
                  for r, row in enumerate(body, start=1) for c, cell in enumerate(row)
                  if DASH_CELL.fullmatch(cell.strip())]
        if dashes:
            r, column = dashes[0]
            check.fail(f"{path.relative_to(reports).as_posix()}: {len(dashes)} cell(s) printed "
                       f"as a dash (first: row {r}, column {column}), which in Swedish "
                       f"statistics means zero; a withheld value is “{disclosure.SUPPRESSED}” "
                       "(re-run make report)")


def check_study(study: str, root: Path | None = None) -> Result:
    """Every check over `reports/<study>/`, against the rules in the study's params.yaml."""
    root = root or project_root()
    reports = root / "reports" / study
    params = load_params(root / "notebooks" / study / "params.yaml")
    rules = disclosure.Rules.from_params(params["report"])
    if not reports.is_dir():
        raise FileNotFoundError(f"export ({study}): {reports} does not exist; run "
                                f"make report STUDY={study} first")
    files = sorted(p for p in reports.rglob("*") if p.is_file() and p.name not in BOOKKEEPING)
    outputs = [Output(p.relative_to(reports).as_posix(),
                      PUBLISHABLE.get(p.suffix.lower(), "not publishable"), _sha256(p),
                      p.stat().st_size) for p in files]
    checks = {name: Check(name, en, sv) for name, (en, sv) in CHECKS.items()}
    check_files(outputs, checks["files"])
    check_persons(files, reports, checks["persons"])
    check_extremes(files, reports, checks["extremes"])
    check_quantile_files(files, reports, rules, checks["quantiles"])
    check_dashes(files, reports, checks["symbols"])
    record_file = root / "data" / "processed" / study / "disclosure.json"
    cells: list[dict] = []
    if not record_file.is_file():
        checks["audit"].fail(f"no decision record {record_file.relative_to(root)}; run "
                             f"make report STUDY={study}")
    else:
        record = json.loads(record_file.read_text(encoding="utf-8"))
        cells = check_audit(record, rules, checks["audit"])
        cells += check_statistics(record, rules, checks["statistics"])
    for o, p in zip(outputs, files, strict=True):
        if p.suffix == ".csv":
            o.cells = table_cells(p, reports)
            o.summary = f"{len(o.cells)} withheld cell(s)"
        failed = [c.name for c in checks.values() if any(f.startswith(o.name) for f in
                                                         c.findings)]
        o.status = "fail" if failed else "pass"
        if failed:
            o.summary = "fails: " + ", ".join(failed)
    return Result(study, outputs, list(checks.values()), rules, cells)


CHECKS = {  # name -> (English, Swedish): the JSON states both, the reviewer's page Swedish
    "files": ("Only publishable kinds of file (appendix, figures, published data, model card)",
              "Endast publicerbara filslag (bilaga, figurer, publicerade data, modellkort)"),
    "persons": ("No personnummer, person key or individual date in any file",
                "Inget personnummer, ingen personnyckel och inget individdatum i någon fil"),
    "extremes": ("No minimum or maximum published",
                 "Inget minsta eller största värde publicerat"),
    "quantiles": ("Quantiles only for groups of at least report.min_quantile_n persons",
                  "Kvantiler endast för grupper med minst report.min_quantile_n personer"),
    "symbols": ("One symbol for one meaning: no value printed as “–” (zero in Swedish tables)",
                "Ett tecken för en betydelse: inget värde tryckt som ”–” (noll i svenska "
                "tabeller)"),
    "audit": ("Linear audit: no withheld count can be narrowed below what its mark allows",
              "Linjär granskning: inget undertryckt antal kan ringas in snävare än markeringen "
              "tillåter"),
    "statistics": ("Means, sums and model estimates by the dominance and degrees-of-freedom rules",
                   "Medelvärden, summor och modellskattningar enligt dominans- och "
                   "frihetsgradsreglerna"),
}


def as_json(result: Result, when: str) -> dict:
    """The machine-readable report; `results` in ACRO's record layout."""
    return {
        "study": result.study, "created": when, "rehabkoord": __version__,
        "passed": result.passed,
        "rules": disclosure.rules_json(result.rules),
        "checks": [{"name": c.name, "description": c.description,
                    "beskrivning": c.beskrivning, "status": c.status, "findings": c.findings}
                   for c in result.checks],
        "files": [{"name": o.name, "sha256": o.sha256, "size": o.size} for o in result.outputs],
        "cells": result.cells,
        "results": {f"output_{i}": {
            "uid": f"output_{i}", "status": o.status, "type": o.kind, "properties": {},
            "files": [{"name": o.name, "sdc": {"withheld_cells": o.cells}}],
            "outcome": {}, "command": f"make report STUDY={result.study}",
            "summary": o.summary or o.status, "timestamp": when, "comments": [],
            "exception": ""} for i, o in enumerate(result.outputs)},
    }


def as_html(result: Result, when: str) -> str:
    """The output-check report for SCB's reviewer (Swedish headings, the rules' own names)."""
    def rows(items: list[list[str]]) -> str:
        return "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>"
                       for row in items)

    verdict = "Alla kontroller godkända" if result.passed else "Kontroller underkända"
    status = {"pass": "godkänd", "fail": "underkänd", "review": "granska"}
    checks = rows([[c.name, c.beskrivning, status[c.status], "; ".join(c.findings)]
                   for c in result.checks])
    files = rows([[o.name, o.kind, o.size, o.sha256, o.summary] for o in result.outputs])
    cells = rows([[" / ".join(c["key"]), c.get("status", ""), c.get("rule", ""),
                   c.get("mark", "")] for c in result.cells])
    marked = rows([[o.name, c["row"], c["column"], c["text"]] for o in result.outputs
                   for c in o.cells])
    rules = rows([[f"report.{k}", v] for k, v in disclosure.rules_json(result.rules).items()])
    return f"""<!DOCTYPE html>
<html lang="sv"><head><meta charset="utf-8"><title>Utdatakontroll – {escape(result.study)}</title>
<style>body {{ font-family: sans-serif; max-width: 70rem; margin: 1rem auto; }}
table {{ border-collapse: collapse; font-size: 0.8rem; margin-bottom: 1.2rem; }}
td, th {{ border: 1px solid #bbb; padding: 0.15rem 0.4rem; vertical-align: top; }}
td:nth-child(4) {{ word-break: break-all; }}</style></head><body>
<h1>Utdatakontroll: {escape(result.study)}</h1>
<p><strong>{verdict}.</strong> Skapad {escape(when)} av rehabkoord {escape(__version__)}.
Mappen innehåller endast det som får lämna SCB:s miljö; de ounderdrückta resultaten finns kvar
under <code>data/processed/{escape(result.study)}/</code>.</p>
<h2>Regler (params.yaml)</h2><table><tr><th>Parameter</th><th>Värde</th></tr>{rules}</table>
<h2>Kontroller</h2><table><tr><th>Kontroll</th><th>Vad</th><th>Resultat</th><th>Fynd</th></tr>
{checks}</table>
<h2>Filer</h2><table><tr><th>Fil</th><th>Slag</th><th>Byte</th><th>sha256</th><th>Status</th></tr>
{files}</table>
<h2>Markerade celler i publicerade tabeller och figurdata</h2>
<table><tr><th>Fil</th><th>Rad</th><th>Kolumn</th><th>Tryckt som</th></tr>{marked}</table>
<h2>Alla publicerade antal och deras status</h2>
<table><tr><th>Cell</th><th>Status</th><th>Regel</th><th>Markering</th></tr>{cells}</table>
</body></html>
"""


def write(result: Result, out: Path, root: Path | None = None) -> Path:
    """A passed study's export: `out/<study>/` (the files and the two reports) and
    `out/<study>.zip`, replacing an earlier export of the same study."""
    if not result.passed:
        raise ValueError(f"export ({result.study}): checks failed; nothing is written")
    study = result.study
    root = root or project_root()
    when = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=f".{study}.") as tmp:
        folder = Path(tmp) / study
        shutil.copytree(root / "reports" / study, folder,
                        ignore=shutil.ignore_patterns(*BOOKKEEPING))
        (folder / "utdatakontroll.json").write_text(
            json.dumps(as_json(result, when), ensure_ascii=False, indent=1) + "\n",
            encoding="utf-8")
        (folder / "utdatakontroll.html").write_text(as_html(result, when), encoding="utf-8")
        archive = Path(tmp) / f"{study}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(folder.rglob("*")):
                if p.is_file():
                    z.write(p, p.relative_to(folder.parent).as_posix())
        final = out / study
        if final.exists():
            shutil.rmtree(final)
        folder.rename(final)
        archive.replace(out / f"{study}.zip")
    return out / study


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehabkoord.export",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("studies", nargs="*", default=list(STUDIES), metavar="study")
    parser.add_argument("--out", default="dist/export", help="folder for the exports")
    args = parser.parse_args(argv)
    unknown = [s for s in args.studies if s not in STUDIES]
    if unknown:
        parser.error(f"unknown study {', '.join(unknown)} (one of {', '.join(STUDIES)})")
    root = project_root()
    results = [check_study(s, root) for s in args.studies]
    failed = [r for r in results if not r.passed]
    if failed:
        for r in failed:
            for c in r.checks:
                if not c.passed:
                    print(f"Export ({r.study}) refused: check '{c.name}' failed — {c.description}",
                          file=sys.stderr)
                    for f in c.findings:
                        print(f"  {f}", file=sys.stderr)
        print("Nothing was written.", file=sys.stderr)
        return 1
    out = Path(args.out) if Path(args.out).is_absolute() else root / args.out
    for r in results:
        print(f"Export ({r.study}): {write(r, out, root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
