"""Run wrk, the load generator, and read its report."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

INSTALL_HINT = (
    "wrk is not installed. Install it with `sudo apt-get install wrk` (Debian, Ubuntu) "
    "or `brew install wrk` (macOS), then run `make bench` again."
)
# Requests slower than this count as timeouts (wrk's own default is also 2 s).
REQUEST_TIMEOUT_SECONDS = 2
_PERCENTILE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class LoadResult:
    requests_per_second: float
    requests: int
    p50_ms: float
    p99_ms: float
    errors: int  # connect, read, write errors and timeouts
    non_2xx: int  # answers outside 2xx and 3xx


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(INSTALL_HINT)
    return path


def wrk_version() -> str:
    # `wrk -v` prints its version and usage, and exits with status 1.
    output = subprocess.run([wrk_path(), "-v"], capture_output=True, text=True).stdout
    return output.splitlines()[0].split(" [")[0] if output else "wrk"


def run_wrk(url: str, connections: int, seconds: int, threads: int) -> LoadResult:
    """Hold `connections` keep-alive connections on `url` for `seconds`."""
    command = [
        wrk_path(),
        f"--threads={min(threads, connections)}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        f"--timeout={REQUEST_TIMEOUT_SECONDS}s",
        "--latency",
        url,
    ]
    # wrk stops itself after --duration; the margin covers start-up on a busy machine.
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


def parse_wrk(report: str) -> LoadResult:
    latency: dict[str, float] = {}
    for percent, value, unit in _PERCENTILE.findall(report):
        latency[percent] = float(value) * _UNITS_MS[unit]
    socket_errors = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    requests = re.search(r"^\s+(\d+) requests in", report, re.M)
    per_second = re.search(r"^Requests/sec:\s+([\d.]+)", report, re.M)
    if not (requests and per_second):
        raise RuntimeError(f"unexpected wrk output:\n{report}")
    return LoadResult(
        requests_per_second=float(per_second.group(1)),
        requests=int(requests.group(1)),
        p50_ms=latency.get("50", float("nan")),
        p99_ms=latency.get("99", float("nan")),
        errors=sum(int(count) for count in socket_errors.groups()) if socket_errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )
