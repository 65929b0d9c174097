"""`make test` runs the tests on several processes (harness/run.py): what they must
never share, and what must stay in one of them."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from harness import http, reliability, run

PROJECT = Path(__file__).resolve().parents[2]


def shares(count: int, monkeypatch) -> list[set[int]]:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(count))
    found = []
    for index in range(count):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{index}")
        ports = http._this_process_ports()
        found.append({next(ports) for _ in range(len(http.PORTS))})
    return found


@pytest.mark.parametrize("count", [1, 2, 3])
def test_no_two_test_processes_pick_the_same_port(count, monkeypatch):
    # With reuse_port two servers bind one port without an error: a shared port would
    # not fail, it would mix two tests' requests.
    found = shares(count, monkeypatch)
    assert sum(len(share) for share in found) == len(set().union(*found)) == len(http.PORTS)


@pytest.mark.skipif(
    not Path("/proc/sys/net/ipv4/ip_local_port_range").exists(), reason="Linux's range"
)
def test_test_ports_are_below_the_kernels_ephemeral_range():
    # Where bind(0), outgoing connections and Docker's published ports take theirs.
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert max(http.PORTS) < low


def test_servers_started_together_get_different_ports():
    ports = [http.free_port() for _ in range(100)]
    assert len(set(ports)) == len(ports)


def test_rows_of_every_test_process_reach_the_table(monkeypatch):
    monkeypatch.setattr(reliability, "ROWS", [])
    row = {
        "scenario": "a scenario",
        "worker_class": "gthread",
        "load": "none",
        "fault": "none",
        "requests": 1,
        "failed": 0,
        "outcome": "fine",
    }
    for worker in ("gw0", "gw1"):
        node = SimpleNamespace(workeroutput={"reliability": [{**row, "outcome": worker}]})
        run.pytest_testnodedown(node, None)
    table = reliability.table()
    assert "| gw0 |" in table and "| gw1 |" in table


SPREAD_TEST = """
import os, pathlib, pytest

@pytest.mark.parametrize("n", range(6))
def test_it(n):
    with open(os.environ["WHERE"], "a") as where:
        where.write(f"{__file__.split('/tests/')[-1]} {os.environ['PYTEST_XDIST_WORKER']}\\n")
"""


def test_each_serving_file_and_all_of_your_tests_run_in_one_process(tmp_path):
    """A module's server or containers start once; your tests never meet each other."""
    project = tmp_path / "project"
    harness = project / "tests" / "serving" / "harness"
    harness.mkdir(parents=True)
    for name in ("__init__.py", "run.py", "reliability.py", "images.py"):
        (harness / name).write_text((PROJECT / "tests/serving/harness" / name).read_text())
    (project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\npythonpath = ["tests", "tests/serving"]\n'
    )
    (project / "tests" / "conftest.py").write_text('pytest_plugins = ["harness.run"]\n')
    names = ["serving/test_one.py", "serving/test_two.py", "test_yours.py", "test_more.py"]
    for name in names:
        (project / "tests" / name).write_text(SPREAD_TEST)
    where = tmp_path / "where"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2"],
        cwd=project,
        env={**os.environ, "WHERE": str(where)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ran = [line.split() for line in where.read_text().splitlines()]
    assert len(ran) == 6 * len(names)
    processes = {name: {worker for file, worker in ran if file == name} for name in names}
    assert all(len(workers) == 1 for workers in processes.values()), processes
    assert processes["test_yours.py"] == processes["test_more.py"], processes
    assert len(set().union(*processes.values())) == 2, "one process did everything"
