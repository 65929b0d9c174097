"""bench/metrics_scrape.py in a small run, so the script docs/metrics.md quotes cannot
break unseen (its figures are its own to print, not this test's to check): its
workers answer through the current request path and are folded as the master folds
them, and what it leaves is read here with prometheus_client itself, apart from the
script's own checks. A worker that dies fails the run."""

import os
import subprocess
import sys

from harness.scrape import total
from harness.servers import PROJECT, run_python
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

BENCH = PROJECT / "bench"
# A second or so: 6 recycles tell a folder that grows per worker from one that does
# not, and 120 requests a worker go once through each of its 20 routes x 2 methods x
# 3 status classes.
WORKERS, REQUESTS = 6, 120
ARCHIVES = {"counter_archive.db", "histogram_archive.db"}

# The script with every worker killed as it starts: a run whose workers fail.
KILLED_WORKERS = """
import os, signal, sys
sys.path.insert(0, sys.argv.pop(1))
import metrics_scrape
metrics_scrape.serve_then_exit = lambda app, requests: os.kill(os.getpid(), signal.SIGKILL)
metrics_scrape.main()
"""


def samples_of(folder) -> dict[tuple, float]:
    """What a scrape of `folder` would add up, read by the library's own collector."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def test_recycled_workers_fold_into_two_archives_that_hold_every_request(tmp_path):
    kept = tmp_path / "kept"
    size = ["--workers", str(WORKERS), "--requests", str(REQUESTS)]
    result = subprocess.run(
        [sys.executable, str(BENCH / "metrics_scrape.py"), *size, "--keep", str(kept)],
        env={**os.environ, "PYTHONPATH": str(PROJECT / "src")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "folded by child_exit" in result.stdout, result.stdout

    folded = {path.name for path in (kept / "folded").glob("*.db")}
    left = {path.name for path in (kept / "left").glob("*.db")}
    live = folded - ARCHIVES  # the script's own process's files, standing for live workers'
    # Folded: no file of any exited worker, however many ran; left: two per worker.
    assert folded == live | ARCHIVES
    assert live <= left
    assert len(left) == len(live) + 2 * WORKERS

    samples = samples_of(kept / "folded")
    sent = WORKERS * REQUESTS
    assert total(samples, "http_requests_total") == sent
    for status_class in ("2xx", "4xx", "5xx"):
        assert total(samples, "http_requests_total", status_class=status_class) == sent / 3
    assert total(samples, "http_request_duration_seconds_count") == sent
    assert total(samples, "http_request_duration_seconds_bucket", le="+Inf") == sent
    assert total(samples, "worker_starts_total") == WORKERS
    assert total(samples, "worker_exits_total", reason="recycled") == WORKERS
    # The fold lost and added nothing: every request series as the unfolded files give it.
    unfolded = samples_of(kept / "left")
    assert {
        key: value for key, value in unfolded.items() if key[0].startswith("http_requests_total")
    } == {key: value for key, value in samples.items() if key[0].startswith("http_requests_total")}


def test_a_worker_that_dies_fails_the_run_and_prints_no_figures():
    result = run_python(KILLED_WORKERS, str(BENCH), "--workers", "2", "--requests", "10")
    assert result.returncode != 0
    assert "a worker failed (killed by signal 9)" in result.stderr, result.stderr
    assert " ms" not in result.stdout, result.stdout
