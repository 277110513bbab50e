"""Run one pipeline stage: execute its notebook with papermill, in this process.

    python -m rehabkoord.stage <notebook.ipynb> <executed.ipynb>

The kernel is ipykernel's in-process kernel, so a stage costs one interpreter and one import
of the libraries instead of papermill's process plus a kernel process (about a second each).
The executed notebook has the same outputs as under a separate kernel (inline figures,
rich displays). A contract failure (`rehabkoord.io.DeliveryError` and its subclasses) ends the
stage with only its message on stderr and exit status 1; any other error keeps its traceback.
While a warm worker runs (`rehabkoord.worker`), the command runs in a fork of it instead, with
the libraries already imported. A stage says on stdout when it starts and how long it took
(a first run of a model fit takes minutes; silence looks like a hang).
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

from . import worker

if __name__ == "__main__":  # a warm worker runs the command if one serves it: before imports
    worker.exit_if_served("rehabkoord.stage", sys.argv[1:])

os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # ipykernel imports debugpy

from pathlib import Path  # noqa: E402
from queue import Empty  # noqa: E402

import papermill  # noqa: E402
from ipykernel.inprocess.blocking import BlockingInProcessKernelClient  # noqa: E402
from ipykernel.inprocess.ipkernel import InProcessKernel  # noqa: E402
from ipykernel.inprocess.manager import InProcessKernelManager  # noqa: E402
from papermill.exceptions import PapermillExecutionError  # noqa: E402
from traitlets import DottedObjectName  # noqa: E402
from traitlets.config import Config  # noqa: E402

from .io import DeliveryError  # noqa: E402
from .notebooks import scrub  # noqa: E402
from .provenance import sources_fixed  # noqa: E402

KERNEL = "rehabkoord"
CONTRACT_FAILURE = 1


class InProcessClient(BlockingInProcessKernelClient):
    """ipykernel's blocking in-process client with the signature nbclient's client calls."""

    def wait_for_ready(self, timeout: float | None = None) -> None:
        self.kernel_info()
        while self.shell_channel.get_msg(timeout=timeout)["msg_type"] != "kernel_info_reply":
            pass
        while True:  # drop the status messages of the kernel_info request
            try:
                self.iopub_channel.get_msg(block=False)
            except Empty:
                return


class FlushingKernel(InProcessKernel):
    """The in-process kernel, with print output addressed to the running cell and flushed
    before the cell is reported done (else nbclient drops it)."""

    @contextmanager
    def _redirected_io(self):
        with super()._redirected_io():
            parent = self.get_parent("shell")
            self.stdout.set_parent(parent)
            self.stderr.set_parent(parent)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()


class InProcessManager(InProcessKernelManager):
    """ipykernel's in-process kernel manager with the signatures nbclient's client calls."""

    client_class = DottedObjectName("rehabkoord.stage.InProcessClient")

    def start_kernel(self, **kwargs) -> None:
        # A stage is not an interactive session: its cells stay out of the user's IPython
        # history (a SQLite file written and synced per cell, and grown by every run).
        config = Config(self.config)
        config.HistoryManager.enabled = False
        self.kernel = FlushingKernel(parent=self, session=self.session, config=config)

    def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        super().shutdown_kernel()


def execute(notebook: str | Path, executed: str | Path) -> None:
    """Execute `notebook` top to bottom (cwd unchanged) and write it with outputs to `executed`,
    scrubbed of run times and memory addresses so that re-runs write identical bytes.

    Raises the notebook's own exception when it is a `DeliveryError`, else papermill's error.
    The sources are fixed while a stage runs, so provenance asks git each question once."""
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    Path(executed).parent.mkdir(parents=True, exist_ok=True)  # a fresh clone has no reports/
    try:
        with sources_fixed():
            papermill.execute_notebook(str(notebook), str(executed), kernel_name=KERNEL,
                                       progress_bar=False, log_output=False,
                                       request_save_on_cell_execute=False,
                                       kernel_manager_class=InProcessManager)
    except PapermillExecutionError:
        failure = getattr(sys, "last_value", None)  # the notebook's exception, same process
        if isinstance(failure, DeliveryError):
            raise failure from None
        raise
    scrub(executed)


def elapsed(seconds: float) -> str:
    """`0.4 s`, `12.3 s`, `3 min 05 s`: a stage's run time as the progress line prints it."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def run(notebook: str | Path, executed: str | Path) -> int:
    """`execute`, turning a contract failure into its message on stderr and a non-zero exit;
    its start and its end, with the time taken, are printed on stdout."""
    name = Path(notebook).name
    started = time.monotonic()
    print(f"stage {name}: started", flush=True)
    outcome = "failed after"
    try:
        execute(notebook, executed)
        outcome = "finished in"
    except DeliveryError as err:
        sys.stderr.write(f"{err}\n")
        sys.stderr.flush()
        return CONTRACT_FAILURE
    finally:
        print(f"stage {name}: {outcome} {elapsed(time.monotonic() - started)}", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    return run(*argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
