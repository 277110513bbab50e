"""Source notebooks on disk exactly as the nbstripout git filter commits them.

DVC hashes the working-tree notebooks; if they hold outputs or volatile metadata that the
filter removes on commit, the committed `dvc.lock` describes files nobody else has and every
fresh clone re-runs every stage. So `make report` strips them in place first, and Lab saves
them stripped (`make lab`). The git filter's own program (nbstripout) decides, and `strip`
configures the filter with the same extra keys, so both agree byte for byte. Beyond outputs,
counts and nbstripout's defaults, the keys below vary between machines and runs.

    python -m rehabkoord.notebooks strip notebooks     # rewrite files that are not stripped
    python -m rehabkoord.notebooks check notebooks     # exit 1 naming files that are not
    python -m rehabkoord.notebooks scrub data/processed/uppsala/notebooks/04_analyse.ipynb

`scrub` is for executed notebooks (DVC outputs): it keeps the outputs and removes run times,
durations, the Python patch version and memory addresses in object reprs, so two runs write
identical bytes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import nbstripout

# nbstripout's own defaults (its command line adds them; its Python API does not)
NBSTRIPOUT_KEYS = (
    "metadata.signature", "metadata.widgets", "cell.metadata.collapsed",
    "cell.metadata.ExecuteTime", "cell.metadata.execution", "cell.metadata.heading_collapsed",
    "cell.metadata.hidden", "cell.metadata.scrolled",
)
VOLATILE_KEYS = (
    "metadata.papermill", "cell.metadata.papermill", "metadata.language_info.version",
    "metadata.language_info.codemirror_mode", "metadata.language_info.file_extension",
    "metadata.language_info.mimetype", "metadata.language_info.nbconvert_exporter",
    "metadata.language_info.pygments_lexer",
)


def stripped_text(text: str) -> str:
    """The notebook JSON as the nbstripout filter (`nbstripout -t`) would commit it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
        nb = nbstripout.strip_output(nb, keep_output=False, keep_count=False, keep_id=False,
                                     extra_keys=[*NBSTRIPOUT_KEYS, *VOLATILE_KEYS])
        out = nbformat.writes(nb)
    return out if out.endswith("\n") else out + "\n"


def notebooks_in(target: str | Path) -> list[Path]:
    """The notebooks in a folder and its subfolders (each study's), or the one file given."""
    target = Path(target)
    if not target.is_dir():
        return [target]
    return sorted(p for p in target.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def unstripped(target: str | Path) -> list[Path]:
    """Notebooks whose bytes on disk differ from what the git filter would commit."""
    return [p for p in notebooks_in(target)
            if stripped_text(p.read_text(encoding="utf-8")) != p.read_text(encoding="utf-8")]


def strip(target: str | Path) -> list[Path]:
    """Strip notebooks in place; only files that change are rewritten (mtimes stay)."""
    changed = unstripped(target)
    for path in changed:
        path.write_text(stripped_text(path.read_text(encoding="utf-8")), encoding="utf-8")
    return changed


_ADDRESS = re.compile(r" at 0x[0-9a-f]+>")


def scrub(path: str | Path) -> Path:
    """Remove run times and other volatile metadata from an executed notebook, keeping outputs."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        nb = nbstripout.strip_output(nb, keep_output=True, keep_count=True, keep_id=True,
                                     extra_keys=[*NBSTRIPOUT_KEYS, *VOLATILE_KEYS])
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                plain = output.get("data", {}).get("text/plain")
                if plain is not None:  # e.g. "<pandas...Styler at 0x7f...>" beside the HTML
                    output["data"]["text/plain"] = _ADDRESS.sub(">", plain)
        nbformat.write(nb, path)
    return path


def configure_git_filter(root: Path) -> None:
    """Make the nbstripout git filter (installed by `make setup`) strip VOLATILE_KEYS too."""
    subprocess.run(["git", "config", "filter.nbstripout.extrakeys", " ".join(VOLATILE_KEYS)],
                   cwd=root, capture_output=True)


def pre_save_hook(model: dict, **_: object) -> None:
    """Jupyter's pre-save hook: save notebooks stripped; the open tab keeps its outputs."""
    if model.get("type") == "notebook" and model.get("content") is not None:
        model["content"] = json.loads(stripped_text(json.dumps(model["content"])))


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("strip", "check", "scrub"):
        print(__doc__, file=sys.stderr)
        return 2
    action, targets = argv[0], argv[1:]
    if action == "scrub":
        for target in targets:
            scrub(target)
        return 0
    if action == "strip" and (Path.cwd() / ".git").exists():
        configure_git_filter(Path.cwd())
    found = [p for t in targets for p in (strip(t) if action == "strip" else unstripped(t))]
    for path in found:
        print(f"{path}: {'stripped' if action == 'strip' else 'carries outputs or volatile metadata'}")
    return 1 if action == "check" and found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
