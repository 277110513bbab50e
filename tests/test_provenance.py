"""Provenance stamps: what they record, where they live, and that they never break determinism."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import yaml

from rehabkoord import io, provenance, render, style

ROOT = Path(__file__).resolve().parents[1]
GIT = ["git", "-c", "user.email=t@localhost", "-c", "user.name=t"]


def _commit(project: Path, message: str, when: int) -> None:
    env = {"GIT_AUTHOR_DATE": f"{when} +0000", "GIT_COMMITTER_DATE": f"{when} +0000",
           "PATH": "/usr/bin:/bin"}
    subprocess.run([*GIT, "add", "-A"], cwd=project, check=True)
    subprocess.run([*GIT, "commit", "-qm", message], cwd=project, check=True, env=env)


@pytest.fixture()
def project(tmp_path, monkeypatch) -> Path:
    """A minimal compendium: dvc.yaml with one stage, params, a lock, a module and data."""
    p = tmp_path / "proj"
    (p / "src").mkdir(parents=True)
    (p / "src" / "mod.py").write_text("x = 1\n")
    (p / "data" / "raw").mkdir(parents=True)
    (p / "data" / "raw" / "a.csv").write_text("LopNr;Grupp\n1;Kontroll\n")
    (p / "params.yaml").write_text(yaml.safe_dump({"data": {"dir": "data/raw"},
                                                    "study": {"name": "Teststudie"},
                                                    "analysis": {"alpha": 0.05},
                                                    "report": {"min_cell": 3}}))
    (p / "requirements.lock").write_text("pandas==3.1.1\n")
    (p / "pyproject.toml").write_text("")  # project_root() looks for dvc.yaml and this
    (p / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"analyse": {
        "cmd": "true", "deps": ["src/mod.py", "data/raw"], "params": ["analysis"],
        "outs": ["out", {"tables/results.parquet": {"persist": True}}]}}}))
    (p / ".gitignore").write_text("/data/\n")
    subprocess.run(["git", "init", "-q"], cwd=p, check=True)
    _commit(p, "sources", 1_700_000_000)
    monkeypatch.chdir(p)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.setenv("DVC_STAGE", "analyse")
    return p


def test_stamp_records_commit_data_params_lock_and_time(project):
    stamp = provenance.collect(root=project)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert stamp.git_commit == head and stamp.git_dirty is False
    assert stamp.params_sections == ("analysis",)
    assert stamp.params_sha256 == hashlib.sha256(b'{"analysis": {"alpha": 0.05}}').hexdigest()
    assert stamp.lock_sha256 == hashlib.sha256(b"pandas==3.1.1\n").hexdigest()
    assert stamp.run_time == "2023-11-14T22:13:20+00:00"  # the commit's time, 1_700_000_000
    assert stamp.package_version not in ("", "unknown")
    assert provenance.collect(root=project) == stamp  # deterministic


def test_the_stage_comes_from_the_output_path_so_jupyter_stamps_as_dvc(project, monkeypatch):
    under_dvc = provenance.collect(root=project)
    monkeypatch.delenv("DVC_STAGE")
    for output in ("out/fig.png", "tables/results.parquet", "tables/.results.parquet.k2j4.tmp"):
        assert provenance.stage_of(project, project / output) == "analyse", output
        assert provenance.collect(root=project, output=project / output) == under_dvc, output
    assert provenance.stage_of(project, project / "elsewhere.parquet") is None


def test_source_date_epoch_sets_the_run_time(project, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    assert provenance.collect(root=project).run_time == "2026-01-01T00:00:00+00:00"


def test_dirty_flag_and_the_commit_follow_the_stage_sources_only(project):
    before = provenance.collect(root=project)
    (project / "README.md").write_text("later\n")
    (project / "dvc.lock").write_text("schema: '2.0'\n")
    _commit(project, "results of the run and a readme", 1_700_000_500)
    assert provenance.collect(root=project) == before  # a fresh clone re-run stamps the same
    (project / "src" / "mod.py").write_text("x = 2\n")
    dirty = provenance.collect(root=project)
    assert dirty.git_dirty is True and dirty.git_commit == before.git_commit
    _commit(project, "change the stage's code", 1_700_001_000)
    after = provenance.collect(root=project)
    assert after.git_commit != before.git_commit and after.git_dirty is False


def test_data_and_read_params_change_the_hashes_unread_params_do_not(project):
    before = provenance.collect(root=project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["report"]["min_cell"] = 5
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert provenance.collect(root=project).params_sha256 == before.params_sha256
    params["analysis"]["alpha"] = 0.01
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert provenance.collect(root=project).params_sha256 != before.params_sha256
    (project / "data" / "raw" / "a.csv").write_text("LopNr;Grupp\n1;Intervention\n")
    assert provenance.collect(root=project).data_sha256 != before.data_sha256


def test_outside_dvc_all_params_and_outside_git_the_bundle_commit(project, monkeypatch):
    monkeypatch.delenv("DVC_STAGE")
    assert provenance.collect(root=project).params_sections == ("analysis", "data", "report", "study")
    shutil.rmtree(project / ".git")
    (project / provenance.BUNDLE_COMMIT).write_text("abc123 1700000000\n")
    stamp = provenance.collect(root=project)
    assert (stamp.git_commit, stamp.git_dirty, stamp.run_time) == \
        ("abc123", False, "2023-11-14T22:13:20+00:00")


def test_parquet_csv_png_svg_html_carry_the_stamp_and_stay_byte_identical(project):
    stamp = json.loads(provenance.collect(root=project).to_json())
    frame = pd.DataFrame({"n": [1, 2], "p": [0.1, 0.25]})
    first, second = project / "a.parquet", project / "b.parquet"
    io.write_parquet(frame, first)
    io.write_parquet(frame, second)
    assert first.read_bytes() == second.read_bytes()
    assert provenance.read(first) == stamp
    pd.testing.assert_frame_equal(pd.read_parquet(first), frame)  # values untouched

    csv = project / "t.csv"
    frame.to_csv(csv, index=False)
    provenance.write_sidecars(csv)
    assert provenance.read(csv) == stamp
    assert pd.read_csv(csv).equals(frame)

    style.set_style()
    saved = []
    for name in ("one", "two"):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        saved.append(style.save(fig, project / "fig" / name))
    (png_a, svg_a), (png_b, svg_b) = saved
    assert png_a.read_bytes() == png_b.read_bytes() and svg_a.read_bytes() == svg_b.read_bytes()
    assert provenance.read(png_a) == stamp and provenance.read(svg_a) == stamp

    html = project / "page.html"
    html.write_text(f"<html><head>{provenance.html_meta(provenance.collect(root=project))}"
                    "</head><body></body></html>")
    assert provenance.read(html) == stamp


def test_the_appendix_renderer_stamps_the_html(project, tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Bilaga")])
    path = tmp_path / "r.ipynb"
    nbformat.write(nb, path)
    out = render.html(path, project / "bilaga.html", language="sv", params_file="params.yaml")
    assert provenance.read(out) == json.loads(provenance.collect(root=project).to_json())


def test_command_line_prints_the_stamp_or_says_there_is_none(project):
    target = project / "a.parquet"
    io.write_parquet(pd.DataFrame({"n": [1]}), target)
    done = subprocess.run([sys.executable, "-m", "rehabkoord.provenance", str(target)],
                          cwd=project, capture_output=True, text=True)
    assert done.returncode == 0
    assert "git_commit" in done.stdout and "params_sha256" in done.stdout
    (project / "plain.csv").write_text("a\n1\n")
    done = subprocess.run([sys.executable, "-m", "rehabkoord.provenance", "plain.csv"],
                          cwd=project, capture_output=True, text=True)
    assert done.returncode == 1 and "no provenance stamp" in done.stderr


def test_a_stage_running_from_the_root_resolves_its_paths_from_there(tmp_path):
    """A study's stage that reads `data.dir` runs with `wdir: ../..` (so the folder may be
    absolute): its deps and outs are relative to the project root, not to its dvc.yaml."""
    root = tmp_path / "proj"
    study = root / "notebooks" / "s"
    study.mkdir(parents=True)
    (study / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"derive": {
        "wdir": "../..", "cmd": "true", "deps": ["notebooks/s/a.ipynb", "src/mod.py"],
        "params": [{"notebooks/s/params.yaml": ["data"]}],
        "outs": [{"data/processed/s/table.parquet": {"persist": True}}]}}}))
    sections, paths = provenance.stage_inputs(root, "notebooks/s/dvc.yaml:derive")
    assert sections == ("data",)
    assert paths[:2] == ("notebooks/s/a.ipynb", "src/mod.py")
    assert provenance.stage_of(root, root / "data/processed/s/table.parquet") == \
        "notebooks/s/dvc.yaml:derive"
