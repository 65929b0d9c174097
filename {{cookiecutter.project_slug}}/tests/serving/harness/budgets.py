"""Time budgets for the tests that run your app, from what this machine measured.

The serving tests run their own probe app, except where the point is your app: the
image's default command, compose, the Flask CLI. Those wait for your app within a
bound derived from how long it took here to build (import and create_app) and to
answer its first request, not a constant tuned to the starter: a factory that takes
seconds, or a slower machine, moves the bound with it. Each is still a deadline:
a test polls for the state it wants and goes on as soon as it comes.
"""

import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from environment import app_environment

PROJECT = Path(__file__).resolve().parents[3]
# What a start costs before your app's part (an interpreter, gunicorn, a container's
# namespaces), with room for a CI machine that other jobs share.
BASE_SECONDS = 15.0
# How many times its measured time your app gets: workers boot side by side on
# fewer CPUs than workers, and a loaded machine stalls now and then.
FACTOR = 5.0
# A bound for the measurement alone: only an app that never finishes building meets it.
MEASURE_TIMEOUT = 600
MEASURE = """
import json, time
started = time.monotonic()
from {{ cookiecutter.package_name }} import create_app
app = create_app()
built = time.monotonic()
app.test_client().get("/health")
print(json.dumps({"boot": built - started, "request": time.monotonic() - built}))
"""


@dataclass(frozen=True)
class AppTimes:
    boot: float  # seconds to import the package and run create_app
    request: float  # seconds for its first request (lazy set-up included)

    def deadline(self, workers: int = 1) -> float:
        """Seconds to allow for `workers` workers of your app to boot and answer."""
        return BASE_SECONDS + FACTOR * (self.boot * workers + self.request)

    def request_deadline(self) -> float:
        """Seconds to allow for one request to a booted app, and its access line."""
        return BASE_SECONDS + FACTOR * self.request


@functools.cache
def app_times() -> AppTimes:
    """Your app's times on this machine, measured once per test session."""
    with tempfile.TemporaryDirectory(prefix="measure-") as data_dir:
        result = subprocess.run(
            [sys.executable, "-c", MEASURE],
            cwd=PROJECT,
            env={
                **os.environ,
                **app_environment(Path(data_dir)),
                "PYTHONPATH": str(PROJECT / "src"),
            },
            capture_output=True,
            text=True,
            timeout=MEASURE_TIMEOUT,
        )
    assert result.returncode == 0, f"create_app() failed:\n{result.stdout}{result.stderr}"
    # The last line: create_app's own log lines come before it.
    times = AppTimes(**json.loads(result.stdout.splitlines()[-1]))
    print(f"\nyour app: built in {times.boot:.2f}s, first request {times.request:.3f}s")
    return times


def image_workers() -> int:
    """The workers the image starts on this machine without a quota or WEB_CONCURRENCY
    (every one builds your app at once, so each adds its boot time to the wait)."""
    from {{ cookiecutter.package_name }}.serving.settings import load_settings
    from {{ cookiecutter.package_name }}.serving.worker_sizing import worker_count

    return worker_count(load_settings({})).workers
