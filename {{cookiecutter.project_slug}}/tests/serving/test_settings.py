"""Every environment variable: defaults, valid values and every kind of bad value."""

import pytest

from {{ cookiecutter.package_name }}.serving.settings import (
    DEFAULT_WORKER_CLASS,
    SettingsError,
    load_settings,
)


def test_defaults():
    settings = load_settings({})
    assert settings.bind[0].endswith(":8080")
    assert settings.worker_class == DEFAULT_WORKER_CLASS
    assert settings.web_concurrency is None
    assert settings.workers_per_core == 2
    assert settings.graceful_timeout < 10  # under Cloud Run's and docker stop's 10 s
    assert settings.keepalive > 90  # over Heroku Router 2.0's 90 s idle timeout
    assert settings.control_socket is None
    assert settings.preload is False
    assert settings.log_format == "json"


def test_port_host_and_bind():
    assert load_settings({"PORT": "9000", "HOST": "127.0.0.1"}).bind == ("127.0.0.1:9000",)
    assert load_settings({"PORT": "9000", "HOST": "::"}).bind == ("[::]:9000",)
    assert load_settings({"PORT": "9000", "BIND": "0.0.0.0:1234, unix:/tmp/s"}).bind == (
        "0.0.0.0:1234",
        "unix:/tmp/s",
    )


def test_empty_values_count_as_unset():
    assert load_settings({"WEB_CONCURRENCY": "", "PORT": " "}).web_concurrency is None


def test_worker_class_values():
    for worker_class in ("sync", "gthread", "gevent"):
        settings = load_settings({"GUNICORN_WORKER_CLASS": worker_class})
        assert settings.worker_class == worker_class
        assert settings.threads == (4 if worker_class == "gthread" else 1)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEB_CONCURRENCY", "abc"),
        ("WEB_CONCURRENCY", "0"),
        ("WEB_CONCURRENCY", "2.5"),
        ("WORKERS_PER_CORE", "-1"),
        ("MAX_WORKERS", "0"),
        ("GUNICORN_WORKER_CLASS", "eventlet"),
        ("GUNICORN_WORKER_CLASS", "GEVENT"),
        ("GUNICORN_THREADS", "0"),
        ("GUNICORN_WORKER_CONNECTIONS", "many"),
        ("GUNICORN_TIMEOUT", "-1"),
        ("GUNICORN_GRACEFUL_TIMEOUT", "0"),
        ("GUNICORN_GRACEFUL_TIMEOUT", "1e3"),
        ("GUNICORN_KEEPALIVE", "-5"),
        ("GUNICORN_MAX_REQUESTS", "-1"),
        ("GUNICORN_MAX_REQUESTS_JITTER", "x"),
        ("GUNICORN_PRELOAD", "maybe"),
        ("PORT", "70000"),
        ("PORT", "0"),
        ("PORT", "http"),
        ("HOST", "example.com"),
        ("BIND", "nonsense"),
        ("BIND", "0.0.0.0:99999"),
        # A digit to str.isdigit(), not to int() (hypothesis found it).
        ("BIND", "0:²"),
        ("LOG_LEVEL", "verbose"),
        ("LOG_FORMAT", "xml"),
        ("MAX_CONTENT_LENGTH", "0"),
        ("GOOGLE_CLOUD_PROJECT", "Not A Project"),
        ("GOOGLE_CLOUD_PROJECT", "example.com:"),
        ("FORWARDED_ALLOW_IPS", "proxy.internal"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.0/8,*"),
        ("URL_PREFIX", "shop"),
        ("URL_PREFIX", "/shop/"),
        ("URL_PREFIX", "//evil.example"),
        ("URL_PREFIX", "/a b"),
        ("TRUSTED_HOSTS", "https://api.example.com"),
        ("TRUSTED_HOSTS", "api.example.com:443"),
        ("TRUSTED_HOSTS", "*.example.com"),
        ("TRUSTED_HOSTS", "api.example.com,,x.example.com"),
        # Werkzeug's check cuts entries at the first colon: `[::1]` would never match.
        ("TRUSTED_HOSTS", "api.example.com,[::1]"),
        ("SLOW_REQUEST_SECONDS", "-1"),
        ("SLOW_REQUEST_SECONDS", "1s"),
        ("SLOW_REQUEST_SECONDS", "nan"),
        ("SLOW_REQUEST_SECONDS", "1e3"),
        ("READY_CHECK_TIMEOUT", "0"),
        ("READY_CHECK_TIMEOUT", "inf"),
    ],
)
def test_bad_value_names_the_variable_and_the_value(name, value):
    with pytest.raises(SettingsError) as raised:
        load_settings({name: value})
    message = str(raised.value)
    assert name in message
    assert repr(value.strip()) in message
    assert "\n" not in message


def test_operations_settings():
    defaults = load_settings({})
    assert defaults.slow_request_seconds == 1.0
    # Under the 3 s the Kubernetes readinessProbe waits (deploy/kubernetes).
    assert defaults.ready_check_timeout == 2.0
    assert defaults.revision is None
    assert load_settings({"SLOW_REQUEST_SECONDS": "0"}).slow_request_seconds == 0
    assert load_settings({"SLOW_REQUEST_SECONDS": "0.25"}).slow_request_seconds == 0.25
    assert load_settings({"READY_CHECK_TIMEOUT": "5"}).ready_check_timeout == 5.0


def test_the_revision_is_the_first_platform_variable_set():
    assert load_settings({"SOURCE_VERSION": "c0ffee"}).revision == "c0ffee"
    both = {"SOURCE_VERSION": "c0ffee", "K_REVISION": "svc-00007-abc"}
    assert load_settings(both).revision == "svc-00007-abc"
    assert load_settings({"FLY_IMAGE_REF": "x" * 500}).revision == "x" * 200


def test_a_check_timeout_a_sync_worker_cannot_wait_for_is_refused():
    environ = {"GUNICORN_WORKER_CLASS": "sync", "GUNICORN_TIMEOUT": "10"}
    with pytest.raises(SettingsError, match=r"^READY_CHECK_TIMEOUT='10' is not allowed"):
        load_settings({**environ, "READY_CHECK_TIMEOUT": "10"})
    assert load_settings({**environ, "READY_CHECK_TIMEOUT": "9.5"}).ready_check_timeout == 9.5
    # gthread and gevent keep their heartbeat while a request waits.
    gthread = {**environ, "GUNICORN_WORKER_CLASS": "gthread", "READY_CHECK_TIMEOUT": "10"}
    assert load_settings(gthread).ready_check_timeout == 10
    # The default never is: with a GUNICORN_TIMEOUT that short, half of it.
    short = {"GUNICORN_WORKER_CLASS": "sync", "GUNICORN_TIMEOUT": "2"}
    assert load_settings(short).ready_check_timeout == 1.0
    assert load_settings({**short, "GUNICORN_WORKER_CLASS": "gthread"}).ready_check_timeout == 2


def test_proxy_and_host_settings():
    defaults = load_settings({})
    # gunicorn's own default: only a proxy on this host is trusted.
    assert defaults.forwarded_allow_ips == ("127.0.0.1", "::1")
    assert defaults.url_prefix is None
    assert defaults.trusted_hosts == ()
    parsed = load_settings(
        {
            "FORWARDED_ALLOW_IPS": "10.0.0.0/8, fd00::/8",
            "URL_PREFIX": "/shop/v1",
            "TRUSTED_HOSTS": "API.example.com, .example.org,127.0.0.1",
        }
    )
    assert parsed.forwarded_allow_ips == ("10.0.0.0/8", "fd00::/8")
    assert parsed.url_prefix == "/shop/v1"
    assert parsed.trusted_hosts == ("api.example.com", ".example.org", "127.0.0.1")
    assert load_settings({"FORWARDED_ALLOW_IPS": "*"}).forwarded_allow_ips == ("*",)


def test_script_name_in_the_environment_is_refused():
    # gunicorn would take it as every request's prefix and answer 500 outside it.
    with pytest.raises(SettingsError, match=r"SCRIPT_NAME.*URL_PREFIX"):
        load_settings({"SCRIPT_NAME": "/shop"})


def test_threads_with_sync_workers_is_refused():
    with pytest.raises(SettingsError, match="GUNICORN_THREADS"):
        load_settings({"GUNICORN_WORKER_CLASS": "sync", "GUNICORN_THREADS": "4"})


def test_gevent_with_preload_is_refused():
    with pytest.raises(SettingsError, match=r"GUNICORN_PRELOAD.*gevent"):
        load_settings({"GUNICORN_WORKER_CLASS": "gevent", "GUNICORN_PRELOAD": "true"})


def test_jitter_without_max_requests_is_refused():
    with pytest.raises(SettingsError, match="GUNICORN_MAX_REQUESTS_JITTER"):
        load_settings({"GUNICORN_MAX_REQUESTS_JITTER": "10"})


# ---- Secrets and the app's own configuration ------------------------------------

from {{ cookiecutter.package_name }}.serving.settings import Env  # noqa: E402

KEY = "k" * 40


def test_a_secret_comes_from_its_variable_or_from_a_file(tmp_path):
    assert Env({"API_TOKEN": KEY}).secret("API_TOKEN", required=True) == KEY
    mounted = tmp_path / "token"
    mounted.write_text(KEY + "\n")  # `echo` and most secret managers add a newline
    assert Env({"API_TOKEN_FILE": str(mounted)}).secret("API_TOKEN", required=True) == KEY
    assert Env({}).secret("API_TOKEN", required=False) is None


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "API_TOKEN is not set: set API_TOKEN, or API_TOKEN_FILE"),
        ({"API_TOKEN": KEY, "API_TOKEN_FILE": "/x"}, "both set"),
        ({"API_TOKEN_FILE": "/nonexistent/token"}, "API_TOKEN_FILE='/nonexistent/token' cannot"),
        ({"API_TOKEN": "short-secret"}, "API_TOKEN is too short (12 characters)"),
    ],
)
def test_a_bad_secret_is_named_and_never_printed(environ, expected):
    with pytest.raises(SettingsError) as error:
        Env(environ).secret("API_TOKEN", required=True, min_length=32)
    assert expected in str(error.value)
    assert "short-secret" not in str(error.value)


def test_an_empty_secret_file_is_refused(tmp_path):
    empty = tmp_path / "token"
    empty.write_text("\n")
    with pytest.raises(SettingsError, match="names an empty file"):
        Env({"API_TOKEN_FILE": str(empty)}).secret("API_TOKEN", required=True)


def test_data_dir_is_absolute_and_follows_the_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).data_dir == tmp_path / "var"
    assert load_settings({"DATA_DIR": "/data"}).data_dir.as_posix() == "/data"


# ---- Once per boot ---------------------------------------------------------------


@pytest.fixture
def unbooted(monkeypatch):
    """settings.py as before any boot in this process, and as it was after the test."""
    from {{ cookiecutter.package_name }}.serving import settings

    monkeypatch.setattr(settings, "_boot", None)
    return settings


def test_the_environment_is_read_once_per_boot(unbooted, monkeypatch):
    monkeypatch.setenv("GUNICORN_KEEPALIVE", "42")
    booted = unbooted.boot_settings()
    assert booted.keepalive == 42
    # Later calls (gunicorn_config.py, the logger, init_app in each forked worker)
    # take what the boot read; a change after it is not read, nor validated again.
    monkeypatch.setenv("GUNICORN_KEEPALIVE", "soon")
    assert unbooted.boot_settings() is booted
    assert unbooted.current_settings() is booted


def test_outside_a_boot_current_settings_follow_the_environment(unbooted, monkeypatch):
    # Tests and `flask --app` build apps with changing environments.
    monkeypatch.setenv("GUNICORN_KEEPALIVE", "42")
    assert unbooted.current_settings().keepalive == 42
    monkeypatch.setenv("GUNICORN_KEEPALIVE", "43")
    assert unbooted.current_settings().keepalive == 43


def bad_server_setting(monkeypatch):
    monkeypatch.setenv("GUNICORN_KEEPALIVE", "soon")
    return "GUNICORN_KEEPALIVE='soon' is not allowed"


def bad_app_setting(monkeypatch):
    """Your config.py's load_config refusing a value, whatever it reads: the boot calls
    it (as `{{ cookiecutter.package_name }}.config.load_config`) and must stop on its SettingsError."""
    from {{ cookiecutter.package_name }} import config

    def load_config(environ):
        raise SettingsError("PROBE_VALUE='x' is not allowed: expected a probe's value")

    monkeypatch.setattr(config, "load_config", load_config)
    return "PROBE_VALUE='x' is not allowed"


@pytest.mark.parametrize("make_bad", [bad_server_setting, bad_app_setting])
def test_a_bad_value_at_boot_is_one_line_and_exit_code_2(unbooted, monkeypatch, capsys, make_bad):
    line = make_bad(monkeypatch)
    with pytest.raises(SystemExit) as exit_:
        unbooted.boot_settings()
    assert exit_.value.code == 2
    (printed,) = capsys.readouterr().err.splitlines()
    assert printed.startswith("configuration error: ") and line in printed
    assert unbooted._boot is None  # nothing half-read is kept


@pytest.mark.parametrize("project", ["my-project-1", "example.com:my-project"])
def test_a_project_id_is_taken_in_either_form_google_gives_one(project):
    # A legacy domain-scoped project is named with its domain, in Cloud Logging's
    # trace field too (projects/example.com:my-project/traces/...).
    assert load_settings({"GOOGLE_CLOUD_PROJECT": project}).google_cloud_project == project
