"""The metrics port scraped by a real Prometheus server, not only by the client's parser.

N requests over every worker, a worker SIGKILLed and replaced: Prometheus's own
query for the total returns exactly N, and the scrape target is healthy. The server
runs the project's deploy/prometheus/prometheus.yml (harness/prometheus_server.py).
"""

import os
import signal

import pytest
from harness.http import wait_for
from harness.processes import worker_pids
from harness.prometheus_server import prometheus, query
from test_metrics import ROUTE, send, start, wait_for_count

REQUESTS = 40
# The same whatever the worker class: once, in the full run.
pytestmark = pytest.mark.slow


def test_prometheus_scrapes_the_exact_total(start_gunicorn, tmp_path):
    server = start(start_gunicorn, "gthread", tmp_path / "metrics")
    booted = server.wait_for_workers()
    target = server.metrics_url.removeprefix("http://").removesuffix("/metrics")
    with prometheus(tmp_path / "prometheus", [target]) as url:
        answered = send(server, REQUESTS // 2)
        # Each is counted as its body closes, just after its client has it: killed
        # before, the victim would take its last count with it.
        wait_for_count(server, REQUESTS // 2)
        victim = min(answered)
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: victim not in (p := worker_pids(server.process.pid)) and len(p) == len(booted),
            20,
            "the killed worker replaced",
        )
        send(server, REQUESTS // 2, first=REQUESTS // 2)
        # Concatenated: double braces would be Jinja's in the template.
        expression = "sum(http_requests_total{" + f'route="{ROUTE}"' + "})"
        wait_for(lambda: query(url, expression) == REQUESTS, 30, f"{expression} == {REQUESTS}")
        # Concatenated, as above.
        assert query(url, "up{" + f'instance="{target}"' + "}") == 1
        assert query(url, 'sum(worker_exits_total{reason="signal",signal="SIGKILL"})') == 1
