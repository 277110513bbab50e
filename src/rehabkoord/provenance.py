"""Provenance stamps: which code, data, parameters and environment made an output.

Every table (Parquet metadata, CSV sidecar ``<name>.csv.provenance.json``), figure (PNG text
chunk, SVG ``<metadata>``) and the appendix (HTML ``<meta>``) carries one stamp::

    python -m rehabkoord.provenance reports/uppsala/figures/forest_riskskillnad.png

A stamp must not make two runs of one commit differ, or a re-run on a fresh clone would
rewrite `dvc.lock`. So its fields are chosen to be deterministic:

- ``git_commit``: the last commit that changed the tracked dependencies of the stage that
  writes the output (its notebook and modules as dvc.yaml lists them, params.yaml, dvc.yaml;
  else src/, notebooks/, params.yaml, dvc.yaml), not HEAD: committing `dvc.lock` or a README
  after a run must not change what a re-run on a fresh clone writes. ``git_dirty``: those
  files differ from that commit. So run `make report` on a committed tree, then commit
  `dvc.lock`. Outside git (an unpacked bundle) the commit comes from ``BUNDLE_COMMIT``.
- ``run_time``: ``SOURCE_DATE_EPOCH`` when set, else the time of ``git_commit`` (UTC, ISO 8601).
- ``data_sha256``: the input delivery directory (``data.dir`` in params.yaml), every file's
  relative path and bytes.
- ``params_sha256``: the params.yaml sections the stage reads (all sections when not given).
- ``lock_sha256``: ``requirements.lock``, the pinned environment. (``dvc.lock`` cannot be
  stamped into outputs whose own hashes it records.)
- ``package_version``: rehabkoord's version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import yaml

from .params import project_root

KEY = "rehabkoord_provenance"
BUNDLE_COMMIT = "BUNDLE_COMMIT"
SIDECAR_SUFFIX = ".provenance.json"


@dataclass(frozen=True)
class Provenance:
    git_commit: str
    git_dirty: bool
    data_sha256: str
    params_sha256: str
    params_sections: tuple[str, ...]
    lock_sha256: str
    package_version: str
    run_time: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)


#: git's answers while the sources are fixed (`sources_fixed`), else None (ask every time).
_GIT_ANSWERS: dict[tuple, str | None] | None = None


@contextmanager
def sources_fixed() -> Iterator[None]:
    """Within this block the tracked sources and the git history do not change (a DVC stage:
    DVC hashes the deps before and after the command), so each git question is asked once;
    a stage stamps several outputs. Outside it (Jupyter, tests) git is asked every time."""
    global _GIT_ANSWERS
    outer = _GIT_ANSWERS
    _GIT_ANSWERS = {} if outer is None else outer
    try:
        yield
    finally:
        _GIT_ANSWERS = outer


def _git(root: Path, *args: str) -> str | None:
    key = (str(root), args)
    if _GIT_ANSWERS is not None and key in _GIT_ANSWERS:
        return _GIT_ANSWERS[key]
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
        answer: str | None = done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        answer = None
    if _GIT_ANSWERS is not None:
        _GIT_ANSWERS[key] = answer
    return answer


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PARSED: dict[bytes, object] = {}


def _yaml_file(path: Path) -> dict:
    """A YAML file's content (with libyaml when available), parsed once per distinct content:
    every stamp reads the study's dvc.yaml and params.yaml. Callers must not mutate it."""
    raw = path.read_bytes()
    if raw not in _PARSED:
        _PARSED[raw] = yaml.load(raw.decode("utf-8"), Loader=_YAML_LOADER) or {}
    return _PARSED[raw]  # type: ignore[return-value]


SOURCES = ("src", "notebooks", "dvc.yaml")


def source_commit(root: Path, paths: Iterable[str] = SOURCES) -> tuple[str, bool, int | None]:
    """(commit, dirty, commit time in epoch seconds): the last commit that changed `paths`.

    Outside git (an unpacked bundle) the commit is read from the bundle's BUNDLE_COMMIT."""
    spec = ["--", *paths]
    line = _git(root, "log", "-1", "--format=%H %ct", *spec)
    if line:
        commit, stamp = line.split()
        dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no", *spec))
        return commit, dirty, int(stamp)
    bundled = root / BUNDLE_COMMIT
    if bundled.is_file():
        commit, _, stamp = bundled.read_text(encoding="utf-8").strip().partition(" ")
        return commit, False, int(stamp) if stamp.isdigit() else None
    return "unknown", True, None


def run_time(commit_time: int | None) -> str:
    """SOURCE_DATE_EPOCH if set, else the commit's time, else now; UTC, seconds."""
    fixed = os.environ.get("SOURCE_DATE_EPOCH")
    seconds = int(fixed) if fixed else commit_time
    when = (dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds is not None
            else dt.datetime.now(dt.UTC))
    return when.replace(microsecond=0).isoformat()


_FILE_HASHES: dict[tuple[str, int, int], bytes] = {}


def _file_digest(f: Path) -> bytes:
    """sha256 of a file, remembered by path, size and mtime: a stage stamps several outputs
    and national extracts are large."""
    st = f.stat()
    key = (str(f.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        digest = hashlib.sha256()
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _FILE_HASHES[key] = digest.digest()
    return _FILE_HASHES[key]


def hash_directory(path: Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
    for f in files:
        digest.update(f.relative_to(path).as_posix().encode() + b"\0")
        digest.update(_file_digest(f))
    return digest.hexdigest()


def hash_params(params: Mapping, sections: Iterable[str] | None = None) -> tuple[str, tuple[str, ...]]:
    """sha256 of the named params sections (dotted keys allowed) as canonical JSON."""
    chosen = tuple(sorted(sections)) if sections is not None else tuple(sorted(params))
    picked = {}
    for name in chosen:
        value: object = params
        for part in name.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        picked[name] = value
    text = json.dumps(picked, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest(), chosen


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


@lru_cache(maxsize=1)
def _package_version() -> str:
    try:
        return metadata.version("rehabkoord")
    except metadata.PackageNotFoundError:
        return "unknown"


def _dvc_files(root: Path) -> list[Path]:
    """The top-level dvc.yaml and every study folder's own (`notebooks/<study>/dvc.yaml`)."""
    return [p for p in (root / "dvc.yaml", *sorted(root.glob("notebooks/*/dvc.yaml")))
            if p.is_file()]


def _stages(path: Path) -> dict:
    return _yaml_file(path).get("stages") or {}


def _stage_dir(dvc_file: Path, stage: dict) -> Path:
    """The folder a stage's paths are relative to: its `wdir` (a stage reading `data.dir`,
    which may be absolute, runs from the project root), else its dvc.yaml's folder."""
    return dvc_file.parent / stage.get("wdir", ".")


def _address(root: Path, dvc_file: Path, name: str) -> str:
    """DVC's address of a stage: its name in the top-level dvc.yaml, else `<file>:<name>`."""
    if dvc_file.parent == root:
        return name
    return f"{dvc_file.relative_to(root).as_posix()}:{name}"


def study_dir(root: Path, stage: str | None) -> Path:
    """The folder of the dvc.yaml (and params.yaml) a stage address belongs to."""
    if stage and ":" in stage:
        return root / Path(stage.split(":")[0]).parent
    return root


def stage_inputs(root: Path, stage: str | None) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """(params keys, source paths relative to the root) of a stage; (None, SOURCES) outside
    DVC. A study's own stages are addressed `notebooks/<study>/dvc.yaml:<name>`."""
    base = study_dir(root, stage)
    name = stage.split(":")[-1] if stage else None
    stages = _stages(base / "dvc.yaml") if (base / "dvc.yaml").is_file() else {}
    if not name or name not in stages:
        return None, SOURCES
    keys: list[str] = []
    for entry in stages[name].get("params", []):
        if isinstance(entry, str):
            keys.append(entry)
        else:
            for listed in entry.values():
                keys.extend(listed or [])
    wdir = _stage_dir(base / "dvc.yaml", stages[name])
    deps = [os.path.relpath((wdir / d).resolve(), root.resolve())
            for d in stages[name].get("deps", []) if isinstance(d, str) and "${" not in d]
    rel = base.relative_to(root)
    return tuple(keys), (*deps, (rel / "params.yaml").as_posix(), (rel / "dvc.yaml").as_posix())


_TEMP_NAME = re.compile(r"^\.(.+)\.[^.]+\.tmp$")  # io.atomic_outputs' temporary files


def stage_of(root: Path, output: str | Path) -> str | None:
    """The stage (its DVC address) whose outs contain `output` (a file or a file in an out
    directory), in the top-level dvc.yaml or a study's own."""
    output = Path(output).resolve()
    temp = _TEMP_NAME.match(output.name)
    if temp:
        output = output.with_name(temp.group(1))
    for dvc_file in _dvc_files(root):
        for name, stage in _stages(dvc_file).items():
            for out in stage.get("outs", []) + stage.get("metrics", []):
                out_path = (_stage_dir(dvc_file, stage)
                            / (out if isinstance(out, str) else next(iter(out))))
                out_path = out_path.resolve()
                if output == out_path or out_path in output.parents:
                    return _address(root, dvc_file, name)
    return None


def collect(sections: Iterable[str] | None = None, root: Path | None = None,
            output: str | Path | None = None) -> Provenance:
    """The stamp for `output` made now, by the stage reading params `sections`.

    By default the stage is the one dvc.yaml lists `output` under (so a notebook run in
    Jupyter stamps as under DVC), else the running DVC stage (DVC_STAGE); its params keys are
    the sections. Outside any stage: all of the study's params.yaml (none outside a study)."""
    root = root or project_root()
    stage = (stage_of(root, output) if output is not None else None) or os.environ.get("DVC_STAGE")
    base = study_dir(root, stage)
    params_file = base / "params.yaml"  # none at the root: outside a study, no parameters
    params = _yaml_file(params_file) if params_file.is_file() else {}
    stage_sections, paths = stage_inputs(root, stage)
    if sections is None:
        sections = stage_sections
    commit, dirty, commit_time = source_commit(root, paths)
    params_hash, chosen = hash_params(params, sections)
    default_data = "data/raw" if base == root else f"data/raw/{base.name}"
    data_dir = root / params.get("data", {}).get("dir", default_data)
    return Provenance(git_commit=commit, git_dirty=dirty, data_sha256=hash_directory(data_dir),
                      params_sha256=params_hash, params_sections=chosen,
                      lock_sha256=_file_sha256(root / "requirements.lock"),
                      package_version=_package_version(), run_time=run_time(commit_time))


def parquet_metadata(stamp: Provenance) -> dict[bytes, bytes]:
    """Key-value metadata for a Parquet schema."""
    return {KEY.encode(): stamp.to_json().encode()}


def sidecar_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def png_metadata(stamp: Provenance) -> dict[str, str]:
    """Text chunks for matplotlib's PNG writer."""
    return {KEY: stamp.to_json()}


def svg_metadata(stamp: Provenance) -> dict[str, str]:
    """Dublin Core description for matplotlib's SVG writer (inside the SVG's <metadata>)."""
    return {"Description": stamp.to_json()}


def write_sidecars(*paths: str | Path) -> list[Path]:
    """``<file>.provenance.json`` next to outputs that cannot carry metadata (CSV)."""
    written = []
    for path in paths:
        side = sidecar_path(path)
        side.write_text(collect(output=path).to_json() + "\n", encoding="utf-8")
        written.append(side)
    return written


def html_meta(stamp: Provenance) -> str:
    """A <meta> element for the appendix's <head>."""
    content = html.escape(stamp.to_json(), quote=True)
    return f'<meta name="{KEY}" content="{content}">'


def read(path: str | Path) -> dict | None:
    """The stamp of an output file, or None when it carries none."""
    path = Path(path)
    suffix = path.suffix.lower()
    raw: str | None = None
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        meta = pq.read_schema(path).metadata or {}
        value = meta.get(KEY.encode())
        raw = value.decode() if value else None
    elif suffix == ".png":
        from PIL import Image

        with Image.open(path) as img:
            raw = img.text.get(KEY) if hasattr(img, "text") else None
    elif suffix in (".svg", ".html", ".htm"):
        text = path.read_text(encoding="utf-8")
        found = (re.search(r"<dc:description>(\{.*?\})</dc:description>", text, re.S)
                 if suffix == ".svg" else re.search(rf'<meta name="{KEY}" content="(.*?)">', text))
        raw = html.unescape(found.group(1)) if found else None
    elif sidecar_path(path).is_file():
        raw = sidecar_path(path).read_text(encoding="utf-8")
    return json.loads(raw) if raw else None


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m rehabkoord.provenance FILE", file=sys.stderr)
        return 2
    path = Path(argv[0])
    if not path.exists():
        print(f"{path}: no such file", file=sys.stderr)
        return 2
    stamp = read(path)
    if stamp is None:
        print(f"{path}: carries no provenance stamp", file=sys.stderr)
        return 1
    width = max(map(len, stamp))
    for key in sorted(stamp):
        value = stamp[key]
        shown = ", ".join(value) if isinstance(value, list) else value
        print(f"{key:<{width}}  {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
