"""The worker process (`python -m {{ cookiecutter.package_name }} worker`) against a real Redis: its logs, its
stop, and that no job is lost to a SIGTERM, a SIGKILL, a failing job or a broker restart.

Each test has a queue of its own (a shared TEST_REDIS_URL stays usable) and waits on
what it can observe: a job's status, a file a probe job writes, a log line.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from environment import app_environment
from harness import jobs_app
from harness.http import wait_for
from harness.processes import worker_pids
from harness.redis_server import RedisServer
from redis import Redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from {{ cookiecutter.package_name }}.serving import jobs
from {{ cookiecutter.package_name }}.serving.job_worker import HEALTHY_WITHIN
from {{ cookiecutter.package_name }}.serving.logging_setup import request_id_var

PROJECT = Path(__file__).resolve().parents[2]
PACKAGE = "{{ cookiecutter.package_name }}"
# A job's lease in RQ's started registry ends this long after the worker's last beat
# (RQ: its monitoring interval + 60 s); the maintenance that finds abandoned jobs runs
# after it. Tests jump past it instead of waiting.
LEASE_PASSED = 3600


@pytest.fixture
def queue_name(redis_url, monkeypatch):
    """A queue of this test's own; enqueue() in this process uses it."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("WORKER_QUEUES", name)
    return name


class WorkerProcess:
    def __init__(
        self, tmp_path: Path, env: dict[str, str], command: list[str] | None = None
    ) -> None:
        self.output = tmp_path / f"worker-{uuid.uuid4().hex[:8]}.log"
        full_env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(PROJECT / "src"), str(PROJECT / "tests"), str(PROJECT / "tests" / "serving")]
            ),
            **app_environment(tmp_path / "data"),
            **env,
        }
        with self.output.open("wb") as sink:
            self.process = subprocess.Popen(
                command or [sys.executable, "-m", "{{ cookiecutter.package_name }}", "worker"],
                cwd=PROJECT,
                env=full_env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_for_line("Listening on")

    def lines(self) -> list[str]:
        return self.output.read_text(errors="replace").splitlines()

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.lines()]

    def job_lines(self, job_id: str) -> list[dict]:
        return [e for e in self.json_lines() if e.get("job_id") == job_id and "outcome" in e]

    def wait_for_line(self, text: str, timeout: float = 15.0) -> None:
        def seen():
            if self.process.poll() is not None and not any(text in x for x in self.lines()):
                raise AssertionError(f"worker exited ({self.process.returncode})")
            return any(text in line for line in self.lines())

        wait_for(seen, timeout, repr(text))

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL to the worker and its job's process, which RQ puts in a group of its
        own: as a container's end kills every process in it."""
        for pid in worker_pids(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()


@pytest.fixture
def start_worker(tmp_path, request, queue_name, redis_url):
    started: list[WorkerProcess] = []

    def start(command: list[str] | None = None, **env: str) -> WorkerProcess:
        worker = WorkerProcess(
            tmp_path, {"REDIS_URL": redis_url, "WORKER_QUEUES": queue_name, **env}, command
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
        if getattr(request.node, "rep_call_failed", True):
            print("--- worker output ---\n" + "\n".join(worker.lines()))


def recover_abandoned(queue: Queue, connection: Redis) -> None:
    """What RQ's maintenance (job_worker.MAINTENANCE_INTERVAL) does once the time limits
    have passed, without waiting for them: jobs whose worker died (their lease in the
    started registry ended) and jobs taken from the queue but never started (a minute
    in the intermediate list) run again, or go to the failed registry."""
    StartedJobRegistry(queue.name, connection=connection).cleanup(
        timestamp=time.time() + LEASE_PASSED
    )
    intermediate = queue.intermediate_queue
    for job_id in intermediate.get_job_ids():
        connection.set(intermediate.get_first_seen_key(job_id), time.time() - LEASE_PASSED)
    intermediate.cleanup(Worker([queue], connection=connection), queue)


def status(job: Job) -> JobStatus:
    return job.get_status(refresh=True)


def wait_for_status(job: Job, wanted: JobStatus, timeout: float = 15.0) -> None:
    wait_for(lambda: status(job) == wanted, timeout, f"job {job.id} {wanted.value}")


def exit_code(worker: WorkerProcess, timeout: float) -> tuple[int, float]:
    started = time.monotonic()
    code = worker.process.wait(timeout=timeout)
    return code, time.monotonic() - started


def test_a_job_runs_with_one_json_line_carrying_its_request_id(start_worker, tmp_path):
    worker = start_worker()
    token = request_id_var.set("req-probe-42")
    try:
        job = jobs.enqueue(jobs_app.record, str(tmp_path), "first")
    finally:
        request_id_var.reset(token)
    wait_for_status(job, JobStatus.FINISHED)
    assert job.return_value() == "first"
    assert (tmp_path / "done").read_text() == "first\n"
    wait_for(lambda: worker.job_lines(job.id), 5, "the job's line")
    [line] = worker.job_lines(job.id)
    assert line["outcome"] == "finished" and line["severity"] == "INFO"
    assert line["job_name"] == "harness.jobs_app.record"
    assert line["request_id"] == "req-probe-42"
    assert line["duration_ms"] >= 0 and line["attempt"] == 1
    # Every line JSON (json_lines() parses each), none twice, no job arguments logged.
    lines = worker.lines()
    assert len(lines) == len(set(lines))
    assert not any(str(tmp_path) in line for line in lines)
    # Idle: SIGTERM stops it at once, exit code 0, no job left behind.
    worker.signal(signal.SIGTERM)
    code, took = exit_code(worker, 10)
    assert code == 0, worker.lines()
    # Measured 0.1 to 0.3 s; the margin is for a loaded machine.
    assert took < 3, f"an idle worker took {took:.1f}s to stop"
    assert worker.json_lines()[-1]["message"] == "worker stopped"


# The worker command, its app made by a factory that calls dictConfig() with its defaults
# (harness/logging_config_app.py): every logger that exists then is disabled, RQ's and
# the worker's own among them.
WORKER_OF_A_LOGGING_CONFIG_APP = """
import {{ cookiecutter.package_name }}
from harness import logging_config_app
{{ cookiecutter.package_name }}.create_app = logging_config_app.create_app
from {{ cookiecutter.package_name }}.serving.job_worker import run
run([])
"""


def test_the_loggers_the_apps_logging_configuration_disabled_log_again(start_worker):
    # Started at all: RQ's "Listening on" line came out (WorkerProcess waits for it).
    worker = start_worker(command=[sys.executable, "-c", WORKER_OF_A_LOGGING_CONFIG_APP])
    worker.wait_for_line("worker started")  # the worker's own logger
    explaining = f"{PACKAGE}.serving.disabled_loggers"
    (told,) = [line for line in worker.json_lines() if line["logger"] == explaining]
    assert told["severity"] == "WARNING"
    assert f"{PACKAGE}.worker" in told["disabled_loggers"]
    assert any(name.startswith("rq.") for name in told["disabled_loggers"]), told
    worker.signal(signal.SIGTERM)
    code, _took = exit_code(worker, 10)
    assert code == 0, worker.lines()


def test_sigterm_lets_the_current_job_finish(start_worker, tmp_path):
    worker = start_worker(WORKER_STOP_TIMEOUT="30")
    job = jobs.enqueue(jobs_app.wait_for_release, str(tmp_path), "long")
    wait_for(lambda: (tmp_path / "long.started").exists(), 15, "the job to start")
    worker.signal(signal.SIGTERM)
    worker.wait_for_line("stop requested")
    assert worker.process.poll() is None, "the worker left before its job ended"
    (tmp_path / "release").touch()
    code, _ = exit_code(worker, 15)
    assert code == 0, worker.lines()
    assert status(job) == JobStatus.FINISHED
    assert (tmp_path / "done").read_text() == "long\n"


def test_sigterm_puts_a_job_past_the_bound_back_on_its_queue(start_worker, tmp_path, queue_name):
    """WORKER_STOP_TIMEOUT=2: the worker exits 0 within it (plus its exit), the job is
    first in its queue again, unchanged, and the next worker runs it."""
    worker = start_worker(WORKER_STOP_TIMEOUT="2")
    job = jobs.enqueue(jobs_app.wait_for_release, str(tmp_path), "stuck")
    wait_for(lambda: (tmp_path / "stuck.started").exists(), 15, "the job to start")
    signalled = time.monotonic()
    worker.signal(signal.SIGTERM)
    code, _ = exit_code(worker, 15)
    took = time.monotonic() - signalled
    assert code == 0, worker.lines()
    # The bound, then the kill, the requeue and the exit (well under 1 s measured).
    assert 2 <= took < 5, f"stopped {took:.1f}s after SIGTERM with a 2 s bound"
    assert status(job) == JobStatus.QUEUED
    assert Queue(queue_name, connection=jobs.redis_connection()).job_ids[0] == job.id
    assert job.id not in StartedJobRegistry(queue_name, connection=jobs.redis_connection())
    [line] = worker.job_lines(job.id)
    assert line["outcome"] == "requeued" and line["severity"] == "WARNING"
    (tmp_path / "release").touch()
    start_worker()
    wait_for_status(job, JobStatus.FINISHED)
    assert (tmp_path / "done").read_text() == "stuck\n"


@pytest.mark.parametrize("retries", ["1", "0"])
def test_sigkill_during_a_job_loses_nothing(
    start_worker, tmp_path, queue_name, retries, monkeypatch
):
    """The job stays in the started registry; once its lease has passed, RQ's maintenance
    runs it again (retries left) or moves it to the failed registry, with the reason."""
    monkeypatch.setenv("JOB_RETRIES", retries)
    worker = start_worker(JOB_RETRIES=retries)
    job = jobs.enqueue(jobs_app.wait_for_release, str(tmp_path), "killed")
    wait_for(lambda: (tmp_path / "killed.started").exists(), 15, "the job to start")
    worker.kill()
    connection = jobs.redis_connection()
    started = StartedJobRegistry(queue_name, connection=connection)
    assert status(job) == JobStatus.STARTED and job.id in started
    # What the next worker's maintenance does once the lease has passed.
    started.cleanup(timestamp=time.time() + LEASE_PASSED)
    if retries == "0":
        assert status(job) == JobStatus.FAILED
        assert job.id in FailedJobRegistry(queue_name, connection=connection)
        assert "AbandonedJobError" in job.latest_result().exc_string
        return
    assert status(job) == JobStatus.QUEUED
    (tmp_path / "release").touch()
    start_worker(JOB_RETRIES=retries)
    wait_for_status(job, JobStatus.FINISHED)
    assert (tmp_path / "done").read_text() == "killed\n"


def test_a_failing_job_is_retried_then_kept_with_its_traceback(
    start_worker, monkeypatch, queue_name
):
    monkeypatch.setenv("JOB_RETRIES", "2")
    worker = start_worker(JOB_RETRIES="2")
    job = jobs.enqueue(jobs_app.fail, "boom")
    wait_for_status(job, JobStatus.FAILED)
    wait_for(lambda: len(worker.job_lines(job.id)) == 3, 5, "three attempts logged")
    lines = worker.job_lines(job.id)
    assert [line["outcome"] for line in lines] == ["failed, will retry"] * 2 + ["failed"]
    assert [line["attempt"] for line in lines] == [1, 2, 3]
    assert all(line["severity"] == "ERROR" for line in lines)
    assert "RuntimeError: boom" in lines[-1]["exception"]
    assert "Traceback" in lines[-1]["exception"]
    assert job.id in FailedJobRegistry(queue_name, connection=jobs.redis_connection())
    assert "RuntimeError: boom" in job.latest_result().exc_string


def test_the_health_file_follows_the_worker(start_worker, tmp_path):
    """Fresh while it takes jobs; gone once it stopped. healthcheck.py reads the same
    file with the same limit."""
    from {{ cookiecutter.package_name }}.serving import healthcheck
    from {{ cookiecutter.package_name }}.serving.job_worker import heartbeat_file

    worker = start_worker()
    wait_for(heartbeat_file().exists, 10, "the heartbeat file")
    assert healthcheck.worker_health() == 0
    assert "healthy_within = " + str(HEALTHY_WITHIN) in Path(healthcheck.__file__).read_text()
    worker.signal(signal.SIGTERM)
    assert exit_code(worker, 10)[0] == 0
    assert not heartbeat_file().exists()
    assert healthcheck.worker_health() == 1


def test_a_broker_restart_under_load_loses_no_job(tmp_path, monkeypatch, start_worker):
    """Redis with its append-only file, killed and started again while jobs are enqueued
    and run: every job enqueued runs (at least once), neither side restarted."""
    server = RedisServer(tmp_path / "redis", appendonly=True)
    try:
        monkeypatch.setenv("REDIS_URL", server.url)
        monkeypatch.setenv("JOB_RETRIES", "3")
        worker = start_worker(REDIS_URL=server.url, JOB_RETRIES="3")
        names = [f"job-{n}" for n in range(200)]
        for index, name in enumerate(names):
            if index == 100:
                server.restart()
            # A view's enqueue fails while Redis is away; the next one reconnects.
            wait_for(
                lambda name=name: jobs.enqueue(jobs_app.record, str(tmp_path), name), 10, "enqueue"
            )
        queue_name = os.environ["WORKER_QUEUES"]
        connection = Redis.from_url(server.url)
        queue = Queue(queue_name, connection=connection)
        started = StartedJobRegistry(queue_name, connection=connection)

        def done() -> set[str]:
            path = tmp_path / "done"
            return set(path.read_text().split()) if path.exists() else set()

        intermediate = queue.intermediate_queue

        def settled():
            # Every job run, or waiting to be found by RQ's maintenance: in the started
            # registry or the intermediate list (taken from the queue, never started).
            waiting = started.count + len(intermediate.get_job_ids())
            return queue.count == 0 and len(done()) + waiting >= len(names)

        wait_for(settled, 60, "the queue to drain")
        if done() != set(names):
            recover_abandoned(queue, connection)
        wait_for(lambda: done() == set(names), 60, "every job to have run")
        assert worker.process.poll() is None, "the worker needed a restart"
        assert FailedJobRegistry(queue_name, connection=connection).count == 0
    finally:
        server.stop()
