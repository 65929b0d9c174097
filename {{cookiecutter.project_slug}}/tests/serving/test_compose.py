"""compose.yaml brought up for real: `web` hardened and healthy, `dev` serving your edits.

Needs a Docker engine and a Compose implementation: the `docker compose` plugin where
`docker compose version` works, else the standalone `docker-compose` (v1, which Debian
packages). Without either these tests skip, unless REQUIRE_DOCKER=1 (CI), which turns
that into a failure. PYTHON_IMAGE passes through to the build, as in the container tests.
Both services run from a copy of the project, so the edit that checks the reloader never
lands in your src/.
"""

import os
import shutil
import subprocess
import uuid
from pathlib import Path, PurePosixPath

import pytest
import requests
from environment import app_environment
from harness import images
from harness.budgets import app_times, image_workers
from harness.http import free_port, wait_for, wait_for_health

try:
    import docker
except ImportError:  # a dev dependency; reported by `unavailable` below
    docker = None

# slow too: a build and two services up and down, about 25 s.
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.compose]
PROJECT = Path(__file__).resolve().parents[2]
PACKAGE = "{{ cookiecutter.package_name }}"
# A cold build installs every locked dependency; a warm one reuses the cached layers.
BUILD_TIMEOUT = 900
# Any other compose command (up, ps, logs, down) is done in seconds.
COMMAND_TIMEOUT = 120
# The image's HEALTHCHECK runs every 10 s, the first time 10 s after the start; your
# app's boot comes on top (healthy_timeout()).
HEALTHCHECK_SECONDS = 60
# Werkzeug's stat reloader looks at the files every second, then restarts the server,
# which builds your app again (reload_timeout()).
RELOADER_SECONDS = 30
# Neither the build context nor the services need these; .git may be large.
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "venv", "var", "__pycache__", ".pytest_cache", ".ruff_cache"
)


def healthy_timeout() -> float:
    """web and dev answering, then healthy: the checks' own pace plus your app's boot."""
    return HEALTHCHECK_SECONDS + app_times().deadline(image_workers())


def reload_timeout() -> float:
    return RELOADER_SECONDS + app_times().deadline()


def unavailable(reason: str):
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(f"REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)


def find_compose() -> list[str] | None:
    """`docker compose` (the v2 plugin) where it answers, else `docker-compose`, else None."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        try:
            answer = subprocess.run([*command, "version"], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if answer.returncode == 0:
            return command
    return None


def two_free_ports() -> tuple[int, int]:
    while (ports := (free_port(), free_port()))[0] == ports[1]:
        pass
    return ports


class Compose:
    """One Compose project on a copy of this one: its own name, host ports and images."""

    def __init__(self, command: list[str], directory: Path, client) -> None:
        self.command, self.directory, self.client = command, directory, client
        # Unique, so parallel runs and leftovers never share containers or volumes.
        self.name = f"compose-test-{uuid.uuid4().hex[:8]}"
        self.web_port, self.dev_port = two_free_ports()
        self.made: list[str] = []  # the images its build made, from the build's output
        self.env = {
            # PATH, DOCKER_HOST and PYTHON_IMAGE (the base image) from the caller...
            **os.environ,
            # ...then the test values: compose.yaml passes SECRET_KEY in from here (a fresh
            # one) and reads the rest from tests/test.env itself.
            **app_environment(PurePosixPath("/data")),
            "WEB_PORT": str(self.web_port),
            "DEV_PORT": str(self.dev_port),
        }

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT, check: bool = True):
        # --file: only compose.yaml, never a compose.override.yaml or COMPOSE_FILE.
        # --profile dev: every command sees the dev service too, `down` included.
        options = ["--file", "compose.yaml", "--project-name", self.name, "--profile", "dev"]
        result = subprocess.run(
            [*self.command, *options, *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def container(self, service: str):
        (container_id,) = self.run("ps", "--quiet", service).stdout.split()
        return self.client.containers.get(container_id)

    def logs(self) -> str:
        result = self.run("logs", "--no-color", check=False)
        return f"--- compose logs of {self.name} ---\n{result.stdout}{result.stderr}"

    def build(self) -> None:
        # On the run's image's layers, from the cache (images.run_image).
        images.run_image(self.client, PROJECT)
        with images.one_build_at_a_time():
            result = self.run("build", timeout=BUILD_TIMEOUT, check=False)
        lines = (result.stdout + result.stderr).splitlines()
        # Removed by down(), even when the build failed half-way.
        self.made = images.made_by(lines)
        if result.returncode != 0:
            pytest.fail(
                f"build exited {result.returncode}:\n{images.base_image_hint(lines)}"
                + "\n".join(lines),
                pytrace=False,
            )

    def down(self) -> None:
        # Containers, the network, the named volumes and the images this project built
        # (tagged), then the untagged ones its build left (the builder stage's).
        result = self.run(
            "down", "--volumes", "--rmi", "local", "--remove-orphans", "--timeout", "10"
        )
        print(result.stdout + result.stderr)
        images.remove(self.client, None, self.made)


@pytest.fixture(scope="module")
def compose(tmp_path_factory):
    command = find_compose()
    if command is None:
        unavailable("no Compose: neither `docker compose version` nor `docker-compose` works")
    if docker is None:
        unavailable("the docker SDK is not installed (pip install docker)")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:
        unavailable(f"no Docker engine reachable ({error.__class__.__name__}: {error})")

    copy = tmp_path_factory.mktemp("compose") / PROJECT.name
    shutil.copytree(PROJECT, copy, ignore=NOT_COPIED)
    project = Compose(command, copy, client)
{%- if cookiecutter.database == "postgresql" %}
    # The postgres service's image: POSTGRES_IMAGE, the official one, or a stand-in
    # built from Debian's postgresql where no registry is reachable (harness/postgres.py).
    from harness.postgres import compose_image

    project.env["POSTGRES_IMAGE"] = compose_image(client)
{%- endif %}
{%- if cookiecutter.background_jobs == "rq" or cookiecutter.websockets == "socketio" %}
    redis_image = None
{%- endif %}
    try:
        project.build()
{%- if cookiecutter.background_jobs == "rq" or cookiecutter.websockets == "socketio" %}
        if not os.environ.get("REDIS_IMAGE"):
            # No registry needed: the `redis` service runs a stand-in built here.
            redis_image = build_redis_stand_in(client, project.name)
            project.env["REDIS_IMAGE"] = redis_image
{%- endif %}
        try:
            project.run("up", "--detach", "--no-build", "web", "dev"{% if cookiecutter.background_jobs == "rq" %}, "worker"{% endif %})
        except BaseException:
            print(project.logs())
            raise
        yield project
    finally:
        try:
            project.down()
{%- if cookiecutter.background_jobs == "rq" or cookiecutter.websockets == "socketio" %}
            if redis_image:
                client.images.remove(redis_image, force=True)
{%- endif %}
        finally:
            client.close()
{%- if cookiecutter.background_jobs == "rq" or cookiecutter.websockets == "socketio" %}


# Debian's redis-server on the base image, started as the official image starts its
# own: in /data, and without protected mode (the service is reached by name from the
# project's network, never published).
REDIS_STAND_IN = """
FROM {base}
USER root
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
        redis-server >/dev/null \\
    && rm -rf /var/lib/apt/lists/* \\
    && printf '#!/bin/sh\\nexec /usr/bin/redis-server "$@" --protected-mode no\\n' \\
        > /usr/local/bin/redis-server \\
    && chmod 755 /usr/local/bin/redis-server && mkdir -p /data
WORKDIR /data
"""


def build_redis_stand_in(client, name: str) -> str:
    """A local image for the `redis` service, in place of Docker Hub's redis."""
    import io

    base = os.environ.get("PYTHON_IMAGE") or "python:{{ cookiecutter.python_version }}-slim"
    tag = f"{name}-redis-stand-in:test"
    dockerfile = io.BytesIO(REDIS_STAND_IN.format(base=base).encode())
    client.images.build(fileobj=dockerfile, tag=tag, rm=True)
    return tag
{%- endif %}


@pytest.fixture
def services(compose, request):
    """The running project; its logs printed after any test on it fails."""
    yield compose
    if getattr(request.node, "rep_call_failed", True):
        print(compose.logs())


def health_status(container) -> str:
    container.reload()
    return container.attrs["State"].get("Health", {}).get("Status", "none")


def test_both_services_get_the_test_values_of_tests_test_env(services):
    from environment import TEST_ENV, read_env_file

    for service in ("web", "dev"):
        environment = services.container(service).attrs["Config"]["Env"]
        for name, value in read_env_file(TEST_ENV).items():
{%- if cookiecutter.database == "postgresql" %}
            if name == "DATABASE_URL":  # compose.yaml's own: the postgres service's database
                continue
{%- endif %}
{%- if cookiecutter.background_jobs == "rq" or cookiecutter.websockets == "socketio" %}
            if name == "REDIS_URL" and service == "web":
                continue  # compose.yaml's own: its `redis` service
{%- endif %}
            assert f"{name}={value}" in environment, (service, name)
        # And the fresh key from the shell, over anything the file might hold.
        assert f"SECRET_KEY={services.env['SECRET_KEY']}" in environment, service


def proc_status(container) -> dict[str, str]:
    """/proc/1/status of the container's main process, as {field: value}."""
    result = container.exec_run(["cat", "/proc/1/status"])
    assert result.exit_code == 0, result.output
    return {
        name: value.strip()
        for name, _, value in (line.partition(":") for line in result.output.decode().splitlines())
    }


def test_web_runs_read_only_as_10001_0_without_capabilities(services):
    web = services.container("web")
    wait_for_health(f"http://127.0.0.1:{services.web_port}", timeout=healthy_timeout())
    assert web.attrs["HostConfig"]["ReadonlyRootfs"] is True
    assert web.attrs["HostConfig"]["CapDrop"] == ["ALL"]

    status = proc_status(web)
    assert status["Uid"].split() == ["10001"] * 4
    assert status["Gid"].split() == ["0"] * 4
    for capabilities in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[capabilities], 16) == 0, capabilities
    assert status["NoNewPrivs"] == "1"

    # The root filesystem refuses a write; the tmpfs and DATA_DIR's volume take one.
    assert web.exec_run(["touch", "/opt/venv/probe"]).exit_code != 0
    assert web.exec_run(["touch", "/tmp/probe"]).exit_code == 0  # noqa: S108 (the container's)
    assert web.exec_run(["touch", "/data/probe"]).exit_code == 0


NEW_VIEW = """

@bp.get("/compose-reload")
def compose_reload():
    return {"marker": "MARKER"}
"""


def test_dev_serves_an_edit_without_a_restart(services):
    dev = services.container("dev")
    dev_url, web_url = (f"http://127.0.0.1:{p}" for p in (services.dev_port, services.web_port))
    wait_for_health(dev_url, timeout=healthy_timeout())
    started_at = dev.attrs["State"]["StartedAt"]

    marker = uuid.uuid4().hex
    # A new view on the health blueprint, in the copy's source that dev has mounted.
    views = services.directory / "src" / PACKAGE / "health.py"
    with views.open("a", encoding="utf-8") as source:
        source.write(NEW_VIEW.replace("MARKER", marker))

    def serves_the_edit():
        response = requests.get(f"{dev_url}/compose-reload", timeout=1)
        return response.status_code == 200 and response.json() == {"marker": marker}

    wait_for(serves_the_edit, reload_timeout(), "dev to serve the edited view")
    # The reloader restarted the server inside the container, not the container.
    dev.reload()
    assert dev.attrs["State"]["StartedAt"] == started_at
    # web runs the code built into its image, whatever happens in src/.
    assert requests.get(f"{web_url}/compose-reload", timeout=5).status_code == 404
{%- if cookiecutter.database == "postgresql" %}


def test_web_is_ready_on_postgres_once_release_migrated_it(services):
    web_url = f"http://127.0.0.1:{services.web_port}"
    wait_for_health(web_url, timeout=healthy_timeout())
    # web started only after `release` exited 0 (depends_on), and its /ready asks the
    # database through the service name on the project's network.
    release = services.client.containers.get(
        services.run("ps", "--all", "--quiet", "release").stdout.split()[0]
    )
    assert release.attrs["State"]["ExitCode"] == 0
    ready = requests.get(f"{web_url}/ready", timeout=5)
    assert ready.status_code == 200, ready.text
    # The migrations ran: Alembic keeps its place in the postgres service's database.
    postgres = services.container("postgres")
    settings = dict(variable.split("=", 1) for variable in postgres.attrs["Config"]["Env"])
    psql = ["psql", "--username", settings["POSTGRES_USER"], "--dbname", settings["POSTGRES_DB"]]
    result = postgres.exec_run([*psql, "-At", "--command", "SELECT count(*) FROM alembic_version"])
    assert result.exit_code == 0, result.output
    assert result.output.decode().strip() == "1"
{%- endif %}


{%- if cookiecutter.websockets == "socketio" %}


def test_web_runs_every_worker_on_the_redis_service(services):
    """compose.yaml's `redis` is Socket.IO's message queue: web boots its full worker
    count, where a web without REDIS_URL runs one (worker_sizing.py)."""
    import json

    web = services.container("web")
    assert "REDIS_URL=redis://redis:6379/0" in web.attrs["Config"]["Env"]

    def boot_lines():
        lines = web.logs().decode(errors="replace").splitlines()
        return [line for line in lines if '"gunicorn configuration"' in line]

    (line, *_) = wait_for(boot_lines, healthy_timeout(), "web's boot configuration line")
    assert json.loads(line)["config"]["workers"] > 1
    assert "REDIS_URL is not set" not in web.logs().decode(errors="replace")
{%- endif %}


# Last: Docker runs the image's HEALTHCHECK first 10 s after the start (its interval),
# so the module's other tests run inside that wait rather than after it.
def test_web_turns_healthy_and_answers_on_loopback_only(services):
    web = services.container("web")
    wait_for_health(f"http://127.0.0.1:{services.web_port}", timeout=healthy_timeout())
    wait_for(lambda: health_status(web) == "healthy", healthy_timeout(), "web to be healthy")
    # The image's own HEALTHCHECK, not one of compose.yaml's.
    assert f"{PACKAGE}.serving.healthcheck" in web.attrs["Config"]["Healthcheck"]["Test"]
    (binding,) = web.attrs["HostConfig"]["PortBindings"]["8080/tcp"]
    assert binding == {"HostIp": "127.0.0.1", "HostPort": str(services.web_port)}
{%- if cookiecutter.background_jobs == "rq" %}


# Last too: the heartbeat check runs on the same interval.
def test_the_worker_turns_healthy_with_webs_hardening(services):
    """compose.yaml's worker: the image's HEALTHCHECK reads its heartbeat (no port),
    and web's hardening came through the anchor, not a copy."""
    worker = services.container("worker")
    wait_for(lambda: health_status(worker) == "healthy", healthy_timeout(), "the worker healthy")
    config, host = worker.attrs["Config"], worker.attrs["HostConfig"]
    assert config["User"] == "10001:0"
    assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert not host["PortBindings"]
{%- endif %}
