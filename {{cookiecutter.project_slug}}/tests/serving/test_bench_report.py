"""The benchmark's arithmetic (which round a row shows, how its ratios are taken, what
metrics and tracing cost) and what it reads from /proc, and where it writes."""

import http.client
import os
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

# The bench's modules import one another by plain name, as `python bench/run.py` does.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from cost import (
    BOTH,
    METRICS,
    OFF,
    OFF_AGAIN,
    TRACING,
    CostFigures,
    CostRow,
    Sink,
    otlp_sink,
    variant_spec,
)
from procfs import cpu_seconds, run_seconds
from report import cost_deltas, cost_markdown, cost_targets, targets, write_markdown
from run import Measured, _medians, _options
from wrk import LoadResult

CONTEXT = {"default_class": "gthread"}


def _row(
    server: str, requests_per_second: float, p99_ms: float = 50.0, cpu_us: float = 400.0
) -> Measured:
    load = LoadResult(requests_per_second, int(requests_per_second * 5), 10.0, p99_ms, 0, 0)
    return Measured(
        server, "/health", 50, load, spread=[10, 10, 10, 10, 10], cpu_us_per_request=cpu_us
    )


def _rounds(per_server: dict[str, list[float]]) -> list[Measured]:
    """Rows as the bench measures them: every server once per round, round after round."""
    count = len(next(iter(per_server.values())))
    return [
        _row(server, figures[index])
        for index in range(count)
        for server, figures in per_server.items()
    ]


def test_each_row_shows_its_median_round_and_keeps_every_round():
    rows = _medians(
        [_row("a", 300, p99_ms=30), _row("a", 100, p99_ms=10), _row("a", 200, p99_ms=20)]
    )
    assert len(rows) == 1
    assert rows[0].load.requests_per_second == 200
    assert rows[0].load.p99_ms == 20  # the latencies of that same round
    assert rows[0].rounds == [300, 100, 200]


def test_the_table_shows_the_cpu_per_request_of_the_median_round(tmp_path):
    rows = _medians(
        [
            _row("recipe: bare Flask, sync", 300, cpu_us=410),
            _row("recipe: bare Flask, sync", 100, cpu_us=900),  # a slow round
            _row("recipe: bare Flask, sync", 200, cpu_us=390),
        ]
    )
    context = {
        **CONTEXT,
        "date": "2026-11-23 19:00 UTC",
        "label": "test",
        "machine": "2 x test CPU",
        "seconds": 5,
        "rounds": 3,
        "load_before": (0.0, 0.0, 0.0),
        "load_after": (0.0, 0.0, 0.0),
        "duration_s": 1,
        "versions": {"python": "3"},
    }
    markdown = write_markdown(tmp_path / "results.md", rows, [], "skipped", context)
    header, row = [line for line in markdown.splitlines() if line.startswith("| ")][:2]
    cells = dict(zip(header.split("|"), row.split("|"), strict=True))
    # The median round's own figure, not the median of the CPU figures (410).
    assert cells[" CPU µs/req "].strip() == "390"
    assert cells[" req/s "].strip() == "200"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux only)")
def test_cpu_seconds_counts_what_a_process_burned():
    before = cpu_seconds([os.getpid()])
    burn_until = time.process_time() + 0.3
    while time.process_time() < burn_until:
        pass
    # /proc counts in clock ticks (10 ms): allow one tick either side.
    assert 0.28 <= cpu_seconds([os.getpid()]) - before <= 0.5


@pytest.mark.skipif(
    not Path("/proc/self/task").exists() or not list(Path("/proc/self/task").glob("*/schedstat")),
    reason="reads the scheduler's schedstat (Linux with schedstats)",
)
def test_run_seconds_counts_every_thread_to_well_under_a_tick():
    before = run_seconds([os.getpid()])
    burned, release = threading.Event(), threading.Event()

    def burn() -> None:
        until = time.thread_time() + 0.1
        while time.thread_time() < until:
            pass

    def thread_burns() -> None:
        burn()
        burned.set()
        release.wait(10)  # alive while it is counted, as a gthread worker's threads are

    worker = threading.Thread(target=thread_burns)
    worker.start()
    try:
        burned.wait(10)
        burn()
        spent = run_seconds([os.getpid()]) - before
    finally:
        release.set()
        worker.join()
    # 0.2 s burned; the test's own code around it adds a little, never a whole tick.
    assert 0.2 <= spent <= 0.25


def _target(rows, what: str) -> str:
    (found,) = [target for target in targets(rows, "skipped", CONTEXT) if target.what == what]
    return found.measured


def test_ratios_are_taken_round_by_round():
    # The machine slows down in round 2, for both servers alike. Paired, the service is
    # at the recipe's level in every round; a ratio of the two medians would say 0.5x.
    rows = _medians(
        _rounds(
            {
                "recipe: bare Flask, sync": [3000, 1000, 2000],
                "service, gthread": [3000, 1000, 1000],
            }
        )
    )
    assert _target(rows, "service, gthread, /health x50 vs recipe") == "1.00x"


def test_logging_cost_against_bare_flask_on_the_same_settings():
    # Round by round the service costs 37%, 38% and 10%: the median is 37%. The two
    # median rows (2,336 and 3,384 req/s) would say 31%.
    rows = _medians(
        _rounds(
            {
                "recipe: bare Flask, sync": [3000, 3000, 3000],
                "service, gthread": [2336, 2016, 3061],
                "service, gthread, no access log": [2905, 3096, 3460],
                "bare Flask, gthread as service": [3696, 3240, 3384],
            }
        )
    )
    assert (
        _target(rows, "logging + middleware cost, /health x50") == "37% (4% without the access log)"
    )


def test_io_target_shows_the_service_without_its_access_line():
    rows = _medians(
        [
            replace(row, path="/io", connections=500)
            for row in _rounds(
                {
                    "recipe: bare Flask, sync": [100, 90, 95],
                    "service, gevent": [3500, 3300, 3400],
                    "bare Flask, gevent as service": [4600, 4100, 4400],
                    "service, gevent, no access log": [4200, 3800, 4000],
                }
            )
        ]
    )
    assert _target(rows, "service, gevent, /io x500 vs recipe") == (
        "35.8x (bare Flask on gevent: 46.0x; without the access log: 42.1x)"
    )


def test_out_folder_is_made_before_any_load(tmp_path, monkeypatch):
    out = tmp_path / "runs" / "first"
    monkeypatch.setattr(sys, "argv", ["run.py", "--out", str(out)])
    assert _options().out == out
    assert out.is_dir()


def test_out_folder_that_cannot_be_made_stops_at_once(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(sys, "argv", ["run.py", "--out", str(blocker / "results")])
    with pytest.raises(SystemExit) as stopped:
        _options()
    assert stopped.value.code == 2
    assert f"--out {blocker / 'results'}" in capsys.readouterr().err


def test_the_recipe_ratio_is_stated_with_metrics_off_and_on():
    rows = _medians(
        _rounds(
            {
                "recipe: bare Flask, sync": [3000, 2000, 3000],
                "service, gthread": [2850, 1700, 2700],  # 0.95, 0.85, 0.90
                "service, gthread, metrics on": [2700, 1900, 2400],  # 0.90, 0.95, 0.80
            }
        )
    )
    found = {t.what: t for t in targets(rows, "skipped", CONTEXT)}
    off = found["service, gthread, /health x50 vs recipe, metrics off"]
    on = found["service, gthread, /health x50 vs recipe, metrics on (the image's default)"]
    assert (off.goal, off.measured, off.met) == (">= 0.9x", "0.90x", True)
    assert (on.measured, on.met) == ("0.90x", True)


def _cost(per_variant: dict[str, list[float]], posts: int = 0) -> CostFigures:
    rows = [
        CostRow("gthread", variant, cpu, [3000.0] * len(cpu))
        for variant, cpu in per_variant.items()
    ]
    return CostFigures(rows, Sink(posts=posts, bytes=posts * 1000), 2, 3, 5)


# A machine that slows down in round 2 for every server alike. The baseline of a round
# is the mean of off and off again: 399, 502.5, 409.5.
DRIFTING = {
    OFF: [400, 500, 410],
    METRICS: [410, 514.5, 429.5],  # +11, +12, +20
    TRACING: [439, 542.5, 479.5],  # +40, +40, +70
    BOTH: [454, 562.5, 469.5],  # +55, +60, +60
    OFF_AGAIN: [398, 505, 409],  # against off: -2, +5, -1
}


def test_a_cost_is_the_median_of_round_by_round_differences():
    cost = _cost(DRIFTING)
    assert cost_deltas(cost, "gthread", METRICS) == (12, 11, 20)
    assert cost_deltas(cost, "gthread", OFF_AGAIN) == (-1, -2, 5)
    markdown = cost_markdown(cost)
    # Off's own figure, then each cost with its spread.
    assert "| gthread | 410 | +12 (+11 to +20) | +40 (+40 to +70) | +60 (+55 to +60) |" in markdown
    assert "-1 (-2 to +5) |" in markdown


def test_a_cost_is_taken_against_both_off_servers():
    # Off, started first, runs 40 µs dearer than off again all run long. Against off
    # alone every cost would come out 20 µs lower than against the two off servers.
    cost = _cost(
        {
            OFF: [440, 440, 440],
            METRICS: [400, 400, 400],
            TRACING: [450, 450, 450],
            BOTH: [460, 460, 460],
            OFF_AGAIN: [400, 400, 400],
        }
    )
    assert cost_deltas(cost, "gthread", METRICS) == (-20, -20, -20)
    assert cost_deltas(cost, "gthread", TRACING) == (30, 30, 30)
    assert cost_deltas(cost, "gthread", OFF_AGAIN) == (-40, -40, -40)


def test_tracing_is_not_judged_when_no_span_reached_the_sink():
    cost = _cost(DRIFTING, posts=0)
    found = {t.what: t for t in cost_targets(cost)}
    assert found["gthread, metrics, per request"].met is True
    tracing = found["gthread, tracing, per request"]
    assert tracing.met is None
    assert "tracing not active in this build" in tracing.measured
    assert "received nothing: tracing not active in this build" in cost_markdown(cost)


def test_tracing_is_judged_against_its_target_once_spans_arrive():
    cost = _cost({**DRIFTING, TRACING: [469, 572.5, 479.5]}, posts=12)  # +70, +70, +70
    found = {t.what: t for t in cost_targets(cost)}
    assert found["gthread, tracing, per request"].met is False
    assert found["gthread, metrics + tracing, per request"].met is True
    assert "received 12 exports" in cost_markdown(cost)
    off = found["metrics and tracing off"]
    assert off.met is None and "gthread -1 (-2 to +5) µs" in off.measured


def test_the_cost_section_reaches_results_md(tmp_path):
    context = {
        **CONTEXT,
        "date": "2026-12-04 22:00 UTC",
        "label": "test",
        "machine": "2 x test CPU",
        "seconds": 5,
        "rounds": 3,
        "load_before": (0.0, 0.0, 0.0),
        "load_after": (0.0, 0.0, 0.0),
        "duration_s": 1,
        "versions": {"python": "3"},
    }
    rows = _medians([_row("recipe: bare Flask, sync", 3000)])
    markdown = write_markdown(
        tmp_path / "results.md", rows, [], "skipped", context, _cost(DRIFTING)
    )
    assert "What metrics and tracing cost" in (tmp_path / "results.md").read_text()
    assert "| gthread, metrics, per request | <= 15 µs | +12 (+11 to +20) µs | yes |" in markdown
    skipped = write_markdown(tmp_path / "r.md", rows, [], "skipped", context, "--no-cost was given")
    assert "Cost of metrics and tracing skipped: --no-cost was given." in skipped


def test_off_inherits_no_switch_from_the_shell(monkeypatch):
    monkeypatch.setenv("METRICS_TOKEN", "k" * 32)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:1")
    off = variant_spec("gevent", OFF, "http://127.0.0.1:4318")
    assert {"METRICS_TOKEN", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} <= set(off.unset)
    assert off.env["GUNICORN_WORKER_CLASS"] == "gevent"
    assert not [name for name in off.env if name.startswith(("METRICS_", "OTEL_"))]
    both = variant_spec("gevent", BOTH, "http://127.0.0.1:4318")
    assert both.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    assert both.env["OTEL_TRACES_SAMPLER"] == "always_on"
    assert both.env["METRICS_PORT"].isdigit()
    assert "METRICS_PORT" not in both.unset and "METRICS_TOKEN" in both.unset


def test_the_sink_answers_and_counts_what_reaches_it():
    with otlp_sink() as (endpoint, sink):
        connection = http.client.HTTPConnection(endpoint.removeprefix("http://"), timeout=5)
        try:
            for _ in range(2):  # on one kept-alive connection, as an exporter sends
                connection.request("POST", "/v1/traces", body=b"\x0a\x00")
                answer = connection.getresponse()
                assert (answer.status, answer.read()) == (200, b"")
        finally:
            connection.close()
    assert (sink.posts, sink.bytes, sink.paths) == (2, 4, {"/v1/traces"})


def test_a_bench_server_leaves_nothing_in_the_temporary_folder(tmp_path, monkeypatch):
    # Bench servers are killed with SIGKILL, which leaves what their master made in its
    # temporary folder (the metrics' folder): each gets one of its own, removed after.
    import tempfile

    from servers import ServerSpec, free_port, running

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    spec = ServerSpec(
        "leaves nothing",
        ["-m", "{{ cookiecutter.package_name }}", "bench.apps:service"],
        {"METRICS_PORT": str(free_port()), "WEB_CONCURRENCY": "1"},
    )
    with running(spec, tmp_path) as server:
        (made,) = temporary.iterdir()  # the server's own, holding the metrics' folder
        assert any(made.glob("{{ cookiecutter.package_name }}-metrics-*")), list(made.iterdir())
        assert server.process.poll() is None
    assert list(temporary.iterdir()) == []
