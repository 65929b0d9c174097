"""The service's loggers, disabled by the app's logging configuration, enabled again.

harness/logging_config_app.py's factory calls dictConfig() with its defaults, which
disable every logger that exists: the slow-request WARNING, gunicorn's error and access
logs. Wherever the machinery loads the app, they come back, with one WARNING saying
what did it and what to set.
"""

import json
from pathlib import Path

import pytest
import requests
from harness.http import wait_for, wait_for_health
from harness.servers import run_python
from test_slow_requests import logged

APP = "harness.logging_config_app:app"
PACKAGE = "{{ cookiecutter.package_name }}"
EXPLAINING = f"{PACKAGE}.serving.disabled_loggers"
SLOW = f"{PACKAGE}.serving.slow_requests"
SERVING_TESTS = Path(__file__).resolve().parent


def explanations(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == EXPLAINING]


def assert_explains(line: dict, app: str, disabled: set[str]) -> None:
    """`line` is the WARNING for `app`, naming at least the loggers `disabled`."""
    assert line["severity"] == "WARNING"
    assert line["app"] == app
    assert "disable_existing_loggers: False" in line["message"]
    assert disabled <= set(line["disabled_loggers"]), line["disabled_loggers"]
    # The app's own loggers (ops_app.py's "probe.ops") stay as its configuration left them.
    assert all(
        name.startswith((f"{PACKAGE}.serving.", "gunicorn.")) for name in line["disabled_loggers"]
    )


@pytest.mark.parametrize(
    ("env", "loads"),
    # gthread: a gevent project refuses GUNICORN_PRELOAD (settings.py).
    [({}, 2), ({"GUNICORN_PRELOAD": "true", "GUNICORN_WORKER_CLASS": "gthread"}, 1)],
    ids=["each-worker-loads", "preload"],
)
def test_an_app_that_disables_existing_loggers_keeps_the_services_lines(start_gunicorn, env, loads):
    # Two workers: each loads the app and says so once; with GUNICORN_PRELOAD only the
    # master does, and its workers inherit the loggers as it left them.
    server = start_gunicorn({"WEB_CONCURRENCY": "2", "SLOW_REQUEST_SECONDS": "0.3", **env}, app=APP)
    wait_for_health(server.url)
    # Each worker's "Booting worker" line (gunicorn.error) comes before it loads the app:
    # under preload, through the logger as the master's load of the app left it.
    server.wait_for_workers()
    wait_for(lambda: len(explanations(server.json_lines())) >= loads, 20, "the WARNINGs")
    for request_id, path in (("slow-request", "/_ops/wait/500"), ("fast-request", "/_ops/wait/0")):
        response = requests.get(
            f"{server.url}{path}", headers={"X-Request-ID": request_id}, timeout=10
        )
        assert response.status_code == 200

    # Its access line (gunicorn.access) and the slow-request WARNING both out.
    _access, (warning,) = logged(server, "slow-request")
    assert warning["severity"] == "WARNING" and warning["slow_request_seconds"] == 0.3
    lines = server.json_lines()
    # The master's boot line (gunicorn.error), after the app loaded there under preload.
    assert any(line["message"] == "gunicorn configuration" for line in lines)
    found = explanations(lines)
    assert len(found) == loads, found
    for line in found:
        assert_explains(line, APP, {"gunicorn.error", "gunicorn.access", SLOW})


def test_manage_enables_them_too():
    """`manage` (and `make dev`, which runs it) calls the factory itself."""
    script = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import {{ cookiecutter.package_name }}\n"
        "from harness import logging_config_app\n"
        "{{ cookiecutter.package_name }}.create_app = logging_config_app.create_app\n"
        "from {{ cookiecutter.package_name }}.serving.start import manage\n"
        "try:\n"
        "    manage(['routes'])\n"
        "finally:  # click exits\n"
        f"    logging_config_app.logging.getLogger({SLOW!r}).warning('still on')\n"
    )
    result = run_python(script, str(SERVING_TESTS))
    assert result.returncode == 0, result.stderr
    assert "/_ops/wait/<int:ms>" in result.stdout, "the command ran"
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    (line,) = explanations(lines)
    assert_explains(line, "harness.logging_config_app.create_app()", {SLOW})
    # And the loggers it names are on again.
    assert (lines[-1]["logger"], lines[-1]["message"]) == (SLOW, "still on"), lines[-1]


# Flask's documented dictConfig (its "Logging" page): a root section with a handler of
# its own, which replaces the service's on the root logger.
FLASK_EXAMPLE = """
import logging.config, sys
from {{ cookiecutter.package_name }}.serving.logging_setup import configure_logging
from {{ cookiecutter.package_name }}.serving.disabled_loggers import enable_service_loggers
configure_logging("INFO", "json")  # as init_app() does, before the app's own
logging.config.dictConfig({
    "version": 1,
    "formatters": {"default": {"format": "[%(asctime)s] %(levelname)s in %(module)s: %(message)s"}},
    "handlers": {"wsgi": {
        "class": "logging.StreamHandler",
        "stream": "ext://flask.logging.wsgi_errors_stream",
        "formatter": "default",
    }},
    "root": {"level": "INFO", "handlers": ["wsgi"]},
})
enable_service_loggers("the-app")
"""


def test_a_root_section_that_replaces_the_services_handler_is_told_of():
    result = run_python(FLASK_EXAMPLE)
    assert result.returncode == 0, result.stderr
    # Through the app's handler (stderr, its format): the service's is gone.
    told = [line for line in result.stderr.splitlines() if "replaced the service's" in line]
    assert len(told) == 1, result.stderr
    assert told[0].startswith("[") and "WARNING in disabled_loggers" in told[0]
    assert "the-app" in told[0] and "Leave the root logger" in told[0]
    assert result.stdout == ""  # nothing through the service's handler
