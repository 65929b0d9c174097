"""The scheduled command, `tick`: once per due entry, harmless when repeated, a failure
is exit code 1. Through Flask's CLI runner, and once as the platforms run it."""

import json
import os
import subprocess
import sys
from pathlib import Path

from environment import app_environment

from {{ cookiecutter.package_name }} import scheduled

PROJECT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "{{ cookiecutter.package_name }}", "manage", "tick"]


def tick(app, at, caplog):
    caplog.clear()
    result = app.test_cli_runner().invoke(args=["tick", "--at", at])
    outcomes = [r.outcome for r in caplog.records if hasattr(r, "outcome")]
    return result, outcomes


def test_a_due_entry_runs_once_and_a_repeat_does_nothing(app, caplog, monkeypatch):
    done = []
    monkeypatch.setitem(scheduled.ACTIONS, "clock_in", done.append)
    result, outcomes = tick(app, "2026-12-04T09:05+00:00", caplog)
    assert result.exit_code == 0, result.output
    assert outcomes == ["done"] and done == ["2026-12-04T09:00Z clock_in"]
    # A platform's retry, or a second run before the next entry: nothing again.
    result, outcomes = tick(app, "2026-12-04T09:06+00:00", caplog)
    assert result.exit_code == 0 and outcomes == ["already done"] and len(done) == 1


def test_the_latest_entry_of_the_day_is_the_one_due(app, caplog, monkeypatch):
    done = []
    monkeypatch.setattr(scheduled, "ACTIONS", {"clock_in": done.append, "clock_out": done.append})
    assert tick(app, "2026-12-04T08:59+00:00", caplog)[1] == ["nothing due"]
    # Missed 09:00 entirely: 18:00 does the evening's entry only.
    assert tick(app, "2026-12-04T18:00+00:00", caplog)[1] == ["done"]
    assert done == ["2026-12-04T17:30Z clock_out"]
    # Another zone's time is the same moment.
    assert tick(app, "2026-12-05T10:01+01:00", caplog)[1] == ["done"]
    assert done[-1] == "2026-12-05T09:00Z clock_in"


def test_a_disabled_automation_does_nothing(app, caplog, monkeypatch):
    done = []
    monkeypatch.setitem(scheduled.ACTIONS, "clock_in", done.append)
    (Path(app.instance_path) / "automation.json").write_text('{"enabled": false}')
    result, outcomes = tick(app, "2026-12-04T09:05+00:00", caplog)
    assert result.exit_code == 0 and outcomes == ["disabled"] and done == []


def test_a_failed_action_exits_1_and_the_next_run_does_it(app, caplog, monkeypatch):
    def unreachable(slot):
        raise ConnectionError("the clock API did not answer")

    monkeypatch.setitem(scheduled.ACTIONS, "clock_in", unreachable)
    result, outcomes = tick(app, "2026-12-04T09:05+00:00", caplog)
    assert result.exit_code == 1 and outcomes == ["failed"]
    done = []
    monkeypatch.setitem(scheduled.ACTIONS, "clock_in", done.append)
    result, outcomes = tick(app, "2026-12-04T09:10+00:00", caplog)
    assert result.exit_code == 0 and outcomes == ["done"] and len(done) == 1


def run_tick(tmp_path, **env):
    """`python -m {{ cookiecutter.package_name }} manage tick`, as each platform's scheduler runs it."""
    return subprocess.run(
        [*COMMAND, "--at", "2026-12-04T09:05+00:00"],
        cwd=PROJECT,
        env={
            **os.environ,
            "PYTHONPATH": str(PROJECT / "src"),
            **app_environment(tmp_path / "data"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_start_command_runs_it_with_json_logs_and_its_exit_code(tmp_path):
    result = run_tick(tmp_path)
    assert result.returncode == 0, result.stderr
    # Every line JSON (the service's log format), one of them the outcome.
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    (line,) = [line for line in lines if "outcome" in line]
    assert line["outcome"] == "done" and line["slot"] == "2026-12-04T09:00Z clock_in"
    again = run_tick(tmp_path)
    assert again.returncode == 0
    assert json.loads(again.stdout.splitlines()[-1])["outcome"] == "already done"


def test_a_bad_setting_stops_it_before_it_runs(tmp_path):
    result = run_tick(tmp_path, LOG_LEVEL="loud")
    assert result.returncode == 2
    assert "LOG_LEVEL" in result.stderr and "outcome" not in result.stdout
    assert not (tmp_path / "data" / "scheduled").exists()
