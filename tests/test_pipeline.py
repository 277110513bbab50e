"""The pipeline end to end: caching, determinism, faults, privacy.

One executed pipeline (`built`, a session fixture of conftest.py in a temporary copy) is shared by every test
that only reads its outputs; a test that changes parameters, code or data works in its own
copy of that run (`copy_built`) and re-runs only what its change invalidates. Only the
determinism and small-data tests run the whole pipeline again. Marked `slow`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
from attacker import assert_appendix_cannot_be_undone
from pipeline_helpers import BIN, copy_built, copy_project, dvc, env, set_params, short_name, stages_run

from rehabkoord import worker

pytestmark = pytest.mark.slow
STAGES = ["synthesize", "clean", "cohort", "analyse", "power", "figures", "report"]
DAG = [("synthesize", "clean"), ("clean", "cohort"), ("cohort", "analyse"), ("analyse", "figures"),
       ("figures", "report"), ("power", "report"), ("analyse", "report")]
TABLES = ["data/processed/uppsala/tables/results.csv", "data/processed/uppsala/tables/baseline.csv",
          "data/processed/uppsala/tables/power.json", "data/processed/uppsala/metrics.json",
          "data/processed/uppsala/flow.json", "data/interim/uppsala/clean_flow.json",
          "data/processed/uppsala/analysis.parquet", "data/processed/uppsala/tables/results.parquet"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def changed_stages(project: Path) -> set[str]:
    """Stages of the Uppsala study (not other studies') that DVC would run."""
    status = json.loads(dvc("status", "--json", cwd=project).stdout or "{}")
    return {short_name(name) for name in status if name.startswith("notebooks/uppsala/")}


def test_one_run_builds_every_stage(built_run):
    """`built` (conftest.py, shared with the print and Word tests): one `dvc repro`."""
    ran = stages_run(built_run[1])
    assert sorted(s for s in ran if ":" not in s) == sorted(STAGES)
    assert "caseload:report" in ran


@pytest.fixture()
def own(built, tmp_path) -> Path:
    """This test's own copy of the executed pipeline."""
    return copy_built(built, tmp_path / "own")


def test_appendix_exists_and_dag_is_in_order(built):
    html = (built / "reports" / "uppsala" / "bilaga.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/svg+xml;base64,') >= 7 and "Tabell 1" in html
    assert '<html lang="sv">' in html
    print(assert_appendix_cannot_be_undone(built))
    assert "studiens designantaganden" in html and "syntetiska generatorn" not in html
    dag = dvc("dag", "--md", cwd=built).stdout
    names = {k: short_name(v) for k, v in re.findall(r'(node\d+)\["([^"]+)"\]', dag)}
    edges = {(names[a], names[b]) for a, b in re.findall(r"(node\d+)-->(node\d+)", dag)}
    assert set(STAGES) <= set(names.values())
    for edge in DAG:
        assert edge in edges, edge
    assert not any("power" == b for _, b in edges), "the power stage reads no data"


def test_second_repro_is_up_to_date(built):
    done = dvc("repro", cwd=built)
    assert stages_run(done.stdout) == []
    assert "up to date" in done.stdout.lower()


@pytest.mark.parametrize(("changes", "reruns"), [
    ({"study": {"name": "Ändrat namn för test"}}, ["report"]),
    ({"report": {"min_cell": 5}}, ["figures", "report"]),
    ({"analysis": {"alpha": 0.01}}, ["report"]),
    ({"analysis": {"conf_level": 0.9}}, ["analyse", "figures", "report"]),
    ({"power": {"n_sim": 20}}, ["power", "report"]),
])
def test_a_parameter_reruns_exactly_the_stages_that_read_it(own, changes, reruns):
    set_params(own, **changes)
    done = dvc("repro", cwd=own)
    assert stages_run(done.stdout) == reruns
    if "study" in changes:
        assert "Ändrat namn för test" in (own / "reports" / "uppsala" / "bilaga.html").read_text("utf-8")


def test_power_depends_only_on_the_design(own):
    before = digest(own / "data" / "processed" / "uppsala" / "tables" / "power.json")
    set_params(own, synthetic={"seed": 1, "mean_sick_days_control": 90.0})
    done = dvc("repro", cwd=own)
    assert "power" not in stages_run(done.stdout) and "synthesize" in stages_run(done.stdout)
    assert digest(own / "data" / "processed" / "uppsala" / "tables" / "power.json") == before


def test_english_appendix_by_one_parameter(own):
    set_params(own, report={"language": "en"})
    done = dvc("repro", cwd=own)
    assert stages_run(done.stdout) == ["figures", "report"]
    html = (own / "reports" / "uppsala" / "bilaga.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in html and "Table 2. Characteristics" in html
    assert "Tabell 1" not in html and "procentenheter" not in html
    assert "the study's design assumptions" in html
    print(assert_appendix_cannot_be_undone(own))


@pytest.mark.parametrize(("module", "stages"), [
    ("fmt", {"figures", "report"}),
    ("power", {"power", "report"}),
    ("stats", {"analyse", "power", "report"}),
    ("synth", {"synthesize"}),
    ("stage", set(STAGES)),
])
def test_a_library_change_reruns_the_stages_that_import_it(own, module, stages):
    path = own / "src" / "rehabkoord" / f"{module}.py"
    if not path.exists():
        path = own / "src" / "rehabkoord" / "studies" / "uppsala" / f"{module}.py"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert changed_stages(own) == stages


def test_two_runs_give_identical_tables(built, tmp_path):
    other = copy_project(tmp_path / "run_b")
    dvc("repro", "notebooks/uppsala/dvc.yaml:report", cwd=other)
    for rel in TABLES:
        assert digest(built / rel) == digest(other / rel), rel
    figures = sorted((built / "reports" / "uppsala" / "figures").iterdir())
    assert figures
    for f in figures:
        assert digest(f) == digest(other / "reports" / "uppsala" / "figures" / f.name), f.name


@pytest.mark.skipif(not worker.available(), reason="the warm worker runs on Linux only")
def test_a_run_served_by_the_warm_worker_gives_identical_outputs(built, tmp_path, monkeypatch):
    """Every Uppsala stage runs in a fork of the warm worker, with the same tables and figures
    as the run in separate processes."""
    run = tempfile.mkdtemp(prefix="rkw-")  # short: socket paths are limited to about 100 bytes
    monkeypatch.setenv("XDG_RUNTIME_DIR", run)
    other = copy_project(tmp_path / "run_w")
    ready, log = tmp_path / "ready", tmp_path / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(BIN / "python"), "-m", "rehabkoord.worker", "--ready",
                                 str(ready)], cwd=other, env=env(), stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not ready.exists():
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            dvc("repro", "notebooks/uppsala/dvc.yaml:report", cwd=other)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            shutil.rmtree(run, ignore_errors=True)
    assert log.read_text().count("-> exit 0") == len(STAGES), log.read_text()
    for rel in TABLES:
        assert digest(built / rel) == digest(other / rel), rel
    for f in sorted((built / "reports" / "uppsala" / "figures").iterdir()):
        assert digest(f) == digest(other / "reports" / "uppsala" / "figures" / f.name), f.name


def test_bad_delivery_fails_stage_and_keeps_outputs(own):
    """A broken 'real' delivery under data/raw/scb: the clean stage fails with the contract
    message as the last line of the runner's stderr, and the outputs survive."""
    before = {rel: digest(own / rel) for rel in TABLES}
    scb = own / "data" / "raw" / "scb"
    shutil.copytree(own / "data" / "raw" / "uppsala" / "synthetic", scb)
    lisa = scb / "lisa" / "LISA2018.csv"
    lines = lisa.read_text(encoding="latin-1").splitlines()
    fields = lines[2].split(";")
    fields[3] = "-5"  # SjukP_Ndag_MiDAS negative
    lines[2] = ";".join(fields)
    lisa.write_text("\n".join(lines) + "\n", encoding="latin-1")
    set_params(own, data={"dir": "data/raw/scb"})
    done = dvc("repro", cwd=own, check=False)
    assert done.returncode != 0
    message = "column 'SjukP_Ndag_MiDAS': outside 0–366: 1 row(s) (rows 2)"
    assert message in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert {rel: digest(own / rel) for rel in TABLES} == before
    runner = subprocess.run([str(Path(env()["PATH"].split(os.pathsep)[0]) / "python"), "-m",
                             "rehabkoord.stage", "notebooks/uppsala/02_clean.ipynb", "failed.ipynb"],
                            cwd=own, env=env(), capture_output=True, text=True)
    assert runner.returncode == 1
    assert runner.stderr.strip().splitlines()[-1].endswith(message)
    assert runner.stderr.startswith("1 contract violation(s):")


def test_killed_stage_is_not_trusted(own):
    cmd = [str(Path(env()["PATH"].split(os.pathsep)[0]) / "dvc"), "repro", "--force", "-s",
           "analyse"]
    proc = subprocess.Popen(cmd, cwd=own, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    tables = own / "data" / "processed" / "uppsala" / "tables"
    leftovers = [p for p in tables.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    (own / ".dvc" / "tmp" / "rwlock").unlink(missing_ok=True)
    (own / ".dvc" / "tmp" / "lock").unlink(missing_ok=True)
    done = dvc("repro", cwd=own)
    assert "analyse" in stages_run(done.stdout) or "up to date" in done.stdout.lower()
    assert changed_stages(own) == set()


def test_no_person_keys_in_outputs(built):
    rand = pd.read_parquet(built / "data" / "interim" / "uppsala" / "randomisation.parquet")
    keys = set(rand["LopNr"].astype(str))
    pattern = re.compile(r"(?<![0-9A-Za-z])(" + "|".join(map(re.escape, keys)) + r")(?![0-9A-Za-z])")
    internal = built / "data" / "processed" / "uppsala" / "notebooks"
    outputs = [*(built / "reports").rglob("*.html"), *(built / "reports").rglob("*.csv"),
               *internal.glob("*.ipynb")]
    for path in outputs:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            nb = json.loads(text)
            text = json.dumps([c.get("outputs", []) for c in nb["cells"]])
        hits = pattern.findall(text)
        assert not hits, f"{path.name} shows {len(hits)} person key(s)"
        assert "LopNr" not in text or path.suffix == ".ipynb", path.name


def test_every_study_exports_with_every_check_passed(built, tmp_path):
    """`make export`'s command on the default data of all four studies: reports/<study>/ holds
    only publishable files, every check passes, and each export lists its files' sha256."""
    done = subprocess.run([str(BIN / "python"), "-m", "rehabkoord.export", "--out",
                           str(tmp_path / "export")], cwd=built, env=env(),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    studies = ("uppsala", "caseload", "stockholm", "risk")
    assert done.stdout.splitlines() == [f"Export ({s}): {tmp_path / 'export' / s}"
                                        for s in studies]
    for study in studies:
        report = json.loads((tmp_path / "export" / study / "utdatakontroll.json")
                            .read_text(encoding="utf-8"))
        print(study, {c["name"]: c["status"] for c in report["checks"]},
              len(report["files"]), "files", len(report["cells"]), "cells")
        assert {c["status"] for c in report["checks"]} <= {"pass", "review"}
        names = {f["name"] for f in report["files"]}
        assert not [n for n in names if n.endswith((".ipynb", ".parquet"))]
        assert any(n.startswith("tables/") for n in names)
        assert (tmp_path / "export" / f"{study}.zip").is_file()


def test_every_study_exports_in_english_under_stricter_rules(own, tmp_path):
    """The output checks on another configuration of every study: English appendices (the
    caseload summary is Swedish only) and larger minimum cells re-run only the studies'
    publishing stages, and every export still passes."""
    rules = {"uppsala": 5, "caseload": 4, "stockholm": 8, "risk": 8}
    for study, min_cell in rules.items():
        set_params(own, of=study, report={"min_cell": min_cell}
                   | ({} if study == "caseload" else {"language": "en"}))
    done = dvc("repro", cwd=own)
    assert sorted(stages_run(done.stdout)) == ["caseload:report", "figures", "report",
                                                "risk:report", "stockholm:report"]
    exported = subprocess.run([str(BIN / "python"), "-m", "rehabkoord.export", "--out",
                               str(tmp_path / "export")], cwd=own, env=env(),
                              capture_output=True, text=True)
    assert exported.returncode == 0, exported.stderr
    for study, min_cell in rules.items():
        report = json.loads((tmp_path / "export" / study / "utdatakontroll.json")
                            .read_text(encoding="utf-8"))
        assert report["rules"]["min_cell"] == min_cell
    for study in ("uppsala", "stockholm", "risk"):
        assert '<html lang="en">' in (own / "reports" / study / "bilaga.html").read_text("utf-8")
    print(assert_appendix_cannot_be_undone(own))


def test_small_cells_are_suppressed_in_html(tmp_path):
    """A 30-person study with min_cell 5: withheld shares are not in the HTML, and the
    attacker narrows no withheld count."""
    from rehabkoord import disclosure
    from rehabkoord.fmt import number
    from rehabkoord.io import read_json
    from rehabkoord.studies.uppsala.report import label

    project = copy_project(tmp_path / "small")
    set_params(project, synthetic={"n_participants": 30, "seed": 11}, report={"min_cell": 5},
               power={"n_sim": 5})
    dvc("repro", "notebooks/uppsala/dvc.yaml:report", cwd=project)
    tables = project / "data" / "processed" / "uppsala" / "tables"
    pub = disclosure.publish(pd.read_parquet(tables / "results.parquet"),
                             pd.read_parquet(tables / "baseline.parquet"),
                             read_json(project / "data" / "processed" / "uppsala" / "flow.json"),
                             disclosure.Rules(5), read_json(tables / "power.json")["window_months"])
    html = (project / "reports" / "uppsala" / "bilaga.html").read_text(encoding="utf-8")
    assert "&lt;5" in html
    windows = re.split(r"Utfall kalenderåret minst (\d+) månader efter randomisering\.</caption>",
                       html)
    sections = dict(zip(windows[1::2], windows[2::2], strict=True))
    results = pd.read_parquet(tables / "results.parquet")
    withheld = 0
    for r in pub.outcomes:
        if r["kind"] != "binary":
            continue
        section = sections[str(r["window"])].split("</table>")[0]
        rows = [row for row in section.split("<tr")
                if label(r["stratum"], "sv") + "<" in row and label(r["outcome"], "sv") in row]
        assert len(rows) == 1
        true = results[(results["window_months"] == r["window"])
                       & (results["stratum"] == r["stratum"])
                       & (results["outcome"] == r["outcome"])].iloc[0]
        for prefix in ("int", "ctl"):
            if r[f"pct_{prefix}"].withheld:
                withheld += 1
                assert f"({number(float(true[f'pct_{prefix}']), 1, 'sv')})" not in rows[0]
        if r["effect"].withheld:
            assert "procentenheter" not in rows[0]
    assert withheld, "the small data set should withhold some shares"
    print(assert_appendix_cannot_be_undone(project))


def test_appendix_in_headless_chromium(built):
    """Every figure loads, no error text, and a screenshot is kept as a test artifact."""
    from rehabkoord.render import chromium_path

    try:
        browser_path = chromium_path()
    except FileNotFoundError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("chromium not installed (Debian package 'chromium')")
    from playwright.sync_api import sync_playwright

    artifacts = Path(__file__).resolve().parents[1] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    html = built / "reports" / "uppsala" / "bilaga.html"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(html.as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("Array.from(document.images).map(i => i.complete && "
                               "i.naturalWidth > 0)")
        body = page.inner_text("body")
        page.screenshot(path=str(artifacts / "bilaga.png"), full_page=True)
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.goto(html.as_uri())
        overflow = phone.evaluate("document.documentElement.scrollWidth <= 400")
        browser.close()
    assert len(images) >= 7 and all(images)
    for bad in ("Traceback", "Error", "NaN", "nan%"):
        assert bad not in body, bad
    assert overflow, "the page scrolls sideways on a phone"


def test_pdf_is_printed(built, tmp_path):
    from rehabkoord.render import chromium_path, pdf

    try:
        chromium_path()
    except FileNotFoundError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("chromium not installed (Debian package 'chromium')")
    out = pdf(built / "reports" / "uppsala" / "bilaga.html", tmp_path / "bilaga.pdf")
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page") >= 3


def test_notebook_runs_in_place_as_in_jupyterlab(own):
    """A statistician opening notebooks/uppsala/03_cohort.ipynb in Lab (cwd its folder, the registered
    kernel in its own process, the same defaults) runs it top to bottom without errors."""
    import nbformat
    from nbclient import NotebookClient

    before = digest(own / "data" / "processed" / "uppsala" / "analysis.parquet")
    nb = nbformat.read(own / "notebooks" / "uppsala" / "03_cohort.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="rehabkoord",
                   resources={"metadata": {"path": str(own / "notebooks" / "uppsala")}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert digest(own / "data" / "processed" / "uppsala" / "analysis.parquet") == before


def test_a_parameter_of_one_study_reruns_only_that_study(own):
    set_params(own, of="caseload", report={"min_cell": 4})
    done = dvc("repro", cwd=own)
    assert stages_run(done.stdout) == ["caseload:report"]


def test_a_new_study_from_the_template_runs_alone(own):
    """A throw-away third study, made from tests/study_template/ by the README's steps (its
    folder and one word in the Makefile): `make report` runs its stage and no other."""
    template = Path(__file__).parent / "study_template"
    folder = own / "notebooks" / "demo"
    folder.mkdir()
    for f in template.iterdir():
        (folder / f.name.removesuffix(".in")).write_text(  # dvc.yaml.in: DVC must not see it
            f.read_text(encoding="utf-8").replace("STUDY", "demo"), encoding="utf-8")
    makefile = own / "Makefile"
    makefile.write_text(makefile.read_text(encoding="utf-8").replace(
        "STUDIES := uppsala caseload", "STUDIES := uppsala caseload demo"), encoding="utf-8")
    (own / ".venv").symlink_to(Path(os.environ.get("VIRTUAL_ENV") or BIN.parent))
    done = subprocess.run(["make", "--no-print-directory", "report", "STAMP="], cwd=own,
                          env=env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert stages_run(done.stdout) == ["demo:report"]
    assert f"Appendix (demo): {own}/reports/demo/bilaga.html" in done.stdout
    html = (own / "reports" / "demo" / "bilaga.html").read_text(encoding="utf-8")
    assert "Mallstudie" in html and "Tabell 1. Antal" in html
    dag = dvc("dag", "--md", cwd=own).stdout
    assert "notebooks/demo/dvc.yaml:report" in dag


#: The one declared data dependency between studies: the risk study scores the spell study's
#: participants (its analysis table), so the spell study's derivation runs first.
CROSS_STUDY = {("notebooks/stockholm/dvc.yaml:derive", "notebooks/risk/dvc.yaml:effect")}


def test_dag_shows_each_study_as_its_own_chain(built):
    dag = dvc("dag", "--md", cwd=built).stdout
    names = dict(re.findall(r'(node\d+)\["([^"]+)"\]', dag))
    edges = {(names[a], names[b]) for a, b in re.findall(r"(node\d+)-->(node\d+)", dag)}
    assert edges
    across = {(a, b) for a, b in edges if a.split(":")[0] != b.split(":")[0]}
    assert across == CROSS_STUDY  # no other edge between studies
