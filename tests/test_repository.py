"""House rules of the repository: pins agree, notebooks carry no outputs, no data in git."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_pins_match_lock():
    lock = {line.strip() for line in (ROOT / "requirements.lock").read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {p for p in pip if "==" in p} == lock
    assert all("==" in p for p in lock), "every dependency must be pinned exactly"


def test_notebooks_have_no_outputs_and_a_parameters_cell():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
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
    probe = ["data/raw/scb/lisa_2023.sas7bdat", "data/interim/lisa.parquet",
             "reports/notebooks/02_clean.ipynb", "reports/bilaga.html"]
    done = subprocess.run(["git", "check-ignore", *probe], cwd=ROOT, capture_output=True,
                          text=True)
    assert sorted(done.stdout.split()) == sorted(probe)


def test_every_stage_lists_the_modules_its_notebook_imports():
    """Honest caching: a notebook's `from rehabkoord import x` must be a dep of its stage,
    and so must every module that x imports in turn."""
    import ast

    src = ROOT / "src" / "rehabkoord"

    def imports(module: str) -> set[str]:
        tree = ast.parse((src / f"{module}.py").read_text(encoding="utf-8"))
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found.add(node.module)
            if isinstance(node, ast.ImportFrom) and node.level == 0 and \
                    (node.module or "").startswith("rehabkoord"):
                found.update(a.name for a in node.names) if node.module == "rehabkoord" \
                    else found.add(node.module.split(".")[1])
        return found

    def closure(modules: set[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(modules)
        while todo:
            m = todo.pop()
            if m in seen or not (src / f"{m}.py").exists():
                continue
            seen.add(m)
            todo.extend(imports(m))
        return seen

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        deps = {d if isinstance(d, str) else next(iter(d)) for d in stage["deps"]}
        notebook = next(d for d in deps if d.startswith("notebooks/"))
        nb = json.loads((ROOT / notebook).read_text(encoding="utf-8"))
        code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        used = set()
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rehabkoord"):
                if node.module == "rehabkoord":
                    used.update(a.name for a in node.names)
                else:
                    used.add(node.module.split(".")[1])
        used.update(re.findall(r"-m rehabkoord\.(\w+)", stage["cmd"]))  # the stage runner
        needed = {f"src/rehabkoord/{m}.py" for m in closure(used)}
        assert needed <= deps, f"stage {name} misses {sorted(needed - deps)}"
