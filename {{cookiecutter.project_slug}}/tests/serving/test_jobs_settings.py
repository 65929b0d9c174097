"""REDIS_URL and the jobs' values: validated with the rest of the environment, one line
naming the variable, the password never shown."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from environment import app_environment
from harness.redis_server import RedisServer

from {{ cookiecutter.package_name }}.serving import jobs
from {{ cookiecutter.package_name }}.serving.jobs_settings import load_job_settings
from {{ cookiecutter.package_name }}.serving.redis_settings import redacted
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
        ({"REDIS_URL": "redis://:hunter2@redis/²"}, "the database after the host"),
        ({"REDIS_URL": "redis://"}, "REDIS_URL='redis://' is not allowed"),
        ({"REDIS_URL": "redis://r", "WORKER_QUEUES": "a,,b"}, "WORKER_QUEUES='a,,b'"),
        ({"REDIS_URL": "redis://r", "WORKER_QUEUES": "a,a"}, "distinct"),
        ({"REDIS_URL": "redis://r", "WORKER_STOP_TIMEOUT": "0"}, "WORKER_STOP_TIMEOUT='0'"),
        ({"REDIS_URL": "redis://r", "JOB_RETRIES": "-1"}, "JOB_RETRIES='-1'"),
        ({"REDIS_URL": "rediss://r", "REDIS_TLS_VERIFY": "off-ish"}, "REDIS_TLS_VERIFY='off-ish'"),
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


def test_tls_is_verified_unless_redis_tls_verify_is_no():
    assert load_job_settings({"REDIS_URL": "rediss://r"}).tls_verify is True
    unverified = load_job_settings({"REDIS_URL": "rediss://r", "REDIS_TLS_VERIFY": "no"})
    assert unverified.tls_verify is False


@pytest.fixture
def self_signed_redis(tmp_path):
    """A redis-server on TLS only, with a self-signed certificate, as Heroku's."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl to make a self-signed certificate")
    certificate, key = tmp_path / "redis.crt", tmp_path / "redis.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=redis.example", "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server = RedisServer(tmp_path / "redis", tls=(certificate, key))
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("verify", ["yes", "no"])
def test_a_self_signed_rediss_server_is_reached_only_with_redis_tls_verify_no(
    self_signed_redis, monkeypatch, verify
):
    """The connection every process makes (serving/jobs.py), against a real TLS server."""
    monkeypatch.setenv("REDIS_URL", self_signed_redis.url)
    monkeypatch.setenv("REDIS_TLS_VERIFY", verify)
    if verify == "no":
        assert jobs.redis_connection().ping() is True
    else:
        with pytest.raises(redis.exceptions.ConnectionError, match="certificate verify failed"):
            jobs.redis_connection().ping()
