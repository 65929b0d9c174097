"""The image against a real PostgreSQL, reached the way Cloud Run reaches Cloud SQL.

A throwaway server of this module's own listens on a unix socket only; its folder is
mounted into each container at /cloudsql/PROJECT:REGION:INSTANCE, where Cloud Run
mounts a Cloud SQL instance's socket, and DATABASE_URL takes Cloud SQL's form
(postgresql://USER:PASSWORD@/DATABASE?host=/cloudsql/...). No host networking and no
published database port: the containers publish on 127.0.0.1 only, as everywhere.
Every container runs read-only, as an arbitrary UID in group 0, without capabilities.
"""

import json
from pathlib import PurePosixPath

import docker
import psycopg
import pytest
import requests
from environment import app_environment
from harness.http import wait_for_health
from harness.postgres import throwaway_server

# test_container.py's fixtures, used here by name (its image's layers are reused: a second
# build of the same context is taken from the cache).
from test_container import (  # noqa: F401 (fixtures)
    HARNESS,
    app_deadline,
    docker_client,
    image,
    run,
)

pytestmark = pytest.mark.docker
PACKAGE = "{{ cookiecutter.package_name }}"
# Where Cloud Run mounts the socket of the instance PROJECT:REGION:INSTANCE.
CLOUD_SQL_FOLDER = "/cloudsql/test-project:europe-west1:test-instance"
# The database tests' probe app in place of yours: its routes write and read a row.
DATABASE_PROBE = ["python", "-m", PACKAGE, "harness.database_app:app"]
# How the containers run: nothing of the image writable but /tmp and /data, any UID.
LOCKED_DOWN = {
    "read_only": True,
    "tmpfs": {"/tmp": "", "/data": ""},  # noqa: S108 (the container's own /tmp)
    "cap_drop": ["ALL"],
}


@pytest.fixture(scope="module")
def socket_server():
    with throwaway_server(socket_only=True) as server:
        yield server


@pytest.fixture
def database(socket_server):
    """(the URL the containers use, the URL this test uses) of a fresh database."""
    name = socket_server.create_database()
    try:
        yield socket_server.socket_url(name, CLOUD_SQL_FOLDER), socket_server.url(name)
    finally:
        socket_server.drop_database(name)


def socket_mount(server):
    # A mount, not a volume string: the target's colons would split "SRC:DST:MODE".
    # Read-only: connecting to a unix socket is not a write to the filesystem it is on.
    return docker.types.Mount(CLOUD_SQL_FOLDER, str(server.socket_dir), "bind", read_only=True)


def test_release_migrates_then_web_writes_and_reads_through_the_cloud_sql_socket(
    docker_client,  # noqa: F811 (the imported fixture)
    image,  # noqa: F811
    run,  # noqa: F811
    socket_server,
    database,
):
    container_url, host_url = database
    release = docker_client.containers.run(
        image.id,
        command=["python", "-m", PACKAGE, "release"],
        environment={**app_environment(PurePosixPath("/data")), "DATABASE_URL": container_url},
        user="34567:0",
        mounts=[socket_mount(socket_server)],
        detach=True,
        **LOCKED_DOWN,
    )
    try:
        exit_code = release.wait(timeout=app_deadline(1) + 30)["StatusCode"]
        lines = [json.loads(line) for line in release.logs(stderr=False).decode().splitlines()]
    finally:
        release.remove(force=True)
    # It ran to the end, logging JSON lines only (each parsed above).
    assert exit_code == 0, lines
    assert lines and all(line["severity"] for line in lines), lines
    # Your migrations ran: Alembic keeps its place in alembic_version.
    with psycopg.connect(host_url) as connection:
        (tables,) = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'alembic_version'"
        ).fetchone()
    assert tables == 1

    environment = {"DATABASE_URL": container_url}
    mounts = [socket_mount(socket_server)]
    yours = run(user="45678:0", environment=environment, mounts=mounts, **LOCKED_DOWN)
    probe = run(
        command=DATABASE_PROBE,
        user="56789:0",
        environment=environment,
        mounts=mounts,
        volumes={str(HARNESS): {"bind": "/app/harness", "mode": "ro"}},
        **LOCKED_DOWN,
    )
    wait_for_health(yours.url, timeout=app_deadline())
    wait_for_health(probe.url, timeout=app_deadline())
    # Your app's /ready asks the database through the socket, as the probe's does.
    for container in (yours, probe):
        ready = requests.get(f"{container.url}/ready", timeout=5)
        assert ready.status_code == 200, ready.text

    written = requests.post(
        f"{probe.url}/_probe/db/notes", data="hello through a socket", timeout=5
    )
    assert written.status_code == 201, written.text
    note = written.json()["id"]
    read = requests.get(f"{probe.url}/_probe/db/notes/{note}", timeout=5)
    assert read.status_code == 200 and read.json() == {"id": note, "body": "hello through a socket"}
    # And the row is in the database, not in a cache of the worker's.
    with psycopg.connect(host_url) as connection:
        (body,) = connection.execute(
            "SELECT body FROM probe_notes WHERE id = %s", (note,)
        ).fetchone()
    assert body == "hello through a socket"
