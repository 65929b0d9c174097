"""What the deploy platforms do to the service, with a real gunicorn on this machine.

Railway checks /health with its own Host header on the injected PORT, and its private
network is IPv6-only; Heroku's buildpack stack starts the Procfile's web command.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from environment import app_environment
from harness.budgets import app_times
from harness.http import free_port, wait_for_health

from {{ cookiecutter.package_name }}.serving import settings

PROJECT = Path(__file__).resolve().parents[2]


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_health_answers_railways_healthcheck_host(start_gunicorn):
    server = start_gunicorn({"FORWARDED_ALLOW_IPS": "*"})
    wait_for_health(server.url)
    response = requests.get(
        f"{server.url}/health", headers={"Host": "healthcheck.railway.app"}, timeout=5
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


def test_default_host_serves_ipv4_and_ipv6(start_gunicorn):
    # HOST empty counts as unset: the default host, as on every platform.
    server = start_gunicorn({"HOST": ""})
    wait_for_health(server.url)
    if not has_ipv6():
        pytest.skip("this machine has no IPv6; the fallback is tested below")
    response = requests.get(f"http://[::1]:{server.port}/health", timeout=5)
    assert response.status_code == 200


def test_default_host_falls_back_to_ipv4_without_ipv6(monkeypatch):
    class NoIPv6(socket.socket):
        def bind(self, address):
            if self.family == socket.AF_INET6:
                raise OSError(97, "Address family not supported by protocol")
            return super().bind(address)

    monkeypatch.setattr(socket, "socket", NoIPv6)
    assert settings.default_host() == "0.0.0.0"
    assert settings.load_settings({"PORT": "8080"}).bind == ("0.0.0.0:8080",)


@pytest.mark.skipif(not (PROJECT / "Procfile").exists(), reason="no Heroku files generated")
@pytest.mark.skipif(shutil.which("bash") is None, reason="Heroku runs Procfile commands with bash")
def test_procfile_web_command_binds_port(tmp_path):
    (web,) = [
        line.split(":", 1)[1].strip()
        for line in (PROJECT / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    ]
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        **app_environment(tmp_path / "data"),
        # `python` in the Procfile is this interpreter, as on the dyno.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
    }
    output = tmp_path / "procfile.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [shutil.which("bash"), "-c", web],
            cwd=PROJECT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # Your app, as the dyno runs it: as long as its measured boot allows.
        wait_for_health(f"http://127.0.0.1:{port}", timeout=app_times().deadline())
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        print(f"--- {web} ---\n{output.read_text(errors='replace')}")
