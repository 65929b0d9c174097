"""The project's locks: one text per file, the package-adding answers as Jinja spots
(scripts/answer_locks.py).

Rendered for each combination of those answers, every lock must be exactly what that
bake's own `make lock` resolves from its pyproject.toml: uv keeps the pins it finds,
adds what is missing and drops what is no longer needed, so any difference is a lock,
or a spot in it, out of step (`python scripts/answer_locks.py refresh` rewrites them).
"""

import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TEMPLATE

sys.path.insert(0, str(TEMPLATE / "scripts"))
import answer_locks  # noqa: E402

UV = Path(sys.executable).parent / "uv"
COMBINATIONS = [
    dict(zip(answer_locks.ANSWERS, values, strict=True))
    for values in itertools.product(*answer_locks.ANSWERS.values())
]


@pytest.mark.parametrize("answers", COMBINATIONS, ids=lambda a: "-".join(a.values()))
def test_make_lock_reproduces_each_combinations_locks(bake, tmp_path, answers):
    if not UV.exists():
        pytest.fail(f"no uv in {UV.parent} (requirements-dev.in)")
    baked = bake(**answers)
    project = tmp_path / "project"
    shutil.copytree(baked, project)
    result = subprocess.run(
        ["make", "-C", str(project), f"UV={UV}", "lock"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for lock in (*answer_locks.LOCKS, *answer_locks.SAME_FOR_EVERY_ANSWER):
        assert (project / lock).read_text() == (baked / lock).read_text(), f"{lock} is out of step"


def test_the_scripts_reading_of_the_spots_is_jinjas(bake):
    """render() (the template's venv constraints) and the fold's own check read the
    spots as cookiecutter renders them."""
    for answers in COMBINATIONS:
        project = bake(**answers)
        for lock in answer_locks.LOCKS:
            lines = (answer_locks.PROJECT / lock).read_text().splitlines()
            text = "\n".join(answer_locks.rendered(lines, answers)) + "\n"
            slug = project.name
            assert text.replace(answer_locks.SLUG_SPOT, slug) == (project / lock).read_text(), lock


def test_each_package_is_locked_only_where_an_answer_needs_it(bake):
    def locked(project):
        return {
            line.split("==")[0]
            for line in (project / "requirements.txt").read_text().splitlines()
            if line and not line.startswith((" ", "#"))
        }

    plain = locked(bake(database="none", background_jobs="none"))
    database = locked(bake(database="postgresql", background_jobs="none")) - plain
    jobs = locked(bake(database="none", background_jobs="rq")) - plain
    both = locked(bake(database="postgresql", background_jobs="rq"))
    assert {"sqlalchemy", "psycopg", "alembic"} <= database
    assert {"rq", "redis"} <= jobs
    assert both == plain | database | jobs
