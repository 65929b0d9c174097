"""`make bench`'s database section: `/db`, an indexed primary-key read, under load.

Each worker class of the service reads a random row of a 10,000-row table through its
own stack (bench/database_apps.py), beside the reference, bare Flask with one plain
psycopg connection per sync worker, at 50 and 500 connections: req/s, latency, CPU
per request, pool waits and timeouts, and the memory of each worker after a warm-up
and under load (in the image too, under a memory limit, where Docker runs).

It needs a PostgreSQL: TEST_POSTGRES_URL, an admin URL (the one the tests use), where
it creates a database of its own, fills it and drops it at the end; without it, a
throwaway server started as the tests start one (tests/serving/harness/postgres.py)
and stopped after; without PostgreSQL's binaries either, this section is skipped
with one line. `make bench` runs it after the rest; alone:

    PYTHONPATH=src .venv/bin/python bench/database.py [--rounds 1] [--classes gevent]

The servers take turns, one at a time, unlike the rest of the bench: each holds its
pools' connections until it stops (gevent's 5 workers x 10 hold 50), and the server's
connections (100 by default) are shared with whatever else uses it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import multiprocessing
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import psycopg
from procfs import children, connections_per_worker, cpu_seconds, memory_kib, tree
from run import WARM_UP_SECONDS, _options, _per_request, _plain_gunicorn
from servers import (
    PROJECT,
    Running,
    ServerSpec,
    free_port,
    running,
    wait_until_drained,
    wait_until_workers_idle,
)
from sqlalchemy.engine import make_url
from wrk import LoadResult, run_wrk, wrk_path

from {{ cookiecutter.package_name }}.serving.settings import load_settings
from {{ cookiecutter.package_name }}.serving.worker_sizing import worker_count

BENCH = Path(__file__).resolve().parent
DB = "/db"
CONNECTIONS = (50, 500)
ROWS = 10_000
RECIPE = "recipe: bare Flask + psycopg, sync"
# Named in the report beside bench/results.md's.
VERSIONS = ("sqlalchemy", "psycopg", "psycopg-binary")
# bench/recipe.conf.py's workers.
RECIPE_WORKERS = multiprocessing.cpu_count() * 2 + 1
SKIPPED = (
    "Database section skipped: TEST_POSTGRES_URL is not set (an admin URL of a PostgreSQL "
    "the bench may create a database on) and no PostgreSQL binaries were found to start "
    "one (docs/performance.md says how to get either)"
)
# The image runs under this limit, as a small platform instance would: what a worker
# costs is read inside a cgroup that charges it.
CONTAINER_MEMORY = "512m"
CONTAINER_CPUS = 2


@dataclass
class Row:
    server: str
    connections: int
    load: LoadResult
    cpu_us_per_request: float
    pool_waits: int
    pool_timeouts: int
    spread: list[int]
    rounds: list[float] = field(default_factory=list)


@dataclass
class Memory:
    """Per worker, KiB: the largest worker after a warm-up, and under load."""

    server: str
    workers: int
    idle_rss: int
    idle_pss: int
    load_rss: int = 0
    load_pss: int = 0
    charge_mib: float = math.nan  # the container's cgroup charge under load
    # How much that charge grows per worker added: the default count against one.
    charge_per_worker_mib: float = math.nan


def main() -> None:
    """The database section alone, with `make bench`'s options."""
    options = _options()
    wrk_path()
    measure(options)


def measure(options) -> None:
    with postgres_admin_url() as admin_url:
        if admin_url is None:
            print(SKIPPED, flush=True)
            return
        _measure_on(admin_url, options)


def _measure_on(admin_url: str, options) -> None:
    started, load_before = time.time(), os.getloadavg()
    with scratch_database(admin_url) as url:
        workers = worker_count(load_settings({**os.environ, "DATABASE_URL": url})).workers
        rows, memory = _measure_servers(url, options, workers)
        container = _container_memory(url, options) if options.container else []
    markdown = _markdown(rows, memory, container, options, (started, load_before))
    (options.out / "results-database.md").write_text(markdown, encoding="utf-8")
    print(markdown, flush=True)


@contextlib.contextmanager
def postgres_admin_url() -> Iterator[str | None]:
    """TEST_POSTGRES_URL; else the admin URL of a throwaway server the tests' harness
    starts from the installed binaries, stopped after; else None."""
    if admin_url := os.environ.get("TEST_POSTGRES_URL"):
        yield admin_url
        return
    # The harness is the tests' (a plain module; pytest is installed with the dev tools).
    sys.path.insert(0, str(PROJECT / "tests" / "serving"))
    from harness.postgres import ThrowawayServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        yield None
        return
    server = ThrowawayServer(bindir)
    try:
        server.start()
        yield server.admin_url
    finally:
        server.close()


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new database beside `admin_url`'s (its role may CREATE DATABASE) with the
    bench's table, filled; its plain libpq URL. Dropped after."""
    name = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_url(admin_url).set(drivername="postgresql")
    url = admin.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE bench_item (id integer PRIMARY KEY, name varchar(40) NOT NULL)"
            )
            conn.execute(
                "INSERT INTO bench_item SELECT g, 'item ' || g FROM generate_series(1, %s) g",
                (ROWS,),
            )
            conn.execute("ANALYZE bench_item")
        yield url
    finally:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
            # FORCE (PostgreSQL 13+): a server killed a moment ago may leave a backend.
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _servers(url: str, classes: list[str]) -> list[ServerSpec]:
    env = {"DATABASE_URL": url, "BENCH_ROWS": str(ROWS)}
    specs = [ServerSpec(RECIPE, _plain_gunicorn("bench.database_apps:bare_flask_psycopg"), env)]
    for worker_class in classes:
        specs.append(
            ServerSpec(
                f"service, {worker_class}",
                ["-m", "{{ cookiecutter.package_name }}", "bench.database_apps:service"],
                {**env, "GUNICORN_WORKER_CLASS": worker_class},
            )
        )
    return specs


def _measure_servers(url: str, options, workers: int) -> tuple[list[Row], list[Memory]]:
    rows: list[Row] = []
    memory: list[Memory] = []
    with tempfile.TemporaryDirectory(prefix="bench-db-") as scratch:
        for spec in _servers(url, options.classes):
            expected = RECIPE_WORKERS if spec.name == RECIPE else workers
            if not _connections_free(url, spec, expected):
                continue
            events = Path(scratch) / spec.name.replace(" ", "_").replace(",", "")
            events.mkdir()
            spec.env["BENCH_POOL_EVENTS"] = str(events)
            print(f"== start {spec.name}", flush=True)
            with running(spec, Path(scratch)) as server:
                wait_until_workers_idle(server, expected)
                run_wrk(f"{server.url}{DB}", 50, WARM_UP_SECONDS, os.cpu_count() or 1)
                wait_until_drained(server)
                idle = [memory_kib([pid]) for pid in children(server.process.pid)]
                used = Memory(
                    spec.name,
                    len(idle),
                    max(rss for rss, _ in idle),
                    max(pss for _, pss in idle),
                )
                every_round = [
                    _measure(spec.name, server, connections, options.seconds, events, used)
                    for _ in range(options.rounds)
                    for connections in CONNECTIONS
                ]
                memory.append(used)
            rows += _medians(every_round)
    return rows, memory


def _connections_free(url: str, spec: ServerSpec, workers: int) -> bool:
    """Whether the server has the connections `spec` will hold, or the line saying not.

    A bench on a shared server must not take the connections others' tests need
    (the server's limit failed them with "too many clients" here once).
    """
    if spec.name == RECIPE:
        per_worker = 1
    else:
        environment = {**os.environ, **spec.env}
        database = load_settings(environment).database
        per_worker = database.pool_size + database.max_overflow
    wanted = per_worker * workers
    with psycopg.connect(url) as connection:
        limit, reserved, used = connection.execute(
            "SELECT current_setting('max_connections')::int,"
            " current_setting('superuser_reserved_connections')::int,"
            " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        ).fetchone()
    # This check's own connection is counted in `used` and closes now.
    free = limit - reserved - used + 1
    if wanted <= free:
        return True
    print(
        f"== skip {spec.name}: it would hold {wanted} connections ({workers} workers x "
        f"{per_worker}), the server has {free} free of {limit}",
        flush=True,
    )
    return False


def _measure(name, server: Running, connections, seconds, events: Path, used: Memory) -> Row:
    threads = os.cpu_count() or 1
    url = f"{server.url}{DB}"
    run_wrk(url, connections, WARM_UP_SECONDS, threads)
    wait_until_drained(server)
    waits_before = _pool_events(events)
    cpu_before = cpu_seconds(tree(server.process.pid))
    spread: list[int] = []

    def sample() -> None:
        time.sleep(seconds / 2)
        spread.extend(connections_per_worker(server.process.pid, server.port))
        for pid in children(server.process.pid):
            rss, pss = memory_kib([pid])
            used.load_rss = max(used.load_rss, rss)
            used.load_pss = max(used.load_pss, pss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    load = run_wrk(url, connections, seconds, threads)
    sampler.join()
    cpu_us = _per_request(cpu_seconds(tree(server.process.pid)) - cpu_before, load.requests)
    wait_until_drained(server)
    waits_after = _pool_events(events)
    waits, timeouts = (waits_after[0] - waits_before[0], waits_after[1] - waits_before[1])
    print(
        f"   {name}, {DB} x{connections}: {load.requests_per_second:.0f} req/s, "
        f"p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, {cpu_us:.0f} us CPU/request, "
        f"pool waits {waits}, timeouts {timeouts}, non-2xx {load.non_2xx}, "
        f"load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return Row(name, connections, load, cpu_us, waits, timeouts, sorted(spread, reverse=True))


def _pool_events(folder: Path) -> tuple[int, int]:
    """Pool waits and timeouts the workers wrote so far (bench/database_apps.py)."""
    waits = timeouts = 0
    for path in folder.iterdir():
        data = path.read_bytes()
        waits += data.count(b"w")
        timeouts += data.count(b"t")
    return waits, timeouts


def _medians(every_round: list[Row]) -> list[Row]:
    """Per connection count, the round with the median req/s, carrying every round's."""
    found = []
    for connections in CONNECTIONS:
        runs = [row for row in every_round if row.connections == connections]
        median = sorted(runs, key=lambda row: row.load.requests_per_second)[len(runs) // 2]
        median.rounds = [row.load.requests_per_second for row in runs]
        found.append(median)
    return found


# Run inside the container: each process's parent, RSS and PSS (KiB), and the cgroup's
# charge (bytes), as JSON.
_PROBE = """
import json, os
found = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
        lines = open(f"/proc/{pid}/smaps_rollup").read().splitlines()[1:]
        rollup = dict(line.split(":", 1) for line in lines)
    except OSError:
        continue
    found[pid] = [int(stat[1]), int(rollup["Rss"].split()[0]), int(rollup["Pss"].split()[0])]
for charge in ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes"):
    if os.path.exists(charge):  # cgroup v2, else v1
        break
print(json.dumps({"processes": found, "charge": int(open(charge).read())}))
"""


def _container_memory(url: str, options) -> list[Memory] | str:
    """Per class, the workers' memory in the image under CONTAINER_MEMORY: after a warm-up
    and under load at 500 connections on /db. The reason where it could not run."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as error:
        return f"no Docker engine reachable ({error.__class__.__name__})"
    python_image = os.environ.get("PYTHON_IMAGE")
    buildargs = {"PYTHON_IMAGE": python_image} if python_image else {}
    image, _ = client.images.build(
        path=str(PROJECT), tag=f"{PROJECT.name}:bench", buildargs=buildargs, rm=True
    )
    found = []
    try:
        for worker_class in options.classes:
            print(f"== container, {worker_class}", flush=True)
            used = _container_class(client, image, url, worker_class, options.seconds)
            alone = _container_class(client, image, url, worker_class, options.seconds, 1)
            if used.workers > 1:
                added = (used.charge_mib - alone.charge_mib) / (used.workers - 1)
                used.charge_per_worker_mib = added
            found.append(used)
    finally:
        # Keep the parent layers: the next build reuses the dependency layer.
        client.images.remove(image.id, force=True, noprune=True)
    return found


def _container_class(
    client, image, url: str, worker_class: str, seconds: int, workers: int | None = None
) -> Memory:
    port = free_port()
    # The count the image computes under the limit, or `workers` (WEB_CONCURRENCY).
    count = {"WEB_CONCURRENCY": str(workers)} if workers else {}
    # The host's network, so that the server on the host's 127.0.0.1 is reachable; the
    # service binds 127.0.0.1 there too. bench/ is mounted, read-only, for the /db app.
    container = client.containers.run(
        image.id,
        ["python", "-m", "{{ cookiecutter.package_name }}", "bench.database_apps:service"],
        detach=True,
        network_mode="host",
        mem_limit=CONTAINER_MEMORY,
        nano_cpus=CONTAINER_CPUS * 10**9,
        volumes={str(BENCH): {"bind": "/app/bench", "mode": "ro"}},
        environment={
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATABASE_URL": url,
            "BENCH_ROWS": str(ROWS),
            "GUNICORN_WORKER_CLASS": worker_class,
            **count,
        },
    )
    try:
        base = f"http://127.0.0.1:{port}"
        # wait_until_drained reads only the port.
        server = Running(None, port, Path(os.devnull), 0.0)
        _wait_for_health(container, port)
        threads = os.cpu_count() or 1
        run_wrk(f"{base}{DB}", 50, WARM_UP_SECONDS, threads)
        wait_until_drained(server)
        idle = _container_workers(container)
        used = Memory(
            f"image, {worker_class}",
            len(idle["workers"]),
            max(rss for rss, _ in idle["workers"]),
            max(pss for _, pss in idle["workers"]),
        )
        under_load: list[dict] = []

        def sample() -> None:
            time.sleep(seconds / 2)
            under_load.append(_container_workers(container))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        run_wrk(f"{base}{DB}", 500, seconds, threads)
        sampler.join()
        (loaded,) = under_load
        used.load_rss = max(rss for rss, _ in loaded["workers"])
        used.load_pss = max(pss for _, pss in loaded["workers"])
        used.charge_mib = loaded["charge"] / 2**20
        return used
    except Exception:
        print(container.logs(tail=40).decode(errors="replace"), file=sys.stderr)
        raise
    finally:
        container.remove(force=True)


def _container_workers(container) -> dict:
    result = container.exec_run(["python", "-c", _PROBE])
    if result.exit_code != 0:
        raise RuntimeError(f"probe failed: {result.output.decode(errors='replace')}")
    found = json.loads(result.output)
    processes = found["processes"]
    # The master is the child of dumb-init (PID 1); its children are the workers.
    masters = {pid for pid, (parent, *_) in processes.items() if parent == 1}
    workers = [(rss, pss) for parent, rss, pss in processes.values() if str(parent) in masters]
    return {"workers": workers, "charge": found["charge"]}


def _wait_for_health(container, port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            raise RuntimeError("the container exited")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.05)
    raise RuntimeError("the container gave no 200 within 60 s")


def _markdown(rows: list[Row], memory, container, options, run) -> str:
    started, load_before = run
    recipe = {row.connections: row for row in rows if row.server == RECIPE}
    load = ", ".join(
        " ".join(f"{value:.2f}" for value in figures) for figures in (load_before, os.getloadavg())
    )
    versions = ", ".join(f"{name} {version(name)}" for name in VERSIONS)
    lines = [
        f"Database section, run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}"
        f" ({options.label}): `/db`, a primary-key read of a random row of {ROWS:,}, "
        f"{options.seconds} s of wrk load per row after a 1 s warm-up, the median of "
        f"{options.rounds} rounds, one server at a time; load average {load} (before, "
        f"after); {round(time.time() - started)} s in all.",
        "",
        f"Versions: {versions}.",
        "",
        "| server | conns | req/s | x recipe | CPU µs/req | p50 ms | p99 ms | errors "
        "| non-2xx | pool waits | pool timeouts | conns per worker |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        reference = recipe.get(row.connections)
        ratio = (
            row.load.requests_per_second / reference.load.requests_per_second
            if reference and reference.load.requests_per_second
            else math.nan
        )
        lines.append(
            f"| {row.server} | {row.connections} | {row.load.requests_per_second:,.0f} | "
            f"{ratio:.2f} | {row.cpu_us_per_request:,.0f} | {row.load.p50_ms:.1f} | "
            f"{row.load.p99_ms:.1f} | {row.load.errors} | {row.load.non_2xx} | "
            f"{row.pool_waits:,} | {row.pool_timeouts:,} | "
            f"{'/'.join(map(str, row.spread)) or '-'} |"
        )
    lines += [
        "",
        "Pool waits: requests that asked their worker's pool while every connection was out;",
        "pool timeouts: those that then waited DB_POOL_TIMEOUT and got 503 (counted by the",
        "workers, bench/database_apps.py). The recipe has no pool: one connection per worker.",
        "",
        "| server | workers | after warm-up RSS / PSS MiB | under load RSS / PSS MiB "
        "| container charge MiB (per worker added) |",
        "|---|--:|--:|--:|--:|",
    ]
    measured = list(memory) + (container if isinstance(container, list) else [])
    for used in measured:
        charge = "-" if math.isnan(used.charge_mib) else f"{used.charge_mib:.0f}"
        if not math.isnan(used.charge_per_worker_mib):
            charge += f" ({used.charge_per_worker_mib:.1f})"
        lines.append(
            f"| {used.server} | {used.workers} | {used.idle_rss / 1024:.1f} / "
            f"{used.idle_pss / 1024:.1f} | {used.load_rss / 1024:.1f} / "
            f"{used.load_pss / 1024:.1f} | {charge} |"
        )
    lines += [
        "",
        "Memory: the largest worker of each server (RSS counts shared pages in full, PSS",
        "shares them out), after a 1 s warm-up on `/db` and sampled mid-load; `image`",
        f"rows: the image under `--memory {CONTAINER_MEMORY}` with {CONTAINER_CPUS} CPUs, "
        "at 500 connections, and its cgroup's whole charge then (cgroup v1 counts the",
        "page cache too); per worker added: that charge less the same image's with",
        "WEB_CONCURRENCY=1, shared out over the other workers.",
    ]
    if isinstance(container, str):
        lines += ["", f"Container figures skipped: {container}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
