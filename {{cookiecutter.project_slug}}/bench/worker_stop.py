"""The worker container's stop, measured: `docker stop` with a job running, under the
default WORKER_STOP_TIMEOUT (8 s) and under 25 s, and when idle. docs/background-jobs.md
("Stopping on each platform") has the figures.

The image is built from this folder (PYTHON_IMAGE picks its base, as for the tests)
and run as the platforms run it: read-only, /tmp a tmpfs, an arbitrary UID in group 0,
no capabilities. Its Redis is a throwaway redis-server on 127.0.0.1, which the
container reaches through the host's network. The job is `time.sleep(120)`, longer
than any bound; Docker's own SIGKILL comes after 60 s, past every bound, so the time
is the worker's. Every container, the server and the image are removed at the end.

    PYTHONPATH=src:tests:tests/serving python bench/worker_stop.py
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path, PurePosixPath

import docker
import redis
from environment import app_environment
from harness import images
from harness.http import wait_for
from harness.redis_server import RedisServer
from rq import Queue

PROJECT = Path(__file__).resolve().parents[1]
# Seconds Docker waits before its SIGKILL: longer than every bound measured here.
DOCKER_GRACE = 60


def stop_once(client, image, server: RedisServer, stop_timeout: str | None, job: bool) -> dict:
    connection = redis.Redis.from_url(server.url)
    connection.flushdb()
    queue = Queue("default", connection=connection)
    environment = {**app_environment(PurePosixPath("/data")), "REDIS_URL": server.url}
    if stop_timeout:
        environment["WORKER_STOP_TIMEOUT"] = stop_timeout
    container = client.containers.run(
        image.id,
        ["python", "-m", "{{ cookiecutter.package_name }}", "worker"],
        detach=True,
        network_mode="host",
        read_only=True,
        tmpfs={"/tmp": ""},  # noqa: S108 (the container's own)
        user="12345:0",
        cap_drop=["ALL"],
        environment=environment,
    )
    try:
        wait_for(lambda: connection.scard("rq:workers") >= 1, 60, "the worker")
        if job:
            enqueued = queue.enqueue("time.sleep", 120, job_timeout=600)
            wait_for(lambda: enqueued.get_status(refresh=True).value == "started", 30, "the job")
        started = time.monotonic()
        container.stop(timeout=DOCKER_GRACE)
        took = time.monotonic() - started
        container.reload()
        return {
            "WORKER_STOP_TIMEOUT": stop_timeout or "8 (default)",
            "job running": job,
            "docker stop, s": round(took, 2),
            "exit code": container.attrs["State"]["ExitCode"],
            "job back on its queue": (enqueued.id in queue.job_ids) if job else None,
        }
    finally:
        container.remove(force=True)


def main() -> None:
    client = docker.from_env()
    tag = f"{{ cookiecutter.project_slug }}:bench-{uuid.uuid4().hex[:8]}"
    image, made = images.build(client, PROJECT, tag)
    server = RedisServer(Path(tempfile.mkdtemp(prefix="bench-stop-")) / "redis")
    try:
        rows = [
            stop_once(client, image, server, None, job=False),
            stop_once(client, image, server, None, job=True),
            stop_once(client, image, server, "25", job=True),
        ]
        print(json.dumps(rows, indent=2))
    finally:
        server.stop()
        images.remove(client, tag, made)
        client.close()


if __name__ == "__main__":
    main()
