"""A generated project's installs, as a user meets them: an sdist-only dependency added
through `make lock`, an app's old pins kept by `make lock CONSTRAINTS=...`, one package
upgraded by `make lock UPGRADE_PACKAGE=...`, the venv brought to the new lock in place,
and the image built with the sdist and a system library in their documented places.

One bake serves every test here (the image build is the slow part): the fixture runs
the steps in a user's order and records what each left behind.
"""

import re
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from conftest import TEMPLATE
from docker_images import build, docker_client, remove_image, wait_for_health

__all__ = ["docker_client"]  # a fixture, used by name

# The template's shared venv: its uv stands in for one on the user's PATH.
UV = Path(sys.executable).parent / "uv"
# Published only as an sdist (setup.py, no wheel), pure Python, small: it builds with
# the locked setuptools and needs no compiler.
SDIST_ONLY = "langdetect"
# An app's existing pins, older than the newest releases: `make lock` must keep both,
# and upgrading flask alone must leave click where it was.
OLD_PINS = {"flask": "3.1.0", "click": "8.1.8"}
# A system library in both places the Dockerfile names: headers to build, the shared
# library to run. libpq: what psycopg links, and small.
BUILD_PACKAGES, RUNTIME_PACKAGES = "libpq-dev", "libpq5"


def make(project: Path, *args: str) -> str:
    result = subprocess.run(
        ["make", "-C", str(project), f"UV={UV}", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"make {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def pinned(lock: Path, name: str) -> str:
    match = re.search(rf"^{name}==(\S+) .*\\\n\s+--hash=sha256:", lock.read_text(), re.MULTILINE)
    assert match, f"{lock.name} does not pin {name} with hashes"
    return match[1]


def installed(project: Path, name: str) -> str:
    python = project / ".venv" / "bin" / "python"
    code = f"from importlib.metadata import version; print(version({name!r}))"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


def flip(digit: re.Match) -> str:
    """A hash's first digit changed."""
    return "sha256:" + ("1" if digit[1] == "0" else "0")


@pytest.fixture(scope="module")
def steps(tmp_path_factory) -> dict:
    if not UV.exists():
        pytest.fail(f"no uv in {UV.parent} (requirements-dev.in)")
    output = tmp_path_factory.mktemp("installs")
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output)))
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(
        text.replace("dependencies = [\n", f'dependencies = [\n    "{SDIST_ONLY}",\n', 1)
    )
    old = output / "old-requirements.txt"
    old.write_text("".join(f"{name}=={version}\n" for name, version in OLD_PINS.items()))
    facts: dict = {"project": project}

    make(project, "lock", f"CONSTRAINTS={old}")
    facts["constrained"] = {name: pinned(project / "requirements.txt", name) for name in OLD_PINS}
    make(project, "sync")
    facts["synced"] = {name: installed(project, name) for name in (*OLD_PINS, SDIST_ONLY)}
    python = project / ".venv" / "bin" / "python"
    facts["venv"] = python.lstat().st_ino

    make(project, "lock", "UPGRADE_PACKAGE=flask")
    facts["upgraded"] = {name: pinned(project / "requirements.txt", name) for name in OLD_PINS}
    # What `make test` and `make lint` do first, and `make run` for requirements.txt.
    facts["resync"] = make(project, ".venv/.installed-dev", ".venv/.installed-run")
    facts["after"] = {name: installed(project, name) for name in OLD_PINS}
    facts["venv after"] = python.lstat().st_ino
    return facts


def test_make_lock_pins_the_sdist_and_the_backend_that_builds_it(steps):
    project = steps["project"]
    assert pinned(project / "requirements.txt", SDIST_ONLY) == steps["synced"][SDIST_ONLY]
    for backend in ("setuptools", "flit-core", "uv"):
        pinned(project / "requirements-build.txt", backend)


def test_make_lock_keeps_an_apps_pins_and_upgrades_one_package_on_request(steps):
    assert steps["constrained"] == OLD_PINS
    assert steps["synced"] | OLD_PINS == steps["synced"], "make sync did not install the lock"
    assert steps["upgraded"]["flask"] != OLD_PINS["flask"], "UPGRADE_PACKAGE=flask kept 3.1.0"
    assert steps["upgraded"]["click"] == OLD_PINS["click"], "upgrading flask moved click"


def test_the_venv_follows_a_new_lock_in_place(steps):
    assert steps["after"] == steps["upgraded"], steps["resync"]
    assert steps["venv after"] == steps["venv"], "the venv was made again from scratch"


def test_a_build_backend_with_a_wrong_hash_fails_the_sdist_build(steps, tmp_path):
    """uv checks the hashes of --build-constraints: the locked backend, or no build."""
    project = steps["project"]
    build = (project / "requirements-build.txt").read_text()
    wrong = tmp_path / "requirements-build.txt"
    # Every hash of setuptools (wheel and sdist) off by one digit; the others as locked.
    block = re.search(r"^setuptools==.*?(?=^\S)", build, re.MULTILINE | re.DOTALL)[0]
    wrong.write_text(build.replace(block, re.sub(r"sha256:(\w)", flip, block)))
    assert wrong.read_text() != build
    sdist = f"{SDIST_ONLY}=={steps['synced'][SDIST_ONLY]}"
    lock = tmp_path / "requirements.txt"
    text = (project / "requirements.txt").read_text()
    lock.write_text(re.search(rf"^{sdist} \\\n(\s+--hash=\S+(?: \\)?\n)+", text, re.M)[0])
    result = subprocess.run(
        [UV, "pip", "install", "--python", project / ".venv/bin/python", "--no-cache"]
        + ["--reinstall", "--require-hashes", "--no-deps", "--build-constraints", wrong]
        + ["-r", lock],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0, result.stderr
    assert "setuptools" in result.stderr and "hash" in result.stderr.lower(), result.stderr


@pytest.mark.docker
def test_the_image_builds_the_sdist_and_takes_a_system_library(steps, docker_client):
    """One build: the sdist and the libraries in, and nothing of the build in the runtime."""
    project = steps["project"]
    tag = f"wsgi-template-installs:{uuid.uuid4().hex[:8]}"
    containers, layers = [], []
    try:
        layers = build(
            docker_client,
            project,
            tag,
            BUILD_PACKAGES=BUILD_PACKAGES,
            RUNTIME_PACKAGES=RUNTIME_PACKAGES,
        )

        def run(*command: str) -> str:
            return docker_client.containers.run(tag, list(command), remove=True).decode()

        # The sdist's code and its data files: it names the language of a sentence.
        detect = (
            "from langdetect import DetectorFactory, detect; DetectorFactory.seed = 0; "
            "print(detect('Une phrase écrite en français, assez longue pour la reconnaître.'))"
        )
        assert run("python", "-c", detect) == "fr\n"
        # The runtime library is there; the headers and the build tools are not.
        find = "import ctypes.util; print(ctypes.util.find_library('pq'))"
        assert run("python", "-c", find).startswith("libpq.so"), "no libpq at run time"
        leftovers = (
            "import importlib.util, shutil; "
            "print([n for n in ('pip', 'setuptools', 'flit_core', 'uv') if importlib.util"
            ".find_spec(n)] + [t for t in ('gcc', 'cc', 'pg_config', 'uv') if shutil.which(t)])"
        )
        assert run("python", "-c", leftovers) == "[]\n"

        service = docker_client.containers.run(
            tag,
            ports={"8080/tcp": ("127.0.0.1", None)},
            environment={"SECRET_KEY": secrets.token_urlsafe(32)},
            detach=True,
        )
        containers.append(service)
        service.reload()
        port = service.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
        wait_for_health(service, f"http://127.0.0.1:{port}")
    except BaseException:
        for container in containers:
            print(f"--- logs of {container.short_id} ---")
            print(container.logs().decode(errors="replace"))
        raise
    finally:
        for container in containers:
            container.remove(force=True)
        remove_image(docker_client, tag, layers)
