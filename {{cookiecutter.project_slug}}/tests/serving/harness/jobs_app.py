"""Probe jobs for the worker tests: each says through a file what it did, so a test
waits on observable state (a file, a job's status), never on a sleep."""

import os
import time
from pathlib import Path


def record(folder: str, name: str) -> str:
    """Append this job's name to `folder`/done, one line per run."""
    with open(Path(folder) / "done", "a") as done:
        done.write(f"{name}\n")
    return name


def wait_for_release(folder: str, name: str) -> str:
    """Say `started`, then wait until the test writes `folder`/release (or never)."""
    folder = Path(folder)
    (folder / f"{name}.started").write_text(str(os.getpid()))
    while not (folder / "release").exists():
        time.sleep(0.02)
    return record(str(folder), name)


def fail(message: str) -> None:
    raise RuntimeError(message)


def whoami(value: str) -> dict:
    """Which process ran the job, as which user: the container test's result."""
    return {"value": value, "uid": os.getuid(), "gid": os.getgid()}


def create_jobs_probe_app():
    """The probe app with two routes of jobs: enqueue `whoami`, show a job. For the
    container test, whose web container runs it (gunicorn's `module:factory()`)."""
    from flask import Blueprint, request

    from {{ cookiecutter.package_name }}.serving import enqueue, fetch_job

    from .probe_app import create_probe_app

    app = create_probe_app()
    jobs = Blueprint("_probe_jobs", __name__, url_prefix="/_probe/jobs")

    @jobs.post("/whoami")
    def start_whoami():
        return {"id": enqueue(whoami, request.get_data(as_text=True)).id}, 202

    @jobs.get("/<job_id>")
    def show(job_id: str):
        job = fetch_job(job_id)
        return {"status": job.get_status().value, "result": job.return_value()}

    app.register_blueprint(jobs)
    return app
