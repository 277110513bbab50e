"""`make bundle` and `make report OFFLINE=1`: the compendium where there is no internet."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from rehabkoord import bundle

ROOT = Path(__file__).resolve().parents[1]


def test_pins_and_wheel_names_are_matched_by_canonical_name_and_exact_version(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("PyYAML==6.0.3\nzc.lockfile==4.0\nruamel.yaml==0.19.1\nnumpy==2.4.6\n")
    pins = bundle.read_pins(lock)
    assert pins == {"pyyaml": "6.0.3", "zc-lockfile": "4.0", "ruamel-yaml": "0.19.1",
                    "numpy": "2.4.6"}
    for name in ("pyyaml-6.0.3-cp311-cp311-win_amd64.whl", "zc.lockfile-4.0-py3-none-any.whl",
                 "ruamel_yaml-0.19.1-py3-none-any.whl", "numpy-2.4.5-cp311-cp311-win_amd64.whl"):
        (tmp_path / name).write_bytes(b"")
    cov = bundle.coverage(pins, tmp_path)
    assert sorted(cov.wheels) == ["pyyaml==6.0.3", "ruamel-yaml==0.19.1", "zc-lockfile==4.0"]
    assert cov.missing == ["numpy==2.4.6"]  # a wheel of another version does not count


def test_bundle_readme_is_the_readme_section_plus_the_pins_without_a_wheel():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    text = bundle.bundle_readme("abc", {"win-amd64": {"x==1": "only a source release"},
                                        "linux-x86_64": {}}, readme)
    assert "py -3.11 -m venv .venv" in text and "make report OFFLINE=1" in text
    assert "- win-amd64: `x==1`: only a source release" in text
    assert "## Privacy" not in text


@pytest.fixture(scope="session")
def built_bundle() -> Path:
    """The archive for HEAD, built by `make bundle` (downloads are cached in dist/cache)."""
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, text=True,
                            capture_output=True, check=True).stdout.strip()
    target = ROOT / "dist" / f"rehabkoord-bundle-{commit}.zip"
    if not target.is_file():
        subprocess.run([sys.executable, "-m", "rehabkoord.bundle", "dist"], cwd=ROOT, check=True,
                       capture_output=True, timeout=3600)
    return target


@pytest.mark.slow
def test_every_pin_has_a_wheel_for_windows_and_linux(built_bundle):
    with zipfile.ZipFile(built_bundle) as zf:
        names = zf.namelist()
        lock = zf.read("rehabkoord/requirements.lock").decode()
        lock += zf.read("rehabkoord/requirements-uv.lock").decode()  # the installer
        notes = zf.read("rehabkoord/BUNDLE.md").decode()
    pins = {}
    for line in lock.splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[bundle.canonical(name)] = version
    assert pins["uv"]
    for plat, allowed in (("win-amd64", ("win_amd64.whl", "none-any.whl", "abi3-win_amd64.whl")),
                          ("linux-x86_64", ("x86_64.whl", "none-any.whl"))):
        wheels = [Path(n).name for n in names
                  if n.startswith(f"rehabkoord/wheels/{plat}/") and not n.endswith("/")]
        assert all(w.endswith(allowed) for w in wheels), [w for w in wheels
                                                          if not w.endswith(allowed)]
        have = {bundle.wheel_name_version(w) for w in wheels}
        missing = sorted(f"{n}=={v}" for n, v in pins.items() if (n, v) not in have)
        assert missing == [], f"{plat} lacks wheels for {missing}; BUNDLE.md says:\n{notes}"
    assert "None: every pin has a wheel for both." in notes


@pytest.mark.slow
def test_offline_install_from_the_bundle_runs_the_pipeline(built_bundle, tmp_path):
    """As in the README: unpack, `make report OFFLINE=1`, with no network and no pip config."""
    with zipfile.ZipFile(built_bundle) as zf:
        zf.extractall(tmp_path)
    project = tmp_path / "rehabkoord"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "PIP_CONFIG_FILE": os.devnull, "PY": shutil.which("python3.11") or "python3"}
    # a network namespace with only loopback (the notebook kernels talk over 127.0.0.1)
    isolate = ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    no_network = isolate if shutil.which("unshare") and subprocess.run(
        [*isolate, "true"], capture_output=True).returncode == 0 else []
    started = time.monotonic()
    done = subprocess.run([*no_network, "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                           "make", "setup", "OFFLINE=1", f"PY={env['PY']}"], cwd=project,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"offline install: {time.monotonic() - started:.0f} s")
    # uv from the bundle's own wheel installed the lock, from the bundle's wheels only
    assert "requirements.lock, with uv" in done.stdout, done.stdout[-3000:]
    assert (project / ".venv" / "bin" / "uv").is_file()
    # the first study only: what is tested here is the offline install, and every study's
    # pipeline runs in the shared pipeline run (tests/conftest.py)
    done = subprocess.run([*no_network, "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                           "make", "report", "OFFLINE=1", "STUDY=uppsala"], cwd=project,
                          capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (project / "reports" / "uppsala" / "bilaga.html").is_file()
    check = subprocess.run([str(project / ".venv" / "bin" / "python"), "-m", "rehabkoord.verify",
                            "--no-rerun"], cwd=project, capture_output=True, text=True)
    assert "Numbers: every value agrees with the reference." in check.stdout, check.stdout
    stamp = subprocess.run([str(project / ".venv" / "bin" / "python"), "-m",
                            "rehabkoord.provenance", "data/processed/uppsala/tables/results.parquet"],
                           cwd=project, capture_output=True, text=True, check=True).stdout
    commit = (project / "BUNDLE_COMMIT").read_text().split()[0]
    assert commit in stamp


@pytest.mark.slow
def test_offline_install_without_uv_falls_back_to_pip(built_bundle, tmp_path):
    """A bundle without uv's wheel (one built before uv was pinned) still installs offline:
    pip installs the lock, and says so."""
    with zipfile.ZipFile(built_bundle) as zf:
        zf.extractall(tmp_path)
    project = tmp_path / "rehabkoord"
    for wheel in (project / "wheels" / "linux-x86_64").glob("uv-*.whl"):
        wheel.unlink()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "PIP_CONFIG_FILE": os.devnull, "PY": shutil.which("python3.11") or "python3"}
    done = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()), "make", "setup",
                           "OFFLINE=1", f"PY={env['PY']}"], cwd=project, capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "uv could not be installed: pip installs the lock" in done.stderr
    assert "requirements.lock, with pip" in done.stdout
    assert not (project / ".venv" / "bin" / "uv").exists()
    check = subprocess.run([str(project / ".venv" / "bin" / "python"), "-c",
                            "import rehabkoord.spells, pandas, dvc"], cwd=project,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
