"""The Docker engine for the template's own tests, the images they build, and their
removal afterwards.

A test removes what its build made and nothing else: the tagged image, and the
untagged images the classic builder leaves for each step, the builder stage's
included. A step taken from the cache, or a FROM step (the base image), made nothing,
so the base image, other builds' cache and a user's images stay.
"""

import contextlib
import os
import re
import time

import pytest
import requests

# A step's image in the classic builder's output (not " ---> Running in ...").
LAYER = re.compile(r"---> ([0-9a-f]{12,64})$")


@pytest.fixture(scope="module")
def docker_client():
    """The engine, or a skip naming why (a failure under REQUIRE_DOCKER=1, as in CI)."""
    docker = pytest.importorskip("docker")
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


def new_layers(build_log) -> list[str]:
    """The images this build made rather than took from the cache, both stages, in order.

    The classic builder prints each step's image as ` ---> ID`, after ` ---> Using cache`
    when it reused one; a FROM step's is the base image's.
    """
    made, step, cached = [], "", False
    for chunk in build_log:
        for line in chunk.get("stream", "").splitlines():
            line = line.strip()
            if line.startswith("Step "):
                step, cached = line, False
            elif line == "---> Using cache":
                cached = True
            elif (image := LAYER.match(line)) and not cached and " : FROM " not in step:
                made.append(image[1])
    return made


def base_image_hint(log: str) -> str:
    """What to do when the build stopped at a FROM step: its base image is out of reach."""
    steps = [line.strip() for line in log.splitlines() if line.strip().startswith("Step ")]
    if not steps or " : FROM " not in steps[-1]:
        return ""
    base = os.environ.get("PYTHON_IMAGE") or "the Dockerfile's default"
    return (
        f"the base image ({base}) could not be pulled: set PYTHON_IMAGE to a base image "
        "this engine has or can reach (without Docker Hub: a local or mirrored one)\n"
    )


def build(client, context, tag: str, **buildargs: str) -> list[str]:
    """Build `context` as `tag` on PYTHON_IMAGE (when set); the layers the build made.

    A failed build fails the test with its log, and names PYTHON_IMAGE when the base
    image was out of reach; whatever it made before failing is removed.
    """
    import docker

    if os.environ.get("PYTHON_IMAGE"):
        buildargs["PYTHON_IMAGE"] = os.environ["PYTHON_IMAGE"]
    try:
        _, build_log = client.images.build(
            path=str(context), tag=tag, buildargs=buildargs, rm=True, forcerm=True
        )
    except docker.errors.BuildError as error:
        chunks = list(error.build_log)  # an iterator: read once
        remove_image(client, tag, new_layers(chunks))
        log = "".join(c.get("stream", "") + c.get("error", "") for c in chunks)
        pytest.fail(f"docker build failed: {error}\n{base_image_hint(log)}{log}", pytrace=False)
    return new_layers(build_log)


def remove_image(client, tag: str, layers: list[str]) -> None:
    """The tag, then every untagged image the build made (the builder stage's too)."""
    import docker

    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(tag)
    for layer in reversed(layers):
        # Gone with the tag, or now a parent of another build's image: left alone.
        with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
            if not client.images.get(layer).tags:
                client.images.remove(layer, noprune=True)


# Five workers build a heavy app at once, a second and 100 MiB each: room for a loaded
# machine.
def wait_for_health(container, url: str, timeout: float = 60.0) -> None:
    """Poll `url`/health until 200; fail at once if the container exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        assert container.status != "exited", "the service exited before answering /health"
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or no worker has built the app yet to answer
        time.sleep(0.1)
    raise AssertionError(f"{url}/health did not answer 200 within {timeout}s")
