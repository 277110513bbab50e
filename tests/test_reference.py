"""The README's reference listing of the shared statistics names every public function of
`stats`, `survival`, `prediction`, `causal`, `subgroups` and `table1`, and nothing else, so
it cannot go stale."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("stats", "survival", "prediction", "causal", "subgroups", "table1")
HEADING = "## Reference: the shared statistics"


def public_functions(name: str) -> set[str]:
    module = importlib.import_module(f"rehabkoord.{name}")
    return {n for n, f in inspect.getmembers(module, inspect.isfunction)
            if f.__module__ == module.__name__ and not n.startswith("_")}


def listing() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert HEADING in text
    section = text.split(HEADING, 1)[1]
    return re.split(r"\n## ", section, maxsplit=1)[0]


def test_the_listing_names_every_public_function_once_with_a_line():
    rows = re.findall(r"^\| `(\w+)\.(\w+)` \| (.+) \|$", listing(), flags=re.MULTILINE)
    listed = [(m, f) for m, f, _ in rows]
    assert len(listed) == len(set(listed)), "a function is listed twice"
    assert all(len(what.strip()) > 10 for _, _, what in rows)
    for name in MODULES:
        want = public_functions(name)
        got = {f for m, f in listed if m == name}
        assert got == want, (name, "missing:", sorted(want - got), "stale:", sorted(got - want))
    assert {m for m, _ in listed} == set(MODULES)
