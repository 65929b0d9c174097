"""Bad answers are refused with a clear line, and leave nothing behind."""

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from conftest import TEMPLATE

BAD_ANSWERS = [
    ({"project_slug": "My-Service"}, "project_slug"),
    ({"project_slug": "1service"}, "project_slug"),
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
    ({"python_version": "3.11"}, "python_version"),
    ({"author_email": "not-an-email"}, "author_email"),
    ({"version": "one"}, "version"),
    ({"description": 'say "hi"'}, "description"),
    ({"project_name": "  "}, "project_name"),
]


@pytest.mark.parametrize(("answers", "named"), BAD_ANSWERS, ids=lambda v: str(v))
def test_bad_answer_is_refused_and_leaves_nothing(tmp_path, capfd, answers, named):
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    assert named in errors[0]


def test_two_bad_answers_give_two_lines(tmp_path, capfd):
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context={"project_slug": "Bad", "python_version": "2.7"},
            output_dir=str(tmp_path),
        )
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
