"""Your background jobs, and the views that start them and show their outcome.

A job is a plain function at the top of a module of your package: the worker process
(`python -m {{ cookiecutter.package_name }} worker`) imports it by name and runs it inside your app's
context. Pass ids and small values, not objects: arguments are pickled into Redis.
Start one from a view with `enqueue(function, arg, ...)`; a job that raises runs again
up to JOB_RETRIES times, then stays in RQ's failed registry with its traceback in the
worker's log (docs/background-jobs.md).
"""

from __future__ import annotations

from flask import Blueprint, abort, request, url_for

from .serving import enqueue, fetch_job

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


def count_words(text: str) -> int:
    """The example job: replace it with yours (an export, an email, a report)."""
    return len(text.split())


@bp.post("/count-words")
def start_count_words():
    job = enqueue(count_words, request.get_data(as_text=True))
    return {"id": job.id, "url": url_for("jobs.show", job_id=job.id)}, 202


@bp.get("/<job_id>")
def show(job_id: str):
    job = fetch_job(job_id)
    if job is None:
        abort(404, f"Job {job_id} does not exist (or its result has expired).")
    return {"id": job.id, "status": job.get_status().value, "result": job.return_value()}
