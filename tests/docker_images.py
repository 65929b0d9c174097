"""Images the template's own Docker tests build, and their removal afterwards.

A test removes what its build made and nothing else: the tagged image, and the
untagged images the classic builder leaves for each step, the builder stage's
included. A step taken from the cache, or a FROM step (the base image), made nothing,
so the base image, other builds' cache and a user's images stay.
"""

import contextlib
import re

# A step's image in the classic builder's output (not " ---> Running in ...").
LAYER = re.compile(r"---> ([0-9a-f]{12,64})$")


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
