"""A project takes a later template release with copier and with cruft.

The template as it is here is tagged v1.0.0; v1.1.0 adds real changes to four of its
files and a new one (RELEASE). A project made from v1.0.0 gets the edits a user
typically makes (a blueprint with its test, a changed default in a deploy file, a
dependency through `make lock`, the README's title, which the release changes too);
then it is updated to v1.1.0 from the local repository: with copier, with cruft, and
with cruft after `cruft link` of a plain cookiecutter project. Untouched files take
the release, the user's edits stay, the overlapping edit is a conflict that
docs/template-updates.md explains, and the project's own tests pass afterwards.

Projects made before 1.0.0 have no answers file and the old flat layout: the
CHANGELOG's upgrade note moves them by hand, and the last test checks that the note
accounts for every file such a project has.
"""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import copier
import cruft
import pytest
import yaml
from cookiecutter.main import cookiecutter

from conftest import TEMPLATE
from template_repo import Stopwatch, commit, git, git_environment, snapshot
from test_generated_suite import run_suite

PROJECT_DIR = "{{cookiecutter.project_slug}}"
PACKAGE_DIR = f"{PROJECT_DIR}/src/{{{{cookiecutter.package_name}}}}"
VENV = Path(sys.executable).parent.parent
DEPENDENCY = "markdown-it-py>=3"  # already in the shared venv: the suite imports it there

# The release v1.1.0: (template file, text, its replacement). One file of the
# machinery the user never edits, one deploy file and one app file the user edits
# elsewhere, and the README line the user rewrites too.
APP_DOCSTRING = '"""The application factory: blueprints, commands."""'
RELEASE = [
    (
        f"{PACKAGE_DIR}/serving/healthcheck.py",
        "urlopen(url, timeout=2)",
        "urlopen(url, timeout=1.5)",
    ),
    (f"{PROJECT_DIR}/deploy/cloudrun/service.yaml", "timeoutSeconds: 300", "timeoutSeconds: 120"),
    (f"{PACKAGE_DIR}/app.py", None, APP_DOCSTRING),
    (f"{PROJECT_DIR}/README.md", None, "# {{ cookiecutter.project_name }}, a Flask service"),
]
NEW_FILE = (f"{PROJECT_DIR}/docs/release-1.1.md", "{{ cookiecutter.project_name }} on 1.1.\n")

BLUEPRINT = '''"""Notes: the user's own blueprint."""

from flask import Blueprint

bp = Blueprint("notes", __name__, url_prefix="/notes")


@bp.get("/")
def index():
    return {"notes": []}
'''
BLUEPRINT_TEST = """def test_notes_lists_nothing_yet(client):
    assert client.get("/notes/").get_json() == {"notes": []}
"""
REGISTERED = "    from . import notes\n\n    app.register_blueprint(notes.bp)\n"
USER_TITLE = "# Notes, our team's service"


def replace_once(path: Path, old: str | None, new: str) -> None:
    """Replace `old`, or the first line when it is None; it must be there."""
    text = path.read_text(encoding="utf-8")
    if old is None:
        first, rest = text.split("\n", 1)
        assert first.startswith(('"""', "# ")), f"{path}: unexpected first line {first!r}"
        text = f"{new}\n{rest}"
    else:
        assert text.count(old) == 1, f"{path}: {old!r} is no longer there once; update RELEASE"
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def template_git(tmp_path_factory):
    """The template at v1.0.0 (this checkout) and at v1.1.0 (RELEASE applied)."""
    with git_environment():
        repository = snapshot(tmp_path_factory.mktemp("template") / "wsgi-template", "v1.0.0")
        for name, old, new in RELEASE:
            replace_once(repository / name, old, new)
        (repository / NEW_FILE[0]).write_text(NEW_FILE[1], encoding="utf-8")
        commit(repository, "v1.1.0")
        yield repository


def user_edits(project: Path) -> None:
    """What a user does in the first weeks, committed as they would."""
    package = project / "src" / "my_service"
    (package / "notes.py").write_text(BLUEPRINT, encoding="utf-8")
    replace_once(
        package / "app.py",
        "    # Your blueprints, e.g.: from . import pages; app.register_blueprint(pages.bp)\n",
        REGISTERED,
    )
    (project / "tests" / "test_notes.py").write_text(BLUEPRINT_TEST, encoding="utf-8")
    replace_once(project / "deploy/cloudrun/service.yaml", "memory: 512Mi", "memory: 1Gi")
    replace_once(project / "README.md", None, USER_TITLE)
    replace_once(
        project / "pyproject.toml", "dependencies = [\n", f'dependencies = [\n    "{DEPENDENCY}",\n'
    )
    # -o: the shared venv stands in for the project's .venv, which make must not create.
    result = subprocess.run(
        ["make", "-C", str(project), "lock", f"VENV={VENV}", "-o", f"{VENV}/bin/gunicorn"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Notes blueprint, 1 GiB, markdown, our title")


def create(tool: str, template: Path, output: Path) -> Path:
    """A project from v1.0.0, committed; plain cookiecutter's is then linked with cruft."""
    if tool == "copier":
        project = output / "my-service"
        copier.run_copy(str(template), project, defaults=True, quiet=True, vcs_ref="v1.0.0")
    elif tool == "cruft":
        project = cruft.create(str(template), output_dir=output, no_input=True, checkout="v1.0.0")
    else:
        # A git URL, so that cookiecutter clones the tag (into a folder of the test's).
        config = output / "cookiecutter.yaml"
        output.mkdir(parents=True, exist_ok=True)
        config.write_text(f"cookiecutters_dir: {output}/clones\nreplay_dir: {output}/replay\n")
        made = cookiecutter(
            "git+" + template.as_uri(),
            checkout="v1.0.0",
            no_input=True,
            output_dir=str(output),
            config_file=str(config),
        )
        project = Path(made)
    git(project, "init", "-q")
    commit(project, message="New service")
    if tool == "cookiecutter":
        # The README's way to adopt cruft later: link to the release it came from.
        assert not (project / ".cruft.json").exists()
        assert cruft.link(str(template), project_dir=project, checkout="v1.0.0", no_input=True)
        commit(project, message="Link to wsgi-template v1.0.0")
    return project


def update(tool: str, project: Path) -> None:
    if tool == "copier":
        # As `copier update --defaults --vcs-ref v1.1.0`: the recorded answers, no prompts.
        copier.run_update(
            project, defaults=True, overwrite=True, quiet=True, vcs_ref="v1.1.0", conflict="inline"
        )
    else:  # cruft, and cookiecutter's project once linked
        assert cruft.update(project, checkout="v1.1.0", skip_apply_ask=True)


def recorded_release(tool: str, project: Path) -> str:
    if tool == "copier":
        return yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]
    return json.loads((project / ".cruft.json").read_text())["checkout"]


MARKERS = {
    "copier": ("<<<<<<< before updating", ">>>>>>> after updating"),
    "cruft": ("<<<<<<< ours", ">>>>>>> theirs"),
    "cookiecutter": ("<<<<<<< ours", ">>>>>>> theirs"),
}


def resolve_keeping_ours(path: Path, tool: str) -> None:
    """What docs/template-updates.md says: keep one side, delete the markers."""
    start, end = MARKERS[tool]
    text = path.read_text(encoding="utf-8")
    resolved = re.sub(
        rf"^{re.escape(start)}\n(.*?)^=======\n.*?^{re.escape(end)}\n",
        r"\1",
        text,
        flags=re.DOTALL | re.MULTILINE,
    )
    assert resolved != text and "<<<<<<<" not in resolved
    path.write_text(resolved, encoding="utf-8")


@pytest.mark.parametrize("tool", ["copier", "cruft", "cookiecutter"])
def test_an_update_takes_the_release_and_keeps_the_users_edits(
    template_git, tmp_path, tool, record_property
):
    clock = Stopwatch(record_property)
    with git_environment():
        with clock.step(f"{tool}: create from v1.0.0 (and commit)"):
            project = create(tool, template_git, tmp_path / tool)
        user_edits(project)
        with clock.step(f"{tool}: update to v1.1.0"):
            update(tool, project)
        touched = git(project, "status", "--porcelain").splitlines()
        conflicts = git(project, "diff", "--name-only", "--diff-filter=U").split()
        fresh = Path(
            cookiecutter(str(template_git), no_input=True, output_dir=str(tmp_path / "fresh"))
        )
    clock.count(f"{tool}: files the update touched", len(touched))
    clock.report(f"update with {tool}: {' '.join(line[3:] for line in touched)}")

    package = project / "src" / "my_service"
    # Files the user never edited are the release's, byte for byte.
    for relative in ("src/my_service/serving/healthcheck.py", "docs/release-1.1.md"):
        assert (project / relative).read_bytes() == (fresh / relative).read_bytes(), relative
    # A deploy file and app.py changed on both sides, on different lines: both stay.
    service = (project / "deploy/cloudrun/service.yaml").read_text()
    assert "memory: 1Gi" in service and "timeoutSeconds: 120" in service
    app = (package / "app.py").read_text()
    assert REGISTERED in app and app.startswith(APP_DOCSTRING + "\n")
    # The user's own files, the dependency and its lock are untouched.
    assert (package / "notes.py").read_text() == BLUEPRINT
    assert (project / "tests/test_notes.py").read_text() == BLUEPRINT_TEST
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert DEPENDENCY in dependencies["dependencies"]
    assert "\nmarkdown-it-py==" in (project / "requirements.txt").read_text()
    # The line both changed is a conflict, marked as the docs say.
    assert conflicts == ["README.md"]
    readme = (project / "README.md").read_text()
    start, end = MARKERS[tool]
    assert start in readme and end in readme and USER_TITLE in readme
    assert recorded_release(tool, project) == "v1.1.0"
    # Touched: the four changed files, the new one, the answers file; nothing else.
    assert len(touched) == 6, touched

    resolve_keeping_ours(project / "README.md", tool)
    assert (project / "README.md").read_text().startswith(USER_TITLE + "\n")
    run_suite(
        project,
        "-m",
        "not docker and not slow",
        "tests/test_app.py",
        "tests/test_notes.py",
        "tests/serving/test_settings.py",
        "tests/serving/test_platforms.py",
    )
    # The Python files the merge wrote still pass the project's lint.
    merged = [line[3:] for line in touched if line.endswith(".py")]
    assert merged
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "-q", *merged],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout


# ---- Projects made before 1.0.0 -------------------------------------------------

BEFORE_1_0 = "f882f62"  # the commit before the two-rooms layout: no copier.yml, no answers


def upgrade_note() -> str:
    changelog = (TEMPLATE / "CHANGELOG.md").read_text(encoding="utf-8")
    start = changelog.index("### Projects made before 1.0.0")
    end = changelog.find("\n## ", start)
    return changelog[start : end if end > 0 else None]


def test_the_upgrade_note_accounts_for_every_file_of_a_project_made_before_1_0(tmp_path):
    with git_environment():
        found = subprocess.run(
            ["git", "cat-file", "-e", f"{BEFORE_1_0}^{{commit}}"], cwd=TEMPLATE, capture_output=True
        )
        if found.returncode != 0:
            pytest.skip(f"{BEFORE_1_0} is not in this clone's history (a shallow clone)")
        archive = subprocess.run(
            ["git", "archive", BEFORE_1_0], cwd=TEMPLATE, capture_output=True, check=True
        ).stdout
        old_template = tmp_path / "old"
        old_template.mkdir()
        subprocess.run(["tar", "-x", "-C", str(old_template)], input=archive, check=True)
    old = Path(cookiecutter(str(old_template), no_input=True, output_dir=str(tmp_path / "o")))
    new = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(tmp_path / "n")))
    # The old answers are all still asked, with the same choices.
    old_questions = json.loads((old_template / "cookiecutter.json").read_text())
    new_questions = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    for name, value in old_questions.items():
        if not name.startswith("_"):
            assert name in new_questions, name
            if isinstance(value, list):
                assert set(value) <= set(new_questions[name]), name

    note = upgrade_note()
    named = {
        token.replace("PACKAGE", "my_service").rstrip("/")
        for token in re.findall(r"`([\w./-]+)`", note)
    }
    unaccounted = []
    for path in sorted(p for p in old.rglob("*") if p.is_file()):
        relative = path.relative_to(old).as_posix()
        if (new / relative).exists():
            continue  # same place
        # A folder counts when the note names it with its parent (`tests/support/`).
        parents = {p.as_posix() for p in Path(relative).parents if "/" in p.as_posix()}
        if not ({relative, path.name} | parents) & named:
            unaccounted.append(relative)
    assert not unaccounted, f"the upgrade note does not say where these went: {unaccounted}"
    # Every new home it names exists in a 1.0.0 project.
    for token in named:
        if token.startswith(("src/", "tests/")) and "/" in token:
            assert (new / token).exists() or (old / token).exists(), token


def test_no_instruction_names_a_release_tag_the_repository_lacks(bake):
    """The READMEs, the CHANGELOG and the generated docs name tags by pattern (vX.Y.Z,
    TAG) unless the tag exists: a command with a tag that is not there fails."""
    listed = subprocess.run(["git", "tag", "--list"], cwd=TEMPLATE, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: its tags are unknown")
    tags = set(listed.stdout.split())
    project = bake()
    pages = [
        TEMPLATE / "README.md",
        TEMPLATE / "CHANGELOG.md",
        project / "README.md",
        *sorted((project / "docs").glob("*.md")),
    ]
    named = {
        f"{page.name}: {tag}"
        for page in pages
        for tag in re.findall(r"\bv\d+\.\d+\.\d+\b", page.read_text(encoding="utf-8"))
        if tag not in tags
    }
    assert not named, f"tags the repository does not have (git tag): {sorted(named)}"
