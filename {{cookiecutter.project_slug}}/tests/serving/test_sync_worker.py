"""The sync worker's loop for several listening sockets (serving/sync_worker.py), on
stand-ins for its sockets and for gunicorn's calls: what it accepts from, in which
order, how often it selects, and when it stops. test_metrics.py runs it for real."""

import errno
import itertools

import pytest
from gunicorn.workers.sync import StopWaiting

from {{ cookiecutter.package_name }}.serving import sync_worker
from {{ cookiecutter.package_name }}.serving.sync_worker import ErrorPagesSyncWorker

PIPE = "pipe"


class Loop(ErrorPagesSyncWorker):
    """The loop alone: `waiting` connections per socket, what each select() finds."""

    def __init__(self, waiting: dict, selects: list, parent: list | None = None) -> None:
        # Not gunicorn's __init__: the loop reads only what is set here.
        self.alive = True
        self.PIPE = (PIPE, "pipe, write end")
        self.waiting = dict(waiting)
        self.selects = list(selects)
        self.parent = list(parent or [])  # is_parent_alive's answers, then True
        self.accepted: list[str] = []
        self.waits = 0

    def notify(self) -> None:
        pass

    def is_parent_alive(self) -> bool:
        return self.parent.pop(0) if self.parent else True

    def wait(self, timeout):
        self.waits += 1
        if not self.selects:
            raise StopWaiting  # as gunicorn's wait() does once its sockets are gone
        return self.selects.pop(0)

    def accept(self, listener) -> None:
        if not self.waiting.get(listener):
            raise OSError(errno.EAGAIN, "no connection waits")
        self.waiting[listener] -= 1
        self.accepted.append(listener)


def test_it_accepts_in_turns_until_none_waits_and_only_then_selects():
    loop = Loop({"main": 3, "metrics": 1}, [["main", "metrics", PIPE]])
    loop.run_for_multiple(1.0)
    assert loop.accepted == ["main", "metrics", "main", "main"]
    assert loop.waits == 2  # the first, and the one that found nothing waiting


def test_a_busy_socket_does_not_hide_another_for_longer_than_reselect(monkeypatch):
    # The main port always has a connection waiting; the metrics port's comes later.
    clock = itertools.count(step=0.004)
    monkeypatch.setattr(sync_worker.time, "monotonic", lambda: next(clock))
    loop = Loop({"main": 10_000, "metrics": 1}, [["main"], ["main", "metrics"]])
    loop.run_for_multiple(1.0)
    first_scrape = loop.accepted.index("metrics")
    # RESELECT_SECONDS in 0.004 s steps (one clock read an accept), then main's turn.
    assert first_scrape <= sync_worker.RESELECT_SECONDS / 0.004 + 2, first_scrape
    assert loop.waits == 3


def test_it_stops_between_connections_once_told_to():
    loop = Loop({"main": 5}, [["main"]])

    def accept_then_stop(listener):
        Loop.accept(loop, listener)
        if len(loop.accepted) == 2:  # max_requests reached, or SIGTERM handled
            loop.alive = False

    loop.accept = accept_then_stop
    loop.run_for_multiple(1.0)
    assert loop.accepted == ["main", "main"]
    assert loop.waits == 1


def test_an_orphaned_worker_stops_before_it_selects_again():
    loop = Loop({"main": 2}, [["main"], ["main"]], parent=[True, False])
    loop.run_for_multiple(1.0)
    assert loop.accepted == ["main", "main"]
    assert loop.waits == 1


def test_an_error_other_than_nothing_waiting_is_raised():
    loop = Loop({}, [["main"]])

    def broken(listener):
        raise OSError(errno.EMFILE, "too many open files")

    loop.accept = broken
    with pytest.raises(OSError, match="too many open files"):
        loop.run_for_multiple(1.0)
