"""`python -m {{ cookiecutter.package_name }}.serving.healthcheck`: exit 0 if /health answers 200.

The Docker HEALTHCHECK runs this (slim images have no curl). It reads the bind
address from the same settings as gunicorn_config.py, so it follows PORT, HOST and
BIND. Standard library only, to stay fast: it runs every few seconds.
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


if __name__ == "__main__":
    sys.exit(main())
