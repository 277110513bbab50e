"""The same bits on any machine: numerical libraries pinned to one code path and one thread.

Three things change the last digits of a result with the machine rather than the data, and
with them a stage's output bytes and `dvc.lock`:

* numpy picks SIMD code per CPU; on AVX-512 processors its float64 `exp` and `log` are its
  own and differ from the C library's in the last bit (seen in the conditional odds ratio of
  Fisher's test, whose root search evaluates `np.exp`);
* OpenBLAS picks its kernels per CPU (Sandybridge and Haswell kernels fit different risk
  model coefficients in the 15th digit);
* OpenBLAS splits sums over as many threads as the machine has cores (1 and 2 threads fit
  different coefficients too).

`pin()` runs when `rehabkoord` is imported, before numpy is, so every stage process, the
papermill kernels it starts and the worker inherit it; `make setup` writes the same
variables into the Jupyter kernel's spec (`write_kernel_env`). Measured on the risk model's fit (the heaviest
linear algebra): one thread is as fast as two on these machines. Stated limits: machines
without AVX2 keep OpenBLAS's own choice of kernel (forcing Haswell's would stop them), and
Windows' C library may differ from glibc's in the last bit; published numbers agree
everywhere (`make verify` compares to 1e-9).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import MutableMapping
from pathlib import Path

#: Dispatch targets above AVX2 (numpy ≥ 2.4's names); numpy then runs the same code on
#: every x86-64 machine with AVX2, and ignores names the CPU lacks.
NUMPY_DISABLED = "X86_V4 AVX512_ICL AVX512_SPR"
#: One thread for every BLAS and OpenMP pool a stage's libraries use.
THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: OpenBLAS's kernel family for every x86-64 processor with AVX2 and FMA (AMD's Zen uses it).
CORETYPE = "Haswell"


def has_avx2() -> bool:
    """Whether the processor runs AVX2 and FMA (read without importing numpy)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    if sys.platform.startswith("linux"):
        try:
            text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
        except OSError:
            return False
        flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                      if line.startswith("flags")), [])
        return "avx2" in flags and "fma" in flags
    if sys.platform == "win32":
        import ctypes
        pf_avx2 = 40  # PF_AVX2_INSTRUCTIONS_AVAILABLE
        return bool(ctypes.windll.kernel32.IsProcessorFeaturePresent(pf_avx2))
    return False


def settings() -> dict[str, str]:
    """The environment variables `pin` sets on this machine."""
    out = {name: "1" for name in THREADS}
    out["NPY_DISABLE_CPU_FEATURES"] = NUMPY_DISABLED
    if has_avx2():
        out["OPENBLAS_CORETYPE"] = CORETYPE
    return out


def pin(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Set `settings()` in `environ` (overriding what was there: a machine's own thread count
    is exactly what must not reach the numbers). If numpy was imported first, its BLAS pool is
    limited to one thread at once; its SIMD choice is then already made."""
    pinned = settings()
    environ.update(pinned)
    if "numpy" in sys.modules and environ is os.environ:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    return pinned


def write_kernel_env(kernel_dir: str | os.PathLike) -> Path:
    """Add `settings()` to the `env` of the Jupyter kernel spec in `kernel_dir`, so that a
    notebook opened in JupyterLab computes as its stage does whatever it imports first."""
    path = Path(kernel_dir) / "kernel.json"
    spec = json.loads(path.read_text(encoding="utf-8"))
    spec["env"] = {**spec.get("env", {}), **settings()}
    path.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return path

