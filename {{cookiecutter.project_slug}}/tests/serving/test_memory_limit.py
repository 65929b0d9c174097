"""A container with 256 MiB and 2 CPUs: the count its memory limit allows, and no OOM kill.

2 x 2 CPUs + 1 = 5 workers would not fit a large app in 256 MiB; worker_sizing.py
sizes by the memory limit as well, and the boot line says which limit decided. Under
a bounded load of 1 MiB uploads the container must not be OOM-killed, every worker
must survive, and every request must get its 200.
"""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from harness.http import wait_for, wait_for_health

# The image and container fixtures of the container tests, and the probe app's mount
# (the import skips this module, as it does those, where the docker SDK is missing).
from test_container import NANO, PROBE, docker_client, image, run  # noqa: F401

from {{ cookiecutter.package_name }}.serving.settings import (
    DEFAULT_WORKER_CLASS,
    WORKER_CLASSES,
    load_settings,
)
from {{ cookiecutter.package_name }}.serving.worker_sizing import (
    MIB,
    CpuShare,
    MemoryLimit,
    worker_count,
)

pytestmark = pytest.mark.docker
CPUS = 2
LIMIT_MIB = 256
# Bounded load: this many requests from this many threads, half of them 1 MiB
# uploads (MAX_CONTENT_LENGTH's default), which each worker reads into memory.
THREADS = 4
REQUESTS_PER_THREAD = 80
UPLOAD = b"x" * (1024 * 1024)
# Every class in the full run; a quick run (-m "not slow") checks the default one.
CLASSES = [
    pytest.param(name, marks=[] if name == DEFAULT_WORKER_CLASS else [pytest.mark.slow])
    for name in WORKER_CLASSES
]


def predicted(environment: dict[str, str]):
    """What worker_sizing.py makes of 2 CPUs and 256 MiB, with the container's settings."""
    return worker_count(
        load_settings(environment),
        CpuShare(CPUS, "cpu quota"),
        MemoryLimit(LIMIT_MIB * MIB, "memory limit"),
    )


def worker_pids(container) -> set[int]:
    """The gunicorn master's children, from the engine's view of the container's processes."""
    container.reload()
    top = container.top()
    pid, ppid, cmd = (top["Titles"].index(title) for title in ("PID", "PPID", "CMD"))
    commands = {int(p[pid]): p[cmd] for p in top["Processes"]}
    parents = {int(p[pid]): int(p[ppid]) for p in top["Processes"]}

    def children(parent: int) -> list[int]:
        return [child for child, of in parents.items() if of == parent]

    # The master is the container's first process, or below an init (dumb-init) there.
    master = container.attrs["State"]["Pid"]
    while not _is_python(commands.get(master, "")) and len(children(master)) == 1:
        (master,) = children(master)
    return set(children(master))


def _is_python(command: str) -> bool:
    return command.split()[0].rpartition("/")[2].startswith("python") if command else False


def send_load(url: str) -> Counter:
    def client(index: int) -> Counter:
        statuses: Counter = Counter()
        with requests.Session() as session:
            for number in range(REQUESTS_PER_THREAD):
                if number % 2:
                    response = session.post(f"{url}/_probe/echo", data=UPLOAD, timeout=10)
                else:
                    response = session.get(f"{url}/health", timeout=10)
                statuses[response.status_code] += 1
        return statuses

    with ThreadPoolExecutor(THREADS) as pool:
        return sum(pool.map(client, range(THREADS)), Counter())


@pytest.mark.parametrize("worker_class", CLASSES)
def test_sized_by_memory_and_never_oom_killed(run, worker_class):  # noqa: F811 (fixture)
    environment = {"GUNICORN_WORKER_CLASS": worker_class}
    expected = predicted(environment)
    # The memory limit, not the CPU formula, must decide here, or this tests nothing.
    assert expected.workers < CPUS * 2 + 1, expected
    app = run(
        **PROBE,
        environment=environment,
        mem_limit=f"{LIMIT_MIB}m",
        memswap_limit=f"{LIMIT_MIB}m",  # no swap: past the limit, the kernel kills
        nano_cpus=CPUS * NANO,
    )
    config = app.boot_config()
    assert config["workers"] == expected.workers, config["workers_source"]
    # "cgroup v1 memory.limit_in_bytes: ..." or "cgroup v2 memory.max: ...".
    assert config["workers_source"].split(":")[0].startswith("cgroup v"), config
    assert "memory" in config["workers_source"].split(":")[0], config
    wait_for_health(app.url)

    def all_booted():
        pids = worker_pids(app.container)
        return pids if len(pids) == expected.workers else None

    before = wait_for(all_booted, 20, f"{expected.workers} workers")

    statuses = send_load(app.url)

    app.container.reload()
    state = app.container.attrs["State"]
    memory = app.container.stats(stream=False)["memory_stats"]
    print(
        f"\n{worker_class}: {config['workers']} workers ({config['workers_source']}); "
        f"after {sum(statuses.values())} requests: cgroup usage "
        f"{memory.get('usage', 0) / MIB:.0f} MiB, peak {memory.get('max_usage', 0) / MIB:.0f} "
        f"MiB of {LIMIT_MIB}"
    )
    assert not state["OOMKilled"]
    assert state["Running"]
    assert statuses == {200: THREADS * REQUESTS_PER_THREAD}
    # No worker was killed and replaced meanwhile.
    assert worker_pids(app.container) == before
    assert not [line for line in app.logs() if "SIGKILL" in line or "out of memory" in line]
