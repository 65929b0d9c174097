"""Each baked project passes its own tests, in this one shared environment.

The default bake runs its whole suite. Each other worker class runs everything
but the `slow` fault and fuzz tests, which already cover all three classes (the gevent
bake also answers database=postgresql, so its suite adds the database tests; the sync
bake answers scheduled_jobs=yes, so its suite adds the scheduled command's); the
container tests are included (one image build per bake, removed at the end of that
bake's suite with every layer it made). Other Python versions run neither `slow` nor
container tests: their base image would have to come from a registry.
"""

import os
import subprocess
import sys
import uuid

import pytest

from conftest import DEFAULTS, NO_TARGETS
from docker_images import build, remove_image

DEFAULT_CLASS, *OTHER_CLASSES = DEFAULTS["worker_class"]
# The other answers ride on these bakes rather than adding some, their container tests
# included, so each costs only its own tests' time. The database on gevent, the class
# where a database driver can block a whole worker (its tests use TEST_POSTGRES_URL's
# server, or one they start); the background worker on sync (against TEST_REDIS_URL's
# Redis, or a redis-server they start; web and worker as two containers of one image),
# with the scheduled command (its tests are the user's, tests/test_scheduled.py).
# WebSockets (flask-sock) on gevent too: their tests run gthread and gevent servers
# alike; Socket.IO on sync, beside the jobs' Redis, which its message queue shares
# (its tests start their own gevent and gthread servers).
EXTRA_ANSWERS = {
    "gevent": {"database": "postgresql", "websockets": "yes"},
    "sync": {"background_jobs": "rq", "scheduled_jobs": "yes", "websockets": "socketio"},
}
WITH_CONTAINERS = {
    f"worker-{DEFAULT_CLASS}": ({"worker_class": DEFAULT_CLASS}, []),
    **{
        f"worker-{w}": ({"worker_class": w, **EXTRA_ANSWERS.get(w, {})}, ["-m", "not slow"])
        for w in OTHER_CLASSES
    },
}
WITHOUT_CONTAINERS = {f"python-{v}": {"python_version": v} for v in DEFAULTS["python_version"][1:]}
WITHOUT_CONTAINERS["all-targets-off"] = {**NO_TARGETS, "github_actions": "no"}


# Test processes per baked suite, as the project's `make test` runs it (TEST_WORKERS):
# its grouping, its one image per run and its port shares are tested here too.
TEST_WORKERS = "2"


def run_suite(project, *args):
    # The baked project's own pytest settings apply (rootdir is the project).
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", TEST_WORKERS, *args],
        cwd=project,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
    )
    # On failure, the summary and the tracebacks above it.
    tail = "\n".join(result.stdout.splitlines()[-60 if result.returncode == 0 else -400 :])
    print(tail)
    assert result.returncode == 0, tail + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def shared_layers(bake):
    """The default bake's image, built once and kept while this module's bakes run.

    A bake's suite removes every layer its own build made when it ends, so each bake
    built its image from scratch, the locked dependencies installed again. The bakes
    here lock the same dependencies: with this image in the engine their builds take
    those layers from the cache, and their clean-up leaves them (a layer that another
    image stands on is never removed). Removed with everything it made at the end.
    Without an engine, nothing: the bakes' suites say what they need.
    """
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception:
        yield None
        return
    tag = f"wsgi-template-layers:{uuid.uuid4().hex[:8]}"
    layers = []
    try:
        layers = build(client, bake(**WITH_CONTAINERS[f"worker-{DEFAULT_CLASS}"][0]), tag)
        yield tag
    finally:
        remove_image(client, tag, layers)
        client.close()


@pytest.mark.docker
@pytest.mark.parametrize(
    ("answers", "selection"), list(WITH_CONTAINERS.values()), ids=list(WITH_CONTAINERS)
)
def test_baked_project_passes_its_suite_with_containers(bake, shared_layers, answers, selection):
    output = run_suite(bake(**answers), "-s", *selection)
    if os.environ.get("REQUIRE_DOCKER") == "1":
        assert " skipped" not in output.splitlines()[-1], "container tests were skipped"


@pytest.mark.parametrize("answers", list(WITHOUT_CONTAINERS.values()), ids=list(WITHOUT_CONTAINERS))
def test_baked_project_passes_its_suite_without_containers(bake, answers):
    run_suite(bake(**answers), "-m", "not docker and not slow")
