"""Container figures: image size over its base, `docker run` to first 200, idle PSS.

Only where a Docker engine is reachable (the docker SDK reads DOCKER_HOST and the
usual socket); otherwise the benchmark prints why it skipped them.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_BASE = "python:3.13-slim"
STARTS = 3  # docker run to first 200, median of this many starts
BOOT_TIMEOUT_SECONDS = 60
{%- if cookiecutter.database == "postgresql" %}
# The service needs a DATABASE_URL to boot; what this bench measures never connects
# (/health, /io), and nothing answers on port 1. bench/database.py has the real one.
UNUSED_DATABASE_URL = "postgresql://bench@127.0.0.1:1/unused"
ENVIRONMENT = {"DATABASE_URL": UNUSED_DATABASE_URL}
{%- endif %}
# Run inside the container: each process's parent, PSS and CPU ticks, as JSON.
_PROBE = """
import json, os
found = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
        rollup = open(f"/proc/{pid}/smaps_rollup").read().splitlines()
    except OSError:
        continue
    pss = next(int(l.split()[1]) for l in rollup if l.startswith("Pss:"))
    found[pid] = [int(stat[1]), pss, int(stat[11]) + int(stat[12])]
print(json.dumps(found))
"""


@dataclass(frozen=True)
class ContainerFigures:
    base_image: str
    image_mb: float
    app_layers_mb: float
    first_200_seconds: list[float]
    workers: int
    master_pss_mb: float
    idle_worker_pss_mb: float  # the largest idle worker


def measure_container(python_image: str | None) -> ContainerFigures | str:
    """The figures, or the reason they were skipped."""
    try:
        import docker
    except ImportError:
        return "the docker SDK is not installed (make bench installs it)"
    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:
        return f"no Docker engine reachable ({error.__class__.__name__})"
    base = python_image or DEFAULT_BASE
    buildargs = {"PYTHON_IMAGE": python_image} if python_image else {}
    tag = f"{PROJECT.name}:bench"
    image, _ = client.images.build(path=str(PROJECT), tag=tag, buildargs=buildargs, rm=True)
    try:
        base_size = client.images.get(base).attrs["Size"]
        starts = [_seconds_to_first_200(client, image) for _ in range(STARTS)]
        workers, master_pss, worker_pss = _idle_pss(client, image)
        return ContainerFigures(
            base_image=base,
            image_mb=image.attrs["Size"] / 1e6,
            app_layers_mb=(image.attrs["Size"] - base_size) / 1e6,
            first_200_seconds=starts,
            workers=workers,
            master_pss_mb=master_pss / 1024,
            idle_worker_pss_mb=worker_pss / 1024,
        )
    finally:
        # Keep the parent layers: the next build reuses the dependency layer.
        client.images.remove(image.id, force=True, noprune=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def _start(client, image):
    return client.containers.run(
        image.id, detach=True, ports={"8080/tcp": ("127.0.0.1", None)}, environment={% if cookiecutter.database == "postgresql" %}ENVIRONMENT{% else %}{}{% endif %}
    )


def _port(container) -> int:
    container.reload()
    return int(container.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"])


def _seconds_to_first_200(client, image) -> float:
    started = time.monotonic()
    container = _start(client, image)
    try:
        _wait_for_200(container)
        return time.monotonic() - started
    finally:
        container.remove(force=True)


def _wait_for_200(container) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT_SECONDS
    port = None
    while time.monotonic() < deadline:
        try:
            port = port or _port(container)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except (OSError, KeyError, TypeError, IndexError):
            pass  # not published or not listening yet
        time.sleep(0.01)
    raise RuntimeError(f"container gave no 200 within {BOOT_TIMEOUT_SECONDS}s")


def _idle_pss(client, image) -> tuple[int, int, int]:
    """Workers, master PSS and largest worker PSS (KiB) once every worker is idle."""
    container = _start(client, image)
    try:
        _wait_for_200(container)
        deadline = time.monotonic() + BOOT_TIMEOUT_SECONDS
        previous = None
        while time.monotonic() < deadline:
            current = _probe(container)
            workers = {pid: v for pid, v in current.items() if v[0] == 1}
            # All booted: the same workers, none used a CPU tick in the last half second.
            if (
                previous
                and workers
                and workers.keys() == previous.keys()
                and all(v[2] == previous[pid][2] for pid, v in workers.items())
            ):
                return len(workers), current["1"][1], max(v[1] for v in workers.values())
            previous = workers
            time.sleep(0.5)
        raise RuntimeError("container workers never went idle")
    finally:
        container.remove(force=True)


def _probe(container) -> dict[str, list[int]]:
    result = container.exec_run(["python", "-c", _PROBE])
    if result.exit_code != 0:
        raise RuntimeError(f"probe failed: {result.output.decode(errors='replace')}")
    return json.loads(result.output)


def python_image_from_environment() -> str | None:
    return os.environ.get("PYTHON_IMAGE") or None
