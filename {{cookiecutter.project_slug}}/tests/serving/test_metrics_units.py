"""The metrics' and memory machinery in-process: settings, exit reasons, the fold,
the token, the budget warning and the measuring command."""

import logging
import os
import signal
from types import SimpleNamespace

import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from {{ cookiecutter.package_name }}.serving import metrics_files, worker_exits, worker_memory
from {{ cookiecutter.package_name }}.serving.measure_memory import recommended_mib
from {{ cookiecutter.package_name }}.serving.settings import SettingsError, load_settings

TOKEN = "k" * 32


def test_metrics_are_off_until_a_port_or_a_token_asks():
    assert not load_settings({}).metrics.enabled
    on_port = load_settings({"HOST": "127.0.0.1", "METRICS_PORT": "9102"}).metrics
    assert on_port.enabled and on_port.address == "127.0.0.1:9102"
    assert load_settings({"METRICS_TOKEN": TOKEN}).metrics.enabled


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"METRICS_PORT": "0"}, "METRICS_PORT='0'"),
        ({"METRICS_PORT": "65536"}, "METRICS_PORT='65536'"),
        ({"METRICS_PORT": "nine"}, "METRICS_PORT='nine'"),
        ({"PORT": "9102", "METRICS_PORT": "9102"}, "METRICS_PORT=9102"),
        ({"BIND": "unix:/tmp/s", "METRICS_PORT": "9102"}, "METRICS_PORT=9102"),
        ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN is too short"),
    ],
)
def test_bad_metrics_values_are_refused_naming_the_variable(environ, named):
    with pytest.raises(SettingsError) as refused:
        load_settings(environ)
    assert str(refused.value).startswith(named), refused.value
    assert "short" not in str(refused.value).split("(")[-1] or "METRICS_TOKEN" in named


def _status(exited: int | None = None, killed: int | None = None) -> int:
    """A wait status as os.waitpid returns it."""
    return (exited << 8) if exited is not None else killed


@pytest.mark.parametrize(
    ("status", "told", "oom", "aborted", "expected"),
    [
        (_status(exited=0), True, False, False, ("normal", "")),
        (_status(exited=0), False, False, False, ("recycled", "")),
        (_status(exited=1), False, False, True, ("timeout", "")),
        (_status(killed=signal.SIGKILL), False, True, False, ("oom", "SIGKILL")),
        (_status(killed=signal.SIGKILL), False, False, False, ("signal", "SIGKILL")),
        # The master's own SIGKILL (its graceful timeout ran out) is never the OOM killer.
        (_status(killed=signal.SIGKILL), True, True, False, ("signal", "SIGKILL")),
        (_status(killed=signal.SIGSEGV), False, False, False, ("signal", "SIGSEGV")),
        (_status(exited=3), False, False, False, ("error", "")),
        (None, False, False, False, ("unknown", "")),
    ],
)
def test_exit_reasons(status, told, oom, aborted, expected):
    worker = SimpleNamespace(aborted=aborted)
    assert worker_exits.reason_of(worker, status, told, oom) == expected


def test_the_oom_kill_count_is_read_from_cgroup_v2_and_v1(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\n")
    own = tmp_path / "self-cgroup"
    own.write_text("0::/\n")
    assert worker_exits.oom_kill_count(v2, own) == 2
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.oom_control").write_text(
        "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n"
    )
    own.write_text("4:memory:/docker/abc\n")
    assert worker_exits.oom_kill_count(v1, own) == 5
    assert worker_exits.oom_kill_count(tmp_path / "none", own) is None


def _counter_archive(folder) -> dict[str, float]:
    """What the fold left in the counters' archive, key: value."""
    found = MmapedDict.read_all_values_from_file(str(folder / "counter_archive.db"))
    return {key: value for key, value, _ts, _pos in found}


def test_a_dead_workers_counts_are_folded_into_the_archive(tmp_path, monkeypatch):
    monkeypatch.setenv(metrics_files.VARIABLE, str(tmp_path))
    key = mmap_key("http_requests", "http_requests_total", ["route"], ["/x"], "help")
    for pid, count in ((101, 3.0), (102, 4.0)):
        dead = MmapedDict(str(tmp_path / f"counter_{pid}.db"))
        dead.write_value(key, count, 0.0)
        dead.close()
        (tmp_path / f"gauge_livesum_{pid}.db").write_bytes(b"")
    exit_key = mmap_key("worker_exits", "worker_exits_total", ["reason"], ["recycled"], "help")
    metrics_files.archive_worker(101, {exit_key: 1.0})
    metrics_files.archive_worker(102, {exit_key: 1.0})
    assert sorted(os.listdir(tmp_path)) == [".fold.lock", "counter_archive.db"]
    assert _counter_archive(tmp_path) == {key: 7.0, exit_key: 2.0}


def test_a_worker_stopped_as_it_made_its_file_is_folded_without_error(tmp_path, monkeypatch):
    # Stopped in that instant, the worker leaves its file empty, without the header
    # prometheus_client reads first: the master's fold raised struct.error, and a stop
    # ended in "Unhandled exception in main loop" and exit code 255 (a CI run).
    monkeypatch.setenv(metrics_files.VARIABLE, str(tmp_path))
    (tmp_path / "counter_103.db").write_bytes(b"")
    (tmp_path / "histogram_103.db").write_bytes(b"\0\0")
    exit_key = mmap_key("worker_exits", "worker_exits_total", ["reason"], ["stopped"], "help")
    metrics_files.archive_worker(103, {exit_key: 1.0})
    assert sorted(os.listdir(tmp_path)) == [".fold.lock", "counter_archive.db"]
    assert _counter_archive(tmp_path) == {exit_key: 1.0}


def test_a_scrape_passes_over_a_file_a_worker_is_still_creating(tmp_path, monkeypatch):
    """A new worker's file exists, empty, before prometheus_client sizes it: a scrape
    in that instant failed with a 500 (struct.error) before SettledFilesCollector."""
    from {{ cookiecutter.package_name }}.serving.metrics import exposition

    monkeypatch.setenv(metrics_files.VARIABLE, str(tmp_path))
    key = mmap_key("http_requests", "http_requests_total", ["route"], ["/x"], "help")
    settled = MmapedDict(str(tmp_path / "counter_101.db"))
    settled.write_value(key, 3.0, 0.0)
    settled.close()
    (tmp_path / "counter_102.db").write_bytes(b"")
    text = exposition().decode()
    assert 'http_requests_total{route="/x"} 3.0' in text


def test_the_token_guards_metrics_on_the_main_port(monkeypatch, tmp_path):
    from harness.metrics_app import create_metrics_probe_app

    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv(metrics_files.VARIABLE, raising=False)
    client = create_metrics_probe_app().test_client()
    client.get("/items/7").close()  # counted when the server closes the body
    assert client.get("/metrics").status_code == 404
    wrong = {"Authorization": "Bearer " + "x" * 32}
    assert client.get("/metrics", headers=wrong).status_code == 404
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert 'route="/items/<int:item>"' in answer.text


def test_a_request_counts_under_its_rule_and_the_status_class_the_client_got(monkeypatch, tmp_path):
    """The status is the one the request's note holds as the client gets it
    (request_context.py), whoever answered: the view, Flask's error page, or the
    server's 500 for an exception the app let out."""
    from flask import Flask, abort
    from prometheus_client.parser import text_string_to_metric_families

    from {{ cookiecutter.package_name }} import serving

    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv(metrics_files.VARIABLE, raising=False)
    app = Flask(__name__)
    serving.init_app(app)

    @app.get("/units/gone/<int:item>")
    def gone(item: int):
        abort(410)

    @app.get("/units/broken")
    def broken():
        raise RuntimeError("broken on purpose")

    client = app.test_client()
    for item in (1, 2):
        client.get(f"/units/gone/{item}").close()
    page = client.get("/units/broken")  # the app's own 500 page
    assert page.status_code == 500
    page.close()  # counted when the server closes the body
    app.testing = True  # Flask lets the exception out, and the server answers 500
    with pytest.raises(RuntimeError, match="on purpose"):
        client.get("/units/broken")
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    counts = {
        (sample.labels["route"], sample.labels["status_class"]): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels["route"].startswith("/units/")
    }
    assert counts == {("/units/gone/<int:item>", "4xx"): 2.0, ("/units/broken", "5xx"): 2.0}


def _wsgi_chain(app) -> list[str]:
    """The class names of the app's WSGI middlewares, outermost first."""
    names, layer = [], app.wsgi_app
    while hasattr(layer, "app"):
        names.append(type(layer).__name__)
        layer = layer.app
    return names


def test_metrics_off_installs_nothing_on_the_request_path(monkeypatch, tmp_path):
    """What `make bench`'s cost section calls off: no middleware, nothing per request."""
    from harness.metrics_app import create_metrics_probe_app

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    for name in ("METRICS_PORT", "METRICS_TOKEN", "METRICS_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert "MetricsMiddleware" not in _wsgi_chain(create_metrics_probe_app())
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    assert "MetricsMiddleware" in _wsgi_chain(create_metrics_probe_app())


def test_a_worker_over_its_budget_warns_once(caplog, monkeypatch):
    worker_memory.reset()
    monkeypatch.setattr(worker_memory, "own_memory", lambda: (200 * worker_memory.MIB, "PSS"))
    with caplog.at_level(logging.WARNING):
        worker_memory.after_request(64, metrics_enabled=False)
        worker_memory.reset()
        worker_memory._sampler.warned = True  # the once: a second sample says nothing
        worker_memory.after_request(64, metrics_enabled=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert f"worker {os.getpid()} uses 200 MiB (PSS)" in warnings[0]
    assert "WORKER_MEMORY_MB=64" in warnings[0]
    worker_memory.reset()


def test_a_worker_is_read_at_boot_and_again_at_its_first_request(monkeypatch):
    # An app over its budget from the start is told of before any request; what the
    # first request loads is read too, not SAMPLE_SECONDS later.
    worker_memory.reset()
    readings = []
    monkeypatch.setattr(
        worker_memory, "own_memory", lambda: readings.append(1) or (worker_memory.MIB, "PSS")
    )
    worker_memory.at_boot(64, metrics_enabled=False)
    assert len(readings) == 1
    worker_memory.after_request(64, metrics_enabled=False)
    assert len(readings) == 2
    worker_memory.after_request(64, metrics_enabled=False)  # within SAMPLE_SECONDS
    assert len(readings) == 2
    worker_memory.reset()


def test_the_recommended_budget_leaves_room_and_is_round():
    assert recommended_mib(30 * worker_memory.MIB) == 40
    assert recommended_mib(160 * worker_memory.MIB) == 216
    assert recommended_mib(1) == 8
