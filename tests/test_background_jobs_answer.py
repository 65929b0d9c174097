"""The `background_jobs` answer: `none` adds nothing, `rq` adds its files, its one
dependency and locks that hold exactly its set.

The locks keep one text per file, the answer's few blocks as Jinja if/else spots
(scripts/answer_locks.py): rendered either way, each must be what `make lock`
resolves. The generated suite of an rq bake (tests/serving/test_jobs*.py) tests the
worker itself against a real Redis.
"""

import importlib.util
import sys
import tomllib
from pathlib import Path

from conftest import TEMPLATE, files

UV = Path(sys.executable).parent / "uv"
LOCKS = ("requirements.txt", "requirements-dev.txt", "requirements-bench.txt")
JOB_PACKAGES = ("rq", "redis", "croniter")
# Names the jobs' machinery brings; a project without background jobs has none of them.
JOB_NAMES = ("REDIS_URL", "WORKER_QUEUES", "enqueue(", "job_worker", "redis-server", "rq==")


def post_gen_hook():
    spec = importlib.util.spec_from_file_location(
        "post_gen_hook", TEMPLATE / "hooks" / "post_gen_project.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def owned_by_rq(package="my_service", slug="my-service"):
    hook = post_gen_hook()
    return [
        path.replace(hook.PACKAGE, package).replace(hook.SLUG, slug)
        for answer, value, paths in hook.owners()
        if answer == "background_jobs" and value == "rq"
        for path in paths
    ]


def locked(lock: Path) -> set[str]:
    return {
        line.split("==")[0]
        for line in lock.read_text().splitlines()
        if line and not line.startswith((" ", "#"))
    }


def test_none_adds_nothing(bake):
    project, explicit = bake(), bake(background_jobs="none")
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == sorted(
        p.relative_to(explicit) for p in explicit.rglob("*")
    )
    for path in files(project):
        assert path.read_bytes() == (explicit / path.relative_to(project)).read_bytes(), path
    for path in owned_by_rq():
        assert not (project / path).exists(), path
    for path in files(project):
        text = path.read_text(encoding="utf-8")
        for name in JOB_NAMES:
            assert name not in text, f"{path.relative_to(project)} mentions {name}"
    for lock in LOCKS:
        assert not locked(project / lock) & set(JOB_PACKAGES), lock


def test_rq_adds_its_files_dependency_and_worker(bake):
    # Every deploy target on (systemd is off by default): the worker files are all there.
    project = bake(background_jobs="rq", deploy_systemd="yes")
    for path in owned_by_rq():
        assert (project / path).exists(), path
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert "rq==3.0.0" in dependencies["dependencies"]
    for lock in LOCKS:
        assert set(JOB_PACKAGES) <= locked(project / lock), lock
    procfile = (project / "Procfile").read_text()
    assert "worker: PYTHONPATH=src python -m my_service worker" in procfile
    compose = (project / "compose.yaml").read_text()
    assert "  worker:\n    # The same image" in compose and "x-jobs-environment:" in compose
    assert "image: ${REDIS_IMAGE:-redis:7-bookworm}" in compose


def test_the_hook_removes_rqs_paths_only_for_other_values():
    hook = post_gen_hook()
    answers = {name: "yes" for name in hook.OWNED_BY_ANSWER} | {
        "package_name": "shop",
        "project_slug": "shop-api",
    }
    with_jobs = hook.removed_paths({**answers, "background_jobs": "rq"})
    without = hook.removed_paths({**answers, "background_jobs": "none"})
    assert not set(owned_by_rq("shop", "shop-api")) & set(with_jobs)
    assert set(owned_by_rq("shop", "shop-api")) <= set(without)
    assert "src/shop/serving/job_worker.py" in without
    assert "deploy/systemd/shop-api-worker.service" in without
