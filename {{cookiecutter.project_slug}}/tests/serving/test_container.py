"""The image, built once per session through the Docker SDK and probed for real.

Without a reachable Docker engine these tests skip, unless REQUIRE_DOCKER=1 (CI),
which turns that into a failure. PYTHON_IMAGE picks the base image to build on.
Where the point is the image running your app (its default command), a test waits
for it as long as your app's measured times allow (harness/budgets.py) and checks
only that it serves; the rest mount and run the probe app.
"""

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import uuid
from pathlib import Path, PurePosixPath

import pytest
import requests
from environment import app_environment
from harness import images
from harness.budgets import app_times, image_workers
from harness.http import BackgroundRequest, wait_for, wait_for_health
from harness.probe_app import SLOW_STARTED

docker = pytest.importorskip("docker")

pytestmark = pytest.mark.docker
PROJECT = Path(__file__).resolve().parents[2]
HARNESS = PROJECT / "tests" / "serving" / "harness"
PROBE_COMMAND = ["python", "-m", "{{ cookiecutter.package_name }}", "harness.probe_app:app"]
# The probe app in place of yours: its endpoints (/_probe/data appends to a file in
# DATA_DIR) and none of your app's start-up time or memory.
PROBE = {
    "command": PROBE_COMMAND,
    "volumes": {str(HARNESS): {"bind": "/app/harness", "mode": "ro"}},
}
NANO = 1_000_000_000
# Docker's health check every second instead of every 10 s, so tests need not wait.
FAST_HEALTHCHECK = {"interval": NANO, "timeout": 3 * NANO, "retries": 3, "start_period": 0}


def app_deadline(workers: int | None = None) -> float:
    """Seconds your app gets to boot `workers` workers in the image (all, by default)."""
    return app_times().deadline(workers or image_workers())


@pytest.fixture(scope="session")
def docker_client():
    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:
        reason = f"no Docker engine reachable ({error.__class__.__name__}: {error})"
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(f"REQUIRE_DOCKER=1 but {reason}")
        pytest.skip(reason)
    yield client
    client.close()


@pytest.fixture(scope="session")
def image(docker_client):
    """The project's image, built once per run (all test processes share it) and removed
    at its end with every image its build made: a run leaves no image behind."""
    return images.run_image(docker_client, PROJECT)


class Container:
    def __init__(self, container, port: int | None) -> None:
        self.container = container
        self.url = f"http://127.0.0.1:{port}" if port else None

    def logs(self) -> list[str]:
        return self.container.logs(stdout=True, stderr=False).decode().splitlines()

    def json_logs(self) -> list[dict]:
        return [json.loads(line) for line in self.logs()]

    def boot_config(self) -> dict:
        def found():
            return [
                line["config"]
                for line in self.json_logs()
                if line.get("message") == "gunicorn configuration"
            ]

        return wait_for(found, 20, "the boot configuration line")[0]

    def metrics(self) -> str:
        """The image's metrics port (9102), scraped from inside: no deploy publishes it."""
        scrape = self.container.exec_run(
            [
                "python",
                "-c",
                "import urllib.request as u; "
                "print(u.urlopen('http://127.0.0.1:9102/metrics').read().decode())",
            ]
        )
        assert scrape.exit_code == 0, scrape.output
        return scrape.output.decode()

    def health_status(self) -> str:
        self.container.reload()
        return self.container.attrs["State"].get("Health", {}).get("Status", "none")


@pytest.fixture
def run(docker_client, image, request):
    """Start a container on a random 127.0.0.1 port; always removed, logs shown on failure."""
    started = []

    def start(container_port: int = 8080, **options) -> Container:
        # The test environment (a fresh SECRET_KEY and so on), then the test's own.
        options["environment"] = {
            **app_environment(PurePosixPath("/data")),
            **options.get("environment", {}),
        }
        container = docker_client.containers.run(
            image.id, detach=True, ports={f"{container_port}/tcp": ("127.0.0.1", None)}, **options
        )
        started.append(container)
        container.reload()
        binding = container.attrs["NetworkSettings"]["Ports"].get(f"{container_port}/tcp")
        port = int(binding[0]["HostPort"]) if binding else None
        return Container(container, port)

    yield start
    for container in started:
        try:
            if getattr(request.node, "rep_call_failed", True):
                print(f"--- logs of {container.short_id} ---")
                print(container.logs().decode(errors="replace"))
            container.remove(force=True)
        except docker.errors.NotFound:  # the test removed it already
            pass


def test_serves_your_apps_health_without_naming_the_server(run):
    started = time.monotonic()
    app = run()
    response = wait_for_health(app.url, timeout=app_deadline())
    print(f"\ndocker run to first 200: {time.monotonic() - started:.2f}s")
    assert "gunicorn/" not in response.headers.get("Server", "")


def test_every_stdout_line_is_json(run):
    app = run()
    wait_for_health(app.url, timeout=app_deadline())
    requests.get(f"{app.url}/nope", timeout=app_times().request_deadline())
    access = app_times().request_deadline()
    wait_for(lambda: any('"path": "/nope"' in line for line in app.logs()), access, "access line")
    lines = app.json_logs()
    assert lines and all(line["severity"] for line in lines)


def test_port_variable_moves_the_listener_and_the_healthcheck(run):
    app = run(
        container_port=9000, environment={"PORT": "9000"}, healthcheck=FAST_HEALTHCHECK, **PROBE
    )
    wait_for_health(app.url)
    wait_for(lambda: app.health_status() == "healthy", 20, "Docker health status healthy")


def test_docker_reports_healthy(run):
    app = run(healthcheck=FAST_HEALTHCHECK)
    healthy = app_deadline()
    wait_for(lambda: app.health_status() == "healthy", healthy, "Docker health status healthy")


def test_runs_on_a_read_only_filesystem(run):
    app = run(read_only=True, tmpfs={"/tmp": ""})  # noqa: S108 (the container's own /tmp)
    wait_for_health(app.url, timeout=app_deadline())


def append(app: Container, name: str, data: bytes) -> dict:
    response = requests.post(f"{app.url}/_probe/data/{name}", data=data, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_app_writes_its_data_read_only_as_an_arbitrary_uid(run):
    app = run(
        **PROBE,
        user="23456:0",
        read_only=True,
        tmpfs={"/tmp": "", "/data": ""},  # noqa: S108 (the container's own /tmp)
        cap_drop=["ALL"],
    )
    wait_for_health(app.url)
    written = append(app, "state.txt", b"first")
    assert written["path"] == "/data/state.txt"
    # umask 002: group 0 may write it too.
    assert written["mode"] == "0o664"


def test_data_on_a_volume_is_shared_by_every_uid_in_group_0(docker_client, run):
    volume = docker_client.volumes.create(f"data-{uuid.uuid4().hex[:8]}")
    try:
        mount = {volume.name: {"bind": "/data", "mode": "rw"}}
        for uid, data in (("20001", b"one,"), ("20002", b"two")):
            app = run(
                command=PROBE["command"],
                volumes={**PROBE["volumes"], **mount},
                user=f"{uid}:0",
                read_only=True,
                tmpfs={"/tmp": ""},  # noqa: S108 (the container's own /tmp)
            )
            wait_for_health(app.url)
            written = append(app, "shared.txt", data)
            app.container.remove(force=True)
        # The second UID appended to the file the first one created.
        assert written["size"] == len(b"one,two")
    finally:
        volume.remove(force=True)


# One process writing a SQLite database in /data: creates the table if missing, inserts
# its UID in a transaction, and prints the rows and each file's mode from inside it
# (when the journals exist), or the error. No start command, so Docker's umask (022).
SQLITE_WRITER = """
import json, os, sqlite3, sys
from pathlib import Path
from {{ cookiecutter.package_name }}.serving import shared_file
path, journal, how = sys.argv[1:]
db = sqlite3.connect(shared_file(path) if how == "shared_file" else path, isolation_level=None)
try:
    db.execute(f"PRAGMA journal_mode = {journal}")
    db.execute("CREATE TABLE IF NOT EXISTS writes (uid INTEGER)")
    db.execute("BEGIN")
    db.execute("INSERT INTO writes VALUES (?)", (os.getuid(),))
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in Path(path).parent.iterdir()}
    db.execute("COMMIT")
    print(json.dumps({"uids": [row[0] for row in db.execute("SELECT uid FROM writes")],
                      "modes": modes}))
except sqlite3.Error as error:
    print(json.dumps({"error": str(error)}))
"""


def write_sqlite(docker_client, image, volume, uid: str, journal: str, how: str) -> dict:
    container = docker_client.containers.run(
        image.id,
        command=["python", "-c", SQLITE_WRITER, "/data/shared.sqlite", journal, how],
        user=f"{uid}:0",
        volumes={volume.name: {"bind": "/data", "mode": "rw"}},
        read_only=True,
        tmpfs={"/tmp": ""},  # noqa: S108 (the container's own /tmp)
        cap_drop=["ALL"],
        detach=True,
    )
    try:
        exit_code = container.wait(timeout=30)["StatusCode"]
        output = container.logs(stdout=True, stderr=True).decode()
        assert exit_code == 0, output
        return json.loads(output.splitlines()[-1])
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("journal", ["delete", "wal"])
@pytest.mark.parametrize("how", ["shared_file", "sqlite3.connect alone"])
def test_a_sqlite_database_on_a_volume_is_shared_by_every_uid_in_group_0(
    docker_client, image, journal, how
):
    """A release as one UID creates the database; the service, as another, writes it."""
    volume = docker_client.volumes.create(f"sqlite-{uuid.uuid4().hex[:8]}")
    try:
        first = write_sqlite(docker_client, image, volume, "20001", journal, how)
        assert first["uids"] == [20001], first
        second = write_sqlite(docker_client, image, volume, "20002", journal, how)
        if how != "shared_file":
            # What shared_file() prevents: SQLite made the file 0644, the owner's alone.
            assert second == {"error": "attempt to write a readonly database"}
            return
        assert second["uids"] == [20001, 20002], second
        # Its journals, the second UID's, were group-writable too: the first UID writes again.
        suffixes = ["-journal"] if journal == "delete" else ["-wal", "-shm"]
        assert second["modes"] == {f"shared.sqlite{s}": "0o664" for s in ["", *suffixes]}
        third = write_sqlite(docker_client, image, volume, "20001", journal, how)
        assert third["uids"] == [20001, 20002, 20001], third
    finally:
        volume.remove(force=True)


{# With a database, test_database_container.py runs the release step against a real one. -#}
{% if cookiecutter.database == "none" -%}
def test_release_step_runs_read_only_as_an_arbitrary_uid(docker_client, image):
    container = docker_client.containers.run(
        image.id,
        command=["python", "-m", "{{ cookiecutter.package_name }}", "release"],
        environment=app_environment(PurePosixPath("/data")),
        user="34567:0",
        read_only=True,
        tmpfs={"/tmp": "", "/data": ""},  # noqa: S108 (the container's own /tmp)
        cap_drop=["ALL"],
        detach=True,
    )
    try:
        exit_code = container.wait(timeout=app_deadline(1))["StatusCode"]
        lines = [json.loads(line) for line in container.logs(stderr=False).decode().splitlines()]
        # Whatever your release step does, it ran to the end, logging JSON lines only.
        assert exit_code == 0, lines
        assert lines and all(line["severity"] for line in lines), lines
    finally:
        container.remove(force=True)


{% endif -%}
def test_release_step_refuses_a_bad_environment_first(docker_client, image):
    output = docker_client.containers.run(
        image.id,
        command=["python", "-m", "{{ cookiecutter.package_name }}", "release"],
        # Everything else your app requires is in place: one server setting is wrong
        # (settings are read, yours with them, before the release step runs).
        environment={**app_environment(PurePosixPath("/data")), "GUNICORN_TIMEOUT": "soon"},
        stderr=True,
        stdout=False,
        remove=False,
        detach=True,
    )
    try:
        assert output.wait(timeout=30)["StatusCode"] == 2
        (line,) = output.logs(stdout=False, stderr=True).decode().splitlines()
        assert line.startswith("configuration error: ")
        assert "GUNICORN_TIMEOUT='soon' is not allowed" in line
    finally:
        output.remove(force=True)


def test_runs_as_an_arbitrary_uid_in_group_0(run):
    app = run(user="12345:0")
    wait_for_health(app.url, timeout=app_deadline())


def test_runs_as_non_root_by_default(image):
    assert image.attrs["Config"]["User"] == "10001:0"


def test_runs_without_capabilities(run):
    app = run(cap_drop=["ALL"], security_opt=["no-new-privileges"])
    wait_for_health(app.url, timeout=app_deadline())


def test_one_cpu_quota_gives_three_workers(run):
    app = run(nano_cpus=NANO)
    config = app.boot_config()
    assert config["workers"] == 3
    assert "cgroup" in config["workers_source"]


def test_web_concurrency_overrides_the_quota(run):
    app = run(nano_cpus=NANO, environment={"WEB_CONCURRENCY": "2"})
    config = app.boot_config()
    assert config["workers"] == 2
    assert config["workers_source"] == "environment (WEB_CONCURRENCY)"


@pytest.mark.parametrize("worker_class", ["sync", "gthread", "gevent"])
def test_each_worker_class_boots_and_serves_read_only_as_an_arbitrary_uid(run, worker_class):
    # As a platform that runs any UID on a read-only root may (OpenShift, hardened
    # Kubernetes): each class boots, and its metrics' files (on /tmp, a tmpfs) work.
    # /data writable too, as such a platform mounts it: your app may write there at boot.
    app = run(
        environment={"GUNICORN_WORKER_CLASS": worker_class},
        user="34567:0",
        read_only=True,
        tmpfs={"/tmp": "", "/data": ""},  # noqa: S108 (the container's own /tmp)
    )
    wait_for_health(app.url, timeout=app_deadline())
    config = app.boot_config()
    assert config["worker_class"] == worker_class

    def every_worker_started():
        text = app.metrics()
        started = re.search(r"^worker_starts_total (\S+)$", text, re.MULTILINE)
        return started and float(started.group(1)) == config["workers"] and text

    text = wait_for(every_worker_started, app_deadline(), "every worker's start counted")
    memory = re.search(r"^worker_memory_bytes (\S+)$", text, re.MULTILINE)
    assert memory and float(memory.group(1)) > 2**20, text[-500:]


def test_bad_environment_exits_before_serving(run):
    app = run(environment={"WEB_CONCURRENCY": "abc"})
    exit_code = app.container.wait(timeout=20)["StatusCode"]
    stderr = app.container.logs(stdout=False, stderr=True).decode().strip().splitlines()
    assert exit_code != 0
    assert len(stderr) == 1 and "WEB_CONCURRENCY" in stderr[0]


def test_stop_finishes_the_in_flight_request_and_exits_0(run):
    app = run(**PROBE)
    wait_for_health(app.url)
    in_flight = BackgroundRequest(f"{app.url}/_probe/slow?seconds=3")
    wait_for(lambda: any(SLOW_STARTED in line for line in app.logs()), 10, "the slow request")
    started = time.monotonic()
    app.container.stop(timeout=10)
    took = time.monotonic() - started
    assert in_flight.outcome() == 200
    app.container.reload()
    assert app.container.attrs["State"]["ExitCode"] == 0
    assert took < 8, f"docker stop took {took:.1f}s"


def test_stop_when_idle_is_quick(run):
    app = run()
    wait_for_health(app.url, timeout=app_deadline())
    started = time.monotonic()
    app.container.stop(timeout=10)
    took = time.monotonic() - started
    print(f"\ndocker stop when idle: {took:.2f}s")
    app.container.reload()
    assert app.container.attrs["State"]["ExitCode"] == 0
    assert took < 5


# Names that must never reach an image, wherever they sit in the build context.
PLANTED = [
    ".env",
    ".env.production",
    "src/.env",
    "src/server.pem",
    "src/deploy.key",
    "src/id_rsa",
    ".git/config",
    "src/.git/HEAD",
]


def image_files(client, image) -> list[str]:
    container = client.containers.create(image.id)
    try:
        with tarfile.open(fileobj=_Stream(container.export()), mode="r|") as archive:
            return [member.name for member in archive]
    finally:
        container.remove(force=True)


class _Stream:
    """A file-like view of the docker SDK's chunk iterator, for tarfile."""

    def __init__(self, chunks):
        self._chunks, self._buffer = iter(chunks), b""

    def read(self, size=-1):
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        data, self._buffer = (
            (self._buffer, b"") if size < 0 else (self._buffer[:size], self._buffer[size:])
        )
        return data


# `image`: the run's image first, whose layers this build takes (images.run_image).
def test_no_secret_or_vcs_file_reaches_any_layer(docker_client, image, tmp_path):
    context = tmp_path / "context"
    shutil.copytree(PROJECT, context, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    for name in PLANTED:
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text("SECRET-VALUE\n")
    # Every planted file is ignored, so the build cache may well give the very same
    # image as the session's: hence removal by tag.
    tag = f"planted-secrets:{uuid.uuid4().hex[:8]}"
    planted, made = images.build(docker_client, context, tag)
    try:
        files = image_files(docker_client, planted)
        leaked = [
            f
            for f in files
            if os.path.basename(f) in {os.path.basename(p) for p in PLANTED}
            and ("/app" in f or "/opt/venv" in f or "src" in f)
        ]
        assert not leaked, leaked
        assert not [f for f in files if "/.git/" in f or f.endswith("/.git")]
        history = " ".join(str(layer.get("CreatedBy", "")) for layer in planted.history())
        assert "SECRET-VALUE" not in history
        # Only the runtime stage ships: no build step, pip or build backend in it.
        assert "pip install" not in history
        assert not [f for f in files if "/site-packages/pip/" in f or "flit_core" in f]
    finally:
        images.remove(docker_client, tag, made)


def test_a_base_image_out_of_reach_is_named_as_python_image(docker_client, monkeypatch):
    # A name no registry holds: the pull fails at the first FROM, at once, with or
    # without Docker Hub. The message says which variable to set, from the tests and
    # from `make image` alike.
    base = f"local/no-such-base-{uuid.uuid4().hex[:8]}:0"
    monkeypatch.setenv("PYTHON_IMAGE", base)
    with pytest.raises(pytest.fail.Exception) as failed:
        images.build(docker_client, PROJECT, f"no-base:{uuid.uuid4().hex[:8]}")
    assert f"the base image ({base}) could not be pulled: set PYTHON_IMAGE" in str(failed.value)
    make = shutil.which("make")
    if make and shutil.which("docker"):
        tag = f"no-base:{uuid.uuid4().hex[:8]}"
        made = subprocess.run(
            [make, "--no-print-directory", "image", f"IMAGE={tag}", f"PYTHON_IMAGE={base}"],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert made.returncode != 0
        assert f"its base image ({base}), set PYTHON_IMAGE to one" in made.stderr
{%- if cookiecutter.background_jobs == "rq" %}


def test_web_and_worker_from_one_image_run_a_job_read_only_as_arbitrary_uids(
    docker_client, image, tmp_path
):
    """Two containers of this image, read-only, as two arbitrary UIDs in group 0: a
    request to web enqueues, the worker runs the job, web shows its result; the
    worker's HEALTHCHECK (its heartbeat, no HTTP) reports it healthy. Both on the host's
    network, listening on 127.0.0.1 only, with a throwaway redis-server there."""
    from harness.http import free_port
    from harness.redis_server import RedisServer

    redis_server = RedisServer(tmp_path / "redis")
    port = free_port()
    common = {
        "detach": True,
        "network_mode": "host",
        "read_only": True,
        "tmpfs": {"/tmp": ""},  # noqa: S108 (the container's own /tmp)
        "volumes": PROBE["volumes"],
        # The image's HEALTHCHECK command, every second.
        "healthcheck": FAST_HEALTHCHECK,
    }
    environment = {
        **app_environment(PurePosixPath("/data")),
        "REDIS_URL": redis_server.url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
    }
    started = []
    try:
        web = docker_client.containers.run(
            image.id,
            ["python", "-m", "{{ cookiecutter.package_name }}", "harness.jobs_app:create_jobs_probe_app()"],
            user="45678:0",
            environment=environment,
            **common,
        )
        started.append(web)
        worker = docker_client.containers.run(
            image.id,
            ["python", "-m", "{{ cookiecutter.package_name }}", "worker"],
            user="56789:0",
            environment=environment,
            **common,
        )
        started.append(worker)
        url = f"http://127.0.0.1:{port}"
        wait_for_health(url, timeout=app_deadline(1))
        response = requests.post(f"{url}/_probe/jobs/whoami", data="hello", timeout=5)
        assert response.status_code == 202, response.text
        job_url = f"{url}/_probe/jobs/{response.json()['id']}"

        def finished():
            shown = requests.get(job_url, timeout=5).json()
            return shown if shown["status"] == "finished" else None

        shown = wait_for(finished, 30, "the worker to run the job")
        assert shown["result"] == {"value": "hello", "uid": 56789, "gid": 0}

        def health(container) -> str:
            container.reload()
            return container.attrs["State"].get("Health", {}).get("Status", "none")

        wait_for(lambda: health(worker) == "healthy", 30, "the worker healthy")
        assert health(web) == "healthy"
        lines = [json.loads(line) for line in worker.logs(stderr=False).decode().splitlines()]
        assert any(line.get("outcome") == "finished" for line in lines)
        worker.stop(timeout=10)
        worker.reload()
        assert worker.attrs["State"]["ExitCode"] == 0
    except BaseException:
        for container in started:
            print(f"--- logs of {container.short_id} ---")
            print(container.logs().decode(errors="replace"))
        raise
    finally:
        for container in started:
            container.remove(force=True)
        redis_server.stop()
{%- endif %}
{%- if cookiecutter.websockets == "yes" %}


def test_a_websocket_round_trips_and_docker_stop_closes_it_with_1001(run):
    """The image, read-only, the probe app's WebSocket routes (harness/websocket_app.py)."""
    import websocket

    app = run(
        read_only=True,
        tmpfs={"/tmp": ""},  # noqa: S108 (the container's own /tmp)
        command=[*PROBE_COMMAND[:-1], "harness.websocket_app:app"],
        volumes=PROBE["volumes"],
    )
    wait_for_health(app.url, timeout=app_deadline())
    ws = websocket.create_connection(
        app.url.replace("http://", "ws://") + "/_probe/ws/echo", timeout=10
    )
    try:
        ws.send("through the image")
        assert ws.recv() == "through the image"
        stopped = time.monotonic()
        app.container.stop(timeout=30)  # SIGTERM, then SIGKILL only after 30 s
        took = time.monotonic() - stopped
        while (frame := ws.recv_frame()).opcode != websocket.ABNF.OPCODE_CLOSE:
            pass
        assert int.from_bytes(frame.data[:2], "big") == 1001
    finally:
        ws.close()
    print(f"\ndocker stop with an open WebSocket: {took:.1f}s")
    app.container.reload()
    assert app.container.attrs["State"]["ExitCode"] == 0
    assert took < 8  # GUNICORN_GRACEFUL_TIMEOUT: the socket did not hold the stop
{%- endif %}


def test_the_image_exports_traces_and_flushes_them_on_docker_stop(docker_client, image):
    """The image, read-only, as an arbitrary UID, with OTEL_EXPORTER_OTLP_ENDPOINT: its
    spans reach a real OTLP/HTTP receiver, the last batch on `docker stop`. On the
    host's network, both listening on 127.0.0.1 only (tests/serving/test_tracing.py
    checks every worker class; this, the image)."""
    from harness.http import free_port
    from harness.otlp_receiver import otlp_receiver

    port = free_port()
    with otlp_receiver() as receiver:
        container = docker_client.containers.run(
            image.id,
            [*PROBE_COMMAND[:-1], "harness.tracing_app:app"],
            detach=True,
            network_mode="host",
            read_only=True,
            tmpfs={"/tmp": ""},  # noqa: S108 (the container's own /tmp)
            volumes=PROBE["volumes"],
            user="45678:0",
            environment={
                **app_environment(PurePosixPath("/data")),
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "WEB_CONCURRENCY": "2",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                # No batch before the stop: only the exit's flush sends these.
                "OTEL_BSP_SCHEDULE_DELAY": "60000",
            },
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_health(url, timeout=app_deadline(2))
            for number in range(5):
                requests.get(f"{url}/items/{number}", timeout=5).raise_for_status()
            container.stop(timeout=30)
            spans = receiver.wait_for_spans(5, timeout=5)
            assert sorted(span.attributes["url.path"] for span in spans) == [
                f"/items/{number}" for number in range(5)
            ]
            container.reload()
            assert container.attrs["State"]["ExitCode"] == 0
        except BaseException:
            print(container.logs().decode(errors="replace"))
            raise
        finally:
            container.remove(force=True)
{%- if cookiecutter.websockets == "socketio" %}


def test_a_socketio_client_connects_and_docker_stop_closes_it_with_1001(run):
    """The image, read-only, the probe app's Socket.IO events (harness/socketio_app.py),
    spoken to as a Socket.IO client does, on its websocket transport."""
    import websocket

    app = run(
        read_only=True,
        tmpfs={"/tmp": ""},  # noqa: S108 (the container's own /tmp)
        command=[*PROBE_COMMAND[:-1], "harness.socketio_app:app"],
        volumes=PROBE["volumes"],
        # The class Socket.IO fits, whatever this project's default.
        environment={"GUNICORN_WORKER_CLASS": "gevent"},
    )
    wait_for_health(app.url, timeout=app_deadline())
    url = app.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(url, timeout=10)
    try:
        assert ws.recv().startswith("0{")  # Engine.IO's open packet
        ws.send("40")  # Socket.IO's connect to the default namespace
        assert ws.recv().startswith("40{")
        stopped = time.monotonic()
        app.container.stop(timeout=30)  # SIGTERM, then SIGKILL only after 30 s
        took = time.monotonic() - stopped
        while (frame := ws.recv_frame()).opcode != websocket.ABNF.OPCODE_CLOSE:
            pass
        assert int.from_bytes(frame.data[:2], "big") == 1001
    finally:
        ws.close()
    print(f"\ndocker stop with an open Socket.IO client: {took:.1f}s")
    app.container.reload()
    assert app.container.attrs["State"]["ExitCode"] == 0
    assert took < 8  # GUNICORN_GRACEFUL_TIMEOUT: the socket did not hold the stop
{%- endif %}
