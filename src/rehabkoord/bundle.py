"""`make bundle`: one archive to run the compendium where there is no internet (SCB).

The archive holds the committed compendium (``git archive HEAD``), the commit it came from
(``BUNDLE_COMMIT``, read by `rehabkoord.provenance` where there is no git), every wheel pinned
in ``requirements.lock`` and ``requirements-uv.lock`` (the installer) for Linux x86-64 and
Windows x86-64 under CPython 3.11, and ``BUNDLE.md`` with the install steps (the README's
section on SCB's environment). Wheels come from ``pip download --only-binary=:all:``; a pin
published only as source is built here into a wheel and accepted only if that wheel is pure
Python (``py3-none-any``), so it installs on both platforms.

    python -m rehabkoord.bundle [OUT_DIR]     # default dist/; downloads are cached in OUT_DIR/cache
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .params import project_root

PYTHON_VERSION = "3.11"
# directory in the bundle -> pip's --platform tags; Linux: glibc 2.28 or newer (Debian 10+)
PLATFORMS: dict[str, tuple[str, ...]] = {
    "linux-x86_64": (*(f"manylinux_2_{minor}_x86_64" for minor in range(28, 16, -1)),
                     "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"),
    "win-amd64": ("win_amd64",),
}
_MISSING = re.compile(r"No matching distribution found for (\S+)")


@dataclass
class Coverage:
    """Which pins have a wheel for one platform directory."""
    wheels: dict[str, str] = field(default_factory=dict)  # pin -> wheel file
    missing: list[str] = field(default_factory=list)


def canonical(name: str) -> str:
    """PEP 503 name, as wheel files and pip compare them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lock: Path) -> dict[str, str]:
    """canonical name -> version from requirements.lock (``name==version`` lines)."""
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version.strip()
    return pins


def wheel_name_version(filename: str) -> tuple[str, str]:
    parts = Path(filename).name.split("-")
    return canonical(parts[0]), parts[1]


def coverage(pins: dict[str, str], wheel_dir: Path) -> Coverage:
    """Match each pin with a wheel file of exactly that version in `wheel_dir`."""
    found = {}
    for whl in sorted(wheel_dir.glob("*.whl")):
        name, version = wheel_name_version(whl.name)
        if pins.get(name) == version:
            found[f"{name}=={version}"] = whl.name
    cov = Coverage(wheels=found)
    cov.missing = [f"{n}=={v}" for n, v in sorted(pins.items()) if f"{n}=={v}" not in found]
    return cov


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)


def download_wheels(pins: dict[str, str], platform_tags: tuple[str, ...], dest: Path,
                    pure_dir: Path) -> dict[str, str]:
    """Download every pin's wheel for the platform into `dest` (skipping files already there).

    Returns pin -> why it has no wheel (empty when all are covered)."""
    dest.mkdir(parents=True, exist_ok=True)
    pure_dir.mkdir(parents=True, exist_ok=True)
    todo = dict(pins)
    problems: dict[str, str] = {}
    platform_args = [a for tag in platform_tags for a in ("--platform", tag)]
    while todo:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
            req.write("".join(f"{n}=={v}\n" for n, v in sorted(todo.items())))
        done = _pip("download", "--quiet", "--no-deps", "--only-binary=:all:", *platform_args,
                    "--python-version", PYTHON_VERSION, "--implementation", "cp",
                    "-d", str(dest), "-r", req.name)
        Path(req.name).unlink()
        if done.returncode == 0:
            break
        hit = _MISSING.search(done.stderr)
        if not hit:
            raise RuntimeError(f"pip download failed:\n{done.stderr[-3000:]}")
        name, _, version = hit.group(1).partition("==")
        todo.pop(canonical(name), None)
        reason = _pure_wheel(canonical(name), version, pure_dir)
        if reason:
            problems[f"{canonical(name)}=={version}"] = reason
        else:
            for whl in pure_dir.glob("*.whl"):
                if wheel_name_version(whl.name) == (canonical(name), version):
                    shutil.copy2(whl, dest / whl.name)
    return problems


def _pure_wheel(name: str, version: str, pure_dir: Path) -> str | None:
    """Build a wheel from the source release; None if it is pure Python, else the reason."""
    if not any(wheel_name_version(w.name) == (name, version) for w in pure_dir.glob("*.whl")):
        done = _pip("wheel", "--quiet", "--no-deps", "--no-binary", name, "--no-cache-dir",
                    "-w", str(pure_dir), f"{name}=={version}")
        if done.returncode != 0:
            return f"no wheel on PyPI and building one failed: {done.stderr.strip()[-300:]}"
    built = [w for w in pure_dir.glob("*.whl") if wheel_name_version(w.name) == (name, version)]
    if not built or not built[0].name.endswith("-none-any.whl"):
        return "no wheel on PyPI for this platform, and the source builds a platform-specific wheel"
    return None


SCB_SECTION = "## Running inside SCB's environment"


def bundle_readme(commit: str, problems: dict[str, dict[str, str]], readme: str) -> str:
    """BUNDLE.md: the project README's install steps for SCB, and pins lacking a wheel."""
    start = readme.index(SCB_SECTION)
    end = readme.find("\n## ", start + len(SCB_SECTION))
    steps = readme[start:end if end >= 0 else None].strip()
    missing = "".join(f"- {plat}: `{pin}`: {why}\n" for plat, items in problems.items()
                      for pin, why in items.items()) or "None: every pin has a wheel for both.\n"
    return (f"# rehabkoord offline bundle (commit {commit})\n\n"
            f"Wheels for CPython {PYTHON_VERSION}: {', '.join(f'`wheels/{p}/`' for p in PLATFORMS)}."
            f"\n\n#{steps}\n\n## Pins without a wheel\n\n{missing}")


def build(out_dir: Path, root: Path | None = None) -> Path:
    """Build the archive in `out_dir`; returns its path."""
    root = root or project_root()
    out_dir = out_dir if out_dir.is_absolute() else root / out_dir
    cache = out_dir / "cache"
    if subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                      capture_output=True, text=True, check=True).stdout.strip():
        print("note: uncommitted changes are not bundled (the bundle holds HEAD)", file=sys.stderr)
    commit, stamp = subprocess.run(["git", "log", "-1", "--format=%H %ct"], cwd=root,
                                   capture_output=True, text=True, check=True).stdout.split()
    # the lock, and uv, which installs it (`make setup`; pip where its wheel is missing)
    pins = {**read_pins(root / "requirements.lock"), **read_pins(root / "requirements-uv.lock")}
    with tempfile.TemporaryDirectory(prefix="rehabkoord-bundle-") as tmp:
        stage = Path(tmp) / "rehabkoord"
        archive = Path(tmp) / "head.tar"
        subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), "HEAD"], cwd=root,
                       check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(stage, filter="data")
        (stage / "BUNDLE_COMMIT").write_text(f"{commit} {stamp}\n", encoding="utf-8")
        problems = {}
        for plat, tags in PLATFORMS.items():
            problems[plat] = download_wheels(pins, tags, cache / plat, cache / "pure")
            cov = coverage(pins, cache / plat)
            (stage / "wheels" / plat).mkdir(parents=True)
            for whl in cov.wheels.values():
                shutil.copy2(cache / plat / whl, stage / "wheels" / plat / whl)
        readme = (stage / "README.md").read_text(encoding="utf-8")
        (stage / "BUNDLE.md").write_text(bundle_readme(commit[:12], problems, readme),
                                         encoding="utf-8")
        target = out_dir / f"rehabkoord-bundle-{commit[:12]}.zip"
        partial = target.with_suffix(".zip.tmp")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(stage.rglob("*")):  # wheels are compressed already
                zf.write(path, path.relative_to(stage.parent).as_posix(),
                         zipfile.ZIP_STORED if path.suffix == ".whl" else zipfile.ZIP_DEFLATED)
        partial.replace(target)
    return target


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path("dist")
    started = time.monotonic()
    target = build(out)
    size = target.stat().st_size / 2**20
    print(f"{target} ({size:.0f} MiB, {time.monotonic() - started:.0f} s)")
    print("Unpack it, cd rehabkoord, then: make report OFFLINE=1 (Windows: see BUNDLE.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
