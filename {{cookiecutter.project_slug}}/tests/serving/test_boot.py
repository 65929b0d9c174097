"""Boots that cannot serve: an app that fails to load, a configuration with nothing to serve.

Either must stop the master promptly with a clear line and a non-zero exit code, never
leave it running with nothing answering, never loop forking workers that fail the
same way, and never print a raw traceback. And the boot log must say where the
service listens and where its worker count came from.
"""

import json
import os
import sys
import time
from pathlib import Path, PurePosixPath

import pytest
import requests
from harness.http import free_port
from harness.servers import PROJECT

# The image of the container tests (the import skips this module, as it does those,
# where the docker SDK is missing).
from test_container import docker_client, image  # noqa: F401

# gunicorn's Arbiter.APP_LOAD_ERROR, and the exit code of a refused configuration.
APP_LOAD_ERROR = 4
BAD_CONFIGURATION = 2
WORKERS = 2
BROKEN_APPS = {
    "import_fails": "import a_module_that_is_not_installed  # noqa\n",
    "factory_raises": (
        "def create_app():\n"
        "    raise RuntimeError('DATABASE_URL is not set')\n\n\n"
        "app = create_app()\n"
    ),
    "exits": "raise SystemExit(1)\n",
}


def app_path(tmp_path: Path, name: str) -> dict[str, str]:
    """PYTHONPATH for a gunicorn that should import module `name` from tmp_path."""
    (tmp_path / f"{name}.py").write_text(BROKEN_APPS[name])
    paths = [PROJECT / "src", PROJECT / "tests", PROJECT / "tests" / "serving", tmp_path]
    return {"PYTHONPATH": os.pathsep.join(str(path) for path in paths)}


def boot_config(server) -> dict:
    server.wait_for_line('"gunicorn configuration"')
    (line,) = [line for line in server.json_lines() if line["message"] == "gunicorn configuration"]
    return line["config"]


@pytest.mark.parametrize("name", sorted(BROKEN_APPS))
@pytest.mark.parametrize("preload", ["no", "yes"])
def test_an_app_that_cannot_load_stops_the_master_with_one_json_line_per_worker(
    start_gunicorn, tmp_path, name, preload
):
    started = time.monotonic()
    server = start_gunicorn(
        {
            **app_path(tmp_path, name),
            "WEB_CONCURRENCY": str(WORKERS),
            "GUNICORN_PRELOAD": preload,
            # Preloading is refused with gevent, which may be this project's default.
            "GUNICORN_WORKER_CLASS": "gthread",
        },
        app=f"{name}:app",
    )
    exit_code = server.process.wait(timeout=30)
    took = time.monotonic() - started
    lines = server.json_lines()  # every line parses as JSON: no raw traceback
    failures = [line for line in lines if "app" in line]  # start.py's line, by its field
    booted = sum("Booting worker" in line["message"] for line in lines)
    print(f"\n{name} (preload {preload}): exit {exit_code} after {took:.2f}s, {booted} workers")
    assert exit_code == APP_LOAD_ERROR
    if preload == "yes":  # the master loads it, once, before forking any worker
        assert booted == 0 and len(failures) == 1
    else:  # each worker that got that far, once, and none forked again after
        assert 1 <= len(failures) <= booted <= WORKERS
    for failure in failures:
        assert failure["severity"] == "ERROR"
        assert failure["app"] == f"{name}:app"
        assert f"{name}:app" in failure["message"] and failure["error"] in failure["message"]
        assert failure["exception"].startswith("Traceback")
    assert took < 10, f"took {took:.1f}s"


@pytest.mark.docker
def test_an_app_that_cannot_load_stops_the_container(docker_client, image):  # noqa: F811
    from environment import app_environment

    container = docker_client.containers.run(
        image.id,
        ["python", "-m", "{{ cookiecutter.package_name }}", "a_module_that_is_not_installed:app"],
        detach=True,
        environment=app_environment(PurePosixPath("/data")),
    )
    try:
        exit_code = container.wait(timeout=30)["StatusCode"]
        output = container.logs(stdout=True, stderr=True).decode().splitlines()
    finally:
        container.remove(force=True)
    assert exit_code == APP_LOAD_ERROR, output
    lines = [json.loads(line) for line in output]
    assert any(
        "No module named 'a_module_that_is_not_installed'" in line["message"] for line in lines
    )


@pytest.mark.parametrize(
    ("worker_class", "flags", "named"),
    [
        ("gthread", "--workers 0", ["workers=0", "GUNICORN_CMD_ARGS"]),
        ("gthread", "--certfile {cert} --keyfile {cert}", ["certfile", "gthread"]),
        ("sync", "--certfile {missing}", ["certfile", "missing.pem", "is not a file"]),
    ],
    ids=["no-workers", "tls-on-gthread", "missing-certificate"],
)
def test_a_configuration_that_cannot_serve_stops_with_one_line(
    start_gunicorn, tmp_path, worker_class, flags, named
):
    cert = tmp_path / "cert.pem"
    cert.write_text("not read: refused before\n")
    flags = flags.format(cert=cert, missing=tmp_path / "missing.pem")
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": worker_class, "GUNICORN_CMD_ARGS": flags})
    assert server.process.wait(timeout=20) == BAD_CONFIGURATION
    (line,) = server.lines()
    for text in named:
        assert text in line
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/health", timeout=1)


def test_no_address_is_refused(monkeypatch):
    from gunicorn.config import Config

    from {{ cookiecutter.package_name }}.serving.refusals import unservable

    monkeypatch.setattr(sys, "argv", ["gunicorn"])
    cfg = Config()
    cfg.set("bind", [])
    assert "bind is empty" in unservable(cfg, cfg.worker_class)
    cfg.set("bind", [f"127.0.0.1:{free_port()}"])
    cfg.set("workers", 1)
    assert unservable(cfg, cfg.worker_class) is None


@pytest.mark.parametrize("worker_class", ["gthread", "sync"])
def test_a_port_another_server_listens_on_is_refused(start_gunicorn, worker_class):
    # gthread binds one SO_REUSEPORT socket per worker: a second server would bind
    # beside the first and take half its connections, without a word.
    first = start_gunicorn({"GUNICORN_WORKER_CLASS": worker_class, "WEB_CONCURRENCY": "1"})
    first.wait_for_workers()
    second = start_gunicorn(
        {"GUNICORN_WORKER_CLASS": worker_class, "WEB_CONCURRENCY": "1", "PORT": str(first.port)}
    )
    assert second.process.wait(timeout=20) == BAD_CONFIGURATION
    (line,) = second.lines()
    assert f"127.0.0.1:{first.port}" in line and "already in use" in line
    assert requests.get(f"{first.url}/health", timeout=5).status_code == 200


@pytest.mark.parametrize(("worker_class", "one_per_worker"), [("gthread", True), ("sync", False)])
def test_the_boot_log_names_the_addresses_served(start_gunicorn, worker_class, one_per_worker):
    server = start_gunicorn({"GUNICORN_WORKER_CLASS": worker_class})
    config = boot_config(server)
    address = f"http://127.0.0.1:{server.port}"
    assert config["listening"] == [address]
    assert config["listeners"] == ("one per worker" if one_per_worker else "shared")
    # One line, with the address: with a socket per worker, gunicorn's own has none.
    listening = [
        line["message"]
        for line in server.json_lines()
        if line["message"].startswith("Listening at:")
    ]
    assert len(listening) == 1, listening
    assert listening[0].startswith(f"Listening at: {address} ("), listening


def test_text_logs_show_the_boot_configuration(start_gunicorn):
    server = start_gunicorn({"LOG_FORMAT": "text"})
    server.wait_for_line("gunicorn configuration")
    (line,) = [line for line in server.lines() if "gunicorn configuration" in line]
    # The fields JSON lines carry follow the message, as one JSON object.
    fields = json.loads(line.split("gunicorn configuration ", 1)[1])
    assert fields["config"]["listening"] == [f"http://127.0.0.1:{server.port}"]


@pytest.mark.parametrize(
    ("cmd_args", "source"),
    [("", "environment (WEB_CONCURRENCY)"), (f"--workers {WORKERS}", "GUNICORN_CMD_ARGS")],
)
def test_the_boot_line_names_where_the_worker_count_came_from(start_gunicorn, cmd_args, source):
    # The same count both ways: the source is where gunicorn took it from, not a guess.
    server = start_gunicorn({"WEB_CONCURRENCY": str(WORKERS), "GUNICORN_CMD_ARGS": cmd_args})
    config = boot_config(server)
    assert config["workers"] == WORKERS
    assert config["workers_source"] == source


def test_a_flag_on_the_command_line_is_named_as_such(monkeypatch):
    from gunicorn.config import Config

    from {{ cookiecutter.package_name }}.serving.refusals import source

    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--threads 8")
    monkeypatch.setattr(sys, "argv", ["gunicorn", "--workers", "3", "app:app"])
    cfg = Config()
    assert source(cfg, "workers") == "command line"
    assert source(cfg, "threads") == "GUNICORN_CMD_ARGS"
    assert source(cfg, "keepalive") == "gunicorn_config.py"
