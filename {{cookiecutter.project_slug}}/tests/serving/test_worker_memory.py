"""Workers that warn before memory runs out, in a container with 256 MiB.

An app whose workers each hold 150 MiB, under the default WORKER_MEMORY_MB: with one
worker it serves, and the worker logs one WARNING naming its memory and the budget;
with the count the default budget allows (3) the kernel's OOM killer ends workers,
and the master says so in an ERROR line with what to set. measure_memory, run in
the image, gives the figure to set; with it the template chooses a count that
serves a bounded load without a single kill. The container runs read-only as an
arbitrary UID, so the metrics' folder (/tmp, a tmpfs here) is proved there too.
"""

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath

import pytest
import requests
from environment import app_environment
from harness.http import wait_for, wait_for_health

# The image and container fixtures of the container tests (the import skips this
# module, as it does those, where the docker SDK is missing).
from test_container import HARNESS, NANO, docker_client, image, run  # noqa: F401

# Slow: a minute of containers, the same for every worker class; the full run has it.
pytestmark = [pytest.mark.docker, pytest.mark.slow]
LIMIT = "256m"
HOLD_MIB = "150"
APP = "harness.metrics_app:app"
CONTAINER = {
    "volumes": {str(HARNESS): {"bind": "/app/harness", "mode": "ro"}},
    "mem_limit": LIMIT,
    "memswap_limit": LIMIT,  # no swap: past the limit, the kernel kills
    "nano_cpus": 2 * NANO,
    "read_only": True,
    "tmpfs": {"/tmp": ""},  # noqa: S108 (the container's own /tmp)
    "user": "54321:0",
}
# Bounded load: this many requests from this many threads.
THREADS, PER_THREAD = 4, 25


def serve(start, **environment: str):
    return start(
        command=["python", "-m", "{{ cookiecutter.package_name }}", APP],
        environment={"PROBE_HOLD_MIB": HOLD_MIB, **environment},
        **CONTAINER,
    )


def lines_with(app, text: str) -> list[str]:
    return [line for line in app.logs() if text in line]


def test_a_worker_over_its_budget_warns_and_metrics_serve(run):  # noqa: F811
    app = serve(run, WEB_CONCURRENCY="1")
    wait_for_health(app.url, timeout=60)
    assert requests.get(f"{app.url}/items/1", timeout=10).status_code == 200
    wait_for(lambda: lines_with(app, "over its budget"), 10, "the memory WARNING")
    (warning,) = lines_with(app, "over its budget")
    assert '"severity": "WARNING"' in warning
    assert "WORKER_MEMORY_MB=64" in warning and "measure_memory" in warning
    text = app.metrics()
    budget = re.search(r"^worker_memory_bytes (\S+)$", text, re.MULTILINE)
    assert budget and float(budget.group(1)) > int(HOLD_MIB) * 2**20, text[-500:]


def test_oom_kills_named_and_the_measured_budget_serves(run, docker_client, image):  # noqa: F811
    # The default budget: 3 workers of 150 MiB do not fit in 256 MiB.
    crowded = serve(run)
    wait_for(
        lambda: lines_with(crowded, "the kernel's OOM killer"), 90, "the master's OOM ERROR line"
    )
    (error, *_) = lines_with(crowded, "the kernel's OOM killer")
    assert '"severity": "ERROR"' in error and "WORKER_MEMORY_MB" in error
    crowded.container.remove(force=True)

    measured = docker_client.containers.run(
        image.id,
        command=[
            "python",
            "-m",
            "{{ cookiecutter.package_name }}.serving.measure_memory",
            APP,
            "--path",
            "/items/1",
            "--path",
            "/health",
        ],
        # The test environment, as the service's containers get it (test_container.run):
        # the command validates it as the start command does.
        environment={**app_environment(PurePosixPath("/data")), "PROBE_HOLD_MIB": HOLD_MIB},
        remove=True,
        **CONTAINER,
    ).decode()
    print(f"\n{measured}")
    budget = re.search(r"^WORKER_MEMORY_MB=(\d+)$", measured, re.MULTILINE).group(1)
    assert int(budget) > int(HOLD_MIB)

    app = serve(run, WORKER_MEMORY_MB=budget)
    assert app.boot_config()["workers"] >= 1
    wait_for_health(app.url, timeout=60)

    def client(_):
        with requests.Session() as session:
            return [
                session.get(f"{app.url}/items/1", timeout=10).status_code for _ in range(PER_THREAD)
            ]

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = [status for batch in pool.map(client, range(THREADS)) for status in batch]
    assert statuses == [200] * THREADS * PER_THREAD
    assert not lines_with(app, "SIGKILL"), lines_with(app, "SIGKILL")
    app.container.reload()
    assert app.container.attrs["State"]["Running"]
