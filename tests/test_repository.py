"""House rules of the repository: pins agree, notebooks carry no outputs, no data in git."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
#: What `make setup` depends on (the Makefile's $(STAMP) rule): a clone sharing this checkout's
#: .venv dates them back, or make would re-install into that shared environment.
SETUP_INPUTS = ("requirements.lock", "requirements-uv.lock", "pyproject.toml")


def test_environment_yml_pins_match_lock():
    lock = {line.strip() for line in (ROOT / "requirements.lock").read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {p for p in pip if "==" in p} == lock
    assert all("==" in p for p in lock), "every dependency must be pinned exactly"


def test_notebooks_have_no_outputs_and_a_parameters_cell():
    for path in sorted((ROOT / "notebooks").glob("**/*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), path
        assert "parameters" in code[0]["metadata"].get("tags", []), path
        assert nb["metadata"]["kernelspec"]["name"] == "rehabkoord"


def test_git_tracks_no_data_and_no_executed_notebooks():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    for path in tracked:
        if path.startswith("data/"):
            assert Path(path).name in ("README.md", ".gitignore"), path
        assert not (path.startswith("reports/") and path.endswith((".ipynb", ".html",
                                                                     ".parquet", ".png"))), path


def test_gitignore_covers_data_and_outputs():
    probe = ["data/raw/scb/lisa_2023.sas7bdat", "data/interim/uppsala/lisa.parquet",
             "data/processed/uppsala/notebooks/02_clean.ipynb", "reports/uppsala/bilaga.html"]
    done = subprocess.run(["git", "check-ignore", *probe], cwd=ROOT, capture_output=True,
                          text=True)
    assert sorted(done.stdout.split()) == sorted(probe)


def _module_file(module: str) -> Path | None:
    """`rehabkoord.studies.uppsala.cohort` -> its file under src/, None outside the package."""
    parts = module.split(".")
    if parts[0] != "rehabkoord":
        return None
    base = ROOT / "src" / Path(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(code: str, package: str) -> set[str]:
    """Modules a source imports, absolute, with `from x import name` also naming x.name
    (a submodule when one exists)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if _module_file(m) is not None}


def _closure(modules: set[str]) -> set[Path]:
    seen: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        m = todo.pop()
        path = _module_file(m)
        if m in seen or path is None:
            continue
        seen[m] = path
        package = m if path.name == "__init__.py" else m.rpartition(".")[0]
        todo.extend(_imports(path.read_text(encoding="utf-8"), package))
    return {p for p in seen.values() if p.name != "__init__.py" or p.stat().st_size > 200}


def _stages():
    for dvc_file in [ROOT / "dvc.yaml", *sorted(ROOT.glob("notebooks/*/dvc.yaml"))]:
        stages = yaml.safe_load(dvc_file.read_text(encoding="utf-8")).get("stages") or {}
        for name, stage in stages.items():
            yield dvc_file.parent / stage.get("wdir", "."), name, stage


def _stage_code(wdir: Path, stage: dict) -> tuple[set[Path], Path, str, set[Path]]:
    """A stage's deps (resolved), its notebook, the notebook's code and the package modules
    the stage runs: those the notebook and the command import, with what they import, and
    the package's own `__init__` (it runs first: determinism.pin)."""
    deps = {(wdir / (d if isinstance(d, str) else next(iter(d)))).resolve() for d in stage["deps"]}
    notebook = next(d for d in deps if d.suffix == ".ipynb")
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    used = _imports(code, "")
    used.update(f"rehabkoord.{m}" for m in re.findall(r"-m rehabkoord\.(\w+)", stage["cmd"]))
    return deps, notebook, code, _closure(used | {"rehabkoord"})


#: The glossaries every study shares (`rehabkoord.texts.shared`).
SHARED_TEXT = ROOT / "src" / "rehabkoord" / "text"


def _reads_shared_text(module: Path) -> bool:
    return re.search(r"\bshared\(", module.read_text(encoding="utf-8")) is not None


def _listed_exactly_when(reads: bool, folder: Path, deps: set[Path], stage: Path) -> None:
    """A words folder is a stage's dep exactly when the stage reads it."""
    assert reads == (folder in deps), (
        f"stage {stage} {'misses' if reads else 'lists unused'} {folder.relative_to(ROOT)}")


def test_every_stage_lists_the_modules_its_notebook_imports():
    """Honest caching: every module of the package a stage's notebook imports, directly or
    through other modules (the package's own `__init__` always), is a dep of its stage (in
    every study's dvc.yaml), and every listed module is one it imports; the shared words
    (`src/rehabkoord/text`) are a dep exactly where one of those modules reads them."""
    checked = shared = 0
    for wdir, name, stage in _stages():
        deps, _, _, needed = _stage_code(wdir, stage)
        listed = {d for d in deps if d.suffix == ".py"}
        rel = wdir.relative_to(ROOT) / name
        assert needed <= listed, f"stage {rel} misses {sorted(str(p) for p in needed - listed)}"
        assert listed <= needed, f"stage {rel} lists unused {sorted(str(p) for p in listed - needed)}"
        reads = any(_reads_shared_text(p) for p in needed)
        _listed_exactly_when(reads, SHARED_TEXT, deps, rel)
        checked += 1
        shared += reads
    assert checked >= 10
    assert shared >= 4


#: A call that reads a study's own words (`notebooks/<study>/text`, `rehabkoord.texts`).
_STUDY_WORDS = re.compile(r"\b(glossary|render|data_statement|notes_text|appendix_words)\(")


def test_every_stage_lists_its_studys_words_where_it_reads_them():
    """Honest caching, as for the shared words: a study's own glossaries and templates
    (`text` beside its dvc.yaml) are a dep exactly where the stage's notebook or a study module
    it imports reads them, so an author's edit of a label re-runs the stage that prints it."""
    checked = reading = 0
    for wdir, name, stage in _stages():
        deps, notebook, code, needed = _stage_code(wdir, stage)
        modules = [p for p in needed if "studies" in p.parts]
        reads = bool(_STUDY_WORDS.search(code)) or any(
            _STUDY_WORDS.search(p.read_text(encoding="utf-8")) for p in modules)
        words = notebook.parent / "text"
        rel = wdir.relative_to(ROOT) / name
        _listed_exactly_when(reads, words, deps, rel)
        checked += 1
        reading += reads
    assert checked >= 10
    assert reading >= 6


def test_every_stage_lists_the_pinned_environment():
    """Honest caching: every output's stamp holds the hash of requirements.lock
    (`provenance.lock_sha256`) and the pins decide its numbers, so a change of the lock
    re-runs every stage; without the dep `dvc status` said up to date while a re-run on a
    fresh clone rewrote every dvc.lock."""
    stages = list(_stages())
    missing = [f"{wdir.relative_to(ROOT)}:{name}" for wdir, name, stage in stages
               if ROOT / "requirements.lock" not in {(wdir / d).resolve() for d in stage["deps"]
                                                     if isinstance(d, str)}]
    assert len(stages) >= 10 and missing == []


def test_notebooks_on_disk_are_exactly_as_the_git_filter_commits_them(tmp_path):
    """DVC hashes the working tree: a notebook with outputs or volatile metadata on disk
    would make dvc.lock describe a file that is not in git."""
    from rehabkoord import notebooks

    assert notebooks.unstripped(ROOT / "notebooks") == []
    clean = (ROOT / "notebooks" / "uppsala" / "01_synthesize.ipynb").read_text(encoding="utf-8")
    by_filter = subprocess.run([sys.executable, "-m", "nbstripout", "-t", "--extra-keys",
                                " ".join(notebooks.VOLATILE_KEYS)], input=clean, text=True,
                               capture_output=True, check=True).stdout
    assert by_filter == clean  # the git filter's program agrees
    for spoil in ("outputs", "language_info", "papermill"):
        nb = json.loads(clean)
        code = next(c for c in nb["cells"] if c["cell_type"] == "code")
        if spoil == "outputs":
            code["execution_count"] = 3
            code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["124\n"]}]
        elif spoil == "language_info":
            nb["metadata"]["language_info"]["version"] = "3.11.7"
        else:
            code["metadata"]["papermill"] = {"duration": 1.5}
        path = tmp_path / f"{spoil}.ipynb"
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        assert notebooks.unstripped(path) == [path], spoil
        assert notebooks.strip(path) == [path]
        assert path.read_text(encoding="utf-8") == clean, spoil


def test_lab_saves_notebooks_stripped():
    from rehabkoord import notebooks

    clean = json.loads((ROOT / "notebooks" / "uppsala" / "01_synthesize.ipynb").read_text(encoding="utf-8"))
    model = {"type": "notebook", "content": json.loads(json.dumps(clean))}
    code = next(c for c in model["content"]["cells"] if c["cell_type"] == "code")
    code["execution_count"] = 1
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["x\n"]}]
    notebooks.pre_save_hook(model=model, path="notebooks/uppsala/01_synthesize.ipynb")
    assert model["content"] == clean


# README commands in `sh` blocks that the test does not run, with the reason; each is still
# checked with `make -n` (the target exists and its recipe expands) when it is a make command.
NOT_RUN = {
    "make report": "runs the whole pipeline (tests/test_pipeline.py, and the fresh-clone test)",
    "make test": "is this test suite",
    "make verify": "re-runs the whole pipeline in a clone",
    "make reference": "runs the whole pipeline, then rewrites the committed reference",
    "make lab": "starts a server that never returns",
    "make worker": "serves until stopped (tests/test_worker.py and test_pipeline.py run one)",
    "make bundle": "downloads every wheel for two platforms (tests/test_bundle.py builds it)",
    "make report OFFLINE=1": "needs an unpacked bundle (tests/test_bundle.py runs it)",
    "make check-data": "needs a delivery in data.dir (tests/test_clean.py runs the check)",
    "make export STUDY=uppsala": "runs the pipeline first (test_pipeline.py runs the export "
                                 "command on every study)",
    "make pdf STUDY=stockholm": "runs the pipeline first, then Chromium (test_render.py prints "
                                "every study's appendix; test_word.py runs the Makefile rule)",
    "make docx STUDY=stockholm": "runs the pipeline first (test_word.py builds every study's "
                                 "document and runs the Makefile rule)",
}


def readme_commands() -> list[str]:
    """Shell commands of the README's ```sh blocks, comments removed, in order."""

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(" ".join(command.split()))
    return commands


def clean_env(home: Path) -> dict[str, str]:
    """A fresh shell's environment. The machine's OpenBLAS settings stay: they pick the BLAS
    kernels, so without them the last digit of a float may differ from the run that wrote
    dvc.lock on the same machine (CI keeps them as well)."""
    import os

    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            **{k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}}


def test_every_readme_command_is_run_or_listed_and_make_targets_exist(tmp_path):
    commands = readme_commands()
    assert "make stage STAGE=analyse" in commands and "make verify" in commands
    for command in commands:
        if not command.startswith("make "):
            assert command not in NOT_RUN
            continue
        done = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in clean_env(tmp_path).items()),
                               "bash", "-c", command.replace("make ", "make -n ", 1)],
                              cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stderr}"


def _isolated_copy(dest: Path) -> Path:
    """The working tree as a fresh git repo that shares this checkout's .venv."""
    import os

    from rehabkoord import verify

    verify.copy_project(ROOT, dest, include_untracked=True)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    for name in SETUP_INPUTS:  # older than .venv/.installed
        os.utime(dest / name, (0, 0))
    return dest


@pytest.mark.slow
def test_readme_commands_work_from_a_fresh_shell(tmp_path):
    """Run every README command not in NOT_RUN, in order, with only the system's PATH."""
    project = _isolated_copy(tmp_path / "compendium")
    ran = []
    for command in readme_commands():
        if command in NOT_RUN:
            continue
        done = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in clean_env(tmp_path).items()),
                               "bash", "-c", command], cwd=project, capture_output=True, text=True,
                              timeout=1800)
        assert done.returncode == 0, f"{command}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        ran.append((command, done.stdout))
    outputs = dict(ran)
    assert "make stage STAGE=analyse" in outputs
    assert "git_commit" in outputs[".venv/bin/python -m rehabkoord.provenance "
                                    "data/processed/uppsala/tables/results.parquet"]


@pytest.mark.slow
def test_fresh_clone_matches_dvc_lock_and_make_report_leaves_git_clean(tmp_path):
    """The committed dvc.lock describes the committed files: on a fresh clone, before anything
    runs, no tracked dependency (notebook, module, parameter) is modified, and `make report`
    then rewrites nothing tracked: every output has the bytes dvc.lock records."""
    import os

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    for name in SETUP_INPUTS:
        os.utime(clone / name, (0, 0))
    env = {**clean_env(tmp_path), "GIT_CONFIG_GLOBAL": "/dev/null"}
    status = subprocess.run([str(ROOT / ".venv" / "bin" / "dvc"), "status", "--json"], cwd=clone,
                            env=env, capture_output=True, text=True, check=True)
    changed = json.loads(status.stdout or "{}")
    # outputs of earlier stages are not in git, so they are 'deleted'; nothing may be 'modified'
    modified = {stage: entry["changed deps"] for stage, entries in changed.items()
                for entry in entries if isinstance(entry, dict) and "changed deps" in entry
                and any(state != "deleted" for state in entry["changed deps"].values())}
    assert not modified, f"dependencies changed on a fresh clone: {modified}"
    assert "changed deps" in status.stdout  # the check has teeth: the data are not in git
    done = subprocess.run(["make", "report"], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    porcelain = subprocess.run(["git", "status", "--porcelain"], cwd=clone, env=env,
                               capture_output=True, text=True, check=True).stdout
    assert porcelain.strip() == "", porcelain  # the .venv link is ignored (.gitignore: .venv)


def test_imports_run_one_way():
    """Shared modules never import a study; a study imports no other study."""
    src = ROOT / "src" / "rehabkoord"
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src)
        package = ".".join(("rehabkoord", *rel.with_suffix("").parts))
        if path.name != "__init__.py":
            package = package.rpartition(".")[0]
        imported = _imports(path.read_text(encoding="utf-8"), package)
        studies = {m.split(".")[2] for m in imported if m.startswith("rehabkoord.studies.")}
        if rel.parts[0] != "studies":
            assert not studies, f"shared module {rel} imports the study {sorted(studies)}"
        elif len(rel.parts) > 1:
            own = rel.parts[1].removesuffix(".py")
            assert studies <= {own}, f"{rel} imports another study: {sorted(studies - {own})}"
