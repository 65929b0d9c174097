"""Baking helpers for the template's own tests.

Bakes go through cookiecutter's API, once per distinct set of answers per session,
into a session temp folder; tests must not change a baked project.
"""

import json
import re
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())
# Every deploy target answered "no": a bake with no platform files at all.
NO_TARGETS = {answer: "no" for answer in DEFAULTS if answer.startswith("deploy_")}
# The name under which template_repo.Stopwatch records its timings for the summary.
TIMINGS = "timings"
# Charts: cookiecutter copies binary files as they are, without rendering them.
BINARY_SUFFIXES = {".png"}


# Jinja left unrendered; GitHub's own `${{ }}` expressions are meant to survive, and
# the app's Flask templates (src/PACKAGE/templates/) keep theirs.
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|cookiecutter\.")
UNRENDERED_IN_FLASK_TEMPLATES = re.compile(r"cookiecutter\.")
# Renovate's own Handlebars templates ({{newValue}}, {{#if newDigest}}) in renovate.json.
RENOVATE_TEMPLATES = re.compile(r"\{\{(?:#if |/)?\w+\}\}")


def unrendered(project: Path, path: Path, text: str) -> re.Match | None:
    """Where cookiecutter left Jinja in a baked file, if anywhere."""
    flask_template = "templates" in path.relative_to(project).parts
    if path.name == "renovate.json":
        text = RENOVATE_TEMPLATES.sub("", text)
    return (UNRENDERED_IN_FLASK_TEMPLATES if flask_template else UNRENDERED).search(text)


def files(project: Path) -> list[Path]:
    """Every text file of a generated project."""
    return [p for p in project.rglob("*") if p.is_file() and p.suffix not in BINARY_SUFFIXES]


# Each baked project's answers, for tests that check a file against one of them.
ANSWERS: dict[Path, dict] = {}


def answer(project: Path, name: str):
    """The answer a baked project was made with (the default's first choice if not given)."""
    default = DEFAULTS[name]
    return ANSWERS[project].get(name, default[0] if isinstance(default, list) else default)


def uses_postgres(project: Path) -> bool:
    return answer(project, "database") == "postgresql"


@pytest.fixture(scope="session")
def bake(tmp_path_factory):
    baked: dict[str, Path] = {}

    def bake(**answers) -> Path:
        key = json.dumps(answers, sort_keys=True)
        if key not in baked:
            output = tmp_path_factory.mktemp("bake")
            baked[key] = Path(
                cookiecutter(
                    str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output)
                )
            )
            ANSWERS[baked[key]] = answers
        return baked[key]

    return bake


def pytest_terminal_summary(terminalreporter):
    """The timing tables tests recorded (template_repo.Stopwatch), after the summary:
    pytest keeps what a passing test prints, so a print would never be seen."""
    tables = [
        value
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if report.when == "call"
        for name, value in report.user_properties
        if name == TIMINGS
    ]
    if tables:
        terminalreporter.section("timings")
        for table in tables:
            terminalreporter.write_line(table)
