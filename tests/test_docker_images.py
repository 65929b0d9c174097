"""The template's own image builds (tests/docker_images.py) say what to do when the base
image is out of reach, as the generated project's own builds do."""

import uuid

import pytest

from docker_images import build, docker_client

__all__ = ["docker_client"]  # a fixture, used by name


@pytest.mark.docker
def test_a_base_image_out_of_reach_is_named_as_python_image(bake, docker_client, monkeypatch):
    # A name no registry holds: the pull fails at the first FROM, at once.
    base = f"local/no-such-base-{uuid.uuid4().hex[:8]}:0"
    monkeypatch.setenv("PYTHON_IMAGE", base)
    with pytest.raises(pytest.fail.Exception) as failed:
        build(docker_client, bake(), f"no-base:{uuid.uuid4().hex[:8]}")
    assert f"the base image ({base}) could not be pulled: set PYTHON_IMAGE" in str(failed.value)
