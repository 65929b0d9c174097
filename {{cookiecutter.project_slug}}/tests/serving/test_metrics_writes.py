"""metrics_writes.py against prometheus_client itself: what its direct writes leave in
the files is what the library's own writes would, and a prometheus_client that keeps
its values otherwise stops at once instead of miscounting.

Each test makes its own multiprocess value class over its own folder, as
prometheus_client makes one at import when PROMETHEUS_MULTIPROC_DIR is set; this
process itself stays in single-process mode.
"""

import os
import threading

import pytest
from prometheus_client import Counter, Gauge, Histogram, values
from prometheus_client.mmap_dict import MmapedDict

from {{ cookiecutter.package_name }}.serving.metrics_writes import InternalsChanged, RequestWrites

BUCKETS = (0.005, 0.1, 1.0)
# Durations around and on the bounds (a bound takes what equals it), and past the last.
DURATIONS = (0.0, 0.001, 0.005, 0.0051, 0.1, 0.5, 1.0, 7.0)


@pytest.fixture
def multiprocess(tmp_path, monkeypatch):
    """prometheus_client's memory-mapped values, in tmp_path, for metrics made now."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    value_class = values.MultiProcessValue()
    monkeypatch.setattr(values, "ValueClass", value_class)
    yield tmp_path
    value_class.close_all_files()


def _metrics(prefix: str):
    return (
        Counter(f"{prefix}_requests", "h", ("method", "route", "status_class"), registry=None),
        Histogram(f"{prefix}_seconds", "h", ("method", "route"), buckets=BUCKETS, registry=None),
        Gauge(f"{prefix}_in_flight", "h", multiprocess_mode="livesum", registry=None),
    )


def _files(folder) -> dict[str, float]:
    """Every value this process wrote, as a scrape reads them (key: value)."""
    found = {}
    for name in os.listdir(folder):
        for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(str(folder / name)):
            found[key] = value
    return found


def test_direct_writes_leave_what_the_library_would(multiprocess):
    direct = _metrics("direct")
    library = _metrics("library")
    writes = RequestWrites(*direct)
    assert writes._direct, "the multiprocess value class should be written directly"
    writes.prepare()
    # Two status classes of one route: they share the route's histogram. And a request
    # counted but not timed (None: a WebSocket session, metrics.py).
    answers = [*(("2", s) for s in DURATIONS), ("5", 0.3), ("2", 0.3), ("1", None)]
    for status_class, seconds in answers:
        writes.started()
        writes.finished("GET", "/a", status_class, seconds)
        requests, duration, in_flight = library
        in_flight.inc()
        requests.labels("GET", "/a", f"{status_class}xx").inc()
        if seconds is not None:
            duration.labels("GET", "/a").observe(seconds)
        in_flight.dec()
    writes.started()  # one still in flight
    library[2].inc()
    assert writes._direct, "a second status class of a route should not fall back"

    found = _files(multiprocess)
    ours = {key.replace('"direct_', '"library_'): v for key, v in found.items() if "direct_" in key}
    theirs = {key: v for key, v in found.items() if "library_" in key}
    assert ours == theirs
    # And what that is, so the comparison cannot pass with both empty.
    bucket = next(k for k in theirs if '"le": "+Inf"' in k and "_bucket" in k)
    assert theirs[bucket] == 1.0  # 7 s: past the last bound only
    assert sum(v for k, v in theirs.items() if "_bucket" in k) == len(DURATIONS) + 2
    assert sum(v for k, v in theirs.items() if '"5xx"' in k) == 1.0
    assert sum(v for k, v in theirs.items() if '"1xx"' in k) == 1.0
    assert sum(v for k, v in theirs.items() if "_requests_total" in k) == len(DURATIONS) + 3
    assert sum(v for k, v in theirs.items() if "in_flight" in k) == 1.0


def test_values_past_the_first_mapping_of_a_grown_file_are_written_in_place(multiprocess):
    """A file the library grows (many routes) is mapped again for the values past the
    end of the first mapping; the earlier places go on in theirs."""
    requests, duration, in_flight = _metrics("grown")
    writes = RequestWrites(requests, duration, in_flight)
    writes.prepare()
    writes.started()
    writes.finished("GET", "/first", "2", 0.01)
    first_size = (multiprocess / f"histogram_{os.getpid()}.db").stat().st_size
    routes = 0
    while (multiprocess / f"histogram_{os.getpid()}.db").stat().st_size == first_size:
        routes += 1
        writes.started()
        writes.finished("GET", f"/r{routes}", "2", 0.01)
    for route in ("/first", f"/r{routes}"):  # before and past the first mapping's end
        writes.started()
        writes.finished("GET", route, "2", 0.02)
    assert writes._direct
    # The last route's histogram is written through a second mapping of the file.
    views = {id(writes._places[("GET", route, "2")][2]) for route in ("/first", f"/r{routes}")}
    assert len(views) == 2
    found = _files(multiprocess)
    for route, times in (("/first", 2), (f"/r{routes}", 2), ("/r1", 1)):
        labels = f'"method": "GET", "route": "{route}"'
        count = next(v for k, v in found.items() if "_requests_total" in k and labels in k)
        observed = sum(v for k, v in found.items() if "_bucket" in k and labels in k)
        assert (count, observed) == (times, times), route
    assert sum(v for k, v in found.items() if "in_flight" in k) == 0.0


def test_the_library_goes_on_from_the_direct_writes_once_fallen_back(multiprocess, caplog):
    """Falling back sets the library's values from the files first: never backwards."""
    requests, duration, in_flight = _metrics("shared")
    writes = RequestWrites(requests, duration, in_flight)
    for _ in range(3):
        writes.started()
        writes.finished("POST", "/b", "5", 0.2)
    writes.started()
    child = requests.labels("POST", "/b", "5xx")
    # A label set whose histogram the library no longer keeps as this module expects.
    broken = duration.labels("POST", "/broken")
    broken._buckets = broken._buckets[:-1]  # one bucket short of its bounds
    writes.finished("POST", "/broken", "2", 0.2)  # falls back, then counts it
    assert not writes._direct
    assert "changed what serving/metrics_writes.py relies on" in caplog.text
    assert child._value.get() == 3.0
    child.inc()
    writes.started()
    found = _files(multiprocess)
    assert found[child._value._key] == 4.0
    assert found[duration.labels("POST", "/b")._sum._key] == pytest.approx(0.6)
    assert found[in_flight._value._key] == 1.0  # 4 started, 3 + 1 (/broken) finished, 1 started


@pytest.mark.parametrize("step", ["started", "finished"])
def test_a_write_waiting_for_the_lock_while_another_thread_falls_back_goes_to_the_library(
    multiprocess, step
):
    """gthread: a thread that resolved its places before another fell back must not write
    past the values the fall-back gave the library."""
    requests, duration, in_flight = _metrics(f"raced_{step}")
    writes = RequestWrites(requests, duration, in_flight)
    writes.started()
    writes.finished("GET", "/r", "2", 0.01)  # every place resolved
    lock = writes._lock
    waiting, go = threading.Event(), threading.Event()

    class HeldAtTheDoor:
        """The lock, but the writing thread waits at it until the fall-back is done."""

        def __enter__(self):
            if threading.current_thread() is writer:
                waiting.set()
                assert go.wait(10)
            return lock.__enter__()

        def __exit__(self, *exc):
            return lock.__exit__(*exc)

    writer = None
    writes._lock = HeldAtTheDoor()
    if step == "started":
        writer = threading.Thread(target=writes.started)
    else:
        writes.started()
        writer = threading.Thread(target=writes.finished, args=("GET", "/r", "2", 0.01))
    writer.start()
    assert waiting.wait(10)  # its places in hand, at the lock
    writes._fall_back(InternalsChanged("a test's change"))
    go.set()
    writer.join(10)
    assert not writer.is_alive()
    found = _files(multiprocess)
    counter = requests.labels("GET", "/r", "2xx")
    # started: the one request in flight; finished: the main thread's, then finished.
    in_flight_now, count_now = (1.0, 1.0) if step == "started" else (0.0, 2.0)
    assert in_flight._value.get() == found[in_flight._value._key] == in_flight_now
    assert counter._value.get() == found[counter._value._key] == count_now
    in_flight.inc()  # the library's own writes go on from the files' values
    counter.inc()
    found = _files(multiprocess)
    assert found[in_flight._value._key] == in_flight_now + 1
    assert found[counter._value._key] == count_now + 1


def test_a_forked_child_writes_its_own_file_and_leaves_the_parents(multiprocess):
    requests, duration, in_flight = _metrics("forked")
    writes = RequestWrites(requests, duration, in_flight)
    writes.started()
    writes.finished("GET", "/c", "2", 0.01)  # resolved in the parent: the child must not reuse it
    pid = os.fork()
    if pid == 0:  # the child: no pytest here, its exit code is the verdict
        code = 1
        try:
            writes.started()
            writes.finished("GET", "/c", "2", 0.01)
            writes.finished("GET", "/c", "2", 0.01)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    key = requests.labels("GET", "/c", "2xx")._value._key
    parent = MmapedDict.read_all_values_from_file(str(multiprocess / f"counter_{os.getpid()}.db"))
    child = MmapedDict.read_all_values_from_file(str(multiprocess / f"counter_{pid}.db"))
    assert {k: v for k, v, _ts, _pos in parent}[key] == 1.0
    assert {k: v for k, v, _ts, _pos in child}[key] == 2.0
    gauges = MmapedDict.read_all_values_from_file(str(multiprocess / f"gauge_livesum_{pid}.db"))
    assert {k: v for k, v, _ts, _pos in gauges}[in_flight._value._key] == -1.0


def test_a_value_class_without_the_shared_lock_falls_back_to_the_library(multiprocess, caplog):
    class Changed(values.ValueClass):
        def inc(self, amount):  # no free variable `lock`: not the class this relies on
            super().inc(amount)

    gauge = Gauge("changed_in_flight", "h", multiprocess_mode="livesum", registry=None)
    gauge._value.__class__ = Changed
    requests, duration, _ = _metrics("changed")
    writes = RequestWrites(requests, duration, gauge)
    assert not writes._direct
    assert "changed what serving/metrics_writes.py relies on" in caplog.text
    writes.started()
    writes.finished("GET", "/e", "2", 0.01)
    assert _files(multiprocess)[requests.labels("GET", "/e", "2xx")._value._key] == 1.0


def test_a_value_not_where_its_file_says_falls_back_before_any_write(multiprocess, caplog):
    """A moved record (a changed layout) is found when first resolved, never written."""
    requests, duration, in_flight = _metrics("moved")
    in_flight.inc(5)
    value = in_flight._value
    value._file._positions[value._key] -= 8  # where another layout would put it
    writes = RequestWrites(requests, duration, in_flight)
    with pytest.raises(InternalsChanged, match="holds"):
        writes._resolve_in_flight()
    writes.prepare()  # at a worker's boot: one WARNING, then the library's writes
    assert not writes._direct
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1
    value._file._positions[value._key] += 8
    writes.started()
    assert value.get() == 6.0


@pytest.mark.parametrize("change", ["unaligned", "past the size"])
def test_a_value_that_is_no_double_of_its_file_falls_back(multiprocess, caplog, change):
    requests, duration, in_flight = _metrics(f"odd_{change.replace(' ', '_')}")
    in_flight.inc(2)
    value = in_flight._value
    if change == "unaligned":
        value._file._positions[value._key] += 4
    else:
        value._file._capacity = 8  # the size the library would say the file has
    writes = RequestWrites(requests, duration, in_flight)
    writes.prepare()
    assert not writes._direct
    assert "changed what serving/metrics_writes.py relies on" in caplog.text


def test_outside_multiprocess_mode_the_library_counts():
    requests, duration, in_flight = _metrics("single")
    writes = RequestWrites(requests, duration, in_flight)
    assert not writes._direct
    writes.started()
    writes.finished("GET", "/d", "4", 2.0)
    writes.started()
    writes.finished("GET", "/d", "1", None)  # counted, not timed
    assert requests.labels("GET", "/d", "4xx")._value.get() == 1.0
    assert requests.labels("GET", "/d", "1xx")._value.get() == 1.0
    assert duration.labels("GET", "/d")._sum.get() == 2.0
    assert [bucket.get() for bucket in duration.labels("GET", "/d")._buckets][-1] == 1.0
    assert sum(bucket.get() for bucket in duration.labels("GET", "/d")._buckets) == 1.0
    assert in_flight._value.get() == 0.0
