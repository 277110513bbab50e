"""The pipeline end to end in fresh copies: caching, determinism, faults, privacy.

Slow (each full run takes about a minute); marked `slow`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from pipeline_helpers import copy_project, dvc, env, set_params, stages_run

pytestmark = pytest.mark.slow
STAGES = ["synthesize", "clean", "cohort", "analyse", "figures", "report"]
TABLES = ["reports/tables/results.csv", "reports/tables/baseline.csv", "reports/tables/power.json",
          "reports/metrics.json", "data/processed/flow.json", "data/interim/clean_flow.json",
          "data/processed/analysis.parquet", "reports/tables/results.parquet"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("run_a"))
    done = dvc("repro", cwd=project)
    assert stages_run(done.stdout) == STAGES
    return project


def test_appendix_exists_and_dag_is_in_order(built):
    html = (built / "reports" / "bilaga.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/svg+xml;base64,') >= 7 and "Tabell 1" in html
    assert '<html lang="sv">' in html
    dag = dvc("dag", "--md", cwd=built).stdout
    names = dict(re.findall(r'(node\d+)\["([^"]+)"\]', dag))
    edges = {(names[a], names[b]) for a, b in re.findall(r"(node\d+)-->(node\d+)", dag)}
    assert set(names.values()) == set(STAGES)
    for a, b in zip(STAGES, STAGES[1:], strict=False):
        assert (a, b) in edges, (a, b)


def test_second_repro_is_up_to_date(built):
    done = dvc("repro", cwd=built)
    assert stages_run(done.stdout) == []
    assert "up to date" in done.stdout.lower()


def test_report_parameter_reruns_only_report(built, tmp_path):
    project = built
    original = (project / "params.yaml").read_text(encoding="utf-8")
    try:
        set_params(project, study={"name": "Ändrat namn för test"})
        done = dvc("repro", cwd=project)
        assert stages_run(done.stdout) == ["report"]
        assert "Ändrat namn för test" in (project / "reports" / "bilaga.html").read_text("utf-8")
    finally:
        (project / "params.yaml").write_text(original, encoding="utf-8")
        dvc("repro", cwd=project)


def test_english_appendix_by_one_parameter(built):
    original = (built / "params.yaml").read_text(encoding="utf-8")
    try:
        set_params(built, report={"language": "en"})
        done = dvc("repro", cwd=built)
        assert stages_run(done.stdout) == ["figures", "report"]
        html = (built / "reports" / "bilaga.html").read_text(encoding="utf-8")
        assert '<html lang="en">' in html and "Table 2. Characteristics" in html
        assert "Tabell 1" not in html and "procentenheter" not in html
    finally:
        (built / "params.yaml").write_text(original, encoding="utf-8")
        dvc("repro", cwd=built)


def test_library_change_reruns_dependent_stages(built):
    fmt = built / "src" / "rehabkoord" / "fmt.py"
    original = fmt.read_text(encoding="utf-8")
    try:
        fmt.write_text(original + "\n", encoding="utf-8")
        status = dvc("status", "--json", cwd=built).stdout
        assert set(json.loads(status)) == {"figures", "report"}
    finally:
        fmt.write_text(original, encoding="utf-8")


def test_two_runs_give_identical_tables(built, tmp_path):
    other = copy_project(tmp_path / "run_b")
    dvc("repro", cwd=other)
    for rel in TABLES:
        assert digest(built / rel) == digest(other / rel), rel
    figures = sorted((built / "reports" / "figures").iterdir())
    assert figures
    for f in figures:
        assert digest(f) == digest(other / "reports" / "figures" / f.name), f.name


def test_bad_delivery_fails_stage_and_keeps_outputs(built):
    """A broken 'real' delivery under data/raw/scb: the clean stage fails, outputs survive."""
    before = {rel: digest(built / rel) for rel in TABLES}
    params = (built / "params.yaml").read_text(encoding="utf-8")
    scb = built / "data" / "raw" / "scb"
    shutil.copytree(built / "data" / "raw" / "synthetic", scb)
    lisa = scb / "lisa" / "LISA2018.csv"
    lines = lisa.read_text(encoding="latin-1").splitlines()
    fields = lines[2].split(";")
    fields[3] = "-5"  # SjukP_Ndag_MiDAS negative
    lines[2] = ";".join(fields)
    lisa.write_text("\n".join(lines) + "\n", encoding="latin-1")
    set_params(built, data={"dir": "data/raw/scb"})
    try:
        done = dvc("repro", cwd=built, check=False)
        assert done.returncode != 0
        assert "column 'SjukP_Ndag_MiDAS': outside 0–366: 1 row(s) (rows 2)" in (
            done.stdout + done.stderr)
        assert {rel: digest(built / rel) for rel in TABLES} == before
    finally:
        (built / "params.yaml").write_text(params, encoding="utf-8")
        shutil.rmtree(scb)
        dvc("repro", cwd=built)


def test_killed_stage_is_not_trusted(built):
    cmd = [str(Path(env()["PATH"].split(os.pathsep)[0]) / "dvc"), "repro", "--force", "-s",
           "analyse"]
    proc = subprocess.Popen(cmd, cwd=built, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    time.sleep(8)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    leftovers = [p for p in (built / "reports" / "tables").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    (built / ".dvc" / "tmp" / "rwlock").unlink(missing_ok=True)
    (built / ".dvc" / "tmp" / "lock").unlink(missing_ok=True)
    done = dvc("repro", cwd=built)
    assert "analyse" in stages_run(done.stdout) or "up to date" in done.stdout.lower()
    assert dvc("status", "--json", cwd=built).stdout.strip() in ("{}", "")


def test_no_person_keys_in_outputs(built):
    rand = pd.read_parquet(built / "data" / "interim" / "randomisation.parquet")
    keys = set(rand["LopNr"].astype(str))
    pattern = re.compile(r"(?<![0-9A-Za-z])(" + "|".join(map(re.escape, keys)) + r")(?![0-9A-Za-z])")
    outputs = [built / "reports" / "bilaga.html", *(built / "reports" / "notebooks").glob("*.ipynb")]
    for path in outputs:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            nb = json.loads(text)
            text = json.dumps([c.get("outputs", []) for c in nb["cells"]])
        hits = pattern.findall(text)
        assert not hits, f"{path.name} shows {len(hits)} person key(s)"
        assert "LopNr" not in text or path.suffix == ".ipynb", path.name


def test_small_cells_are_suppressed_in_html(tmp_path):
    from rehabkoord.fmt import number
    from rehabkoord.report import is_suppressed, label

    project = copy_project(tmp_path / "small")
    set_params(project, synthetic={"n_participants": 30, "seed": 11},
               analysis={"power": {"p_control": 0.3, "p_intervention": 0.5, "power": 0.8,
                                   "window_months": 12, "n_sim": 5, "seed": 7}})
    dvc("repro", cwd=project)
    results = pd.read_parquet(project / "reports" / "tables" / "results.parquet")
    html = (project / "reports" / "bilaga.html").read_text(encoding="utf-8")
    suppressed = [r for _, r in results.iterrows() if is_suppressed(r, 3)]
    assert suppressed, "the small data set should produce suppressed cells"
    assert "&lt;3" in html
    windows = re.split(r"Utfall kalenderåret minst (\d+) månader efter randomisering\.</caption>",
                       html)
    sections = dict(zip(windows[1::2], windows[2::2], strict=True))
    for r in suppressed:
        if r["kind"] != "binary":
            continue
        section = sections[str(r["window_months"])].split("</table>")[0]
        rows = [row for row in section.split("<tr")
                if label(r["stratum"], "sv") + "<" in row and label(r["outcome"], "sv") in row]
        assert len(rows) == 1
        for prefix in ("int", "ctl"):
            if r[f"events_{prefix}"] not in (0, r[f"n_{prefix}"]):
                assert number(r[f"pct_{prefix}"], 1, "sv") not in rows[0], (r["stratum"], prefix)
                assert f">{int(r[f'events_{prefix}'])} (" not in rows[0]
        if pd.notna(r.get("estimate")):
            assert "procentenheter" not in rows[0]


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
    html = built / "reports" / "bilaga.html"
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


def test_pdf_is_printed(built):
    from rehabkoord.render import chromium_path, pdf

    try:
        chromium_path()
    except FileNotFoundError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("chromium not installed (Debian package 'chromium')")
    out = pdf(built / "reports" / "bilaga.html", built / "reports" / "bilaga.pdf")
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page") >= 3


def test_notebook_runs_in_place_as_in_jupyterlab(built):
    """A statistician opening notebooks/03_cohort.ipynb in Lab (cwd notebooks/, the registered
    kernel, the same defaults) runs it top to bottom without errors (pytest-notebook)."""
    from pytest_notebook.nb_regression import NBRegressionFixture

    fixture = NBRegressionFixture(
        exec_timeout=300, exec_cwd=str(built / "notebooks"),
        diff_ignore=("/cells/*/outputs", "/cells/*/execution_count", "/metadata/language_info",
                     "/cells/*/metadata"))
    before = digest(built / "data" / "processed" / "analysis.parquet")
    result = fixture.check(str(built / "notebooks" / "03_cohort.ipynb"), raise_errors=True)
    errors = [o for c in result.nb_final.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    assert digest(built / "data" / "processed" / "analysis.parquet") == before
