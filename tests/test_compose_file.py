"""compose.yaml, offline: valid against the Compose Specification, `web` locked down as the
container tests run the image, `dev` on the mounted source. The baked project's own
tests/serving/test_compose.py brings both up for real.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import DEFAULTS

BIN = Path(sys.executable).parent
BAKES = {
    "default": {},
    "custom-names": {"project_name": "Billing API", "package_name": "billing"},
    # A package name that YAML 1.1 (docker-compose v1) would read as a boolean.
    "yaml-word-package": {"package_name": "on"},
    **{f"python-{v}": {"python_version": v} for v in DEFAULTS["python_version"][1:]},
    # worker and redis services too; the worker's command names the package.
    "background-jobs": {"background_jobs": "rq", "package_name": "on"},
}


@pytest.fixture(params=list(BAKES), scope="module")
def project(request, bake):
    return bake(**BAKES[request.param])


def tool(name):
    path = BIN / name
    assert path.exists(), f"{name} is not installed next to {sys.executable}"
    return str(path)


def services(project):
    return yaml.safe_load((project / "compose.yaml").read_text())["services"]


def test_passes_the_compose_spec(project):
    result = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(project / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_web_is_locked_down_like_the_container_tests(project):
    web = services(project)["web"]
    assert web["read_only"] is True
    assert "/tmp" in web["tmpfs"]
    assert web["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in web["security_opt"]
    assert web["user"] == "10001:0"
    # The image's HEALTHCHECK applies: none set here, none disabled.
    assert "healthcheck" not in web
    assert web["environment"]["SECRET_KEY"] == "${SECRET_KEY:-}"
    assert any(volume.endswith(":/data") for volume in web["volumes"])


def image_services(project) -> dict:
    """The services built from this project's image (redis is not)."""
    return {name: s for name, s in services(project).items() if "build" in s}


def test_both_services_read_the_tests_environment_file(project):
    # The one place a user puts test values (tests/environment.py reads it too).
    for service in image_services(project).values():
        assert service["env_file"] == ["tests/test.env"]
    assert (project / "tests" / "test.env").is_file()


def test_both_services_publish_on_loopback_only(project):
    ports = {name: service.get("ports") for name, service in services(project).items()}
    # The worker and redis publish nothing: no port to reach from this machine.
    assert {ports.pop(name, None) for name in ("worker", "redis")} == {None}
    assert ports == {
        "web": ["127.0.0.1:${WEB_PORT:-8080}:8080"],
        "dev": ["127.0.0.1:${DEV_PORT:-8081}:8080"],
    }


def test_builds_on_the_dockerfiles_default_base(project):
    (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", (project / "Dockerfile").read_text(), re.M)
    for service in image_services(project).values():
        assert service["build"]["args"]["PYTHON_IMAGE"] == f"${{PYTHON_IMAGE:-{default}}}"


def test_dev_runs_the_mounted_source_with_the_reloader(project):
    (package,) = [p.parent.name for p in project.glob("src/*/__init__.py")]
    dev = services(project)["dev"]
    # The start command's `manage`, as `make dev` runs it: the environment is checked
    # and the umask set before Flask's development server starts.
    assert dev["command"][:4] == ["python", "-m", package, "manage"]
    assert dev["command"][4:6] == ["--debug", "run"]
    assert "./src:/app/src:ro" in dev["volumes"]
    assert dev["environment"]["PYTHONPATH"] == "/app/src"
    assert dev["environment"]["LOG_FORMAT"] == "text"
    # Never started by a plain `docker compose up`: the debugger runs arbitrary code.
    assert dev["profiles"] == ["dev"]
    # The same hardening as web: what fails there fails here first.
    web = services(project)["web"]
    for field in ("read_only", "tmpfs", "cap_drop", "security_opt", "user", "build"):
        assert dev[field] == web[field], field


def test_the_worker_is_webs_image_and_hardening_with_its_own_command(bake):
    project = bake(background_jobs="rq", package_name="on")
    web, worker, redis = (services(project)[name] for name in ("web", "worker", "redis"))
    for key in ("build", "read_only", "tmpfs", "cap_drop", "security_opt", "user", "env_file"):
        assert worker[key] == web[key], key
    # Quoted in the file: YAML 1.1 would read `on` as true.
    assert worker["command"] == ["python", "-m", "on", "worker"]
    assert worker["environment"]["REDIS_URL"] == web["environment"]["REDIS_URL"]
    assert worker["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert "healthcheck" not in worker
    assert redis["image"] == "${REDIS_IMAGE:-redis:7-bookworm}"
    assert "--appendonly" in redis["command"] and "ports" not in redis
    # The anchor, not a copy: the hardening is written once.
    text = (project / "compose.yaml").read_text()
    assert text.count("read_only: true") == 1 and "  worker:\n" in text
