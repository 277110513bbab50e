"""`make export`: each check catches its leak, a failing check writes nothing, a passing export
holds every file with its sha256, the rules and every cell's status."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile

import pytest
import yaml

from rehabkoord import disclosure, export

RULES = {"min_cell": 3, "zeros_disclosive": False, "mark_small_counts": True}


def _decision(small: int = 2) -> tuple[disclosure.Structure, dict, disclosure.Rules]:
    s = disclosure.Structure()
    parts = [s.cell(("site", "A"), small), s.cell(("site", "B"), 10), s.cell(("site", "C"), 11)]
    s.relation(s.cell(("total",), small + 21), parts)
    rules = disclosure.Rules.from_params(RULES)
    return s, disclosure.protect(s, rules), rules


@pytest.fixture
def project(tmp_path):
    """A study as `make report` leaves it: publishable files and the internal record."""
    (tmp_path / "notebooks" / "demo").mkdir(parents=True)
    (tmp_path / "notebooks" / "demo" / "params.yaml").write_text(
        yaml.safe_dump({"report": RULES}), encoding="utf-8")
    reports = tmp_path / "reports" / "demo"
    (reports / "tables").mkdir(parents=True)
    (reports / "figures").mkdir()
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><text>Andel</text></svg>'
    data = base64.b64encode(svg.encode()).decode()
    (reports / "bilaga.html").write_text(
        f'<html><body><p>Bilaga</p><img src="data:image/svg+xml;base64,{data}"></body></html>',
        encoding="utf-8")
    (reports / "tables" / "01_tabell_1_t1.csv").write_text(
        "Tabell 1. Antal\nEnhet,n\nA,<3\nB,×\nC,11\nAlla,×\n", encoding="utf-8")
    (reports / "figures" / "andel.csv").write_text("group,n,median\nA,25,3.5\n", encoding="utf-8")
    (reports / "figures" / "andel.svg").write_text(svg, encoding="utf-8")
    processed = tmp_path / "data" / "processed" / "demo"
    processed.mkdir(parents=True)
    (processed / "disclosure.json").write_text(json.dumps(disclosure.record(*_decision())),
                                               encoding="utf-8")
    return tmp_path


def _failed(root) -> dict[str, list[str]]:
    result = export.check_study("demo", root)
    return {c.name: c.findings for c in result.checks if not c.passed}


def test_a_clean_study_passes_and_is_written_with_its_report(project):
    result = export.check_study("demo", project)
    assert result.passed, [(c.name, c.findings) for c in result.checks]
    folder = export.write(result, project / "dist", project)
    report = json.loads((folder / "utdatakontroll.json").read_text(encoding="utf-8"))
    assert report["passed"] and report["rules"]["min_quantile_n"] == 10
    files = {f["name"]: f["sha256"] for f in report["files"]}
    original = project / "reports" / "demo" / "tables" / "01_tabell_1_t1.csv"
    assert files["tables/01_tabell_1_t1.csv"] == hashlib.sha256(original.read_bytes()).hexdigest()
    statuses = {tuple(c["key"]): (c["status"], c["mark"]) for c in report["cells"]}
    assert statuses[("site", "A")] == ("withheld", "<3")
    assert statuses[("site", "C")] == ("published", "")
    assert not any("value" in c for c in report["cells"])  # never a withheld value
    assert {r["status"] for r in report["results"].values()} == {"pass"}
    marked = report["results"]["output_3"]["files"][0]["sdc"]["withheld_cells"]
    assert [c["text"] for c in marked] == ["<3", "×", "×"]
    assert "Utdatakontroll: demo" in (folder / "utdatakontroll.html").read_text(encoding="utf-8")
    with zipfile.ZipFile(project / "dist" / "demo.zip") as z:
        assert "demo/utdatakontroll.json" in z.namelist()
        assert "demo/tables/01_tabell_1_t1.csv" in z.namelist()


def test_unsuppressed_files_beside_the_appendix_fail(project):
    (project / "reports" / "demo" / "notebooks").mkdir()
    (project / "reports" / "demo" / "notebooks" / "04_analyse.ipynb").write_text("{}")
    (project / "reports" / "demo" / "metrics.json").write_text("{}")
    found = _failed(project)["files"]
    assert len(found) == 2 and "notebooks/04_analyse.ipynb" in found[1]


def test_a_minimum_or_maximum_fails(project):
    (project / "reports" / "demo" / "figures" / "dagar.csv").write_text(
        "group,n,mean,max\nA,25,3.5,300\n", encoding="utf-8")
    assert "figures/dagar.csv: max" in _failed(project)["extremes"][0]


def test_a_personnummer_in_an_embedded_figure_fails(project):
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><text>19850312-1234</text></svg>'
    data = base64.b64encode(svg.encode()).decode()
    (project / "reports" / "demo" / "bilaga.html").write_text(
        f'<img src="data:image/svg+xml;base64,{data}">', encoding="utf-8")
    found = _failed(project)["persons"]
    assert found == ["bilaga.html: 1 string(s) shaped like a personnummer"]
    assert "1234" not in found[0]


def test_person_keys_and_dates_in_published_data_fail(project):
    (project / "reports" / "demo" / "figures" / "x.csv").write_text(
        "LopNr,day\n12,2019-03-04\n13,2019-03-05\n", encoding="utf-8")
    found = _failed(project)["persons"]
    assert any("LopNr" in f for f in found) and any("column day holds 2 full dates" in f
                                                    for f in found)


def test_a_period_in_the_title_block_is_not_a_person_date(project):
    (project / "reports" / "demo" / "tables" / "00.csv").write_text(
        "Insats,Studie\nPeriod,2024-09-01 – 2026-03-31\nDatum,2026-12-07\nÄgare,Region\n"
        "Källa,LISA\n", encoding="utf-8")
    assert "persons" not in _failed(project)


@pytest.mark.parametrize("text", [
    "group,n,median,q1,q3\nA,25,3.5,1,5\nB,6,124.75,115,180.5\n",
    # the Uppsala Figur 8 leak as published: deciles among the 6 with days invert to their values
    "group,n_with_days,suppressed,p10,p50,p90\nA,25,False,1,3,9\nB,6,False,115,180.5,332.5\n"])
def test_quantiles_of_a_small_group_fail(project, text):
    (project / "reports" / "demo" / "figures" / "andel.csv").write_text(text, encoding="utf-8")
    assert _failed(project)["quantiles"] == [
        "figures/andel.csv: 1 row(s) show quantiles of fewer than 10 persons"]


def test_quantiles_without_their_group_size_fail(project):
    (project / "reports" / "demo" / "figures" / "andel.csv").write_text(
        "group,p10,p50\nA,1,3\n", encoding="utf-8")
    assert "without the one column of the group's n" in _failed(project)["quantiles"][0]


def test_a_withheld_n_is_judged_by_what_the_reader_knows_of_it(project):
    (project / "reports" / "demo" / "figures" / "andel.csv").write_text(
        "group,n_with_days,n_at_least,p10,p50\nA,,12,1,3\nB,,9,2,4\n", encoding="utf-8")
    assert _failed(project)["quantiles"] == [
        "figures/andel.csv: 1 row(s) show quantiles of fewer than 10 persons"]


def test_a_decision_that_no_longer_protects_fails_the_audit(project):
    s, withheld, rules = _decision()
    bare = {k: r for k, r in withheld.items() if r == disclosure.SMALL}
    (project / "data" / "processed" / "demo" / "disclosure.json").write_text(
        json.dumps(disclosure.record(s, bare, rules)), encoding="utf-8")
    found = _failed(project)["audit"]
    assert any("site / A can be narrowed" in f for f in found)


def test_a_decision_under_other_rules_fails(project):
    (project / "notebooks" / "demo" / "params.yaml").write_text(
        yaml.safe_dump({"report": {**RULES, "min_cell": 5}}), encoding="utf-8")
    assert "other rules" in _failed(project)["audit"][0]


def test_a_published_statistic_against_the_rules_fails(project):
    s, withheld, rules = _decision()
    stats = [{"key": ["median", "A"], "kind": "quantile", "n": 6, "status": "published"},
             {"key": ["mean", "B"], "kind": "mean", "n": 20, "status": "published",
              "dominance": disclosure.DOMINATED},
             {"key": ["or", "x"], "kind": "estimate", "df": 4, "status": "published"},
             {"key": ["median", "C"], "kind": "quantile", "n": 6, "status": "withheld"}]
    (project / "data" / "processed" / "demo" / "disclosure.json").write_text(
        json.dumps(disclosure.record(s, withheld, rules, stats)), encoding="utf-8")
    assert len(_failed(project)["statistics"]) == 4  # the summary line and three findings


def test_the_command_refuses_and_writes_nothing(project, monkeypatch, capsys):
    (project / "reports" / "demo" / "figures" / "dagar.csv").write_text(
        "group,n,max\nA,25,300\n", encoding="utf-8")
    monkeypatch.setattr(export, "STUDIES", ("demo",))
    monkeypatch.setattr(export, "project_root", lambda: project)
    assert export.main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "check 'extremes' failed" in err and err.rstrip().endswith("Nothing was written.")
    assert not (project / "dist").exists()
    (project / "reports" / "demo" / "figures" / "dagar.csv").unlink()
    assert export.main(["demo"]) == 0
    assert capsys.readouterr().out.strip() == f"Export (demo): {project / 'dist' / 'export' / 'demo'}"


def test_withheld_rows_of_figure_data_are_listed_with_their_reason(project):
    (project / "reports" / "demo" / "figures" / "andel.csv").write_text(
        "group,suppressed,reason,n,pct\nA,False,,25,40.0\nB,True,small count,,\n",
        encoding="utf-8")
    result = export.check_study("demo", project)
    (figure,) = [o for o in result.outputs if o.name == "figures/andel.csv"]
    assert figure.cells == [{"row": 2, "column": "suppressed", "text": "small count"}]


def test_a_personnummer_in_the_word_file_fails(project):
    from docx import Document

    doc = Document()
    doc.add_paragraph("Depression (19850312-1234)")
    doc.save(project / "reports" / "demo" / "bilaga.docx")
    assert _failed(project)["persons"] == ["bilaga.docx: 1 string(s) shaped like a personnummer"]


def test_withheld_marks_within_a_cell_are_listed_and_numbers_are_not(project):
    (project / "reports" / "demo" / "tables" / "02_tabell_2_t2.csv").write_text(
        "Tabell 2. Utfall\nGrupp,n / N (%),p\nAlla,9 / × (×),< 0,001\nMän,<3 / 12,0\n"
        "Kvinnor,0 / 14 (0),..\n"
        "Teckenförklaring: × uppgift skyddad av sekretesskäl (röjandekontroll); <3 färre än 3 "
        "personer.\n", encoding="utf-8")
    result = export.check_study("demo", project)
    (table,) = [o for o in result.outputs if o.name == "tables/02_tabell_2_t2.csv"]
    assert [(c["row"], c["text"]) for c in table.cells] == [(1, "9 / × (×)"), (2, "<3 / 12")]


@pytest.mark.parametrize("text", ["–", "– (–)", "-"])
def test_a_value_printed_as_a_dash_fails_as_it_reads_as_zero(project, text):
    (project / "reports" / "demo" / "tables" / "02_tabell_2_t2.csv").write_text(
        f"Tabell 2. Utfall\nGrupp,n\nAlla,12\nMän,{text}\nÅlder,25–34\n", encoding="utf-8")
    (found,) = _failed(project)["symbols"]
    assert "tables/02_tabell_2_t2.csv: 1 cell(s)" in found and "row 2, column n" in found
