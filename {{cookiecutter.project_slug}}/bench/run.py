"""`make bench`: each worker class under load, against two references, in one run.

Every server runs on 127.0.0.1 with wrk on the same machine, so absolute figures
depend on what else the machine does; the ratios to the references, measured in
the same run, are what to compare. Each row is measured in several rounds, the
servers taking turns, and the median is kept. Writes bench/results.md and .png{% if cookiecutter.database == "postgresql" %},
then runs the database section (bench/database.py, results-database.md){% endif %}.
Last, the cost of metrics and tracing per request (bench/cost.py), into results.md.

    python bench/run.py [--seconds 5] [--rounds 3] [--classes gthread,gevent] [--no-container]
                        [--cost-seconds 2] [--cost-rounds 5] [--no-cost]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import platform
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path

import cost as cost_section
from container import {% if cookiecutter.database == "postgresql" %}UNUSED_DATABASE_URL, {% endif %}measure_container, python_image_from_environment
from procfs import connections_per_worker, cpu_seconds, memory_kib, tree
from report import write_chart, write_markdown
from servers import (
    Running,
    ServerSpec,
    free_port,
    running,
    seconds_to_exit_on_sigterm,
    wait_until_drained,
    wait_until_workers_idle,
)
from wrk import LoadResult, run_wrk, wrk_path, wrk_version

from {{ cookiecutter.package_name }}.serving.settings import WORKER_CLASSES, load_settings
from {{ cookiecutter.package_name }}.serving.worker_listeners import wanted as own_listeners_wanted
from {{ cookiecutter.package_name }}.serving.worker_sizing import worker_count

BENCH = Path(__file__).resolve().parent
HEALTH = "/health"
IO = "/io"
# /health costs CPU only; /io waits 50 ms. 50 connections is a busy service behind
# a router; 500 is a burst, where only an async worker keeps up on waiting requests.
WORKLOADS = [(HEALTH, 50), (HEALTH, 500), (IO, 50), (IO, 500)]
CEILING_WORKLOADS = [(HEALTH, 50), (HEALTH, 500)]
WARM_UP_SECONDS = 1


@dataclass
class Contender:
    name: str
    server: Running
    workers: int
    workloads: list[tuple[str, int]]


@dataclass
class Measured:
    server: str
    path: str
    connections: int
    load: LoadResult
    spread: list[int]  # connections held by each worker, mid-run
    # CPU time of the whole gunicorn tree during the load, per request wrk counted: what a
    # request costs the server, whatever wrk took of the same cores.
    cpu_us_per_request: float = math.nan
    # req/s of every round, in round order: ratios are taken round by round.
    rounds: list[float] = field(default_factory=list)


@dataclass
class ServerFigures:
    server: str
    workers: int
    first_200_seconds: float
    exit_seconds: float
    rss_kib: int
    pss_kib: int


def main() -> None:
    options = _options()
    wrk_path()  # fails with the install instruction before anything starts
{%- if cookiecutter.database == "postgresql" %}
    os.environ.setdefault("DATABASE_URL", UNUSED_DATABASE_URL)
{%- endif %}
    settings = load_settings(os.environ)
    workers = worker_count(settings).workers
    recipe_workers = multiprocessing.cpu_count() * 2 + 1
    started = time.time()
    load_before = os.getloadavg()
    measured: list[Measured] = []
    servers: list[ServerFigures] = []
    # Every server runs at once, idle but for its turn, and each workload goes through
    # them back to back: a ratio's two figures are seconds apart, not minutes, so a
    # change in what else the machine runs moves both alike.
    with tempfile.TemporaryDirectory(prefix="bench-") as logs, contextlib.ExitStack() as stack:
        log_dir = Path(logs)
        contenders: list[Contender] = []

        def start(spec: ServerSpec, expected_workers: int, workloads) -> Contender:
            print(f"== start {spec.name}", flush=True)
            server = stack.enter_context(running(spec, log_dir))
            wait_until_workers_idle(server, expected_workers)
            contender = Contender(spec.name, server, expected_workers, workloads)
            contenders.append(contender)
            return contender

        start(_recipe(), recipe_workers, WORKLOADS)
        for worker_class in options.classes:
            start(_service(worker_class), workers, WORKLOADS)
        # Without its access line: the default class on /health x50 (the logging cost)
        # and gevent on /io x500 (the /io target), next to the bare Flask app on each.
        quiet = {settings.worker_class: [(HEALTH, 50)]}
        if "gevent" in options.classes:
            quiet.setdefault("gevent", []).append((IO, 500))
        for worker_class, workloads in quiet.items():
            start(_service_without_access_log(worker_class), workers, workloads)
        # With metrics on, as the image runs (METRICS_PORT=9102): the recipe ratio both ways.
        start(_service_with_metrics(settings.worker_class), workers, [(HEALTH, 50)])
        start(_bare_flask_like_service(settings, workers), workers, [(HEALTH, 50)])
        if "gevent" in options.classes:
            start(_bare_flask_on_gevent(settings, workers), workers, [(IO, 500)])
        every_round: list[Measured] = []
        best = None
        for round_number in range(1, options.rounds + 1):
            print(f"== round {round_number} of {options.rounds}", flush=True)
            for workload in WORKLOADS:
                for contender in list(contenders):
                    if workload in contender.workloads:
                        every_round.append(_measure(contender, workload, options.seconds))
                if best is None:  # /health x50 comes first: the ceiling joins now
                    best = _best_class(every_round, options.classes)
                    ceiling = start(_ceiling(best, settings, workers), workers, CEILING_WORKLOADS)
                    every_round.append(_measure(ceiling, workload, options.seconds))
        measured = _medians(every_round)
        for contender in contenders:
            servers.append(_stop(contender))

    container = _container_figures(options.container)
    cost = _cost_figures(options, workers)
    context = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "duration_s": round(time.time() - started),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "machine": _machine(),
        "versions": _versions(),
        "seconds": options.seconds,
        "rounds": options.rounds,
        "label": options.label,
        "default_class": settings.worker_class,
        "best_class": best,
        "workers": workers,
        "recipe_workers": recipe_workers,
    }
    markdown = write_markdown(
        options.out / "results.md", measured, servers, container, context, cost
    )
    write_chart(options.out / "results.png", measured, context)
    print(markdown)
{%- if cookiecutter.database == "postgresql" %}
    # Last, with every server above stopped: /db on each class (bench/database.py).
    import database

    database.measure(options)
{%- endif %}


def _container_figures(wanted: bool):
    if not wanted:
        return "--no-container was given"
    try:
        return measure_container(python_image_from_environment())
    except Exception as error:
        # The load figures are worth writing even when the image does not build.
        return f"they failed ({error.__class__.__name__}: {error})"


def _cost_figures(options, workers: int):
    if not options.cost:
        return "--no-cost was given"
    # With every server above stopped: the cost servers have the machine to themselves.
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as logs:
        return cost_section.measure(
            options.classes, options.cost_seconds, options.cost_rounds, workers, Path(logs)
        )


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="load per measurement")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="times each row is measured; the report keeps the median (one run on a shared "
        "or virtual machine can be 20%% off)",
    )
    parser.add_argument(
        "--classes",
        # dict.fromkeys: each class once, in the order given.
        type=lambda text: list(dict.fromkeys(name.strip() for name in text.split(","))),
        default=list(WORKER_CLASSES),
        help="worker classes of the service, comma-separated",
    )
    parser.add_argument("--no-container", dest="container", action="store_false")
    parser.add_argument(
        "--cost-seconds",
        type=int,
        default=cost_section.DEFAULT_SECONDS,
        help="load per measurement of the cost section (metrics and tracing on and off)",
    )
    parser.add_argument(
        "--cost-rounds",
        type=int,
        default=cost_section.DEFAULT_ROUNDS,
        help="rounds of the cost section; each cost is the median of its round-by-round "
        "differences",
    )
    parser.add_argument("--no-cost", dest="cost", action="store_false")
    parser.add_argument("--out", type=Path, default=BENCH, help="folder for results.*")
    parser.add_argument(
        "--label", default="template defaults", help="what configuration this run measures"
    )
    options = parser.parse_args()
    if min(options.rounds, options.seconds, options.cost_seconds, options.cost_rounds) < 1:
        parser.error("--rounds, --seconds, --cost-seconds and --cost-rounds must be at least 1")
    unknown = set(options.classes) - set(WORKER_CLASSES)
    if unknown:
        parser.error(f"unknown worker class {', '.join(sorted(unknown))}")
    # Now, not after minutes of load: a folder that cannot be made fails at once.
    try:
        options.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"--out {options.out}: {error.strerror}")
    return options


def _recipe() -> ServerSpec:
    """Reference 1: hello-world Flask, sync workers, 2 x CPU + 1, no access log."""
    return ServerSpec(
        "recipe: bare Flask, sync",
        _plain_gunicorn("bench.apps:bare_flask"),
    )


def _service(worker_class: str) -> ServerSpec:
    """The generated service as deployed: its config, JSON access log, request ids."""
    return ServerSpec(
        f"service, {worker_class}",
        ["-m", "{{ cookiecutter.package_name }}", "bench.apps:service"],
        {"GUNICORN_WORKER_CLASS": worker_class},
    )


def _service_without_access_log(worker_class: str) -> ServerSpec:
    """The service with `accesslog = None`: what the JSON access line costs on its own."""
    return ServerSpec(
        f"service, {worker_class}, no access log",
        # An empty --access-logfile overrides gunicorn_config.py's "-"; GunicornLogger
        # (logging_setup.py) then writes no access lines, as with accesslog = None.
        ["-m", "{{ cookiecutter.package_name }}", "--access-logfile=", "bench.apps:service"],
        {"GUNICORN_WORKER_CLASS": worker_class},
    )


def _service_with_metrics(worker_class: str) -> ServerSpec:
    """The service with METRICS_PORT set, as the image sets it (on a free port here)."""
    return ServerSpec(
        f"service, {worker_class}, metrics on",
        ["-m", "{{ cookiecutter.package_name }}", "bench.apps:service"],
        {"GUNICORN_WORKER_CLASS": worker_class, "METRICS_PORT": str(free_port())},
    )


def _plain_gunicorn(app: str, *flags: str) -> list[str]:
    """gunicorn with the recipe's config file; flags override it ({port} is filled in)."""
    config = ["--config=bench/recipe.conf.py", "--bind=127.0.0.1:{port}"]
    return ["-m", "gunicorn", *config, *flags, app]


def _same_worker_settings(settings, worker_class: str, workers: int) -> list[str]:
    flags = [
        f"--workers={workers}",
        f"--worker-class={worker_class}",
        f"--threads={settings.threads if worker_class == 'gthread' else 1}",
        f"--worker-connections={settings.worker_connections}",
        f"--keep-alive={settings.keepalive}",
        f"--graceful-timeout={settings.graceful_timeout}",
    ]
    if own_listeners_wanted(settings.reuse_port, worker_class, settings.max_requests):
        flags.append("--reuse-port")
    return flags


def _bare_flask_like_service(settings, workers: int) -> ServerSpec:
    """The recipe's Flask app on the service's worker settings: what our logging costs."""
    cls = settings.worker_class
    return ServerSpec(
        f"bare Flask, {cls} as service",
        _plain_gunicorn("bench.apps:bare_flask", *_same_worker_settings(settings, cls, workers)),
    )


def _bare_flask_on_gevent(settings, workers: int) -> ServerSpec:
    """The recipe's Flask app on gevent with the service's settings: the most a Flask
    app does on /io x500 here, the yardstick for the service's gevent figure."""
    return ServerSpec(
        "bare Flask, gevent as service",
        _plain_gunicorn(
            "bench.apps:bare_flask", *_same_worker_settings(settings, "gevent", workers)
        ),
    )


def _ceiling(worker_class: str, settings, workers: int) -> ServerSpec:
    """Reference 2: a bare WSGI callable on the best class, the most Python does here."""
    return ServerSpec(
        f"ceiling: bare WSGI, {worker_class}",
        _plain_gunicorn(
            "bench.apps:bare_wsgi", *_same_worker_settings(settings, worker_class, workers)
        ),
    )


def _best_class(measured: list[Measured], classes: list[str]) -> str:
    """The service class with the most req/s on /health at 50 connections."""
    scores = {
        worker_class: row.load.requests_per_second
        for row in measured
        for worker_class in classes
        if row.server == f"service, {worker_class}" and row.path == HEALTH and row.connections == 50
    }
    return max(scores, key=scores.__getitem__) if scores else classes[0]


def _measure(contender: Contender, workload, seconds: int) -> Measured:
    path, connections = workload
    server = contender.server
    threads = os.cpu_count() or 1  # wrk threads: one per core
    url = f"{server.url}{path}"
    run_wrk(url, connections, WARM_UP_SECONDS, threads)
    wait_until_drained(server)
    cpu_before = cpu_seconds(tree(server.process.pid))
    load, spread = _load_with_spread(server, url, connections, seconds, threads)
    cpu_us = _per_request(cpu_seconds(tree(server.process.pid)) - cpu_before, load.requests)
    print(
        f"   {contender.name}, {path} x{connections}: {load.requests_per_second:.0f} req/s, "
        f"p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, {cpu_us:.0f} us CPU/request, "
        f"spread {spread}, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    wait_until_drained(server)
    return Measured(contender.name, path, connections, load, spread, cpu_us)


def _per_request(cpu: float, requests: int) -> float:
    return cpu * 1e6 / requests if requests else math.nan


def _medians(every_round: list[Measured]) -> list[Measured]:
    """Per row, the round with the median req/s (its latencies with it), in first-run
    order, carrying the req/s of every round."""
    rows: dict[tuple[str, str, int], list[Measured]] = {}
    for row in every_round:
        rows.setdefault((row.server, row.path, row.connections), []).append(row)
    return [
        replace(
            sorted(runs, key=lambda row: row.load.requests_per_second)[len(runs) // 2],
            rounds=[row.load.requests_per_second for row in runs],
        )
        for runs in rows.values()
    ]


def _stop(contender: Contender) -> ServerFigures:
    server = contender.server
    # After every load: what a warmed-up tree holds, not a fresh one.
    rss, pss = memory_kib(tree(server.process.pid))
    exit_seconds = seconds_to_exit_on_sigterm(server)
    return ServerFigures(
        contender.name, contender.workers, server.first_200_seconds, exit_seconds, rss, pss
    )


def _load_with_spread(server: Running, url, connections, seconds, threads):
    spread: list[int] = []

    def sample() -> None:
        time.sleep(seconds / 2)
        spread.extend(connections_per_worker(server.process.pid, server.port))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    load = run_wrk(url, connections, seconds, threads)
    sampler.join()
    return load, spread


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} x {model}, Linux {platform.release()}"


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "wrk": wrk_version()}
    for package in ("gunicorn", "flask", "werkzeug", "gevent"):
        found[package] = version(package)
    return found


if __name__ == "__main__":
    sys.exit(main())
