"""The `background_jobs` answer: `none` adds nothing, `rq` adds its files, its one
dependency and locks that hold exactly its set.

The locks keep one text per file, the answer's few blocks as Jinja if/else spots
(scripts/answer_locks.py): rendered either way, each must be what `make lock`
resolves. The generated suite of an rq bake (tests/serving/test_jobs*.py) tests the
worker itself against a real Redis.
"""

import tomllib

from choice_answers import (
    LOCKS,
    assert_the_default_adds_nothing,
    assert_the_hook_keeps_its_paths_for_its_value_only,
    locked,
    owned_by,
)

JOB_PACKAGES = ("rq", "redis", "croniter")
# Names the jobs' machinery brings; a project without background jobs has none of them.
JOB_NAMES = ("REDIS_URL", "WORKER_QUEUES", "enqueue(", "job_worker", "redis-server", "rq==")


def test_none_adds_nothing(bake):
    assert_the_default_adds_nothing(bake, "background_jobs", "rq", JOB_NAMES, JOB_PACKAGES)


def test_rq_adds_its_files_dependency_and_worker(bake):
    project = bake(background_jobs="rq")
    for path in owned_by("background_jobs", "rq"):
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
    assert_the_hook_keeps_its_paths_for_its_value_only(
        "background_jobs", "rq", "src/shop/serving/job_worker.py"
    )
