"""Bad answers are refused with a clear line, and leave nothing behind."""

import sys

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from conftest import TEMPLATE

sys.path.insert(0, str(TEMPLATE / "scripts"))
from copier_config import load_hook  # noqa: E402  (a script, not a package)

problems = load_hook("pre_gen_project").problems

BAD_ANSWERS = [
    ({"project_slug": "My-Service", "package_name": "ok"}, "project_slug"),
    ({"project_slug": "1service", "package_name": "ok"}, "project_slug"),
    ({"project_slug": "service-"}, "project_slug"),
    ({"project_slug": "my_service"}, "project_slug"),
    ({"project_slug": "a" * 50}, "project_slug"),
    ({"package_name": "my-service"}, "package_name"),
    ({"package_name": "2fast"}, "package_name"),
    ({"package_name": "class"}, "keyword"),
    ({"package_name": "match"}, "keyword"),
    ({"package_name": "flask"}, "shadow"),
    ({"package_name": "gunicorn"}, "shadow"),
    ({"package_name": "logging"}, "shadow"),
    ({"package_name": "json"}, "shadow"),
    ({"package_name": "test"}, "shadow"),
    ({"package_name": "sqlalchemy", "database": "postgresql"}, "database=postgresql"),
    ({"author_email": "not-an-email"}, "author_email"),
    ({"version": "one"}, "version"),
    ({"description": 'say "hi"'}, "description"),
    ({"project_name": "  ", "project_slug": "ok", "package_name": "ok"}, "project_name"),
]


@pytest.mark.parametrize(("answers", "named"), BAD_ANSWERS, ids=lambda v: str(v))
def test_bad_answer_is_refused_and_leaves_nothing(tmp_path, capfd, answers, named):
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    assert named in errors[0]


def test_each_bad_answer_gets_its_own_line(tmp_path, capfd):
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context={"project_slug": "Bad", "package_name": "ok", "version": "x"},
            output_dir=str(tmp_path),
        )
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert [line.split()[1] for line in errors] == ["project_slug", "version"]
    assert list(tmp_path.iterdir()) == []


def test_a_bad_slug_is_one_problem_though_the_package_derives_from_it(tmp_path, capfd):
    # The derived package name '1x' is refused too, but fixing the slug fixes both:
    # one line, about the answer the user typed.
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context={"project_slug": "1x"},
            output_dir=str(tmp_path),
        )
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: project_slug '1x' is not valid")


def test_a_name_that_makes_a_bad_slug_names_the_name_and_the_answer_to_pass(tmp_path, capfd):
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context={"project_name": "Café Ünïcode Service"},
            output_dir=str(tmp_path),
        )
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    assert errors[0].startswith("error: project_name 'Café Ünïcode Service' makes the slug")
    assert "project_slug=NAME" in errors[0]


def test_unsupported_python_version_is_refused_and_leaves_nothing(tmp_path):
    # cookiecutter itself refuses a value outside the choice list; the hook would too.
    with pytest.raises((FailedHookException, ValueError), match="python_version|3.11"):
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context={"python_version": "3.11"},
            output_dir=str(tmp_path),
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("package", ["sqlalchemy", "alembic", "psycopg", "mako"])
def test_the_database_modules_are_refused_as_names_only_with_the_database(package):
    # database=none imports none of them, so it accepts the names it always accepted.
    answers = {
        "project_name": package,
        "project_slug": package,
        "package_name": package,
        "description": "A service.",
        "author_name": "Your Name",
        "author_email": "you@example.com",
        "version": "0.1.0",
        "database": "none",
    }
    assert list(problems(answers)) == []
    (problem,) = problems({**answers, "database": "postgresql"})
    assert problem.startswith(f"project_name '{package}' gives the package name '{package}'")
    assert "database=postgresql imports" in problem and "database=none" in problem
    typed = {**answers, "project_name": "x", "project_slug": "x", "database": "postgresql"}
    (problem,) = problems(typed)
    assert problem.startswith(f"package_name '{package}' would shadow")
