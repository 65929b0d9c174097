"""Scrape time after many recycled workers: their files left in place, or folded.

prometheus_client's multiprocess mode leaves a counter and a histogram file per
worker that ever ran; a scrape reads them all (prometheus/client_python#204, #568).
The service folds a dead worker's files into one archive per type as the master
reaps it (worker_exits.child_exit, metrics_files.archive_worker). This measures
both on the same writes: WORKERS processes forked one after another, as workers
recycled under GUNICORN_MAX_REQUESTS are, each answering REQUESTS requests over
ROUTES routes through a Flask app built with serving.init_app (so through
MetricsMiddleware and RequestWrites), then exiting 0. This process, the master,
reaps each through worker_exits.watch and calls worker_exits.child_exit on it, as
gunicorn's reap_workers and server_hooks.child_exit do; before that it copies the
worker's files into a second folder and calls prometheus_client's mark_process_dead
there alone: what the library's documented recipe leaves. Then metrics.exposition()
is timed on each folder, and the figures are printed only once both scrapes hold
exactly the requests sent (a worker that fails, or a count that differs, exits 1).

    PYTHONPATH=src python bench/metrics_scrape.py [--workers 100] [--requests 200]

--keep DIR leaves the two folders as DIR/folded and DIR/left (the test reads them).
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# 20 routes x 2 methods x 3 status classes: 120 counter and 40 histogram series per
# worker's files, an ordinary small service's.
ROUTES = 20
METHODS = ("GET", "POST")
STATUSES = (200, 404, 500)
# Scrapes timed per folder: the median of 20 is steady on a shared 2-core machine,
# and 20 scrapes of the unfolded folder take a few seconds at most.
SCRAPES = 20


def request_of(number: int) -> tuple[str, str, int]:
    """The path, method and expected status of a worker's `number`th request: every
    route in turn, then the other method, then the next status."""
    route, rest = number % ROUTES, number // ROUTES
    item = rest // len(METHODS)
    return f"/r{route}/{item}", METHODS[rest % len(METHODS)], STATUSES[item % len(STATUSES)]


def probe_app():
    from flask import Flask

    from {{ cookiecutter.package_name }} import serving

    app = Flask(__name__)
    serving.init_app(app)

    def answer(item: int):
        # Returned, never raised: no error line per request in the bench's output.
        return "", STATUSES[item % len(STATUSES)]

    for route in range(ROUTES):
        app.add_url_rule(f"/r{route}/<int:item>", f"r{route}", answer, methods=list(METHODS))
    return app


def serve_then_exit(app, requests: int) -> None:
    """A worker's life, in a forked child: booted as post_worker_init boots it, then
    `requests` requests through the app's middlewares, then exit 0 as a recycled worker
    does; any error is printed and exits 1."""
    from {{ cookiecutter.package_name }}.serving import metrics
    from {{ cookiecutter.package_name }}.serving.settings import current_settings

    code = 1
    try:
        settings = current_settings()
        metrics.worker_started(settings.revision, settings.worker_memory_mb * 2**20)
        client = app.test_client()
        for number in range(requests):
            path, method, status = request_of(number)
            # Closed, as gunicorn closes a body after its last byte: where it is measured.
            with client.open(path, method=method) as response:
                answered = response.status_code
            if answered != status:
                raise AssertionError(f"{method} {path} answered {answered}, not {status}")
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)  # no atexit, no parent's buffers: what a worker's exit runs is gunicorn's


class Master:
    """What worker_exits needs of gunicorn's arbiter: reap_workers, which watch() wraps
    to note each exit status, and kill_worker (never called here)."""

    def __init__(self, folded: Path, left: Path) -> None:
        from {{ cookiecutter.package_name }}.serving import worker_exits

        self.folded, self.left = folded, left
        self.fold_ms: list[float] = []
        self.pid: int | None = None
        worker_exits.watch(self)

    def kill_worker(self, pid: int, sig: int) -> None:
        os.kill(pid, sig)

    def reap_workers(self) -> None:
        """As gunicorn's: wait for the worker, then child_exit. Blocking: the worker is
        the one process this master has, and its exit is what is waited for."""
        from prometheus_client import multiprocess

        from {{ cookiecutter.package_name }}.serving import worker_exits

        pid, status = os.waitpid(self.pid, 0)  # os.waitpid looked up now: watch() notes it
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            raise SystemExit(f"a worker failed ({describe(status)}): no figures")
        # What prometheus_client alone leaves: the worker's files, its live gauges removed.
        for path in self.folded.glob(f"*_{pid}.db"):
            shutil.copy(path, self.left / path.name)
        multiprocess.mark_process_dead(pid, str(self.left))
        started = time.perf_counter()
        worker_exits.child_exit(self, SimpleNamespace(pid=pid), metrics_enabled=True)
        self.fold_ms.append((time.perf_counter() - started) * 1000)

    def run_worker(self, app, requests: int) -> None:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            serve_then_exit(app, requests)
        self.pid = pid
        self.reap_workers()


def describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def files(folder: Path) -> int:
    return len(list(folder.glob("*.db")))


def scrape(folder: Path) -> tuple[float, dict[tuple, float]]:
    """The median milliseconds of SCRAPES expositions of `folder`, and its samples."""
    from prometheus_client.parser import text_string_to_metric_families

    from {{ cookiecutter.package_name }}.serving import metrics

    os.environ[VARIABLE] = str(folder)
    times = []
    for _ in range(SCRAPES):
        started = time.perf_counter()
        text = metrics.exposition()
        times.append((time.perf_counter() - started) * 1000)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }
    return statistics.median(times), samples


def check(samples: dict[tuple, float], workers: int, requests: int, where: str) -> None:
    """Exit 1 unless the scrape holds exactly every request and worker start sent."""

    def total(name: str) -> float:
        return sum(value for (sample, _), value in samples.items() if sample == name)

    expected = {
        "http_requests_total": workers * requests,
        "http_request_duration_seconds_count": workers * requests,
        "worker_starts_total": workers,
    }
    for name, count in expected.items():
        if total(name) != count:
            raise SystemExit(f"{where}: {name} adds up to {total(name)}, not {count}: no figures")


def compare(folded: dict[tuple, float], left: dict[tuple, float]) -> None:
    """Exit 1 unless the folded files give every request series the unfolded ones give."""
    for key, value in left.items():
        if not key[0].startswith("http_request"):
            continue
        # A sum of durations is added in another order once folded: equal to rounding.
        if not math.isclose(folded.get(key, math.nan), value, rel_tol=1e-9, abs_tol=1e-12):
            raise SystemExit(f"folded, {key} is {folded.get(key)}; left, {value}: no figures")


def run(workers: int, requests: int, folded: Path, left: Path) -> None:
    app = probe_app()
    master = Master(folded, left)
    # This process's own files stand for the live workers' in both folders.
    for path in folded.glob("*.db"):
        shutil.copy(path, left / path.name)
    live = files(folded)
    baseline, _ = scrape(folded)
    for _ in range(workers):
        master.run_worker(app, requests)
    left_ms, left_samples = scrape(left)
    folded_ms, folded_samples = scrape(folded)
    check(left_samples, workers, requests, "left")
    check(folded_samples, workers, requests, "folded")
    compare(folded_samples, left_samples)
    recycled = folded_samples.get(("worker_exits_total", (("reason", "recycled"), ("signal", ""))))
    if recycled != workers:
        raise SystemExit(f"worker_exits_total, reason recycled, is {recycled}, not {workers}")
    print(f"{workers} recycled workers x {requests} requests, {ROUTES} routes:")
    print(f"| folder | scrape (median of {SCRAPES}) |\n|---|---|")
    print(f"| no dead worker ({live} files) | {baseline:.1f} ms |")
    print(f"| mark_process_dead only ({files(left)} files) | {left_ms:.1f} ms |")
    print(f"| folded by child_exit ({files(folded)} files) | {folded_ms:.1f} ms |")
    print(
        f"fold: {statistics.median(master.fold_ms):.2f} ms median, "
        f"{max(master.fold_ms):.2f} ms max per exited worker, in the master"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="leave the folders here (a new folder)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    folded, left = work / "folded", work / "left"
    folded.mkdir(parents=True)  # new, so no earlier run's files are counted
    left.mkdir()
    # Before prometheus_client is imported (run() imports it), as the start command
    # sets it; METRICS_TOKEN turns the metrics on in init_app (32 characters at least).
    os.environ.update(
        {
            VARIABLE: str(folded),
            "METRICS_TOKEN": secrets.token_urlsafe(32),
            "DATA_DIR": str(work / "data"),
        }
    )
    try:
        run(args.workers, args.requests, folded, left)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
