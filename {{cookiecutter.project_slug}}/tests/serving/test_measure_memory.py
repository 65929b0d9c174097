"""serving/measure_memory.py, run as its docs say, on probe apps: it loads the app as a
worker does. The figure itself is proved in a container (test_worker_memory.py)."""

import json
import os
import subprocess
import sys

from harness.servers import PROJECT

COMMAND = [sys.executable, "-m", "{{ cookiecutter.package_name }}.serving.measure_memory"]
# One request is enough to load and run the app; the figure is not checked here.
QUICK = ["--requests", "1", "--path", "/health"]
EXPLAINING = "{{ cookiecutter.package_name }}.serving.disabled_loggers"


def measure(*args: str, **env: str) -> subprocess.CompletedProcess:
    paths = [PROJECT / "src", PROJECT / "tests", PROJECT / "tests" / "serving"]
    return subprocess.run(
        [*COMMAND, *args],
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths)), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_services_loggers_disabled_by_the_app_are_enabled_again():
    app = "harness.logging_config_app:app"
    result = measure(app, *QUICK)
    assert result.returncode == 0, result.stderr
    assert "WORKER_MEMORY_MB=" in result.stdout
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    (line,) = [line for line in lines if line["logger"] == EXPLAINING]
    assert line["severity"] == "WARNING" and line["app"] == app
    assert "{{ cookiecutter.package_name }}.serving.slow_requests" in line["disabled_loggers"]
