"""What metrics and tracing cost a request: the last section of `make bench`.

For each worker class the service runs five ways at once, idle but for its turn: off
(no METRICS_*, no OTEL_*), metrics on (METRICS_PORT, as the image sets it), tracing
on (OTEL_EXPORTER_OTLP_ENDPOINT to a sink this process runs, every request sampled),
both, and off again. Each round starts the five anew, in a new order, warms each up,
then loads them one after another on /ping x50, in another new order, and reads the
CPU time the gunicorn tree ran per request (procfs.run_seconds, to the nanosecond). A
variant's cost is its CPU per request minus the mean of off's and off again's in the
same round, the median over rounds with the lowest and highest; off again minus off
is the noise floor, what "not measurable" means on this machine in this run.

/ping (bench/apps.py) is /health's answer on a route of the app's own, where a fixed
cost per request shows most: the view itself costs almost nothing, and unlike
/health, which is never traced, tracing makes its span. The sink is an http.server
thread in this process, so what it spends is not in the tree's CPU; it counts what
reaches it, and the report says when nothing did (tracing not active in this build).

    PYTHONPATH=src python bench/cost.py [--seconds 2] [--rounds 5] [--classes gthread]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from procfs import run_seconds, tree
from servers import ServerSpec, free_port, running, wait_until_drained, wait_until_workers_idle
from wrk import run_wrk, wrk_path

from {{ cookiecutter.package_name }}.serving.settings import WORKER_CLASSES, load_settings
from {{ cookiecutter.package_name }}.serving.worker_sizing import worker_count

PATH = "/ping"
CONNECTIONS = 50
# Once per server, before it is measured: the workers' first requests cost more
# (caches, allocations), and a cold first load would be charged to one variant. A
# second (some 3,000 requests over the workers) is past them.
WARM_UP_SECONDS = 1
# Short loads, more rounds: a CPU-per-request figure settles within a second (thousands
# of requests), and the costs sought (15 and 60 µs of some 400) sit under the drift of
# a shared machine, which more alternations cancel better than longer loads do.
# 3 classes x 5 rounds of five servers started, warmed 1 s and loaded 2 s each keep
# this section near 6 minutes.
DEFAULT_SECONDS = 2
DEFAULT_ROUNDS = 5

OFF = "off"
OFF_AGAIN = "off, again"
METRICS = "metrics"
TRACING = "tracing"
BOTH = "metrics + tracing"
VARIANTS = (OFF, METRICS, TRACING, BOTH, OFF_AGAIN)
# µs per request on top of off, the targets the report checks: issue 23's 15 for
# metrics and 60 for tracing, and their sum for both.
TARGET_US = {METRICS: 15.0, TRACING: 60.0, BOTH: 75.0}
# What turns either on; every one of them is removed from the bench's own environment
# for the variants that do not set it, so off is off whatever the shell exports.
_SWITCHES = ("METRICS_PORT", "METRICS_TOKEN", "METRICS_TOKEN_FILE")


@dataclass
class Sink:
    """What the OTLP/HTTP sink received."""

    posts: int = 0
    bytes: int = 0
    paths: set[str] = field(default_factory=set)


@dataclass
class CostRow:
    worker_class: str
    variant: str
    # CPU µs per request of the gunicorn tree, round by round (round order).
    cpu_us: list[float]
    requests_per_second: list[float]


@dataclass
class CostFigures:
    rows: list[CostRow]
    sink: Sink
    seconds: int
    rounds: int
    workers: int


@contextlib.contextmanager
def otlp_sink() -> Iterator[tuple[str, Sink]]:
    """An OTLP/HTTP receiver on 127.0.0.1 that reads each POST and answers 200: the
    endpoint URL and its counts. An empty body is an empty ExportTraceServiceResponse."""
    received = Sink()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a collector answers

        def do_POST(self) -> None:  # http.server's name for it
            size = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(size)
            with lock:
                received.posts += 1
                received.bytes += size
                received.paths.add(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass  # the bench's output is its figures

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def variant_spec(worker_class: str, variant: str, endpoint: str) -> ServerSpec:
    # One hash seed for all: two servers of the same code then lay out their dicts and
    # sets alike, one thing less that tells off from off again.
    env = {"GUNICORN_WORKER_CLASS": worker_class, "PYTHONHASHSEED": "0"}
    if variant in (METRICS, BOTH):
        # A port, as the image's METRICS_PORT=9102: a second listening socket, and the
        # request path tells the two ports apart (metrics.py).
        env["METRICS_PORT"] = str(free_port())
    if variant in (TRACING, BOTH):
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        env["OTEL_TRACES_SAMPLER"] = "always_on"  # every request: the most it costs
    unset = [name for name in (*_SWITCHES, *_otel_variables()) if name not in env]
    return ServerSpec(
        f"cost, {worker_class}, {variant}",
        ["-m", "{{ cookiecutter.package_name }}", "bench.apps:service"],
        env,
        unset=tuple(unset),
    )


def _otel_variables() -> list[str]:
    return [name for name in os.environ if name.startswith("OTEL_")]


def measure(
    classes: list[str], seconds: int, rounds: int, workers: int, log_dir: Path
) -> CostFigures:
    rows: list[CostRow] = []
    with otlp_sink() as (endpoint, sink):
        for worker_class in classes:
            rows += _measure_class(worker_class, endpoint, seconds, rounds, workers, log_dir)
    return CostFigures(rows, sink, seconds, rounds, workers)


def _measure_class(worker_class, endpoint, seconds, rounds, workers, log_dir) -> list[CostRow]:
    rows = {variant: CostRow(worker_class, variant, [], []) for variant in VARIANTS}
    # New orders each round (the same in every run), one to start the servers in and
    # one to load them in. A server's place in the start order stays with it for its
    # life: five identical servers started one after another, the first ran some 40 µs
    # a request dearer than the others in every round. So each round starts its own
    # servers, and no variant is always the first started, nor always loaded after the
    # same one.
    order = random.Random(worker_class)  # noqa: S311 (an order, not a secret)
    for round_number in range(1, rounds + 1):
        starts = order.sample(VARIANTS, len(VARIANTS))
        print(f"== {worker_class}, round {round_number}: start {' | '.join(starts)}", flush=True)
        with contextlib.ExitStack() as stack:
            servers = {}
            for variant in starts:
                spec = variant_spec(worker_class, variant, endpoint)
                servers[variant] = stack.enter_context(running(spec, log_dir))
            for server in servers.values():
                wait_until_workers_idle(server, workers)
            for server in servers.values():
                run_wrk(f"{server.url}{PATH}", CONNECTIONS, WARM_UP_SECONDS, _threads())
                wait_until_drained(server)
            for variant in order.sample(VARIANTS, len(VARIANTS)):
                cpu_us, rate = _load(servers[variant], seconds)
                rows[variant].cpu_us.append(cpu_us)
                rows[variant].requests_per_second.append(rate)
                print(
                    f"   {worker_class}, {variant}: {rate:.0f} req/s, {cpu_us:.0f} us "
                    f"CPU/request, load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    return list(rows.values())


def _load(server, seconds: int) -> tuple[float, float]:
    pids = tree(server.process.pid)  # the same processes before and after: none exits
    before = run_seconds(pids)
    load = run_wrk(f"{server.url}{PATH}", CONNECTIONS, seconds, _threads())
    spent = run_seconds(pids) - before
    wait_until_drained(server)
    cpu_us = spent * 1e6 / load.requests if load.requests else math.nan
    return cpu_us, load.requests_per_second


def _threads() -> int:
    return os.cpu_count() or 1  # wrk threads: one per core, as the main section


def main() -> None:
    """This section alone: printed, not written (results.md holds a whole run's)."""
    from report import cost_markdown

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=DEFAULT_SECONDS)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument(
        "--classes",
        type=lambda text: list(dict.fromkeys(name.strip() for name in text.split(","))),
        default=list(WORKER_CLASSES),
    )
    options = parser.parse_args()
    if options.rounds < 1 or options.seconds < 1:
        parser.error("--rounds and --seconds must be at least 1")
    unknown = set(options.classes) - set(WORKER_CLASSES)
    if unknown:
        parser.error(f"unknown worker class {', '.join(sorted(unknown))}")
    wrk_path()  # fails with the install instruction before anything starts
{%- if cookiecutter.database == "postgresql" %}
    from container import UNUSED_DATABASE_URL

    os.environ.setdefault("DATABASE_URL", UNUSED_DATABASE_URL)  # as run.py does
{%- endif %}
    workers = worker_count(load_settings(os.environ)).workers
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as logs:
        figures = measure(options.classes, options.seconds, options.rounds, workers, Path(logs))
    print(cost_markdown(figures))


if __name__ == "__main__":
    sys.exit(main())
