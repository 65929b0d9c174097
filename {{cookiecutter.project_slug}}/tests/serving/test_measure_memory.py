"""serving/measure_memory.py, run as its docs say, on probe apps: it loads the app as a
worker does. The figure itself is proved in a container (test_worker_memory.py)."""

import json
import os
import subprocess
import sys

import pytest
from harness.servers import PROJECT

COMMAND = [sys.executable, "-m", "{{ cookiecutter.package_name }}.serving.measure_memory"]
START = [sys.executable, "-m", "{{ cookiecutter.package_name }}"]
OPS_APP = "harness.ops_app:app"
# One request is enough to load and run the app; the figure is not checked here.
QUICK = ["--requests", "1", "--path", "/health"]
EXPLAINING = "{{ cookiecutter.package_name }}.serving.disabled_loggers"


def run(command: list[str], **env: str) -> subprocess.CompletedProcess:
    """`command` with this test process's environment (the test one) and `env`."""
    paths = [PROJECT / "src", PROJECT / "tests", PROJECT / "tests" / "serving"]
    return subprocess.run(
        command,
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths)), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_services_loggers_disabled_by_the_app_are_enabled_again():
    app = "harness.logging_config_app:app"
    result = run([*COMMAND, app, *QUICK])
    assert result.returncode == 0, result.stderr
    assert "WORKER_MEMORY_MB=" in result.stdout
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    (line,) = [line for line in lines if line["logger"] == EXPLAINING]
    assert line["severity"] == "WARNING" and line["app"] == app
    assert "{{ cookiecutter.package_name }}.serving.slow_requests" in line["disabled_loggers"]


@pytest.mark.parametrize(
    ("name", "value"), [("WEB_CONCURRENCY", "abc"), ("SLOW_REQUEST_SECONDS", "-1")]
)
def test_a_bad_value_is_the_start_commands_one_line(name, value):
    result = run([*COMMAND, OPS_APP, *QUICK], **{name: value})
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"configuration error: {name}={value!r} is not allowed"), line
    assert result.stdout == "", "stopped before the app loads"
    # The start command's own line, word for word: one settings reader, one message.
    start = run([*START, OPS_APP], **{name: value})
    assert (start.returncode, start.stderr) == (2, result.stderr)
