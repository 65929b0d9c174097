"""The `database` answer: `none` adds nothing, `postgresql` adds its files, its
dependencies and locks that hold exactly its set.

The generated suite of a postgresql bake (tests/serving/test_database*.py) tests the
machinery itself against a real PostgreSQL.
"""

import importlib.util
import sys
import tomllib
from pathlib import Path

from conftest import TEMPLATE, files

# The template's shared venv: its uv stands in for one on the user's PATH.
UV = Path(sys.executable).parent / "uv"
LOCKS = ("requirements.txt", "requirements-dev.txt", "requirements-bench.txt")
DATABASE_PACKAGES = ("sqlalchemy", "psycopg", "psycopg-binary", "alembic", "mako")
# Names the database machinery brought; a project without a database has none of them.
DATABASE_NAMES = (
    "DATABASE_URL_FILE",
    "DB_POOL_SIZE",
    "db_session",
    "database_is_reachable",
    "release_database",
    "TEST_POSTGRES_URL",
    "postgresql+psycopg",
)


def post_gen_hook():
    spec = importlib.util.spec_from_file_location(
        "post_gen_hook", TEMPLATE / "hooks" / "post_gen_project.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def owned_by_postgresql(package="my_service"):
    hook = post_gen_hook()
    return [
        path.replace(hook.PACKAGE, package)
        for answer, value, paths in hook.owners()
        if answer == "database" and value == "postgresql"
        for path in paths
    ]


def locked(lock: Path) -> set[str]:
    return {
        line.split("==")[0]
        for line in lock.read_text().splitlines()
        if line and not line.startswith((" ", "#"))
    }


def test_none_adds_nothing(bake):
    project, explicit = bake(), bake(database="none")
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == sorted(
        p.relative_to(explicit) for p in explicit.rglob("*")
    )
    for path in files(project):
        assert path.read_bytes() == (explicit / path.relative_to(project)).read_bytes(), path
    for path in owned_by_postgresql():
        assert not (project / path).exists(), path
    for path in files(project):
        text = path.read_text(encoding="utf-8")
        for name in DATABASE_NAMES:
            assert name not in text, f"{path.relative_to(project)} mentions {name}"
    for lock in LOCKS:
        assert not locked(project / lock) & set(DATABASE_PACKAGES), lock
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert not any("sqlalchemy" in d or "psycopg" in d for d in dependencies["dependencies"])


def test_postgresql_adds_its_files_dependencies_and_docs(bake):
    project = bake(database="postgresql")
    for path in owned_by_postgresql():
        assert (project / path).exists(), path
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    names = " ".join(dependencies["dependencies"])
    assert "sqlalchemy" in names and "psycopg[binary]" in names and "alembic" in names
    for lock in LOCKS:
        assert set(DATABASE_PACKAGES) <= locked(project / lock), lock
    readme = (project / "README.md").read_text()
    assert "| `DATABASE_URL` (or `DATABASE_URL_FILE`) | required |" in readme
    assert "docs/database.md" in readme


def test_the_hook_removes_a_choice_answers_paths_only_for_other_values():
    hook = post_gen_hook()
    answers = {name: "yes" for name in hook.OWNED_BY_ANSWER} | {
        "package_name": "shop",
        "project_slug": "shop-api",
    }
    with_database = hook.removed_paths({**answers, "database": "postgresql"})
    without = hook.removed_paths({**answers, "database": "none"})
    assert not set(owned_by_postgresql("shop")) & set(with_database)
    assert set(owned_by_postgresql("shop")) <= set(without)
    assert "src/shop/serving/database.py" in without
