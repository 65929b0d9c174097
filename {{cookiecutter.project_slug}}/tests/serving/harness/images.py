"""Images the container tests build, and their removal afterwards.

A test removes what its build made and nothing else: the tagged image, and the
untagged images of each step that the classic builder leaves behind, the builder
stage's included. A step taken from the cache, or a FROM step (the base image), made
nothing, so the base image, a cache from your own `make image` and other builds'
images stay. The engine and the Docker SDK are the caller's.
"""

import contextlib
import functools
import json
import os
import re
import time
import uuid

import pytest

from harness.run import folder

# The classic builder prints each step's image as ` ---> ID` (12 hex digits), after
# ` ---> Using cache` when it reused one.
STEP_IMAGE = re.compile(r"^---> ([0-9a-f]{12})$")


def made_by(lines) -> list[str]:
    """The images a build made, both stages, in the order it made them."""
    made, step, cached = [], "", False
    for line in lines:
        line = line.strip()
        if line.startswith("Step "):
            step, cached = line, False
        elif line == "---> Using cache":
            cached = True
        elif (image := STEP_IMAGE.match(line)) and not cached and " : FROM " not in step:
            made.append(image[1])
    return made


def build_lines(build_log) -> list[str]:
    """The text of a Docker SDK build log (its chunks), line by line."""
    text = "".join(chunk.get("stream", "") + chunk.get("error", "") for chunk in build_log)
    return text.splitlines()


def base_image_hint(lines: list[str]) -> str:
    """What to do when the build stopped at a FROM step: its base image is out of reach."""
    steps = [line.strip() for line in lines if line.strip().startswith("Step ")]
    if not steps or " : FROM " not in steps[-1]:
        return ""
    base = os.environ.get("PYTHON_IMAGE") or "the Dockerfile's default"
    return (
        f"the base image ({base}) could not be pulled: set PYTHON_IMAGE to a base image "
        "this engine has or can reach (without Docker Hub: a local or mirrored one)\n"
    )


@functools.cache
def one_build_at_a_time():
    """The run's build lock, across its test processes (`with one_build_at_a_time():`).
    Two builds of this Dockerfile side by side would each install every locked
    dependency; one after the other, the second takes the first's layers from the
    engine's cache. One lock object per process: it may be taken again while held."""
    from filelock import FileLock

    return FileLock(folder() / "build.lock")


def build(client, context, tag: str):
    """Build `context` as `tag` on PYTHON_IMAGE; the image and the images it made.

    A failed build fails the test with the log, and with PYTHON_IMAGE named when the
    base image was out of reach; whatever it made before failing is removed.
    """
    import docker

    buildargs = {}
    if os.environ.get("PYTHON_IMAGE"):
        buildargs["PYTHON_IMAGE"] = os.environ["PYTHON_IMAGE"]
    try:
        with one_build_at_a_time():
            built, log = client.images.build(
                path=str(context), tag=tag, buildargs=buildargs, rm=True, forcerm=True
            )
    except docker.errors.BuildError as error:
        lines = build_lines(error.build_log)
        remove(client, None, made_by(lines))
        pytest.fail(
            f"docker build failed: {error}\n{base_image_hint(lines)}" + "\n".join(lines),
            pytrace=False,
        )
    return built, made_by(build_lines(log))


def remove(client, tag: str | None, made: list[str]) -> None:
    """The tag, then each image the build made, children first.

    One still in use (tagged by another test's build, or a parent of one) is left to
    that build's own removal.
    """
    import docker

    if tag:
        # Not pruned here: an untagged parent is removed below only if this build made it.
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(tag, noprune=True)
    for image in reversed(made):
        with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
            if not client.images.get(image).tags:
                client.images.remove(image, noprune=True)


def run_image(client, context):
    """The project's image for the whole run: the first test process that asks builds
    it, the others (pytest-xdist's workers) reuse it, and remove_run_image() removes it
    after the last of them.

    Every other build of the run (compose's, a planted context's) asks for it first, and
    so takes its layers from the cache: a build that came first would leave its own
    layers under this image, where its clean-up cannot remove them and this one's does
    not know them.
    """
    record = folder() / "image.json"
    with one_build_at_a_time():
        if record.exists():
            return client.images.get(json.loads(record.read_text())["id"])
        tag = f"{{ cookiecutter.project_slug }}:test-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        built, made = build(client, context, tag)
        record.write_text(json.dumps({"id": built.id, "tag": tag, "made": made}))
    print(
        f"\nimage {tag}: built in {time.monotonic() - started:.1f}s, "
        f"{built.attrs['Size'] / 1e6:.1f} MB"
    )
    return built


def remove_run_image() -> None:
    """The run's image, if a test built one, and every image its build made."""
    record = folder() / "image.json"
    if not record.exists():
        return
    import docker

    made = json.loads(record.read_text())
    client = docker.from_env()
    try:
        # By tag: another build of the run may share this image ID.
        remove(client, made["tag"], made["made"])
    finally:
        client.close()
