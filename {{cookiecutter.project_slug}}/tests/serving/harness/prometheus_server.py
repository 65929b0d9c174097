"""A real Prometheus server for the metrics tests: Debian's `prometheus`, started per test.

It runs the project's own scrape config, deploy/prometheus/prometheus.yml (compose's
`prometheus` service reads it), with its one target, web:PORT, replaced by the
test's and its interval by one second, so the test proves that file scrapes a real
gunicorn. It listens on 127.0.0.1 at a free port, keeps its data in the test's
folder, and is stopped (and waited for) by the context manager even when the test
fails. Without the binary the test skips with
one reason, or fails under REQUIRE_PROMETHEUS=1 (CI, which installs the package).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from harness.http import free_port, wait_for

# Once a second: the test waits for a scrape, never for a fixed time.
SCRAPE_INTERVAL = "1s"
PROJECT_CONFIG = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "prometheus.yml"


def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        reason = "no prometheus on PATH (apt-get install prometheus)"
        if os.environ.get("REQUIRE_PROMETHEUS") == "1":
            pytest.fail(f"REQUIRE_PROMETHEUS=1 but {reason}")
        pytest.skip(reason)
    return binary


@contextlib.contextmanager
def prometheus(folder: Path, targets: list[str]):
    """A running Prometheus scraping `targets` (HOST:PORT, path /metrics); its API URL."""
    binary = prometheus_binary()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    text = PROJECT_CONFIG.read_text()
    # JSON strings are YAML's double-quoted ones.
    text, found = re.subn(r'"web:\d+"', ", ".join(map(json.dumps, targets)), text)
    text, intervals = re.subn(
        r"^(\s*scrape_interval:).*$", rf"\g<1> {SCRAPE_INTERVAL}", text, flags=re.M
    )
    assert found == 1 and intervals >= 1, (
        f'{PROJECT_CONFIG} no longer has one target "web:PORT" and a scrape_interval: '
        "rewrite this harness with it"
    )
    config.write_text(text)
    port = free_port()
    log = folder / "prometheus.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{url}/-/ready", timeout=1).ok, 30, "prometheus ready")
        yield url
    except BaseException:
        print(f"--- prometheus log ---\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def query(url: str, expression: str) -> float | None:
    """The value of an instant query with one result, or None while there is none."""
    response = requests.get(f"{url}/api/v1/query", params={"query": expression}, timeout=5)
    response.raise_for_status()
    result = response.json()["data"]["result"]
    return float(result[0]["value"][1]) if len(result) == 1 else None
