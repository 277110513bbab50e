"""rehabkoord.determinism: the numbers do not depend on the machine's cores or processor."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from rehabkoord import determinism

#: A least-squares solve large enough that OpenBLAS splits its sums over threads.
FIT = """
import sys
if sys.argv[1] == "pinned":
    import rehabkoord  # noqa: F401
import numpy as np
rng = np.random.default_rng(5)
X = rng.normal(size=(40000, 20))
y = rng.normal(size=40000)
beta = np.linalg.solve(X.T @ (X * np.exp(0.1 * y)[:, None]), X.T @ y)
print(beta.tobytes().hex())
"""


def _run(code: str, *args: str, **env: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, **env}, check=True)
    return done.stdout.strip()


def _fit(mode: str, threads: int) -> str:
    return _run(FIT, mode, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to differ")
def test_a_fit_has_the_same_bits_with_one_or_two_threads():
    """Without the pin, 1 and 2 BLAS threads give different bits (the test has teeth); after
    `import rehabkoord` a machine's thread setting no longer reaches the result."""
    assert _fit("free", 1) != _fit("free", 2)
    assert _fit("pinned", 1) == _fit("pinned", 2) == _fit("pinned", 4)


def test_import_overrides_the_machines_settings():
    code = ("import os, json, rehabkoord, numpy\n"
            "from threadpoolctl import threadpool_info\n"
            "print(json.dumps([{k: os.environ.get(k) for k in rehabkoord.determinism.settings()},"
            " [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']]))")
    env, blas = json.loads(_run(code, OPENBLAS_NUM_THREADS="4", OMP_NUM_THREADS="3",
                                NPY_DISABLE_CPU_FEATURES=""))
    assert env == determinism.settings()
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "1"
    assert blas == [1]


def test_numpy_imported_first_still_gets_one_blas_thread():
    code = ("import numpy, rehabkoord\nfrom threadpoolctl import threadpool_info\n"
            "print([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'])")
    assert _run(code, OPENBLAS_NUM_THREADS="2") == "[1]"


def test_the_disabled_simd_targets_are_numpys_names():
    """numpy ignores names it does not know: a renamed target would silently stop the pin."""
    from numpy._core._multiarray_umath import __cpu_dispatch__
    assert set(determinism.NUMPY_DISABLED.split()) <= set(__cpu_dispatch__)
    assert "X86_V3" in __cpu_dispatch__  # what every machine with AVX2 then runs


@pytest.mark.skipif(platform.machine() != "x86_64" or not sys.platform.startswith("linux"),
                    reason="reads /proc/cpuinfo")
def test_avx2_detection_agrees_with_numpys():
    from numpy._core._multiarray_umath import __cpu_features__
    assert determinism.has_avx2() == (__cpu_features__["AVX2"] and __cpu_features__["FMA3"])
    assert ("OPENBLAS_CORETYPE" in determinism.settings()) == determinism.has_avx2()


def test_the_kernel_spec_gets_the_settings_and_keeps_its_own(tmp_path):
    (tmp_path / "kernel.json").write_text(json.dumps(
        {"argv": ["python", "-m", "ipykernel_launcher"], "env": {"KEEP": "x"}}))
    spec = json.loads(determinism.write_kernel_env(tmp_path).read_text())
    assert spec["argv"] == ["python", "-m", "ipykernel_launcher"]
    assert spec["env"] == {"KEEP": "x", **determinism.settings()}


def test_the_test_process_runs_with_the_stages_pins():
    """A test's exact comparison means what it means in a stage: pytest loads rehabkoord
    (pyproject's `-p rehabkoord.determinism`) before a test module imports numpy. Without it
    an AVX-512 machine scored a row alone and in a batch one bit apart."""
    from numpy._core._multiarray_umath import __cpu_features__

    assert not [name for name in determinism.NUMPY_DISABLED.split() if __cpu_features__.get(name)]
    for name, value in determinism.settings().items():
        assert os.environ.get(name) == value, name
