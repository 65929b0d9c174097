"""A request's metric writes, made straight into prometheus_client's memory-mapped files.

Why: in multiprocess mode (the service's) every prometheus_client write takes the
library's lock, calls os.getpid() to notice a fork, looks its key up and packs 16
bytes into the worker's file. A request made five (the in-flight gauge up and down,
the counter, the histogram's sum and one bucket): about 8.5 µs of the 13.5 the metrics
cost it, timed in one process (docs/performance.md). Here each label set's places are
resolved once per process, and a request's writes are one addition each, in place,
into this process's own mapping of the library's file: no value object of the
library is touched on a request's path, only its lock, taken as the request starts
and once more for the four writes as it ends. In the server, where every request
runs with cold caches, what costs is each object and page a request touches, so the
fewer the better.

What this relies on in prometheus_client (0.26.0, as requirements*.txt pin it), which
tests/serving/test_metrics_writes.py proves against the library itself, so an upgrade
that changes any of it fails there. In a running service RequestWrites checks what it
can (the lock when it is made; each value's file and offset when first resolved, at a
worker's boot for the in-flight gauge) and, finding it changed, logs one WARNING and
goes back to the library's own writes: slower, never miscounted.
- a multiprocess value (values.MultiProcessValue's MmapedValue) keeps its float in
  `_value`, its file (a MmapedDict) in `_file`, its key in `_key`, and its methods
  share one lock, their free variable `lock`; get() is where it notices a fork;
- a MmapedDict keeps its open file in `_f`, the file's size in `_capacity` (a file
  only grows) and each key's offset in `_positions`, 8-byte aligned, where the value
  is a native double (followed by its timestamp, 0.0 for these metrics, left as is);
- a labelled child keeps its value in `_value` (Counter, Gauge), and a Histogram's in
  `_sum` and `_buckets`, one per bound of `_upper_bounds` (+Inf last), an observation
  adding 1 to the first bucket whose bound it does not exceed; the sum and the buckets
  are in one file.

The library's in-memory copies of these values (`_value`) are not kept up on a
request's path; where this module goes back to the library's writes it first sets
them from the files, so its writes go on from ours, never back. So the three request
metrics (metrics.py) are this module's to write: an app's own `.inc()` on one would
start from a stale copy and rewind the series (a counter reset to Prometheus). An
app counts with metrics of its own (docs/metrics.md).

Outside multiprocess mode (the test client, `flask run`) the library's own calls are
used: they cost little there, and nothing of the above is relied on.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import weakref
from bisect import bisect_left

from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger(__name__)


class InternalsChanged(RuntimeError):
    """prometheus_client no longer keeps its values as this module expects."""


def _message(what: str) -> str:
    from importlib.metadata import version

    return (
        f"prometheus_client {version('prometheus_client')} changed what serving/"
        f"metrics_writes.py relies on: {what}. Pin prometheus_client==0.26.0 or update "
        "metrics_writes.py (its docstring and tests say what it relies on)"
    )


def _changed(error: Exception) -> InternalsChanged:
    """What a lookup into the library's objects that failed says."""
    return InternalsChanged(_message(f"{type(error).__name__}: {error}"))


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
    """One value's place: its double in this process's own mapping of the value's file."""

    __slots__ = ("index", "value", "view")

    def __init__(self, value, mappings: _Mappings) -> None:
        """Under the library's lock, after value.get() (which notices a fork)."""
        try:
            file = value._file
            position = file._positions[value._key]
            if position % 8:
                raise ValueError(f"{value._key} is not 8-byte aligned")
            in_memory = float(value._value)
            try:
                view = mappings.covering(file, position)
            except OSError as error:  # no descriptor or memory left: not the library
                raise InternalsChanged(f"the metrics' file could not be mapped: {error}") from error
            stored = view[position // 8]
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as error:
            raise _changed(error) from error
        self.value = value
        self.view = view
        self.index = position // 8
        # The file holds what the library holds, else the record or its offset is not
        # the one written here.
        if stored != in_memory:
            raise InternalsChanged(
                _message(f"{value._key} holds {stored} in its file, {in_memory} in memory")
            )


class _Mappings:
    """This process's own shared mappings of the library's files, as doubles.

    Its own, not the library's `_m`: the library maps a file anew when it grows it,
    and a view held on its mapping would keep the library from closing it. A file only
    grows, so an offset stays where it was; a value past the end of the mapping made
    so far gets a new mapping of the whole file, and the earlier ones stay (a few,
    as a file doubles). All map the same pages: a scrape reads what they write.
    """

    def __init__(self) -> None:
        self._views: dict[int, tuple[int, memoryview]] = {}  # id(MmapedDict): (bytes, view)

    def covering(self, file, position: int) -> memoryview:
        length, view = self._views.get(id(file), (0, None))
        if position + 16 > length:  # the value and its timestamp
            length = file._capacity
            view = memoryview(mmap.mmap(file._f.fileno(), length)).cast("d")
            self._views[id(file)] = (length, view)
        return view


# Every RequestWrites of this process: forgotten in a forked child (os.register_at_fork).
_instances: weakref.WeakSet[RequestWrites] = weakref.WeakSet()


class RequestWrites:
    """The writes of one request: started() as it comes in, finished() once answered."""

    def __init__(self, requests: Counter, duration: Histogram, in_flight: Gauge) -> None:
        self._requests = requests
        self._duration = duration
        self._in_flight = in_flight
        # Per label set, resolved once per process: the counter's view and index, the
        # histogram's view, its sum's index and its buckets' indexes, and the bounds;
        # the library's (counter, histogram) children outside multiprocess mode or
        # fallen back. Two dicts: a gthread thread still resolving places when another
        # falls back must not leave places where children are looked up. Bounded as
        # the series are: methods, routes, status classes.
        self._places: dict[tuple[str, str, str], tuple] = {}
        self._children: dict[tuple[str, str, str], tuple] = {}
        self._in_flight_place: tuple[memoryview, int] | None = None
        # Every value resolved in this process, by id(): a histogram's values serve
        # each status class of its route, and are checked against the library once,
        # before this module first writes them.
        self._slots: dict[int, _Slot] = {}
        self._mappings = _Mappings()
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
        """Drop every place and mapping: in a forked child (they are the parent's
        files) and on falling back."""
        self._places = {}
        self._in_flight_place = None
        self._slots = {}
        self._mappings = _Mappings()

    def started(self) -> None:
        if self._direct:
            try:
                gauges, in_flight = self._in_flight_place or self._resolve_in_flight()
            except InternalsChanged as error:
                self._fall_back(error)
            else:
                with self._lock:
                    if self._direct:  # not fallen back meanwhile, in another thread
                        gauges[in_flight] += 1.0
                        return
        self._in_flight.inc()

    def finished(self, method: str, route: str, status_class: str, seconds: float | None) -> None:
        """`status_class`: the status's first digit. `seconds`: None for a request
        that is counted but not timed (metrics.py)."""
        key = (method, route, status_class)
        if self._direct:
            try:
                place = self._places.get(key) or self._resolve(key)
                counters, count, histograms, total, buckets, bounds = place
                gauges, in_flight = self._in_flight_place or self._resolve_in_flight()
            except InternalsChanged as error:
                self._fall_back(error)
            else:
                # The first bucket whose bound is >= seconds; found outside the lock.
                bucket = None if seconds is None else buckets[bisect_left(bounds, seconds)]
                with self._lock:
                    if self._direct:
                        counters[count] += 1.0
                        if bucket is not None:
                            histograms[total] += seconds
                            histograms[bucket] += 1.0
                        gauges[in_flight] -= 1.0
                        return
        counter, histogram = self._children.get(key) or self._resolve_children(key)
        counter.inc()
        if seconds is not None:
            histogram.observe(seconds)
        self._in_flight.dec()

    def _fall_back(self, error: InternalsChanged) -> None:
        """The library's own writes from now on: slower, as exact. The library's values
        are set from the files first, so its writes go on from ours. Under the lock, so
        that no thread writes directly in between; logged once (two gthread threads may
        both find the change)."""
        lock = getattr(self, "_lock", None)  # none when the lock itself was not found
        with lock if lock is not None else contextlib.nullcontext():
            was_direct, self._direct = self._direct, False
            for slot in self._slots.values():
                slot.value._value = slot.view[slot.index]
        self.forget()
        if was_direct or lock is None:
            log.warning("%s; the metrics are written the slower way meanwhile", error)

    def _slot(self, value) -> _Slot:
        """Under the library's lock."""
        slot = self._slots.get(id(value))
        if slot is None:
            self._slots[id(value)] = slot = _Slot(value, self._mappings)
        return slot

    def _resolve_in_flight(self) -> tuple[memoryview, int]:
        value = self._in_flight._value
        try:
            value.get()  # where the library notices a fork and opens this process's files
        except (AttributeError, TypeError) as error:
            raise _changed(error) from error
        with self._lock:
            slot = self._slot(value)
            self._in_flight_place = place = (slot.view, slot.index)
        return place

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
            count, total, buckets = counter._value, histogram._sum, tuple(histogram._buckets)
            bounds = tuple(histogram._upper_bounds)
            if not bounds or len(bounds) != len(buckets) or bounds[-1] != float("inf"):
                raise ValueError("a Histogram's buckets and bounds")
            count.get()  # as in _resolve_in_flight
        except (AttributeError, TypeError, ValueError) as error:
            raise _changed(error) from error
        with self._lock:
            count_slot = self._slot(count)
            total_slot = self._slot(total)
            bucket_slots = [self._slot(bucket) for bucket in buckets]
        if any(slot.value._file is not total_slot.value._file for slot in bucket_slots):
            raise InternalsChanged(_message("a Histogram's sum and buckets are in two files"))
        # The sum and buckets share a file: one view of it serves them all, the one made
        # for the furthest of them (every mapping starts at the file's start).
        histograms = max((total_slot, *bucket_slots), key=lambda slot: slot.index).view
        place = (
            count_slot.view,
            count_slot.index,
            histograms,
            total_slot.index,
            tuple(slot.index for slot in bucket_slots),
            bounds,
        )
        self._places[key] = place
        return place


def _forget_all() -> None:
    for instance in list(_instances):
        instance.forget()


os.register_at_fork(after_in_child=_forget_all)
