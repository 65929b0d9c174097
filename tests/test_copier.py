"""One tree, three tools: cookiecutter, cruft and copier make the same project.

copier.yml's questions are written from cookiecutter.json and the hooks
(scripts/copier_config.py); these tests check that it is up to date, that each tool
renders every file alike for several answer sets (the answers files aside), and that
a refused answer is refused by each with the same line.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import copier
import cruft
import pytest
import yaml
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import DEFAULTS, TEMPLATE
from template_repo import Stopwatch, commit, git, git_environment, snapshot

sys.path.insert(0, str(TEMPLATE / "scripts"))
import copier_config  # noqa: E402  (a script, not a package)

ANSWERS_FILES = {".copier-answers.yml", ".cruft.json"}
# Answer sets that between them turn every yes/no answer both ways and pick every
# worker class, database, Python version and licence at least once.
ANSWER_SETS = {
    "defaults": {},
    "everything-off": {
        **{name: False for name, value in DEFAULTS.items() if isinstance(value, bool)},
        "license": "Proprietary",
        "worker_class": "sync",
        "background_jobs": "rq",
    },
    "everything-on": {
        **{name: True for name, value in DEFAULTS.items() if isinstance(value, bool)},
        "license": "Apache-2.0",
        "worker_class": "gevent",
        "python_version": "3.12",
        "database": "postgresql",
        "background_jobs": "rq",
    },
    "custom-names": {
        "project_name": "Café Billing",
        "project_slug": "billing-api",
        "package_name": "billing",
        "database": "postgresql",
        "author_name": "Zoë O'Brien",
        "license": "BSD-3-Clause",
        "python_version": "3.14",
        "deploy_railway": False,
    },
}


@pytest.fixture(scope="module")
def template_git(tmp_path_factory):
    with git_environment():
        yield snapshot(tmp_path_factory.mktemp("template") / "wsgi-template", "v1.0.0")


def tree(project: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file: its bytes and whether it is executable."""
    return {
        path.relative_to(project).as_posix(): (
            path.read_bytes(),
            bool(path.stat().st_mode & stat.S_IXUSR),
        )
        for path in sorted(project.rglob("*"))
        if path.is_file() and path.name not in ANSWERS_FILES
    }


def folders(project: Path) -> set[str]:
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_dir()}


def test_copier_yml_is_written_from_cookiecutter_json_and_the_hooks():
    current = copier_config.COPIER_YML.read_text(encoding="utf-8")
    assert copier_config.MARKER in current
    # The package_name check lists the keywords and modules of the Python that wrote
    # it; on another Python, compare the rest with those same lists.
    written_by = f"# Python {sys.version_info.major}.{sys.version_info.minor}, "
    names = None if written_by in current else copier_config.names_in(current)
    assert copier_config.expected(current, names) == current, (
        "copier.yml is out of date: run `make copier.yml`"
    )


def test_the_hook_derives_the_slug_and_package_as_cookiecutter_json_does():
    pre = copier_config.load_hook("pre_gen_project")
    for name, expression in pre.DERIVED.items():
        assert DEFAULTS[name].replace("cookiecutter.", "") == "{{ " + expression + " }}", name
    # Checked in the order copier asks, so both tools report the same first problem.
    checked = list(pre.checks())
    assert checked == [name for name in DEFAULTS if name in checked]


def test_copier_asks_cookiecutters_questions_in_the_same_order():
    config = {}
    for document in yaml.safe_load_all(copier_config.COPIER_YML.read_text(encoding="utf-8")):
        config.update(document)
    questions = [name for name in config if not name.startswith("_") and name != "cookiecutter"]
    asked = [name for name in DEFAULTS if not name.startswith("_")]
    assert questions == asked
    for name in asked:
        if isinstance(DEFAULTS[name], list):
            choices = config[name]["choices"]
            # Per-choice labels (cookiecutter's __prompts__): copier's {label: value}.
            values = list(choices.values()) if isinstance(choices, dict) else choices
            assert values == DEFAULTS[name], name
    assert config["cookiecutter"]["when"] is False  # computed, never asked or recorded


def test_sections_are_jinja_conditions_that_both_tools_render():
    # Lines kept for one answer are wrapped in a Jinja `if` on it: a post-generation
    # rewrite of the text would run under cookiecutter only.
    for page in (TEMPLATE / "{{cookiecutter.project_slug}}").rglob("*.md"):
        assert "<!-- section:" not in page.read_text(encoding="utf-8"), page


@pytest.mark.parametrize("name", list(ANSWER_SETS))
def test_copier_cruft_and_cookiecutter_make_the_same_project(
    template_git, tmp_path, name, record_property
):
    answers = ANSWER_SETS[name]
    clock = Stopwatch(record_property)
    with git_environment():
        with clock.step("cookiecutter"):
            baked = Path(
                cookiecutter(
                    str(template_git),
                    no_input=True,
                    extra_context=answers,
                    output_dir=str(tmp_path / "cookiecutter"),
                )
            )
        with clock.step("cruft create"):
            crufted = cruft.create(
                str(template_git),
                output_dir=tmp_path / "cruft",
                extra_context=answers,
                no_input=True,
                checkout="v1.0.0",
            )
        with clock.step("copier copy"):
            copier.run_copy(
                str(template_git),
                tmp_path / "copier" / baked.name,
                data=answers,
                defaults=True,
                quiet=True,
                vcs_ref="v1.0.0",
            )
    copied = tmp_path / "copier" / baked.name
    clock.report(f"create, {name}: {len(tree(baked))} files")

    expected = tree(baked)
    for other in (crufted, copied):
        got = tree(other)
        assert sorted(got) == sorted(expected), other
        different = [path for path in expected if got[path] != expected[path]]
        assert not different, f"{other.parent.name} differs in {different[:10]}"
        assert folders(other) == folders(baked)

    # Answers recorded by the tools that update; plain cookiecutter leaves neither.
    assert not (set(p.name for p in baked.iterdir()) & ANSWERS_FILES)
    recorded = yaml.safe_load((copied / ".copier-answers.yml").read_text())
    assert recorded["_commit"] == "v1.0.0"
    assert recorded["project_slug"] == baked.name
    assert "cookiecutter" not in recorded
    state = json.loads((crufted / ".cruft.json").read_text())
    assert state["checkout"] == "v1.0.0"
    assert state["context"]["cookiecutter"]["project_slug"] == baked.name


# ---- One refusal story ------------------------------------------------------------

# Answers refused, and the field each line must name. Each set has one problem.
REFUSED = [
    ({"project_name": "Café Ünïcode Service"}, "project_name"),
    ({"project_name": "  ", "project_slug": "ok", "package_name": "ok"}, "project_name"),
    ({"project_slug": "My-Service"}, "project_slug"),
    ({"project_slug": "1x"}, "project_slug"),
    ({"project_slug": "json"}, "project_slug"),
    ({"project_name": "Json"}, "project_name"),
    ({"package_name": "class"}, "package_name"),
    ({"package_name": "my-service"}, "package_name"),
    ({"description": 'say "hi"'}, "description"),
    ({"description": "two\nlines"}, "description"),
    ({"author_email": "not-an-email"}, "author_email"),
    ({"version": "v1"}, "version"),
]


def cookiecutter_lines(capfd, make) -> list[str]:
    capfd.readouterr()
    with pytest.raises(FailedHookException):
        make()
    err = capfd.readouterr().err
    return [line.removeprefix("error: ") for line in err.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(("answers", "field"), REFUSED, ids=lambda v: str(v))
def test_each_tool_refuses_with_the_same_line(template_git, tmp_path, capfd, answers, field):
    with git_environment():
        by_cookiecutter = cookiecutter_lines(
            capfd,
            lambda: cookiecutter(
                str(template_git), no_input=True, extra_context=answers, output_dir=str(tmp_path)
            ),
        )
        by_cruft = cookiecutter_lines(
            capfd,
            lambda: cruft.create(
                str(template_git), output_dir=tmp_path, extra_context=answers, no_input=True
            ),
        )
        with pytest.raises(ValueError, match="^Validation error for question") as refused:
            copier.run_copy(
                str(template_git), tmp_path / "copier", data=answers, defaults=True, quiet=True
            )
    assert list(tmp_path.iterdir()) == [], "a refused answer left files behind"
    assert len(by_cookiecutter) == 1, by_cookiecutter
    (line,) = by_cookiecutter
    assert line.split()[0] == field
    assert "\n" not in line
    assert by_cruft == by_cookiecutter
    question = str(refused.value).split("'")[1]
    assert str(refused.value) == f"Validation error for question '{question}': {line}"


def test_a_name_that_makes_a_bad_slug_says_which_answer_to_pass(template_git, tmp_path, capfd):
    (line,) = cookiecutter_lines(
        capfd,
        lambda: cookiecutter(
            str(template_git),
            no_input=True,
            extra_context={"project_name": "Café Ünïcode Service"},
            output_dir=str(tmp_path),
        ),
    )
    assert line.startswith("project_name 'Café Ünïcode Service' makes the slug")
    assert "project_slug=NAME" in line
    # Passing the slug it asks for is enough: the package follows the slug.
    project = cookiecutter(
        str(template_git),
        no_input=True,
        extra_context={"project_name": "Café Ünïcode Service", "project_slug": "cafe-unicode"},
        output_dir=str(tmp_path),
    )
    assert (Path(project) / "src" / "cafe_unicode").is_dir()


def test_several_problems_give_one_line_each_in_copiers_order(template_git, tmp_path, capfd):
    answers = {"project_slug": "Bad", "package_name": "ok", "author_email": "x", "version": "x"}
    lines = cookiecutter_lines(
        capfd,
        lambda: cookiecutter(
            str(template_git), no_input=True, extra_context=answers, output_dir=str(tmp_path)
        ),
    )
    assert [line.split()[0] for line in lines] == ["project_slug", "author_email", "version"]
    # copier asks in the same order and stops at the first.
    with git_environment(), pytest.raises(ValueError) as refused:
        copier.run_copy(str(template_git), tmp_path / "c", data=answers, defaults=True, quiet=True)
    assert str(refused.value).endswith(lines[0])


# Answers near the edges of every check, then random text.
TEXT = st.text(alphabet='aAbé-_ .1"$\n/\\', max_size=12)
FUZZED = st.fixed_dictionaries(
    {
        "project_name": st.one_of(TEXT, st.sampled_from(["My Service", "Json", "Café"])),
        "description": st.one_of(TEXT, st.just("ok")),
        "author_name": st.just("Zoë"),
        "author_email": st.sampled_from(["a@b.co", "x", "a b@c.d", "é@ü.de"]),
        "version": st.sampled_from(["0.1.0", "1", "2.0rc1", "v1", "1.0.0.0", ""]),
        # Its validator refuses the database's module names as the package's.
        "database": st.sampled_from(["none", "postgresql"]),
        "scheduled_jobs": st.booleans(),
    },
    optional={
        "project_slug": TEXT,
        "package_name": st.one_of(TEXT, st.sampled_from(["sqlalchemy", "psycopg", "alembic"])),
    },
)


@settings(max_examples=300, deadline=None)
@given(answers=FUZZED)
def test_copiers_validators_say_what_the_hook_says(answers):
    """copier.yml's validators, rendered by copier's own Jinja (with
    jinja2-ansible-filters), give the hook's lines for any answers."""
    from jinja2.sandbox import SandboxedEnvironment

    pre = copier_config.load_hook("pre_gen_project")
    config = {}
    for document in yaml.safe_load_all(copier_config.COPIER_YML.read_text(encoding="utf-8")):
        config.update(document)
    env = SandboxedEnvironment(extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"])
    # Derived answers as copier derives them, from the defaults in copier.yml.
    for name in ("project_slug", "package_name"):
        if name not in answers:
            answers[name] = env.from_string(config[name]["default"]).render(**answers)
    by_copier = [
        message
        for name, question in config.items()
        if "validator" in question
        and (message := env.from_string(question["validator"]).render(**answers).strip())
    ]
    assert by_copier == list(pre.problems(answers))


# ---- What each command line prints around the line -------------------------------

BIN = Path(sys.executable).parent
VERSION_LINE = "error: version 'one' is not valid: use a release number such as 0.1.0 or 1.0.0rc1"
# What cookiecutter adds after the hook's lines, which no hook can silence: it logs the
# hook's failure with logger.exception (hooks.run_hook_from_repo_dir), then its CLI
# echoes the exception. Its ERROR line, a traceback of 10 lines, "Hook script failed".
COOKIECUTTER_OWN = 12
# copier (9.19) lets a validator's ValueError end its CLI in a traceback: 39 lines of
# Python 3.11's traceback (frames and their ^ markers), then copier's line with ours.
COPIER_LINES = 40


def command_line(*args: str, cwd: Path) -> list[str]:
    """What a terminal shows for a failed command: stdout and stderr as they come."""
    with git_environment():
        result = subprocess.run(
            args,
            cwd=cwd,
            env={**os.environ, "COLUMNS": "80"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1, result.stdout
    return result.stdout.splitlines()


def test_each_command_line_shows_the_line_first_or_last(template_git, tmp_path):
    """The hook's line comes first from cookiecutter and cruft, copier's ends the output;
    the rest is each tool's own, counted here (the READMEs give these counts)."""
    out = tmp_path / "out"
    lines = command_line(
        str(BIN / "cookiecutter"),
        "--no-input",
        "-o",
        str(out),
        str(template_git),
        "version=one",
        cwd=tmp_path,
    )
    assert lines[0] == VERSION_LINE
    assert len(lines) == 1 + COOKIECUTTER_OWN, lines
    assert lines[-1] == "Hook script failed (exit status: 1)"

    lines = command_line(
        str(BIN / "cruft"),
        "create",
        str(template_git),
        "--no-input",
        "--output-dir",
        str(out),
        "--extra-context",
        '{"version": "one"}',
        cwd=tmp_path,
    )
    # Then cookiecutter's 11 (through Python's last-resort log handler, its CLI's echo
    # aside) and typer's boxed traceback, whose length follows the terminal's width.
    assert lines[0] == VERSION_LINE and lines.count(VERSION_LINE) == 1
    assert lines[1].startswith("Stopping generation because pre_gen_project hook")
    assert lines[-1] == "FailedHookException: Hook script failed (exit status: 1)"

    lines = command_line(
        str(BIN / "copier"),
        "copy",
        "--defaults",
        "-d",
        "version=one",
        str(template_git),
        str(out / "copier"),
        cwd=tmp_path,
    )
    assert lines[-1] == (
        "ValueError: Validation error for question 'version': "
        + VERSION_LINE.removeprefix("error: ")
    )
    assert len(lines) == COPIER_LINES, lines
    assert not out.exists() or not any(out.iterdir()), "a refused answer left files behind"


def test_a_python_version_not_offered_is_refused_by_each_tool_itself(template_git, tmp_path):
    """A choice outside cookiecutter.json's list stops cookiecutter (and cruft) before
    any hook, with a ValueError traceback whose last line names the answer and the
    choices; copier checks its `choices:` the same way."""
    out = tmp_path / "out"
    lines = command_line(
        str(BIN / "cookiecutter"),
        "--no-input",
        "-o",
        str(out),
        str(template_git),
        "python_version=3.10",
        cwd=tmp_path,
    )
    assert lines[-1] == (
        "ValueError: 3.10 provided for choice variable python_version, "
        "but the choices are ['3.13', '3.12', '3.14']."
    )
    lines = command_line(
        str(BIN / "copier"),
        "copy",
        "--defaults",
        "-d",
        "python_version=3.10",
        str(template_git),
        str(out / "copier"),
        cwd=tmp_path,
    )
    assert lines[-1] == (
        "ValueError: Invalid choice for 'python_version': '3.10' is not in ['3.13', '3.12', '3.14']"
    )
    assert not out.exists()


def test_cruft_prints_the_next_steps_once_for_a_project_and_not_for_an_update(tmp_path, capfd):
    """cruft renders the template twice more for an update (the project's release and
    the new one, in temporary folders): the hook's next steps are for a project made."""
    with git_environment():
        template = snapshot(tmp_path / "template", "v1.0.0")
        capfd.readouterr()
        project = cruft.create(str(template), output_dir=tmp_path / "made", no_input=True)
        assert capfd.readouterr().out.count(f"Created {project.name}. Next:") == 1
        git(project, "init", "-q")
        commit(project, message="New service")
        (template / "{{cookiecutter.project_slug}}" / "RELEASE").write_text("1.1\n")
        commit(template, "v1.1.0")
        assert cruft.update(project, checkout="v1.1.0", skip_apply_ask=True)
    assert "Created" not in capfd.readouterr().out
    assert (project / "RELEASE").read_text() == "1.1\n"
