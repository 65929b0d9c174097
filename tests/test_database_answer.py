"""The `database` answer: `none` adds nothing, `postgresql` adds its files, its
dependencies and locks that hold exactly its set.

The generated suite of a postgresql bake (tests/serving/test_database*.py) tests the
machinery itself against a real PostgreSQL.
"""

import tomllib

from choice_answers import (
    LOCKS,
    assert_the_default_adds_nothing,
    assert_the_hook_keeps_its_paths_for_its_value_only,
    locked,
    owned_by,
)

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


def test_none_adds_nothing(bake):
    assert_the_default_adds_nothing(
        bake, "database", "postgresql", DATABASE_NAMES, DATABASE_PACKAGES
    )
    project = bake()
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert not any("sqlalchemy" in d or "psycopg" in d for d in dependencies["dependencies"])


def test_postgresql_adds_its_files_dependencies_and_docs(bake):
    project = bake(database="postgresql")
    for path in owned_by("database", "postgresql"):
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
    assert_the_hook_keeps_its_paths_for_its_value_only(
        "database", "postgresql", "src/shop/serving/database.py"
    )
