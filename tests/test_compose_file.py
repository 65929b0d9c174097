"""compose.yaml, offline: valid against the Compose Specification, `web` locked down as the
container tests run the image, `dev` on the mounted source. The baked project's own
tests/serving/test_compose.py brings both up for real.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_deploy_files import image_metrics_port

from conftest import DEFAULTS, answer, uses_postgres

BIN = Path(sys.executable).parent
BAKES = {
    "default": {},
    "custom-names": {"project_name": "Billing API", "package_name": "billing"},
    # A package name that YAML 1.1 (docker-compose v1) would read as a boolean.
    "yaml-word-package": {"package_name": "on"},
    **{f"python-{v}": {"python_version": v} for v in DEFAULTS["python_version"][1:]},
    "postgresql": {"database": "postgresql"},
    "postgresql-yaml-word-package": {"database": "postgresql", "package_name": "on"},
    # worker and redis services too; the worker's command names the package.
    "background-jobs": {"background_jobs": "rq", "package_name": "on"},
    # Both: web and the worker wait for release, and for redis.
    "postgresql-background-jobs": {"database": "postgresql", "background_jobs": "rq"},
    # redis too, for Socket.IO's message queue; no worker.
    "socketio": {"websockets": "socketio"},
    "scheduled": {"scheduled_jobs": "yes"},
    "scheduled-postgresql-yaml-word-package": {
        "scheduled_jobs": "yes",
        "database": "postgresql",
        "package_name": "on",
    },
    # Every service at once: tick reads the database and the jobs' Redis as web does.
    "everything": {"scheduled_jobs": "yes", "database": "postgresql", "background_jobs": "rq"},
}


@pytest.fixture(params=list(BAKES), scope="module")
def project(request, bake):
    return bake(**BAKES[request.param])


@pytest.fixture(params=[name for name, answers in BAKES.items() if "database" in answers])
def database_project(request, bake):
    """The bakes with a database only: their postgres service's own checks."""
    return bake(**BAKES[request.param])


def tool(name):
    path = BIN / name
    assert path.exists(), f"{name} is not installed next to {sys.executable}"
    return str(path)


def services(project):
    return yaml.safe_load((project / "compose.yaml").read_text())["services"]


def image_services(project):
    """The services built from the Dockerfile (not postgres, redis or prometheus)."""
    return {name: s for name, s in services(project).items() if "build" in s}


def scheduled(project):
    return answer(project, "scheduled_jobs") in (True, "yes")


def test_passes_the_compose_spec(project):
    result = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(project / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_web_is_locked_down_like_the_container_tests(project):
    web = services(project)["web"]
    assert web["read_only"] is True
    assert "/tmp" in web["tmpfs"]
    assert web["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in web["security_opt"]
    assert web["user"] == "10001:0"
    # The image's HEALTHCHECK applies: none set here, none disabled.
    assert "healthcheck" not in web
    assert web["environment"]["SECRET_KEY"] == "${SECRET_KEY:-}"
    assert any(volume.endswith(":/data") for volume in web["volumes"])


def test_both_services_read_the_tests_environment_file(project):
    # The one place a user puts test values (tests/environment.py reads it too).
    for service in image_services(project).values():
        assert service["env_file"] == ["tests/test.env"]
    assert (project / "tests" / "test.env").is_file()


def test_both_services_publish_on_loopback_only(project):
    ports = {
        name: service["ports"] for name, service in services(project).items() if "ports" in service
    }
    assert ports == {
        "web": ["127.0.0.1:${WEB_PORT:-8080}:8080"],
        "dev": ["127.0.0.1:${DEV_PORT:-8081}:8080"],
        "prometheus": ["127.0.0.1:${PROMETHEUS_PORT:-9090}:9090"],
    }


def test_builds_on_the_dockerfiles_default_base(project):
    (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", (project / "Dockerfile").read_text(), re.M)
    for service in image_services(project).values():
        assert service["build"]["args"]["PYTHON_IMAGE"] == f"${{PYTHON_IMAGE:-{default}}}"


def test_dev_runs_the_mounted_source_with_the_reloader(project):
    (package,) = [p.parent.name for p in project.glob("src/*/__init__.py")]
    dev = services(project)["dev"]
    # The start command's `manage`, as `make dev` runs it: the environment is checked
    # and the umask set before Flask's development server starts.
    assert dev["command"][:4] == ["python", "-m", package, "manage"]
    assert dev["command"][4:6] == ["--debug", "run"]
    assert "./src:/app/src:ro" in dev["volumes"]
    assert dev["environment"]["PYTHONPATH"] == "/app/src"
    assert dev["environment"]["LOG_FORMAT"] == "text"
    # Never started by a plain `docker compose up`: the debugger runs arbitrary code.
    assert dev["profiles"] == ["dev"]
    # The same hardening as web: what fails there fails here first.
    web = services(project)["web"]
    for field in ("read_only", "tmpfs", "cap_drop", "security_opt", "user", "build"):
        assert dev[field] == web[field], field


def test_postgres_service_only_with_a_database(project):
    # The background jobs' services are test_the_worker_...'s, tick test_tick_...'s,
    # prometheus test_prometheus_...'s.
    names = set(services(project)) - {"worker", "redis", "tick", "prometheus"}
    if not uses_postgres(project):
        assert names == {"web", "dev"}
        assert "postgres" not in (project / "compose.yaml").read_text().lower()
        return
    assert names == {"web", "dev", "release", "postgres"}


def test_tick_runs_the_scheduled_command_only_when_named(project):
    all_services = services(project)
    if not scheduled(project):
        assert "tick" not in all_services
        return
    tick, web = all_services["tick"], all_services["web"]
    # Never started by `up`: `docker compose run --rm tick`, from the host's clock.
    assert tick["profiles"] == ["scheduled"]
    (package,) = [p.parent.name for p in project.glob("src/*/__init__.py")]
    assert tick["command"] == ["python", "-m", package, "manage", "tick"]
    # Locked down as web is, on web's data (the switch and the claims), no ports, and
    # the image's HTTP healthcheck off: nothing listens.
    for field in ("read_only", "tmpfs", "cap_drop", "security_opt", "user", "build", "env_file"):
        assert tick[field] == web[field], field
    assert "ports" not in tick and tick["healthcheck"] == {"disable": True}
    assert [v for v in tick["volumes"] if v.endswith(":/data")] == [
        v for v in web["volumes"] if v.endswith(":/data")
    ]
    if uses_postgres(project):
        assert tick["environment"]["DATABASE_URL"] == web["environment"]["DATABASE_URL"]
    if "redis" in all_services:
        assert tick["environment"]["REDIS_URL"] == web["environment"]["REDIS_URL"]
    assert tick.get("depends_on") == web.get("depends_on")
    guide = (project / "docs/scheduled-jobs.md").read_text()
    assert "docker compose run --rm tick" in guide


def test_postgres_follows_the_official_images_conventions(database_project):
    project = database_project
    assert uses_postgres(project)
    postgres = services(project)["postgres"]
    (package,) = [p.parent.name for p in project.glob("src/*/__init__.py")]
    # The official image (or a stand-in honouring its variables), overridable.
    assert postgres["image"] == "${POSTGRES_IMAGE:-postgres:17-bookworm}"
    env = postgres["environment"]
    assert env == {
        "POSTGRES_USER": package,
        "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:-postgres}",
        "POSTGRES_DB": package,
    }
    # Its data on a named volume, where PostgreSQL 17's image keeps it.
    (volume,) = postgres["volumes"]
    name, path = volume.split(":")
    assert path == "/var/lib/postgresql/data"
    assert name in yaml.safe_load((project / "compose.yaml").read_text())["volumes"]
    # Reached by name on the project's network only: nothing published.
    assert "ports" not in postgres
    # Healthy once the real server answers over TCP, not the image's first-start one
    # (which listens on the Unix socket only).
    test = postgres["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"]
    assert test[test.index("--host") + 1] == "127.0.0.1"
    assert test[test.index("--username") + 1] == package
    # Locked down like web where the image allows: no new privileges, and only the
    # capabilities its entrypoint needs to own the data and drop to postgres.
    assert postgres["cap_drop"] == ["ALL"]
    assert set(postgres["cap_add"]) <= {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"}
    assert "no-new-privileges:true" in postgres["security_opt"]


def test_web_dev_and_release_reach_the_postgres_service(project):
    if not uses_postgres(project):
        for service in services(project).values():
            assert "DATABASE_URL" not in service.get("environment", {})
            assert not {"postgres", "release"} & set(service.get("depends_on", ()))
        return
    all_services = services(project)
    env = all_services["postgres"]["environment"]
    password = env["POSTGRES_PASSWORD"]
    expected = f"postgresql://{env['POSTGRES_USER']}:{password}@postgres:5432/{env['POSTGRES_DB']}"
    healthy = {"condition": "service_healthy"}
    # The worker too, in a bake with background jobs: its jobs use the database.
    for name in {"web", "dev", "release", "worker"} & set(all_services):
        service = all_services[name]
        assert service["environment"]["DATABASE_URL"] == expected, name
        assert service["depends_on"]["postgres"] == healthy, name
    # The release step, the platforms' way: the migrations run to completion first.
    release = all_services["release"]
    (package,) = [p.parent.name for p in project.glob("src/*/__init__.py")]
    assert release["command"] == ["python", "-m", package, "release"]
    assert "ports" not in release
    for name in {"web", "dev", "worker"} & set(all_services):
        condition = all_services[name]["depends_on"]["release"]["condition"]
        assert condition == "service_completed_successfully", name
    # Locked down as web is.
    for field in ("read_only", "tmpfs", "cap_drop", "security_opt", "user", "build"):
        assert release[field] == all_services["web"][field], field


def test_docker_compose_v1_reads_the_file(project):
    """Debian's docker-compose 1.29 reads every field (service_completed_successfully
    included), when it is installed."""
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose (v1) is not installed")
    result = subprocess.run(
        [compose, "--file", str(project / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=project,
    )
    assert result.returncode == 0, result.stderr


def test_the_worker_is_webs_image_and_hardening_with_its_own_command(bake):
    project = bake(background_jobs="rq", package_name="on")
    web, worker, redis = (services(project)[name] for name in ("web", "worker", "redis"))
    for key in ("build", "read_only", "tmpfs", "cap_drop", "security_opt", "user", "env_file"):
        assert worker[key] == web[key], key
    # Quoted in the file: YAML 1.1 would read `on` as true.
    assert worker["command"] == ["python", "-m", "on", "worker"]
    assert worker["environment"]["REDIS_URL"] == web["environment"]["REDIS_URL"]
    assert worker["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert "healthcheck" not in worker
    assert redis["image"] == "${REDIS_IMAGE:-redis:7-bookworm}"
    assert "--appendonly" in redis["command"] and "ports" not in redis
    # Both start after redis; web never waits for the worker.
    for service in (web, worker):
        assert service["depends_on"]["redis"] == {"condition": "service_started"}
    assert "worker" not in web["depends_on"]
    # The anchor, not a copy: the hardening is written once.
    text = (project / "compose.yaml").read_text()
    assert text.count("read_only: true") == 1 and "  worker:\n" in text


# ---- The optional Prometheus --------------------------------------------------


def scrape_config(project, prometheus):
    """The file the prometheus service mounts as its config, parsed."""
    (mount,) = [v for v in prometheus["volumes"] if ":/etc/prometheus/prometheus.yml" in v]
    source, _, mode = mount.partition(":/etc/prometheus/prometheus.yml")
    assert mode == ":ro", "the service reads its config, never writes it"
    assert prometheus["command"][0] == "--config.file=/etc/prometheus/prometheus.yml"
    return project / source, yaml.safe_load((project / source).read_text())


def test_prometheus_scrapes_webs_metrics_port_only_with_its_profile(project):
    all_services = services(project)
    prometheus, web = all_services["prometheus"], all_services["web"]
    # Never started by a plain `up`: `--profile metrics`, or named.
    assert prometheus["profiles"] == ["metrics"]
    assert prometheus["image"] == "${PROMETHEUS_IMAGE:-prom/prometheus:v3.5.0}"
    # Locked down by the same anchor as web, and never root.
    for field in ("read_only", "cap_drop", "security_opt"):
        assert prometheus[field] == web[field], field
    user, _, group = prometheus["user"].partition(":")
    assert int(user) != 0 and int(group) != 0
    # Its samples on a named volume, the only place it writes.
    assert "prometheus-data:/prometheus" in prometheus["volumes"]
    assert "--storage.tsdb.path=/prometheus" in prometheus["command"]
    _, config = scrape_config(project, prometheus)
    (job,) = config["scrape_configs"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job.get("scheme", "http") == "http"
    (static,) = job["static_configs"]
    # web by its service name, on the port the image listens on for metrics; web
    # publishes no such port: the project's network is the way.
    assert static["targets"] == [f"web:{image_metrics_port(project)}"]
    assert all(str(image_metrics_port(project)) not in port for port in web["ports"])
    # The image's METRICS_PORT applies to web: a value here would move the port away
    # from the scrape config's.
    assert "METRICS_PORT" not in web.get("environment", {})


def promtool():
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("REQUIRE_PROMETHEUS") == "1":
            pytest.fail("promtool is not installed (REQUIRE_PROMETHEUS=1)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


def test_promtool_checks_the_scrape_config(bake):
    """Prometheus's own check of the file (Debian's promtool, with its prometheus)."""
    promtool_path = promtool()
    project = bake()
    path, _ = scrape_config(project, services(project)["prometheus"])
    result = subprocess.run(
        [promtool_path, "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # And the check fails where it should: a misspelt field.
    broken = path.with_name("broken.yml")
    broken.write_text(path.read_text().replace("scrape_interval:", "scrape_intervall:"))
    try:
        result = subprocess.run(
            [promtool_path, "check", "config", str(broken)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        broken.unlink()
    assert result.returncode != 0


def test_promtool_checks_the_token_scrape_job_of_the_metrics_guide(bake, tmp_path):
    """The job docs/metrics.md gives for a one-port platform: HTTPS, the bearer token
    from a file (promtool checks that the file exists, so one is made here)."""
    promtool_path = promtool()
    project = bake()
    guide = (project / "docs/metrics.md").read_text()
    (job,) = re.findall(r"^```yaml\n(.*?)^```", guide, re.M | re.S)
    config = yaml.safe_load(job)
    (scrape,) = config["scrape_configs"]
    assert scrape["scheme"] == "https" and scrape["metrics_path"] == "/metrics"
    token = tmp_path / "token"
    token.write_text("x" * 43)
    credentials = scrape["authorization"]["credentials_file"]
    assert credentials.startswith("/etc/prometheus/")
    (tmp_path / "prometheus.yml").write_text(job.replace(credentials, str(token)))
    result = subprocess.run(
        [promtool_path, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("profile", [[], ["--profile", "metrics"]], ids=["plain", "metrics"])
def test_docker_compose_renders_with_and_without_the_metrics_profile(bake, profile):
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose (v1) is not installed")
    project = bake()
    result = subprocess.run(
        [compose, "--file", str(project / "compose.yaml"), *profile, "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)["services"]
    # The merged hardening reached both (the anchor inside an anchor).
    for name in ("web", "prometheus"):
        assert rendered[name]["read_only"] is True, name
        assert rendered[name]["cap_drop"] == ["ALL"], name
    assert rendered["prometheus"]["profiles"] == ["metrics"]
    assert "profiles" not in rendered["web"]
