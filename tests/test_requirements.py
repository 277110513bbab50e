"""No dead weight in requirements.lock: every pin is required by something the project uses.

The roots are the library's dependencies, its `dev` tools (pyproject.toml) and the build
backend; the closure follows each installed distribution's declared requirements (with the
extras asked for) on Linux, where the Makefile installs the lock.
A pin outside the closure is installed for nothing (and may cost import time in every stage:
`rfc3987-syntax` once cost 1.1 s per process); a requirement outside the lock is unpinned.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}


def project_roots() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    for extra in project["project"].get("optional-dependencies", {}).values():
        names.extend(extra)
    return [Requirement(n) for n in names]


def applies(marker: Marker | None, extras: set[str]) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({**PLATFORM, "extra": extra}) for extra in (extras or {""}))


def closure(roots: list[Requirement]) -> dict[str, str]:
    """Every distribution the roots need, transitively -> the first package that needs it."""
    extras_seen: dict[str, set[str]] = {}
    needed_by: dict[str, str] = {}
    todo = [(r, "project") for r in roots]
    while todo:
        req, parent = todo.pop()
        name = canonicalize_name(req.name)
        if name in extras_seen and set(req.extras) <= extras_seen[name]:
            continue
        extras = extras_seen.setdefault(name, set())
        extras.update(req.extras)
        needed_by.setdefault(name, parent)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue  # not installed: reported by the caller if it is not pinned either
        for line in requires:
            sub = Requirement(line)
            if applies(sub.marker, extras):
                todo.append((sub, name))
    return needed_by


def locked() -> set[str]:
    lines = (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
    return {canonicalize_name(line.split("==")[0]) for line in lines
            if line.strip() and not line.startswith("#")}


def test_every_pin_is_needed_and_every_need_is_pinned():
    needed = closure(project_roots())
    lock = locked()
    assert sorted(lock - set(needed)) == [], "pinned but required by nothing the project uses"
    missing = {n: needed[n] for n in set(needed) - lock}
    assert missing == {}, "required (by the package shown) but not pinned"


def test_closure_follows_extras_and_markers():
    """The check itself: an extra pulls its packages in, a platform marker is honoured."""
    needed = closure([Requirement("jsonschema[format-nongpl]")])
    assert "rfc3987-syntax" in needed and needed["rfc3987-syntax"] == "jsonschema"
    assert "rfc3987-syntax" not in closure([Requirement("jsonschema")])
    assert applies(Marker("sys_platform == 'linux' and extra == 'x'"), {"x"})
    assert not applies(Marker("sys_platform == 'win32'"), set())
