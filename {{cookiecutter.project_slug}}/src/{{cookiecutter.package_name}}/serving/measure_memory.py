"""How much memory one worker of your app uses, and the WORKER_MEMORY_MB to set.

    python -m {{ cookiecutter.package_name }}.serving.measure_memory [APP] [--path /PATH ...] [--requests N]

Validates the environment as the start command does (a bad value: one line naming
the variable, exit code 2), loads the app as a worker does (APP: the start command's
module:variable, by default {{ cookiecutter.package_name }}.serving.wsgi:app), sends it N requests
per path through Flask's test client (default: / and /health, 50 each), then prints
this process's memory and the figure to set. Run it where the service runs (`docker
run --env-file service.env IMAGE python -m {{ cookiecutter.package_name }}.serving.measure_memory`, or on
the platform's shell), with its settings: a worker's memory depends on the Python, the
libraries and the data it loads, and the app needs its secrets and URLs to load.

The figure is PSS (worker_memory.py), a third more, rounded up to 8 MiB: room for
the caches and buffers a worker grows under real traffic that a few requests do not
reach. A worker forked by gunicorn shares the interpreter's pages with its master,
so this single process reads a little high: the safe side, for a budget that
decides how many workers fit the memory limit (worker_sizing.py).
"""

from __future__ import annotations

import argparse
import importlib
import math

from .disabled_loggers import enable_service_loggers
from .settings import boot_settings
from .worker_memory import MIB, own_memory

DEFAULT_APP = "{{ cookiecutter.package_name }}.serving.wsgi:app"
# See above: headroom over what a few requests reach, and a round figure.
HEADROOM = 4 / 3
ROUND_TO_MIB = 8


def recommended_mib(used_bytes: int) -> int:
    """The WORKER_MEMORY_MB for a worker measured at `used_bytes`."""
    mib = used_bytes * HEADROOM / MIB
    return max(ROUND_TO_MIB, math.ceil(mib / ROUND_TO_MIB) * ROUND_TO_MIB)


def load(app_uri: str):
    module_name, _, variable = app_uri.partition(":")
    return getattr(importlib.import_module(module_name), variable or "app")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.package_name }}.serving.measure_memory", description=__doc__.split("\n")[0]
    )
    parser.add_argument("app", nargs="?", default=DEFAULT_APP, help="module:variable of the app")
    parser.add_argument("--path", action="append", help="a path to request (repeatable)")
    parser.add_argument("--requests", type=int, default=50, help="requests per path")
    args = parser.parse_args(argv)
    # Read once, as the start command reads it, before the app: init_app then uses
    # these settings, not the environment again.
    boot_settings()
    app = load(args.app)
    # As a worker loads it: the service's loggers back on if the app's logging
    # configuration turned them off (disabled_loggers.py).
    enable_service_loggers(args.app)
    client = app.test_client()
    statuses = {}
    for path in args.path or ["/", "/health"]:
        for _ in range(args.requests):
            statuses[path] = client.get(path).status_code
    reading = own_memory()
    if reading is None:
        print("no /proc/self/smaps_rollup or /proc/self/statm here: run it on Linux (the image)")
        return 1
    used, kind = reading
    answered = ", ".join(f"{path} {status}" for path, status in statuses.items())
    print(f"one worker of {args.app}: {used / MIB:.0f} MiB ({kind}) after {answered}")
    print(f"WORKER_MEMORY_MB={recommended_mib(used)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
