"""The project's gunicorn.conf.py: `gunicorn` typed in the project's folder runs the
service's validated, environment-driven configuration, never gunicorn's defaults."""

import json
import sys
from pathlib import Path

import pytest
from harness.budgets import app_times
from harness.http import wait_for_health
from harness.servers import PROJECT

# The gunicorn beside this interpreter, as a developer types it in the project's venv.
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
BAD_CONFIGURATION = 2

pytestmark = pytest.mark.skipif(not Path(GUNICORN).exists(), reason=f"no {GUNICORN}")


def test_plain_gunicorn_serves_with_the_environment_driven_configuration(start_gunicorn):
    # No flag and no app: gunicorn finds ./gunicorn.conf.py, which names the app.
    server = start_gunicorn({"WEB_CONCURRENCY": "2"}, command=[GUNICORN])
    server.wait_for_line('"gunicorn configuration"')
    (boot,) = [line for line in server.json_lines() if line["message"] == "gunicorn configuration"]
    # HOST and PORT from the environment, not gunicorn's 127.0.0.1:8000.
    assert boot["config"]["listening"] == [server.url]
    assert boot["config"]["workers_source"] == "environment (WEB_CONCURRENCY)"
    # gunicorn.conf.py names your app: as long as its measured boot allows.
    response = wait_for_health(server.url, timeout=app_times().deadline(2))
    assert response.headers["X-Request-ID"]  # the serving machinery's, around the app


@pytest.mark.parametrize(
    ("env", "named"),
    [
        # (Not WEB_CONCURRENCY=zero: gunicorn's own import runs int() on it and fails
        # with a traceback before it reads any config file. gunicorn.conf.py says so.
        # Nor a value of your config.py: it stops the same boot_settings() with its one
        # line, which test_settings.py tests with a load_config that refuses.)
        ({"PORT": "eighty"}, "PORT='eighty' is not allowed"),
        ({"GUNICORN_CMD_ARGS": "--workers 0"}, "set by GUNICORN_CMD_ARGS"),
    ],
    ids=["server-setting", "refusal"],
)
def test_a_bad_value_stops_plain_gunicorn_with_the_start_commands_one_line(
    start_gunicorn, env, named
):
    through_config = start_gunicorn(env, command=[GUNICORN, "--config", "gunicorn.conf.py"])
    start_command = start_gunicorn(env)
    assert through_config.process.wait(timeout=20) == BAD_CONFIGURATION
    assert start_command.process.wait(timeout=20) == BAD_CONFIGURATION
    (line,) = through_config.lines()
    assert line.startswith("configuration error: ") and named in line
    assert through_config.lines() == start_command.lines()


def test_the_image_leaves_it_out():
    # The image starts with `python -m`, which reads the configuration from the
    # installed package: the file would be a second, unused way in.
    ignored = (PROJECT / ".dockerignore").read_text().splitlines()
    assert "gunicorn.conf.py" in ignored
    dockerfile = (PROJECT / "Dockerfile").read_text()
    assert "gunicorn.conf.py" not in dockerfile
    (cmd,) = [line for line in dockerfile.splitlines() if line.startswith("CMD ")]
    assert json.loads(cmd.removeprefix("CMD ")) == ["python", "-m", "{{ cookiecutter.package_name }}"]
