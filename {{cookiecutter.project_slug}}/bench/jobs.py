"""The background jobs measured: enqueue latency, one worker's throughput, the time from
enqueue to end at a steady rate, and the worker's memory. docs/background-jobs.md has
the figures.

A throwaway redis-server on 127.0.0.1 (Debian's redis-server) and one worker process
(`python -m {{ cookiecutter.package_name }} worker`), both stopped at the end; the job is the
harness's `whoami`, which does next to nothing, so the figures are RQ's own cost per
job: a fork, a few Redis round trips.

    PYTHONPATH=src:tests:tests/serving:bench python bench/jobs.py [--jobs 1000]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import jobs_app
from harness.http import wait_for
from harness.redis_server import RedisServer
from procfs import memory_kib
from rq.registry import FinishedJobRegistry

# The steady load: a job every 50 ms (20 a second), well under one worker's capacity,
# so the time from enqueue to end is the queue's latency, not a backlog.
STEADY_JOBS = 100
STEADY_INTERVAL = 0.05


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    jobs_count = parser.parse_args().jobs
    folder = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    server = RedisServer(folder / "redis")
    os.environ.update(REDIS_URL=server.url, WORKER_QUEUES="bench", LOG_LEVEL="warning")
    os.environ.setdefault("DATA_DIR", str(folder / "data"))
    from {{ cookiecutter.package_name }}.serving import jobs

    worker = None
    try:
        with (folder / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "{{ cookiecutter.package_name }}", "worker"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        connection = jobs.redis_connection()
        wait_for(lambda: connection.scard("rq:workers") >= 1, 20, "the worker")
        idle_rss, idle_pss = memory_kib([worker.pid])

        latencies = []
        started = time.monotonic()
        for number in range(jobs_count):
            before = time.perf_counter()
            jobs.enqueue(jobs_app.whoami, str(number))
            latencies.append((time.perf_counter() - before) * 1000)
        finished = FinishedJobRegistry("bench", connection=connection)
        wait_for(lambda: finished.count >= jobs_count, 600, "every job", interval=0.1)
        burst_seconds = time.monotonic() - started

        steady = []
        for _ in range(STEADY_JOBS):
            steady.append((jobs.enqueue(jobs_app.whoami, "steady"), time.time()))
            time.sleep(STEADY_INTERVAL)
        wait_for(
            lambda: all(job.get_status(refresh=True).value == "finished" for job, _ in steady),
            60,
            "the steady jobs",
        )
        to_end = []
        for job, enqueued in steady:
            job.refresh()
            ended = job.ended_at.replace(tzinfo=datetime.UTC).timestamp()
            to_end.append((ended - enqueued) * 1000)
        figures = {
            "jobs": jobs_count,
            "enqueue_ms_p50": round(percentile(latencies, 0.5), 2),
            "enqueue_ms_p99": round(percentile(latencies, 0.99), 2),
            "jobs_per_second_one_worker": round(jobs_count / burst_seconds, 1),
            "steady_20_per_s_enqueue_to_end_ms_p50": round(percentile(to_end, 0.5), 1),
            "steady_20_per_s_enqueue_to_end_ms_p95": round(percentile(to_end, 0.95), 1),
            "worker_rss_idle_mib": round(idle_rss / 1024, 1),
            "worker_pss_idle_mib": round(idle_pss / 1024, 1),
            "worker_rss_after_mib": round(memory_kib([worker.pid])[0] / 1024, 1),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(figures, indent=2))
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        server.stop()


if __name__ == "__main__":
    main()
