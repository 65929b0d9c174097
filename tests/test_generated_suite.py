"""Each baked project passes its own tests, in this one shared environment.

The default bake and each worker class run the full suite, container tests
included (one image build per bake; the dependency layer is cached across bakes).
Other Python versions run everything but the container tests: their base image
would have to come from a registry.
"""

import os
import subprocess
import sys

import pytest

from conftest import DEFAULTS

FULL = {f"worker-{w}": {"worker_class": w} for w in DEFAULTS["worker_class"]}
WITHOUT_CONTAINERS = {f"python-{v}": {"python_version": v} for v in DEFAULTS["python_version"][1:]}
WITHOUT_CONTAINERS["all-targets-off"] = {
    "deploy_cloud_run": "no",
    "deploy_railway": "no",
    "deploy_heroku": "no",
    "github_actions": "no",
}


def run_suite(project, *args):
    # The baked project's own pytest settings apply (rootdir is the project).
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=project,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
    )
    tail = "\n".join(result.stdout.splitlines()[-60:])
    print(tail)
    assert result.returncode == 0, tail + result.stderr[-3000:]
    return result.stdout


@pytest.mark.docker
@pytest.mark.parametrize("answers", list(FULL.values()), ids=list(FULL))
def test_baked_project_passes_its_full_suite(bake, answers):
    output = run_suite(bake(**answers), "-s")
    if os.environ.get("REQUIRE_DOCKER") == "1":
        assert " skipped" not in output.splitlines()[-1], "container tests were skipped"


@pytest.mark.parametrize("answers", list(WITHOUT_CONTAINERS.values()), ids=list(WITHOUT_CONTAINERS))
def test_baked_project_passes_its_suite_without_containers(bake, answers):
    run_suite(bake(**answers), "-m", "not docker")
