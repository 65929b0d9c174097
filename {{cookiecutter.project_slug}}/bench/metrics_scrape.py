"""Scrape time after many recycled workers: their files left in place, then folded.

prometheus_client's multiprocess mode leaves a counter and a histogram file per
worker that ever ran; a scrape reads them all (prometheus/client_python#204, #568).
metrics_files.archive_worker folds a dead worker's files into one archive per type.
This measures both: WORKERS short-lived processes each answer REQUESTS requests over
ROUTES routes (as workers recycled under GUNICORN_MAX_REQUESTS would), then /metrics
is rendered with their files left, and again after folding them.

    PYTHONPATH=src python bench/metrics_scrape.py [--workers 100] [--requests 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

# Before prometheus_client is imported, as the start command does.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")

from {{ cookiecutter.package_name }}.serving import metrics, metrics_files
from {{ cookiecutter.package_name }}.serving.slow_requests import ROUTE_KEY, RouteNote

ROUTES = 20
METHODS = ("GET", "POST")
STATUSES = ("200 OK", "404 Not Found", "500 Internal Server Error")


def one_worker(requests: int) -> int:
    """A forked worker that answers `requests` requests and exits; its pid."""
    pid = os.fork()
    if pid == 0:
        metrics.WORKER_STARTS.inc()
        for number in range(requests):
            note = RouteNote()
            note.rule = f"/route/{number % ROUTES}"
            environ = {"REQUEST_METHOD": METHODS[number % 2], ROUTE_KEY: note}
            metrics.IN_FLIGHT.inc()
            metrics._observe(environ, STATUSES[number % 3], time.perf_counter())
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def scrape_ms(rounds: int = 20) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        metrics.exposition()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    folder = metrics_files.directory()
    baseline = scrape_ms()
    pids = [one_worker(args.requests) for _ in range(args.workers)]
    # prometheus_client's documented recipe (child_exit calls mark_process_dead):
    # the live gauges go, the counters and histograms stay.
    from prometheus_client import multiprocess

    for pid in pids:
        multiprocess.mark_process_dead(pid, str(folder))
    files_left = len(list(folder.glob("*.db")))
    left = scrape_ms()
    started = time.perf_counter()
    for pid in pids:
        metrics_files.archive_worker(pid)
    fold_ms = (time.perf_counter() - started) * 1000 / len(pids)
    files_folded = len(list(folder.glob("*.db")))
    folded = scrape_ms()
    print(f"{args.workers} dead workers x {args.requests} requests, {ROUTES} routes:")
    print(f"| files | scrape (median of 20) |\n|---|---|\n| no dead worker | {baseline:.1f} ms |")
    print(f"| {files_left} files, mark_process_dead only | {left:.1f} ms |")
    print(f"| {files_folded} files, folded into the archive | {folded:.1f} ms |")
    print(f"fold: {fold_ms:.2f} ms per exited worker, in the master")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
