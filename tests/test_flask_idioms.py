"""`make lint` passes on ordinary Flask and SQLAlchemy code moved into a bake.

tests/flask_idioms/ holds a Flask Mega-Tutorial-style app (an app package with
`from microblog import models` at its end, two blueprint packages importing their
routes at the bottom, SQLAlchemy filters on `== None` and `== False`, class
attributes a framework reads, flaskr-style test credentials, an Alembic revision as
`flask db migrate` writes it). The bake's ruff rules must pass on it, and each of its
idioms must still trip ruff's defaults, or the sample no longer proves an ignore.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from conftest import TEMPLATE

SAMPLE = Path(__file__).resolve().parent / "flask_idioms"
RUFF = [sys.executable, "-m", "ruff"]
# What each idiom of the sample trips with the bake's rules and none of its ignores.
IDIOMS = {
    "E402": "a blueprint's routes (and an app's models) imported at the bottom",
    "F401": "the same imports, made for their side effect",
    "E711": "SQLAlchemy's `== None`",
    "E712": "SQLAlchemy's `== False`",
    "RUF012": "`__table_args__`, MethodView's `methods`, a config class's lists",
    "S106": "a test user's password passed by name",
    "S107": "a flaskr-style login helper's default password",
    "I001": "Alembic's import order",
    "W291": "Alembic's empty `Revises: ` line",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A bake of its own (the shared `bake` fixture's must stay as generated)."""
    output = tmp_path_factory.mktemp("flask-idioms")
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output)))
    for folder in ("src", "tests", "migrations"):
        for source in sorted((SAMPLE / folder).rglob("*.py")):
            target = project / source.relative_to(SAMPLE)
            assert not target.exists(), f"the bake already has {target.relative_to(project)}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    return project


def ruff(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*RUFF, *args, "--no-cache", "."], cwd=project, capture_output=True, text=True
    )


def test_the_bakes_lint_passes_on_flask_and_sqlalchemy_idioms(project):
    for command in (["check"], ["format", "--check"]):
        result = ruff(project, *command)
        assert result.returncode == 0, f"ruff {' '.join(command)}:\n{result.stdout}{result.stderr}"


def test_each_idiom_of_the_sample_needs_its_ignore(project):
    # Each code selected by name outranks the bake's `ignore`; no per-file ignores.
    result = ruff(
        project,
        "check",
        "--extend-select",
        ",".join(IDIOMS),
        "--config",
        "lint.per-file-ignores = {}",
        "--output-format",
        "json",
    )
    found = {error["code"] for error in json.loads(result.stdout)}
    missing = {code: idiom for code, idiom in IDIOMS.items() if code not in found}
    assert not missing, f"the sample no longer shows {missing}: drop the ignore or fix the sample"


def test_alembic_revisions_would_fail_the_format_check(project):
    result = ruff(project, "format", "--check", "--config", "format.exclude = []")
    assert result.returncode == 1
    assert "migrations/versions/" in result.stdout
