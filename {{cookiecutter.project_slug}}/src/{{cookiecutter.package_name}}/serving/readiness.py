"""/ready's answer: every registered check run at once, each within READY_CHECK_TIMEOUT.

`check_readiness(checks)` takes the (name, check) pairs your health.py registers and
returns the JSON body and the status: 200 when every check passes, 503 naming the
ones that failed, and for each check whether it passed and how long it took. A check
fails by returning a falsy value, raising, or taking longer than READY_CHECK_TIMEOUT
(default 2 s, under the 3 s the Kubernetes readinessProbe and Fly's checks wait).
From the moment the worker drains on SIGTERM the answer is 503 at once, no check run.

Each check runs in a thread of its own (a greenlet under gevent, whose monkey-patching
turns threads into greenlets), with the request's context copied: the app context,
so a check may use current_app, and the request id for its log lines. /ready waits
for them together until one deadline, so a hung dependency costs a probe
READY_CHECK_TIMEOUT, never more. A thread cannot be stopped: a check still hung when
the next probe comes is not started again but reported failed with the time since
it began, so a dependency that hangs for an hour holds one thread per check, not
one per probe. Under gevent a check that blocks without yielding (a C library that
gevent cannot patch, a busy loop) stops the whole worker, /ready included.

The body names checks and gives the kind of failure, never an exception's message,
which can name hosts, users or paths: those go to the log, with the traceback.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable

from .lifecycle import is_draining
from .settings import current_settings

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], object]

# The checks of this process still running, with when each began: one hung check is
# one thread, whatever the number of probes that find it hung.
_running: dict[ReadinessCheck, float] = {}
_running_lock = threading.Lock()


class _Run:
    """One check's run in its thread: its outcome once `done` is set."""

    __slots__ = ("check", "done", "error", "finished", "name", "passed", "started")

    def __init__(self, name: str, check: ReadinessCheck, started: float) -> None:
        self.name = name
        self.check = check
        self.started = started
        self.finished: float | None = None
        self.passed = False
        self.error: BaseException | None = None
        self.done = threading.Event()

    def __call__(self) -> None:
        try:
            self.passed = bool(self.check())
        except Exception as error:
            self.error = error
        finally:
            self.finished = time.monotonic()
            with _running_lock:
                _running.pop(self.check, None)
            self.done.set()


def check_readiness(checks: Iterable[tuple[str, ReadinessCheck]]) -> tuple[dict, int]:
    """/ready's JSON body and HTTP status for these checks, in their order."""
    if is_draining():
        return {"status": "draining", "failing": ["shutdown"], "checks": {}}, 503
    checks = list(checks)
    started = time.monotonic()
    deadline = started + current_settings().ready_check_timeout
    runs: dict[str, _Run] = {}
    hung_since: dict[str, float] = {}
    for name, check in checks:
        with _running_lock:
            began = _running.setdefault(check, started)
        if began != started:
            hung_since[name] = began
            continue
        runs[name] = run = _Run(name, check, started)
        thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(run,),
            name=f"readiness check {name}",
            daemon=True,  # a hung check never holds up the worker's exit
        )
        thread.start()

    results = {}
    for name, _check in checks:
        if name in runs:
            run = runs[name]
            run.done.wait(max(0.0, deadline - time.monotonic()))
            results[name] = _outcome(run)
        elif name in hung_since:
            elapsed = time.monotonic() - hung_since[name]
            log.warning("readiness check %s still running after %.1f s", name, elapsed)
            results[name] = {"ok": False, "duration_ms": _ms(elapsed), "error": "timed out"}
    failing = [name for name, result in results.items() if not result["ok"]]
    if failing:
        return {"status": "unavailable", "failing": failing, "checks": results}, 503
    return {"status": "ready", "checks": results}, 200


def _outcome(run: _Run) -> dict:
    if not run.done.is_set():
        elapsed = time.monotonic() - run.started
        log.warning("readiness check %s timed out after %.1f s", run.name, elapsed)
        return {"ok": False, "duration_ms": _ms(elapsed), "error": "timed out"}
    duration_ms = _ms(run.finished - run.started)
    if run.error is not None:
        log.warning(
            "readiness check %s raised %s",
            run.name,
            type(run.error).__name__,
            exc_info=(type(run.error), run.error, run.error.__traceback__),
        )
        error = f"raised {type(run.error).__name__}"
        return {"ok": False, "duration_ms": duration_ms, "error": error}
    if not run.passed:
        return {"ok": False, "duration_ms": duration_ms, "error": "returned false"}
    return {"ok": True, "duration_ms": duration_ms}


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
