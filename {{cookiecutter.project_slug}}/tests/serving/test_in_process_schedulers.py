"""An app that starts a scheduler inside the gunicorn workers gets one WARNING per worker.

With N workers an in-process scheduler fires every job N times; the warning names it
and points to docs/scheduled-jobs.md (run it once, from the platform's scheduler).
Real gunicorn masters: a probe app whose workers each start a thread like
APScheduler's, and the plain probe app, which is never warned about.
"""

import signal
import threading
import types

from harness.http import wait_for, wait_for_health

from {{ cookiecutter.package_name }}.serving import in_process_schedulers as schedulers

WORKERS = 3
SCHEDULER_APP = "harness.scheduler_app:app"


def warnings_of(server):
    return [line for line in server.json_lines() if "scheduler" in line]


def stop(server):
    """Stop the master as a platform does, and wait for it."""
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0


def test_each_worker_warns_once_of_the_scheduler_the_app_started(start_gunicorn):
    server = start_gunicorn({"WEB_CONCURRENCY": str(WORKERS)}, app=SCHEDULER_APP)
    pids = server.wait_for_workers()
    wait_for(lambda: len(warnings_of(server)) >= WORKERS, 20.0, f"{WORKERS} warnings")
    wait_for_health(server.url)  # the warning stops nothing
    stop(server)
    warnings = warnings_of(server)
    assert len(warnings) == WORKERS, warnings
    assert {line["pid"] for line in warnings} == pids
    for line in warnings:
        assert line["severity"] == "WARNING"
        assert line["scheduler"] == "APScheduler's BackgroundScheduler (thread 'APScheduler')"
        assert line["workers"] == WORKERS and line["docs"] == schedulers.DOCS
        assert f"each job fires {WORKERS} times" in line["message"]
        assert "python -m {{ cookiecutter.package_name }} manage COMMAND" in line["message"]


def test_a_normal_app_is_never_warned_about(start_gunicorn):
    # One worker: once it answers, its post_worker_init (where the check runs) is over.
    server = start_gunicorn({"WEB_CONCURRENCY": "1"})
    wait_for_health(server.url)
    stop(server)
    lines = server.json_lines()
    assert not [line for line in lines if "scheduler" in line or schedulers.DOCS in line["message"]]


def test_the_schedule_librarys_jobs_are_found():
    """`schedule` keeps its jobs on its default scheduler; a stand-in of that shape (the
    library is not among the dev dependencies)."""
    schedule = types.ModuleType("schedule")
    schedule.default_scheduler = types.SimpleNamespace(jobs=["every 1 minute do clock()"])
    assert schedulers.in_process_schedulers(threads=[], modules={"schedule": schedule}) == [
        "the schedule library (1 jobs registered)"
    ]
    schedule.default_scheduler.jobs = []
    assert schedulers.in_process_schedulers(threads=[], modules={"schedule": schedule}) == []


def test_a_finished_or_otherwise_named_thread_is_not_a_scheduler():
    done = threading.Thread(target=lambda: None, name="APScheduler")
    done.start()
    done.join()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="Worker", daemon=True)
    other.start()
    try:
        assert schedulers.in_process_schedulers(threads=[done, other], modules={}) == []
        assert schedulers.in_process_schedulers(threads=[other], modules={}) == []
    finally:
        stop.set()
        other.join()
