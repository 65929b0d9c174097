"""A real gunicorn master started the way production starts it, for tests."""

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from environment import app_environment

from harness.http import free_port, wait_for, wait_for_health

PROJECT = Path(__file__).resolve().parents[3]
PROBE_APP = "harness.probe_app:app"


def run_python(script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `script` in an interpreter of its own, the project's package importable: for
    what must not happen in the test's process (signals, forks)."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env={**os.environ, "PYTHONPATH": str(PROJECT / "src")},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Gunicorn:
    """One gunicorn master started with gunicorn_config.py; always stopped by the fixture.

    Started as production starts it, `python -m {{ cookiecutter.package_name }} APP`, unless `command` says
    otherwise (plain `gunicorn`, which reads the project's gunicorn.conf.py).
    """

    def __init__(
        self, tmp_path: Path, env: dict[str, str], app: str, command: list[str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = tmp_path / f"gunicorn-{self.port}.log"
        # Its temporary folder: the fixture's SIGKILL leaves what the master made there
        # (the metrics' folder) in the test's tmp_path, not in the machine's /tmp.
        self.temp = tmp_path / f"tmp-{self.port}"
        self.temp.mkdir()
        full_env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WEB_CONCURRENCY": "2",
            "PYTHONPATH": os.pathsep.join(
                [str(PROJECT / "src"), str(PROJECT / "tests"), str(PROJECT / "tests" / "serving")]
            ),
            # Its own data folder and secrets, never the developer's.
            **app_environment(tmp_path / f"data-{self.port}"),
            "TMPDIR": str(self.temp),
            **env,
        }
        # The count wait_for_workers() waits for (a bad value never boots any).
        concurrency = full_env["WEB_CONCURRENCY"]
        self.workers = int(concurrency) if concurrency.isdigit() else 0
        with self.output.open("wb") as sink:
            self.process = subprocess.Popen(
                command or [sys.executable, "-m", "{{ cookiecutter.package_name }}", app],
                cwd=PROJECT,
                env=full_env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                # A group of its own, so stop() reaches the workers too.
                start_new_session=True,
            )

    def lines(self) -> list[str]:
        return self.output.read_text(errors="replace").splitlines()

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.lines()]

    def wait_for_line(self, text: str, timeout: float = 10.0) -> None:
        wait_for(lambda: any(text in line for line in self.lines()), timeout, repr(text))

    def wait_for_workers(self, timeout: float = 20.0) -> set[int]:
        """Wait until every worker is forked and has logged its boot line; their pids.

        Tests that compare worker pids start from here: a worker still forking
        would otherwise look like a replacement.
        """
        from harness.processes import worker_pids

        count = self.workers

        def booted():
            pids = worker_pids(self.process.pid)
            logged = sum("Booting worker" in line for line in self.lines())
            return pids if len(pids) == count and logged >= count else None

        return wait_for(booted, timeout, f"{count} workers booted")

    def stop(self) -> None:
        """Kill the master and its workers: a worker in a long request outlived a master
        killed alone (it notices a lost master only between requests)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@contextlib.contextmanager
def probe_server(tmp_path: Path, env: dict[str, str], request):
    """A probe-app master for a module's tests: answering /health before the block,
    stopped after it, its output printed when a test of the session failed."""
    server = Gunicorn(tmp_path, env, PROBE_APP)
    try:
        wait_for_health(server.url)
        yield server
    finally:
        server.stop()
        if request.node.session.testsfailed:
            print(f"--- gunicorn output ({server.url}) ---\n" + "\n".join(server.lines()))
