"""`python -m {{ cookiecutter.package_name }}.serving.healthcheck`: exit 0 if /health answers 200.

The Docker HEALTHCHECK runs this (slim images have no curl). It reads the bind
address from the same settings as gunicorn_config.py, so it follows PORT, HOST and
BIND. Standard library only, to stay fast: it runs every few seconds.
{%- if cookiecutter.background_jobs == "rq" %}

A health check belongs to the process it checks. In a container running the worker
(`python -m {{ cookiecutter.package_name }} worker`, which PID 1 shows), or with the argument `worker`
(Kubernetes' exec probe), it checks the worker instead: healthy while the file its
heartbeats touch is fresh, that is while it reaches Redis and takes jobs. The web
process's health and readiness never look at the worker or at Redis.
{%- endif %}
"""

from __future__ import annotations

import os
import sys
import urllib.request

from .settings import SettingsError, load_settings

# Wildcard addresses are not connectable: probe IPv4 loopback, which a dual-stack
# [::] socket also accepts. (::1 may not exist: Docker networks often have IPv6 off.)
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "[::]": "127.0.0.1", "": "127.0.0.1"}


def health_url(bind: tuple[str, ...]) -> str | None:
    for address in bind:
        if address.startswith(("unix:", "fd://")):
            continue
        host, _, port = address.rpartition(":")
        return f"http://{_LOOPBACK.get(host, host)}:{port}/health"
    return None


def main() -> int:
{%- if cookiecutter.background_jobs == "rq" %}
    if sys.argv[1:] == ["worker"] or _container_runs_worker():
        return worker_health()
{%- endif %}
    try:
        url = health_url(load_settings(os.environ).bind)
    except SettingsError as error:
        print(f"healthcheck: configuration error: {error}", file=sys.stderr)
        return 1
    if url is None:
        print("healthcheck: no TCP address in BIND", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (own URL)
            return 0 if response.status == 200 else 1
    except OSError as error:
        print(f"healthcheck: {url}: {error}", file=sys.stderr)
        return 1

{%- if cookiecutter.background_jobs == "rq" %}


def _container_runs_worker() -> bool:
    """True when PID 1 (dumb-init, in the image) runs `python -m {{ cookiecutter.package_name }} worker`."""
    from pathlib import Path

    try:
        args = Path("/proc/1/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    for index, arg in enumerate(args[:-2]):
        if arg == "-m" and args[index + 1] == "{{ cookiecutter.package_name }}":
            return args[index + 2] == "worker"
    return False


def worker_health() -> int:
    # Not job_worker's imports (RQ, redis): this runs every few seconds.
    import tempfile
    import time
    from pathlib import Path

    path = Path(tempfile.gettempdir()) / "{{ cookiecutter.package_name }}-worker.alive"
    # job_worker.HEALTHY_WITHIN (a test keeps them equal).
    healthy_within = 45
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        print(f"healthcheck: worker: no heartbeat yet ({path})", file=sys.stderr)
        return 1
    if age > healthy_within:
        print(f"healthcheck: worker: last heartbeat {age:.0f} s ago", file=sys.stderr)
        return 1
    return 0
{%- endif %}


if __name__ == "__main__":
    sys.exit(main())
