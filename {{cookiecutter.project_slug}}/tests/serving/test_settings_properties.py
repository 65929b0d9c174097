"""Property: every variable the config reads either takes the value given, or is
refused with one line naming it. No bad value is silently replaced by a default."""

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.serving.settings import SettingsError, load_settings

INTEGERS = {
    "WEB_CONCURRENCY": "web_concurrency",
    "WORKERS_PER_CORE": "workers_per_core",
    "MAX_WORKERS": "max_workers",
    "GUNICORN_WORKER_CONNECTIONS": "worker_connections",
    "GUNICORN_TIMEOUT": "timeout",
    "GUNICORN_GRACEFUL_TIMEOUT": "graceful_timeout",
    "GUNICORN_KEEPALIVE": "keepalive",
    "GUNICORN_MAX_REQUESTS": "max_requests",
    "MAX_CONTENT_LENGTH": "max_content_length",
    "WORKER_MEMORY_MB": "worker_memory_mb",
}
# Variables that only make sense together with another one get it.
CONTEXT = {
    "GUNICORN_THREADS": {"GUNICORN_WORKER_CLASS": "gthread"},
    "GUNICORN_MAX_REQUESTS_JITTER": {"GUNICORN_MAX_REQUESTS": "100"},
}


def taken_as_given(name: str, value: str, parsed) -> bool:
    value = value.strip()
    if name in INTEGERS:
        return getattr(parsed, INTEGERS[name]) == int(value)
    if name == "GUNICORN_THREADS":
        return parsed.threads == int(value)
    if name == "GUNICORN_MAX_REQUESTS_JITTER":
        return parsed.max_requests_jitter == int(value)
    if name == "GUNICORN_WORKER_CLASS":
        return parsed.worker_class == value
    if name in ("LOG_LEVEL", "LOG_FORMAT"):
        return getattr(parsed, name.lower()) == value.lower()
    if name == "GUNICORN_PRELOAD":
        return parsed.preload == (value.lower() in ("1", "true", "yes", "on"))
    if name == "PORT":
        return parsed.bind[0].endswith(f":{int(value)}")
    if name == "HOST":
        return value.strip("[]") in parsed.bind[0]
    if name == "BIND":
        return parsed.bind == tuple(part.strip() for part in value.split(","))
    if name == "GUNICORN_CONTROL_SOCKET":
        return parsed.control_socket == value
    if name == "GOOGLE_CLOUD_PROJECT":
        return parsed.google_cloud_project == value
    if name == "DATA_DIR":
        return parsed.data_dir == Path(os.path.abspath(value))
    if name == "FORWARDED_ALLOW_IPS":
        return parsed.forwarded_allow_ips == tuple(p.strip() for p in value.split(","))
    if name == "URL_PREFIX":
        return parsed.url_prefix == value
    if name in ("SLOW_REQUEST_SECONDS", "READY_CHECK_TIMEOUT"):
        return getattr(parsed, name.lower()) == float(value)
    if name == "TRUSTED_HOSTS":
        return parsed.trusted_hosts == tuple(p.strip().lower() for p in value.split(","))
    raise AssertionError(f"no property for {name}")


VARIABLES = [
    *INTEGERS,
    *CONTEXT,
    "GUNICORN_WORKER_CLASS",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "GUNICORN_PRELOAD",
    "PORT",
    "HOST",
    "BIND",
    "GUNICORN_CONTROL_SOCKET",
    "GOOGLE_CLOUD_PROJECT",
    "DATA_DIR",
    "FORWARDED_ALLOW_IPS",
    "URL_PREFIX",
    "TRUSTED_HOSTS",
    "SLOW_REQUEST_SECONDS",
    "READY_CHECK_TIMEOUT",
]
# Mostly plausible-looking values, to reach the edges of each rule.
VALUES = (
    st.integers(min_value=-(10**6), max_value=10**6).map(str)
    | st.sampled_from(
        [
            "true",
            "no",
            "gevent",
            "sync",
            "eventlet",
            "json",
            "DEBUG",
            "[::]",
            "0.0.0.0",
            "1e3",
            "0x10",
            "0.5",
            "my-project-1",
            "example.com:my-project",
            "unix:/tmp/s",
            "10.0.0.0/8",
            "/shop",
            ".example.com",
        ]
    )
    | st.text(max_size=20)
)


@pytest.mark.parametrize("name", VARIABLES)
@settings(max_examples=60, deadline=None)
@given(value=VALUES)
def test_value_is_taken_as_given_or_refused_by_name(name, value):
    if not value.strip():
        return  # blank means unset, by design (documented)
    environ = {**CONTEXT.get(name, {}), name: value}
    if name == "GUNICORN_PRELOAD":
        environ["GUNICORN_WORKER_CLASS"] = "sync"
    try:
        parsed = load_settings(environ)
    except SettingsError as error:
        message = str(error)
        assert message.startswith(f"{name}=") or name in message
        assert "\n" not in message
    else:
        assert taken_as_given(name, value, parsed), (name, value, parsed)
