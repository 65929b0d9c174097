"""The multiprocess metrics' folder: made at start, and kept small as workers come and go.

prometheus_client's multiprocess mode keeps each process's values in memory-mapped
files, `counter_PID.db`, `histogram_PID.db`, `gauge_MODE_PID.db`, in the folder
PROMETHEUS_MULTIPROC_DIR names; a scrape reads and adds up every file there. The
client reads that variable when it is first imported, so the start command sets it
(prepare_directory), before gunicorn or the app imports anything, to a new folder
under the temporary folder (/tmp/PACKAGE-metrics-XXXXXXXX; in the image /tmp is
where a read-only root gets its tmpfs), made by this boot, so by its UID and empty,
and removed when the master exits, however it exits but by SIGKILL. A folder
named in PROMETHEUS_MULTIPROC_DIR (a Kubernetes memory volume, say) is used instead,
and its `*.db` files are removed first: counts left by an earlier run belong to
processes that no longer exist, and would be added to this one's. Only the serving
command sets it: `release`, `manage` and the app's tests keep prometheus_client's
single-process mode.

When a worker exits the master (worker_exits.py) calls `archive_worker()`: its
`live*` gauge files go (prometheus_client's mark_process_dead), and its counters,
histograms and summaries are added into one archive file per type and its files
removed. Left alone, a service recycling workers under GUNICORN_MAX_REQUESTS would
keep a file pair per worker it ever ran, and each scrape reads them all: the scrape
time grows with every recycle (prometheus/client_python#204, #568; bench/metrics_scrape.py
measures it). With the archive a scrape reads the live workers' files and three more.

Counters must never go backwards, nor count twice, while a worker is folded in: the
fold and every scrape take an flock on one file of the folder, exclusive for the
fold, shared for a scrape. It is not prometheus_client's lock (a threading lock
inside the process, which the master never takes: it creates no metric, so a fork
can never copy it held). Nothing here runs in a signal handler: gunicorn 27 reaps
workers in its main loop.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import signal
import tempfile
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# The lock file of the fold and the scrapes: not `*.db`, so no scrape reads it.
_LOCK_FILE = ".fold.lock"
# The types whose dead files are added into the archive. Gauges are not: the
# service's own are `live*` (removed when their worker dies); an app's gauge in
# another mode keeps its file, as prometheus_client documents.
_FOLDED = ("counter", "histogram", "summary")
# The archive of a type, read by prometheus_client like any worker's file: it takes
# the type from the name's first part and, for these types, ignores the rest.
ARCHIVE = "{}_archive.db"
# A file's header: the bytes used (4) and padding (4), before any value. A shorter file
# is one a worker is creating, or was stopped creating: it holds no value yet.
HEADER_BYTES = 8

# The folder this master made (and removes at exit); None when the environment named it.
# Its pid too: a worker inherits both, and must never remove the folder.
_made: Path | None = None
_made_by: int | None = None
# Prepared in this process already (start.py, then gunicorn_config.py, which a plain
# `gunicorn` runs alone): once.
_prepared: Path | None = None


def prepare_or_exit(package: str) -> None:
    """prepare_directory(), or one line naming the variable and exit code 2."""
    import sys

    try:
        prepare_directory(package)
    except OSError as error:
        named = os.environ.get(VARIABLE) or tempfile.gettempdir()
        print(
            f"configuration error: {VARIABLE}={named!r} cannot be used for the metrics' "
            f"files: {error.strerror or error}. Mount a writable tmpfs there (/tmp in the "
            f"image), name another folder in {VARIABLE}, or unset METRICS_PORT and "
            "METRICS_TOKEN to turn metrics off",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


def prepare_directory(package: str) -> Path:
    """Set PROMETHEUS_MULTIPROC_DIR for this process and its children, and empty it.

    Raises OSError when the folder cannot be made or emptied.
    """
    global _made, _made_by, _prepared
    if _prepared is not None:
        return _prepared
    named = os.environ.get(VARIABLE, "").strip()
    if named:
        folder = Path(named)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in [*folder.glob("*.db"), folder / _LOCK_FILE]:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
    else:
        # No stop between making the folder and noting it (start.exit_now removes what is
        # noted): the stop signals wait the few microseconds, then arrive.
        stops = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            folder = Path(tempfile.mkdtemp(prefix=f"{package}-metrics-"))
            _made, _made_by = folder, os.getpid()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, stops)
        # An exit that skips gunicorn's on_exit (a port it cannot bind, an error in its
        # arbiter) removes it too.
        atexit.register(remove_made_directory)
    os.environ[VARIABLE] = str(folder)
    _prepared = folder
    return folder


def remove_made_directory(in_master: bool = False) -> None:
    """At the master's exit: remove the temporary folder prepare_directory made.

    From gunicorn's on_exit hook (`in_master`: gunicorn runs it in the master alone,
    whose pid `--daemon` changed), from start.exit_now when a stop comes before
    gunicorn's handlers, or at exit; in any other process (a worker) it does nothing.
    """
    if _made is not None and (in_master or os.getpid() == _made_by):
        shutil.rmtree(_made, ignore_errors=True)


def directory() -> Path:
    return Path(os.environ[VARIABLE])


@contextlib.contextmanager
def _locked(operation: int):
    folder = directory()
    descriptor = os.open(folder / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o664)
    try:
        fcntl.flock(descriptor, operation)
        yield folder
    finally:
        os.close(descriptor)  # closing releases the flock


def reading():
    """Hold while a scrape globs and reads the files: no fold happens meanwhile."""
    return _locked(fcntl.LOCK_SH)


def archive_worker(pid: int, extra_counts: dict[str, float] | None = None) -> None:
    """Fold an exited worker's files into the archive; add `extra_counts` (mmap key:
    amount) to the counter archive in the same step: what the master counts itself."""
    from prometheus_client import multiprocess
    from prometheus_client.mmap_dict import MmapedDict

    with _locked(fcntl.LOCK_EX) as folder:
        multiprocess.mark_process_dead(pid, str(folder))
        for kind in _FOLDED:
            dead = folder / f"{kind}_{pid}.db"
            counts = dict(extra_counts or {}) if kind == "counter" else {}
            # A worker stopped in the instant it made a file leaves it empty, without the
            # header prometheus_client reads first: nothing counted, nothing to add.
            if dead.exists() and dead.stat().st_size >= HEADER_BYTES:
                for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(
                    str(dead)
                ):
                    counts[key] = counts.get(key, 0.0) + value
            if counts:
                archive = MmapedDict(str(folder / ARCHIVE.format(kind)))
                try:
                    for key, value in counts.items():
                        total, timestamp = archive.read_value(key)
                        archive.write_value(key, total + value, timestamp)
                finally:
                    archive.close()
            with contextlib.suppress(FileNotFoundError):
                dead.unlink()
