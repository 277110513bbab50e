"""A warm worker for pipeline stages: libraries imported once, a fresh fork per stage.

Each stage command (`python -m rehabkoord.stage`, `python -m rehabkoord.render stage`) is a
new interpreter that imports pandas, papermill, ipykernel, matplotlib and seaborn before its
first cell runs: about a second of a stage's two or three. A stage command first asks a
worker: if one serves its environment, the command hands it its arguments, working directory,
environment and standard streams and waits; the worker forks, and the fork runs the stage
exactly as the command would have, with the libraries already imported. `rehabkoord` itself
is never imported ahead, so every run sees the current code; each fork starts from the same
imported state, so nothing one stage does reaches the next. DVC still runs every stage,
decides what re-runs and records the outputs: only where the stage's Python runs changes.

Nothing needs starting by hand. When no worker serves a stage command, the command starts
one in the background (detached: its own session, no inherited streams, so DVC does not wait
for it) and runs itself as before; the stages after it are served. A worker started so exits
after `REHABKOORD_WORKER_IDLE` seconds without a stage (default 900; 0: never start one), as
build tools' daemons do. `python -m rehabkoord.worker` starts one by hand (serving until
stopped, or `--idle SECONDS`).

On Windows (no fork) or macOS (its system libraries are not fork-safe once loaded), with
`REHABKOORD_NO_WORKER=1`, or whenever a worker cannot be reached or started, the stage runs
in its own process: the worker never fails a stage. A worker serves only commands from the
same interpreter, `sys.path`, installed packages, import-relevant environment and worker
code (`key`), so a changed environment is never served by a worker that imported something
else; the command then runs itself and starts a worker for the new environment.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gc
import hashlib
import json
import os
import select
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

#: Set in a fork so that its stage command does not ask the worker again.
IN_WORKER = "REHABKOORD_IN_WORKER"
DISABLE = "REHABKOORD_NO_WORKER"
#: Seconds without a stage after which a worker started by a stage command exits.
IDLE = "REHABKOORD_WORKER_IDLE"
DEFAULT_IDLE = 900.0
#: Workers of one user (one socket folder) beyond which a command starts no other: each
#: environment (key) has its own, and a test suite or several projects must not pile them up.
MAX_WORKERS = 4

#: Environment variables read when the preloaded libraries are imported (configuration,
#: locale, thread pools): a worker serves only commands where these are the same.
_ENV_PREFIXES = ("PYTHON", "MPL", "LC_", "OMP_", "OPENBLAS_", "MKL_", "NPY_", "JUPYTER",
                 "IPYTHON", "PYDEVD", "XDG_")
_ENV_NAMES = ("LANG", "TZ", "HOME")

#: Imported once by the worker: what stage processes import before their own code
#: (matplotlib_inline's backend is left out: imported ahead, inline figures are lost).
#: The kernel's start imports `ipykernel.debugger` (debugpy, about 0.18 s), IPython's
#: history (sqlite3) and inspector; `rehabkoord` imports pyreadstat and nbstripout.
PRELOAD = ("numpy", "pandas", "pyarrow", "pyarrow.parquet", "pyarrow.dataset", "pyarrow.csv",
           "pandas.io.formats.style", "pandas.io.formats.csvs", "yaml", "nbformat", "nbclient",
           "papermill", "ipykernel.inprocess.ipkernel", "ipykernel.inprocess.manager",
           "ipykernel.inprocess.blocking", "ipykernel.debugger", "IPython.core.application",
           "IPython.core.completerlib", "IPython.core.logger", "IPython.core.oinspect", "bdb",
           "sqlite3", "tornado.platform.asyncio", "matplotlib", "matplotlib.pyplot",
           "matplotlib.backends.backend_agg", "matplotlib.backends.backend_svg", "seaborn",
           "scipy.special", "scipy.stats", "statsmodels.api", "highspy", "duckdb", "nbconvert",
           "bs4", "pyreadstat", "nbstripout")

_MAX_REQUEST = 1 << 20


def key() -> str:
    """What the preloaded state depends on: interpreter, import path (the working directory
    aside), the installed packages' directories (their modification times change with every
    install), the import-relevant environment and this module's source. The project's own
    folder on the path is not stamped: the worker never imports `rehabkoord`, so adding a file
    there changes nothing."""
    paths = [p for p in sys.path[1:] if p]
    stamps = {}
    for p in paths:
        if not (Path(p) / "rehabkoord").is_dir():
            with contextlib.suppress(OSError):
                stamps[p] = os.stat(p).st_mtime_ns
    env = {k: v for k, v in os.environ.items()
           if k.startswith(_ENV_PREFIXES) or k in _ENV_NAMES}
    env.pop(IN_WORKER, None)
    # The worker's own code (protocol, preloads): an edited worker.py is a new environment.
    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    facts = {"executable": sys.executable, "version": sys.version, "prefix": sys.prefix,
             "path": paths, "stamps": stamps, "env": env, "code": code}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:20]


def socket_path(worker_key: str | None = None, *, create: bool = False) -> Path:
    """The worker's socket, in a directory only this user can enter (its lock and log beside
    it); `create` makes the directory, as a worker and a command that may start one do."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    folder = Path(base) / f"rehabkoord-{os.getuid()}"
    if create:
        folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
        raise PermissionError(f"{folder} must belong to you alone (mode 700)")
    return folder / f"worker-{worker_key or key()}.sock"


def available() -> bool:
    """Whether this platform runs a worker: Linux (fork, and file descriptors passed over Unix
    sockets). Not macOS, where forking a process that has loaded the system's numerical
    libraries is unsafe (why Python's multiprocessing spawns there), nor Windows (no fork)."""
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds")


def idle_seconds() -> float:
    """`REHABKOORD_WORKER_IDLE` (seconds; an unreadable value counts as the default)."""
    try:
        return max(0.0, float(os.environ.get(IDLE, DEFAULT_IDLE)))
    except ValueError:
        return DEFAULT_IDLE


def delegate(module: str, argv: list[str]) -> int | None:
    """Run `python -m module argv` in a matching worker; its exit status, or None when no
    worker serves this command (then the caller runs it itself, and a worker is started in
    the background for the commands after it)."""
    if not available() or os.environ.get(IN_WORKER) or os.environ.get(DISABLE):
        return None
    try:
        worker_key = key()
        path = socket_path(worker_key, create=True)
    except OSError:  # no socket folder to be had, or one not ours alone: no worker
        return None
    served = _ask(path, module, argv)
    if served is None:
        with contextlib.suppress(Exception):  # never a failed stage because of the worker
            start(worker_key, path)
    return served


def _ask(path: Path, module: str, argv: list[str]) -> int | None:
    """The exit status of the command run by the worker at `path`, or None when none took it.
    The worker answers one byte once a fork runs the command: before that, a worker that is
    gone or closes the connection (stopping when idle) leaves the command to run here."""
    if not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:  # a worker that has gone: run here
        conn.close()
        return None
    request = json.dumps({"module": module, "argv": argv, "cwd": os.getcwd(),
                          "env": dict(os.environ), "path": sys.path}).encode()
    with conn:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            socket.send_fds(conn, [len(request).to_bytes(8, "big")], [0, 1, 2])
            conn.sendall(request)
            if conn.recv(1) != b"+":  # not taken: nothing has run
                return None
        except OSError:
            return None
        reply = b""
        while len(reply) < 8:
            try:
                chunk = conn.recv(8 - len(reply))
            except OSError:
                chunk = b""
            if not chunk:  # the worker died mid-run: say so, never report success
                sys.stderr.write("rehabkoord.worker: the worker stopped during the stage\n")
                return 1
            reply += chunk
    return int.from_bytes(reply, "big", signed=True)


def _held(lock: Path) -> bool:
    """Whether a live worker holds `lock` (its lock file)."""
    try:
        with open(lock, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False
    except OSError:
        return False


def start(worker_key: str | None = None, path: Path | None = None) -> bool:
    """Start a worker for this environment in the background, detached (own session, no
    inherited streams: its output goes to a log beside its socket), unless one is running or
    starting, `REHABKOORD_WORKER_IDLE` is 0, or `MAX_WORKERS` already run. Whether one was
    started; it serves once its imports are done, and exits after the idle period."""
    idle = idle_seconds()
    if not available() or idle <= 0:
        return False
    worker_key = worker_key or key()
    path = path or socket_path(worker_key, create=True)
    if _held(path.with_suffix(".lock")):
        return False
    if sum(_held(lock) for lock in path.parent.glob("worker-*.lock")) >= MAX_WORKERS:
        return False
    import subprocess

    with open(path.with_suffix(".log"), "ab") as log:
        subprocess.Popen([sys.executable, "-m", "rehabkoord.worker", "--idle", f"{idle:g}",
                          "--key", worker_key], cwd=path.parent, stdin=subprocess.DEVNULL,
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return True


def exit_if_served(module: str, argv: list[str]) -> None:
    """End this process with the worker's exit status when a worker ran the command."""
    served = delegate(module, argv)
    if served is not None:
        sys.exit(served)


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    head, fds, _, _ = socket.recv_fds(conn, 8, 3)
    size = int.from_bytes(head, "big")
    if len(fds) != 3 or size > _MAX_REQUEST:
        raise ValueError("malformed request")
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ValueError("truncated request")
        body += chunk
    return json.loads(body), fds


def _run_child(request: dict, fds: list[int]) -> None:
    """In the fork: become the command (streams, directory, environment, path) and run it."""
    import importlib
    import runpy

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ[IN_WORKER] = "1"
    sys.path[:] = request["path"]
    for name in [m for m in sys.modules if m == "rehabkoord" or m.startswith("rehabkoord.")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.argv = [request["module"], *request["argv"]]
    code = 0
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, int | type(None)):
            sys.stderr.write(f"{done.code}\n")
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    os._exit(code)


def _handle(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In a fork of the worker, one per command: fork the stage, tell the command it runs,
    wait for it (stopping it if the command is interrupted: socket closed) and send its exit
    status. Stages of several commands so run side by side."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        conn.close()
        _run_child(request, fds)
    for fd in fds:
        os.close(fd)
    conn.sendall(b"+")
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        readable, _, _ = select.select([conn], [], [], 0.05)
        if readable and not conn.recv(1, socket.MSG_PEEK):
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
            print(f"rehabkoord.worker: {request['module']} interrupted", flush=True)
            return
    code = os.waitstatus_to_exitcode(status)
    print(f"rehabkoord.worker: {request['module']} {' '.join(request['argv'])} -> exit {code}",
          flush=True)
    with contextlib.suppress(OSError):
        conn.sendall(code.to_bytes(8, "big", signed=True))


def _serve_one(conn: socket.socket) -> int:
    """Take one command and hand it to a fork (`_handle`); the fork's pid."""
    conn.settimeout(10)  # a request arrives at once; a stuck client must not hold the worker
    request, fds = _receive(conn)
    conn.settimeout(None)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            _handle(conn, request, fds)
        except BaseException:  # the fork must never return into the worker's loop
            code = 1
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            os._exit(code)
    for fd in fds:
        os.close(fd)
    return pid


def _warm_up() -> None:
    """Render a small notebook to HTML with the report's template: the regular expressions
    nbconvert's Markdown and HTML passes compile on first use (about 0.25 s) are then
    compiled once, in the worker, instead of in every report stage."""
    import nbformat
    from nbconvert import HTMLExporter

    output = nbformat.v4.new_output("display_data", data={"text/html": "<table><tr><td>1</td>"
                                                                       "</tr></table>",
                                                          "text/plain": "1"})
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Rubrik\n\n*text* `kod` [länk](#a)\n\n- punkt"),
        nbformat.v4.new_code_cell("1", outputs=[output])])
    HTMLExporter(template_name="lab").from_notebook_node(nb)


def preload() -> None:
    """Bring this process to the state every fork starts from: the stage's settings, `PRELOAD`
    imported, nbconvert warmed up (never `rehabkoord`'s own code)."""
    import importlib

    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # an optional library that is not installed
            importlib.import_module(name)
    _warm_up()


def serve(ready: str | None = None, idle: float | None = None,
          expect_key: str | None = None) -> None:
    """Import `PRELOAD`, then serve stage commands, each in its own fork, until interrupted,
    or until `idle` seconds pass without a stage. `ready`: a file written once the worker
    listens (tests and benchmarks wait for it); `expect_key`: the key of the command that
    started it (a worker that would not serve that command stops at once)."""
    if not available():
        raise SystemExit("rehabkoord.worker runs on Linux only (not on Windows or macOS); "
                         "stages run in their own processes there")
    worker_key = key()  # as the commands compute it: before the stage's own settings
    if expect_key is not None and expect_key != worker_key:
        raise SystemExit("rehabkoord.worker: this process's environment differs from the "
                         "command's that started it; not serving")
    path = socket_path(worker_key, create=True)
    lock = open(path.with_suffix(".lock"), "a")  # held while this worker lives
    for attempt in range(20):  # a command's `_held` takes the lock for a moment to look
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt == 19:
                raise SystemExit(f"rehabkoord.worker: a worker for this environment is "
                                 f"already serving at {path}") from None
            time.sleep(0.01)
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")  # whom to stop, for a user or a test
    lock.flush()
    preload()
    # Every fork would otherwise copy the pages of the young objects its first collections
    # visit (about 60 MB with these libraries): they are moved out of the collector's sight.
    gc.collect()
    gc.freeze()
    with contextlib.suppress(FileNotFoundError):  # left by a worker that was killed
        path.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(64)
    until = f"idle for {idle:g} s" if idle else "Ctrl-C stops"
    print(f"rehabkoord.worker: serving stage commands at {path} ({until})", flush=True)
    if ready:
        Path(ready).write_text(str(path), encoding="utf-8")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    running: set[int] = set()
    last = time.monotonic()
    try:
        while True:
            for pid in list(running):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    running.discard(pid)
                    last = time.monotonic()
            if idle and not running and time.monotonic() - last >= idle:
                print(f"rehabkoord.worker: no stage for {idle:g} s, stopping", flush=True)
                break
            if not select.select([server], [], [], 0.5 if running or idle else None)[0]:
                continue
            conn, _ = server.accept()
            last = time.monotonic()
            with conn:
                try:
                    running.add(_serve_one(conn))
                except (OSError, ValueError) as err:
                    print(f"rehabkoord.worker: request dropped: {err}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        # New commands find no socket; those already queued are closed unanswered and run
        # themselves (they were not told "+").
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        server.setblocking(False)
        with contextlib.suppress(OSError):
            while True:
                server.accept()[0].close()
        server.close()
        for pid in running:  # stages under way finish; their commands wait for them
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        lock.close()
        gc.unfreeze()  # collected at exit as usual (DuckDB's bindings report objects left)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehabkoord.worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ready", metavar="FILE",
                        help="write the socket's path to FILE once the worker listens")
    parser.add_argument("--idle", metavar="SECONDS", type=float, default=None,
                        help="stop after SECONDS without a stage (default: serve until "
                             "stopped)")
    parser.add_argument("--key", help=argparse.SUPPRESS)  # the starting command's key
    args = parser.parse_args(argv)
    serve(ready=args.ready, idle=args.idle, expect_key=args.key)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
