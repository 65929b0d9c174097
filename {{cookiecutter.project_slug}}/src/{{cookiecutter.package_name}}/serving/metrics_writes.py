"""A request's metric writes, made straight into prometheus_client's memory-mapped files.

Why: in multiprocess mode (the service's) every prometheus_client write takes the
library's lock, calls os.getpid() to notice a fork, looks its key up and packs 16
bytes into the worker's file. A request made five (the in-flight gauge up and down,
the counter, the histogram's sum and one bucket): about 8.5 µs of the 13.5 the metrics
cost it, timed in one process (docs/performance.md). Here each label set's values are
resolved once per process, and a request's last four writes share one take of the lock.

What this relies on in prometheus_client (0.26.0, as the locks pin it), which
tests/serving/test_metrics_writes.py proves against the library itself, so an upgrade
that changes any of it fails there. In a running service RequestWrites checks what it
can (the lock when it is made; each value's file and offset when first resolved, at a
worker's boot for the in-flight gauge) and, finding it changed, logs one WARNING and
goes back to the library's own writes: slower, never miscounted.
- a multiprocess value (values.MultiProcessValue's MmapedValue) keeps its float in
  `_value`, its file (a MmapedDict) in `_file`, its key in `_key`, and its methods
  share one lock, their free variable `lock`; get() is where it notices a fork;
- a MmapedDict keeps its mapping in `_m` and each key's offset in `_positions`, where
  the value and its timestamp are two native doubles, written whole by one slice
  assignment as its own write_value() does (a scrape never reads half a value);
- a labelled child keeps its value in `_value` (Counter, Gauge), and a Histogram's in
  `_sum` and `_buckets`, one per bound of `_upper_bounds` (+Inf last), an observation
  adding 1 to the first bucket whose bound it does not exceed.
The value objects are updated with their files, so a value the library later writes
itself (an app's own `.inc()` on these metrics) goes on from ours, never back.

Outside multiprocess mode (the test client, `flask run`) the library's own calls are
used: they cost little there, and nothing of the above is relied on.
"""

from __future__ import annotations

import logging
import os
import struct
import weakref
from bisect import bisect_left

from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger(__name__)

# The record MmapedDict writes at a key's offset: the value, then its timestamp.
_pack = struct.Struct("dd").pack
_unpack_from = struct.Struct("dd").unpack_from


class InternalsChanged(RuntimeError):
    """prometheus_client no longer keeps its values as this module expects."""


def _message(what: str) -> str:
    from importlib.metadata import version

    return (
        f"prometheus_client {version('prometheus_client')} changed what serving/"
        f"metrics_writes.py relies on: {what}. Pin prometheus_client==0.26.0 or update "
        "metrics_writes.py (its docstring and tests say what it relies on)"
    )


def library_lock(value_class):
    """The lock prometheus_client takes around every write of this value class."""
    method = getattr(value_class, "inc", None)
    code = getattr(method, "__code__", None)
    if (
        code is None
        or "lock" not in code.co_freevars
        or not callable(getattr(value_class, "get", None))
    ):
        raise InternalsChanged(_message("MmapedValue's methods no longer share `lock`"))
    lock = method.__closure__[code.co_freevars.index("lock")].cell_contents
    if not (hasattr(lock, "acquire") and hasattr(lock, "release")):
        raise InternalsChanged(_message(f"MmapedValue's `lock` is a {type(lock).__name__}"))
    return lock


class _Slot:
    """One value's place: the library's value object, its file and the offset in it."""

    __slots__ = ("file", "position", "value")

    def __init__(self, value) -> None:
        """Under the library's lock, after value.get() (which notices a fork)."""
        try:
            self.value = value
            self.file = value._file
            self.position = value._file._positions[value._key]
            stored = _unpack_from(self.file._m, self.position)[0]
            in_memory = float(value._value)
        except (AttributeError, KeyError, TypeError, struct.error) as error:
            raise InternalsChanged(_message(f"{type(error).__name__}: {error}")) from error
        # The file holds what the library holds, else the record or its offset is not
        # the one written here.
        if stored != in_memory:
            raise InternalsChanged(
                _message(f"{value._key} holds {stored} in its file, {in_memory} in memory")
            )

    def add(self, amount: float) -> None:
        """Under the library's lock."""
        value = self.value
        value._value = total = value._value + amount
        position = self.position
        self.file._m[position : position + 16] = _pack(total, 0.0)


# Every RequestWrites of this process: forgotten in a forked child (os.register_at_fork).
_instances: weakref.WeakSet[RequestWrites] = weakref.WeakSet()


class RequestWrites:
    """The writes of one request: started() as it comes in, finished() once answered."""

    def __init__(self, requests: Counter, duration: Histogram, in_flight: Gauge) -> None:
        self._requests = requests
        self._duration = duration
        self._in_flight = in_flight
        # Per label set, resolved once per process: (count, sum, buckets, bounds) as
        # slots; the library's (counter, histogram) children outside multiprocess mode
        # or fallen back. Two dicts: a gthread thread still resolving slots when
        # another falls back must not leave slots where children are looked up.
        # Bounded as the series are: methods, routes, status classes.
        self._slots: dict[tuple[str, str, str], tuple] = {}
        self._children: dict[tuple[str, str, str], tuple] = {}
        self._in_flight_slot: _Slot | None = None
        self._direct = False
        value_class = type(in_flight._value)
        if getattr(value_class, "_multiprocess", False):
            try:
                self._lock = library_lock(value_class)
                self._direct = True
            except InternalsChanged as error:
                self._fall_back(error)
        _instances.add(self)

    def prepare(self) -> None:
        """Resolve what every request writes now, in a worker at its boot: a changed
        prometheus_client is told of there, not at a first request."""
        if self._direct:
            try:
                self._resolve_in_flight()
            except InternalsChanged as error:
                self._fall_back(error)

    def forget(self) -> None:
        """Resolve everything again: the slots point into the parent's files."""
        self._slots = {}
        self._in_flight_slot = None

    def started(self) -> None:
        if self._direct:
            try:
                slot = self._in_flight_slot or self._resolve_in_flight()
            except InternalsChanged as error:
                self._fall_back(error)
            else:
                with self._lock:
                    slot.add(1.0)
                return
        self._in_flight.inc()

    def finished(self, method: str, route: str, status_class: str, seconds: float) -> None:
        """`status_class`: the status's first digit."""
        key = (method, route, status_class)
        if self._direct:
            try:
                count, total, buckets, bounds = self._slots.get(key) or self._resolve(key)
                in_flight = self._in_flight_slot or self._resolve_in_flight()
            except InternalsChanged as error:
                self._fall_back(error)
            else:
                bucket = buckets[bisect_left(bounds, seconds)]  # the first bound >= seconds
                with self._lock:
                    count.add(1.0)
                    total.add(seconds)
                    bucket.add(1.0)
                    in_flight.add(-1.0)
                return
        counter, histogram = self._children.get(key) or self._resolve_children(key)
        counter.inc()
        histogram.observe(seconds)
        self._in_flight.dec()

    def _fall_back(self, error: InternalsChanged) -> None:
        """The library's own writes from now on: slower, as exact (the values it holds
        are the ones written here so far)."""
        log.warning("%s; the metrics are written the slower way meanwhile", error)
        self._direct = False
        self.forget()

    def _resolve_in_flight(self) -> _Slot:
        value = self._in_flight._value
        value.get()  # where the library notices a fork and opens this process's files
        with self._lock:
            self._in_flight_slot = slot = _Slot(value)
        return slot

    def _resolve_children(self, key: tuple[str, str, str]) -> tuple:
        method, route, status_class = key
        children = (
            self._requests.labels(method, route, f"{status_class}xx"),
            self._duration.labels(method, route),
        )
        self._children[key] = children
        return children

    def _resolve(self, key: tuple[str, str, str]) -> tuple:
        counter, histogram = self._children.get(key) or self._resolve_children(key)
        try:
            values = (counter._value, histogram._sum, tuple(histogram._buckets))
            bounds = tuple(histogram._upper_bounds)
        except AttributeError as error:
            raise InternalsChanged(_message(str(error))) from error
        if len(bounds) != len(values[2]) or bounds[-1] != float("inf"):
            raise InternalsChanged(_message("a Histogram's buckets and bounds"))
        values[0].get()  # as in _resolve_in_flight
        with self._lock:
            slots = (
                _Slot(values[0]),
                _Slot(values[1]),
                tuple(_Slot(bucket) for bucket in values[2]),
                bounds,
            )
        self._slots[key] = slots
        return slots


def _forget_all() -> None:
    for instance in list(_instances):
        instance.forget()


os.register_at_fork(after_in_child=_forget_all)
