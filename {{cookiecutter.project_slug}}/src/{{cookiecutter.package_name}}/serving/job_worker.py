"""`python -m {{ cookiecutter.package_name }} worker`: runs the jobs `enqueue()` puts on the queues.

RQ's Worker, with the service's habits (start.py has validated the environment and
set the umask before this runs):

- Logs: RQ's loggers write through the one root handler (JSON lines, or text), never
  their own; one line per job when it ends, with its id, name, queue, duration,
  outcome and the id of the request that enqueued it. No arguments in the logs: they
  may hold personal data.
- Your app: create_app() runs once in this process; each job runs inside its app
  context, in a child process RQ forks per job (a job that crashes or leaks takes
  only its child down). Loggers of this worker and RQ's that its logging
  configuration disabled are enabled again (disabled_loggers.py).
- Stop: SIGTERM (or SIGINT) lets the current job finish for up to WORKER_STOP_TIMEOUT
  seconds; a job still running then is stopped and put back at the front of its
  queue, unchanged, for the next worker. Then exit 0. A second signal does the same
  at once. Without a job, the worker exits at once.
- Health: every heartbeat RQ sends to Redis also touches a file in the temporary
  folder; healthcheck.py reports the worker healthy while that file is fresh, that is
  while it reaches Redis and takes jobs.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import tempfile
import time
import traceback
from pathlib import Path

import redis
from rq import Worker
from rq.job import JobStatus
from rq.job_lifecycle import call_exception_handlers
from rq.timeouts import HorseMonitorTimeoutException, UnixSignalDeathPenalty

from .disabled_loggers import enable_service_loggers, factory_name
from .jobs import REQUEST_ID_META, RESULT_TTL, job_settings, redis_connection
from .logging_setup import request_id_var
from .redis_settings import redacted

log = logging.getLogger("{{ cookiecutter.package_name }}.worker")

# The job's meta key counting its runs.
ATTEMPT_META = "attempt"
# Seconds between the worker's heartbeats while it waits for a job (its BLPOP's
# timeout is this minus 15 s in RQ): a worker that lost Redis is unhealthy within a
# minute, not within RQ's default seven.
WORKER_TTL = 35
# Seconds between heartbeats while a job runs (RQ's default 30 s; a shorter beat keeps
# the health file fresh with the same margin as above).
JOB_MONITORING_INTERVAL = 10
# Seconds between RQ's maintenance passes (its default 600): they find jobs abandoned
# by a worker that died (SIGKILL, a lost node, Redis away mid-job) once their lease or
# their minute in RQ's intermediate list has passed, and run them again (JOB_RETRIES)
# or fail them. A minute finds them within about three, for a few Redis commands.
MAINTENANCE_INTERVAL = 60
# A heartbeat older than this means the worker is stuck or cut off from Redis: two
# missed beats at the longest interval (WORKER_TTL - 15 s idle).
HEALTHY_WITHIN = 2 * (WORKER_TTL - 15) + 5


def heartbeat_file() -> Path:
    """The worker's liveness file: in the temporary folder, which is writable (a tmpfs)
    in the read-only containers, and private to the container."""
    return Path(tempfile.gettempdir()) / "{{ cookiecutter.package_name }}-worker.alive"


class _StopBoundReached(Exception):
    """The job outlived WORKER_STOP_TIMEOUT after a stop signal."""


# When this worker must stop waiting for its job (time.monotonic()), once signalled.
_stop_deadline: float | None = None


class _BoundedWait(UnixSignalDeathPenalty):
    """RQ's SIGALRM timer, which also wakes the worker's wait for its job at the stop
    deadline (RQ wakes it every JOB_MONITORING_INTERVAL s to send a heartbeat)."""

    def setup_death_penalty(self):
        timeout = self._timeout
        if _stop_deadline is not None and self._exception is HorseMonitorTimeoutException:
            timeout = max(1, min(timeout, math.ceil(_stop_deadline - time.monotonic())))
        signal.signal(signal.SIGALRM, self.handle_death_penalty)
        signal.alarm(timeout)


class ServiceWorker(Worker):
    death_penalty_class = _BoundedWait

    def __init__(self, *args, flask_app=None, stop_timeout: int = 8, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.flask_app = flask_app
        self.stop_timeout = stop_timeout

    # -- health -------------------------------------------------------------------
    def heartbeat(self, timeout=None, pipeline=None):
        try:
            super().heartbeat(timeout, pipeline)
        except redis.exceptions.ConnectionError:
            # Redis is away (a restart, a failover): RQ's dequeue waits for it with a
            # backoff; a beat missed here must not end the worker (RQ's loop would).
            # The health file goes stale, so the worker reads unhealthy meanwhile.
            log.warning("heartbeat missed: Redis is unreachable")
            return
        if pipeline is None and not self._is_horse:
            # After Redis took the beat: a fresh file says the worker reaches Redis.
            heartbeat_file().touch()

    def check_for_suspension(self, burst):
        # RQ's work loop asks Redis first, outside its reconnecting dequeue: a Redis
        # away at that moment would end the worker ("unhandled exception, quitting").
        with _unless_redis_is_away("suspension check"):
            super().check_for_suspension(burst)

    def run_maintenance_tasks(self):
        with _unless_redis_is_away("maintenance"):
            super().run_maintenance_tasks()

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        # RQ's dequeue waits for a Redis that went away, but not in every step around
        # its wait (set_state, the last heartbeat): any of those would end the worker.
        while True:
            try:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except redis.exceptions.ConnectionError:
                self._wait_for_redis()

    def _wait_for_redis(self):
        """Until Redis answers: 1 s, then twice as long each time, at most 30 s apart.
        A stop signal meanwhile ends the worker at once (no job is running)."""
        log.warning("Redis is unreachable: waiting for it")
        pause = 1.0
        while True:
            try:
                self.connection.ping()
            except redis.exceptions.ConnectionError:
                time.sleep(pause)
                pause = min(pause * 2, 30.0)
            else:
                log.info("Redis is reachable again")
                return

    def execute_job(self, job, queue):
        try:
            super().execute_job(job, queue)
        except redis.exceptions.ConnectionError:
            # Lost Redis while the job ran: its outcome could not be recorded, and it
            # stays in the started registry, where RQ's maintenance finds it once its
            # lease ends and runs it again (at least once: docs/background-jobs.md).
            self._horse_pid = 0
            log.warning(
                "job %s: Redis went away while it ran; it runs again once Redis is back",
                job.id,
                extra=_job_fields(job, queue.name, outcome="unrecorded"),
            )

    def teardown(self):
        heartbeat_file().unlink(missing_ok=True)
        super().teardown()

    def unsubscribe(self):
        """Nothing at exit: the thread that listens for RQ's commands is a daemon.

        RQ's unsubscribe stops that thread, which in redis-py 8 joins it, while it
        waits up to 60 s for a message: one stop in six hung (measured with RQ 3.0.0,
        redis-py 8.2). Redis drops the subscription when the process's connection closes.
        """

    # -- stopping -----------------------------------------------------------------
    def request_stop(self, signum, frame):
        """First SIGTERM: RQ's warm stop, bounded by WORKER_STOP_TIMEOUT."""
        log.info(
            "stop requested: finishing the current job within %s s",
            self.stop_timeout,
            extra={"signal": signal.Signals(signum).name, "stop_timeout": self.stop_timeout},
        )
        global _stop_deadline
        if self.horse_pid:
            _stop_deadline = time.monotonic() + self.stop_timeout
            if signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, signal.SIG_IGN):
                # In RQ's timed wait for the job: wake it at the deadline instead, where
                # maintain_heartbeats() below stops the job. (Outside it, the next wait
                # is set up with the deadline: _BoundedWait.)
                signal.alarm(self.stop_timeout)
        super().request_stop(signum, frame)

    def request_force_stop(self, signum, frame):
        """Second signal: the current job goes back to its queue now."""
        if self.horse_pid and _stop_deadline is not None:
            signal.alarm(0)
            raise _StopBoundReached()
        super().request_force_stop(signum, frame)

    def handle_warm_shutdown_request(self):
        """RQ's own line for it is replaced by request_stop's."""

    def maintain_heartbeats(self, job, execution):
        if _stop_deadline is not None and time.monotonic() >= _stop_deadline - 0.05:
            raise _StopBoundReached()
        super().maintain_heartbeats(job, execution)

    def monitor_work_horse(self, job, queue, execution):
        try:
            super().monitor_work_horse(job, queue, execution)
        except _StopBoundReached:
            self._requeue_stopped(job, queue, execution)

    def _requeue_stopped(self, job, queue, execution):
        self.kill_horse(signal.SIGKILL)
        self.wait_for_horse()
        self._horse_pid = 0
        with self.connection.pipeline() as pipeline:
            self.cleanup_execution(job, pipeline, execution)
            pipeline.execute()
        self.executions.pop(execution.id, None)
        job.started_at = None
        queue._enqueue_job(job, at_front=True)
        log.warning(
            "job %s put back on queue %s: still running %s s after the stop signal",
            job.id,
            queue.name,
            self.stop_timeout,
            extra=_job_fields(job, queue.name, outcome="requeued"),
        )

    # -- each job (in the child process) -----------------------------------------
    def perform_job(self, job, queue, execution) -> bool:
        token = request_id_var.set(job.meta.get(REQUEST_ID_META))
        # Counted in the job's meta: RQ 3.0 keeps only the retries left.
        job.meta[ATTEMPT_META] = job.meta.get(ATTEMPT_META, 0) + 1
        job.save_meta()
        started = time.monotonic()
        try:
            if self.flask_app is None:
                ok = super().perform_job(job, queue, execution)
            else:
                with self.flask_app.app_context():
                    ok = super().perform_job(job, queue, execution)
            duration_ms = round((time.monotonic() - started) * 1000, 3)
            outcome = "finished" if ok else _failure_outcome(job)
            fields = _job_fields(job, queue.name, outcome=outcome, duration_ms=duration_ms)
            if ok:
                log.info("job %s %s in %s ms", job.id, outcome, duration_ms, extra=fields)
            else:
                log.error(
                    "job %s %s after %s ms",
                    job.id,
                    outcome,
                    duration_ms,
                    extra={**fields, "exception": self._last_traceback},
                )
            return ok
        finally:
            request_id_var.reset(token)

    def handle_exception(self, job, *exc_info):
        """Keep the traceback for the job's one line (perform_job), instead of RQ's
        line that also logs the job's arguments."""
        self._last_traceback = "".join(traceback.format_exception(*exc_info))
        call_exception_handlers(self._exc_handlers, job, *exc_info)

    _last_traceback = None

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):
        log.error(
            "job %s: its process ended without a result (exit status %s)",
            job.id,
            ret_val,
            extra=_job_fields(job, job.origin, outcome="killed"),
        )
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)


@contextlib.contextmanager
def _unless_redis_is_away(what: str):
    """Skip this step while Redis is unreachable; the dequeue that follows waits for it."""
    try:
        yield
    except redis.exceptions.ConnectionError:
        log.warning("%s skipped: Redis is unreachable", what)


def _failure_outcome(job) -> str:
    try:
        status = job.get_status(refresh=True)
    except Exception:  # Redis gone: the outcome is still a failure
        return "failed"
    return "failed, will retry" if status in (JobStatus.QUEUED, JobStatus.SCHEDULED) else "failed"


def _job_fields(job, queue_name: str, **fields) -> dict:
    try:
        name = job.func_name
    except Exception:  # a job whose function cannot be loaded
        name = None
    return {
        "job_id": job.id,
        "job_name": name,
        "queue": queue_name,
        # 1 for the first run, 2 for the first retry...
        "attempt": job.meta.get(ATTEMPT_META),
        **fields,
    }


def run(args: list[str]) -> None:
    """The `worker` command: takes jobs until a stop signal, then exits 0."""
    from .logging_setup import configure_logging
    from .settings import current_settings

    settings = current_settings()
    configure_logging(settings.log_level, settings.log_format)
    if args:
        raise SystemExit(f"worker takes no arguments (got {' '.join(args)}): set WORKER_QUEUES")
    jobs = job_settings()
    from {{ cookiecutter.package_name }} import create_app

    flask_app = create_app()
    # This worker's own logger too: the app's logging configuration may disable it.
    enable_service_loggers(factory_name(create_app), also=(log.name,))
    heartbeat_file().unlink(missing_ok=True)
    worker = ServiceWorker(
        list(jobs.queues),
        connection=redis_connection(),
        flask_app=flask_app,
        stop_timeout=jobs.stop_timeout,
        worker_ttl=WORKER_TTL,
        job_monitoring_interval=JOB_MONITORING_INTERVAL,
        maintenance_interval=MAINTENANCE_INTERVAL,
        default_result_ttl=RESULT_TTL,
        log_job_description=False,
    )
    log.info(
        "worker started",
        extra={
            "redis_url": redacted(jobs.redis_url),
            "queues": list(jobs.queues),
            "stop_timeout": jobs.stop_timeout,
            "retries": jobs.retries,
            "job_timeout": jobs.job_timeout,
            "pid": os.getpid(),
        },
    )
    worker.work(logging_level=settings.log_level.upper())
    log.info("worker stopped")
