"""Loading a study's `params.yaml` and finding the project root, for notebooks run by papermill or in Lab."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def project_root(start: str | Path | None = None) -> Path:
    """The compendium's root: the nearest directory upwards holding `dvc.yaml` and
    `pyproject.toml` (notebooks run from the root, `notebooks/` or a study's folder, which has
    a `dvc.yaml` of its own)."""
    here = Path(start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "dvc.yaml").is_file() and (candidate / "pyproject.toml").is_file():
            return candidate
    raise FileNotFoundError(f"no dvc.yaml with pyproject.toml in {here} or its parents: run "
                            "inside the compendium")


def load_params(path: str | Path) -> dict:
    """A study's parameters (`notebooks/<study>/params.yaml`), with `path` resolved against
    the project root when relative."""
    p = Path(path)
    if not p.is_absolute():
        p = project_root() / p
    with p.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def dataclass_fields(section: Mapping[str, Any], cls: type, name: str = "synthetic",
                     ignore: tuple[str, ...] = ("out_dir",)) -> dict[str, Any]:
    """A params.yaml section as keyword arguments for the dataclass `cls`, lists as tuples. A
    key that is no field is an error naming the known ones, so a misspelt key does not
    silently keep its default."""
    values = {k: v for k, v in section.items() if k not in ignore}
    fields = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    unknown = set(values) - fields
    if unknown:
        raise ValueError(f"params.yaml {name}: unknown key(s) {sorted(unknown)}; "
                         f"known: {sorted(fields)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
