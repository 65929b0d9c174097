"""REDIS_URL and the jobs' values: validated with the rest of the environment, one line
naming the variable, the password never shown."""

import subprocess
import sys
from pathlib import Path

import pytest
from environment import app_environment

from {{ cookiecutter.package_name }}.serving.jobs_settings import load_job_settings, redacted
from {{ cookiecutter.package_name }}.serving.settings import SettingsError

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:secret@redis.internal:6380/2",
        "rediss://default:secret@example.upstash.io:6379",
        "redis://localhost",
        "unix:///run/redis/redis.sock",
    ],
)
def test_accepted_urls(url):
    settings = load_job_settings({"REDIS_URL": url})
    assert settings.redis_url == url
    assert settings.queues == ("default",)
    assert settings.stop_timeout == 8 and settings.retries == 2


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({}, "REDIS_URL is not set"),
        ({"REDIS_URL": "http://:hunter2@redis:6379"}, "REDIS_URL='http://:***@redis:6379'"),
        ({"REDIS_URL": "redis://:hunter2@redis:99999"}, "REDIS_URL='redis://:***@redis:99999'"),
        ({"REDIS_URL": "redis://:hunter2@redis/zero"}, "the database after the host"),
        ({"REDIS_URL": "redis://"}, "REDIS_URL='redis://' is not allowed"),
        ({"REDIS_URL": "redis://r", "WORKER_QUEUES": "a,,b"}, "WORKER_QUEUES='a,,b'"),
        ({"REDIS_URL": "redis://r", "WORKER_QUEUES": "a,a"}, "distinct"),
        ({"REDIS_URL": "redis://r", "WORKER_STOP_TIMEOUT": "0"}, "WORKER_STOP_TIMEOUT='0'"),
        ({"REDIS_URL": "redis://r", "JOB_RETRIES": "-1"}, "JOB_RETRIES='-1'"),
    ],
)
def test_bad_values_name_the_variable_and_hide_the_password(environ, fragment):
    with pytest.raises(SettingsError) as error:
        load_job_settings(environ)
    assert fragment in str(error.value)
    assert "hunter2" not in str(error.value)


def test_redis_url_file(tmp_path):
    secret = tmp_path / "redis-url"
    secret.write_text("redis://:s3cret@redis:6379/0\n")
    assert load_job_settings({"REDIS_URL_FILE": str(secret)}).redis_url.endswith("/0")


def test_redacted():
    assert redacted("redis://user:pw@host:1/0") == "redis://user:***@host:1/0"
    assert redacted("redis://host:1/0") == "redis://host:1/0"


@pytest.mark.parametrize("command", [["worker"], []])
def test_a_bad_redis_url_stops_web_and_worker_before_anything_connects(command, tmp_path):
    """One line on stderr, exit code 2, the password not in it."""
    env = {
        **app_environment(tmp_path / "data"),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT / "src"),
        "REDIS_URL": "redis://:hunter2@redis:port",
    }
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", *command],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "configuration error: REDIS_URL='redis://:***@redis:port' is not allowed: expected "
        "redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://... (TLS) or unix:///PATH/TO/SOCKET"
    ]
    assert result.stdout == ""
