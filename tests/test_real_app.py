"""A real app, added the way the generated README's "Where your code goes" says, passes
its own tests, the generated suite and the container suite, and runs in the image.

tests/real_app/ holds the files of a small notes app written for a bake named `notes`:
pages with templates and a stylesheet, a JSON API, a login with sessions, a required
API token of its own, its own error shape and error pages, a SQLite store its release
step creates, a Markdown dependency and its own tests. It is as awkward for the
template's suite as a large app: create_app takes a second and each worker holds
100 MiB (model.py). EDITS below are the changes the worked path asks for in the bake's
own files, one anchored replacement each: an anchor that is gone fails the test with
the step's name, so a template or README change that breaks the path cannot pass
unnoticed. REPLACED are the starter files of the user's room the app brings its own
version of. No file the template owns changes: its suite must pass as it was baked.
"""

import filecmp
import importlib.util
import os
import re
import secrets
import shutil
import subprocess
import sys
import tomllib
import uuid
import xml.etree.ElementTree as ElementTree
from importlib.util import find_spec
from pathlib import Path, PurePosixPath

import pytest
import requests
from cookiecutter.main import cookiecutter

from conftest import TEMPLATE
from docker_images import build, docker_client, remove_image, wait_for_health
from test_generated_suite import run_suite

__all__ = ["docker_client"]  # a fixture, used by name

REAL_APP = Path(__file__).resolve().parent / "real_app"
ANSWERS = {"project_name": "Notes", "package_name": "notes"}
# The template's shared venv: `make lock` uses its uv, the baked suite runs in it.
VENV = Path(sys.executable).parent.parent
# Pure Python, and already in the shared venv (cookiecutter's rich brings it), so the
# baked suite imports it there without installing anything.
DEPENDENCY = "markdown-it-py>=3"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
API_CLIENT = {"Accept": "application/json"}
STAT_DATABASE = (
    "import os; s = os.stat('/data/notes.sqlite'); "
    "print(s.st_uid, s.st_gid, oct(s.st_mode & 0o777))"
)

INIT_DB_COMMAND = '''

@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the notes tables (running it again changes nothing)."""
    init_db()
    click.echo("Initialised the database.")
'''

# The starter's files of the user's room that the app replaces with its own, and why.
REPLACED = {
    "src/notes/errors.py": "its own error shape and pages, as the README invites",
    "tests/test_app.py": "the starter's tests, kept for the app's error shape",
}
# What the template owns (README: "the template's (updated by it)"): none may change.
TEMPLATE_OWNED = (
    "src/notes/serving/",
    "tests/serving/",
    "Dockerfile",
    ".dockerignore",
    "Makefile",
    "compose.yaml",
    "bench/",
    "docs/",
)
# Its test value, where the README says test values go (a placeholder, never a secret).
API_TOKEN_LINE = "NOTES_API_TOKEN=notes-test-token-not-a-secret\n"

# (step of the README's worked path, file, anchor, what replaces it)
EDITS = [
    (
        "A page, A JSON endpoint, State: the blueprints, the database and the model",
        "src/notes/app.py",
        "    # Your blueprints, e.g.: from . import pages; app.register_blueprint(pages.bp)\n",
        "    # Your blueprints, e.g.: from . import pages; app.register_blueprint(pages.bp)\n"
        "    from . import api, db, model, pages\n"
        "\n"
        "    model.load(app)\n"
        "    db.init_app(app)\n"
        "    app.register_blueprint(pages.bp)\n"
        "    app.register_blueprint(api.bp)\n",
    ),
    (
        "A command: its imports",
        "src/notes/cli.py",
        "from flask.cli import with_appcontext\n",
        "from flask.cli import with_appcontext\n\nfrom .db import init_db\n",
    ),
    (
        "A command: the release step creates the tables",
        "src/notes/cli.py",
        '@click.command("release")\n'
        "@with_appcontext\n"
        "def release_command() -> None:\n"
        '    """Run the release step (empty until you fill it)."""\n'
        '    log.info("release: nothing to do")\n',
        '@click.command("release")\n'
        "@with_appcontext\n"
        "def release_command() -> None:\n"
        '    """Run the release step: create the notes tables."""\n'
        "    init_db()\n"
        '    log.info("release: notes tables ready")\n' + INIT_DB_COMMAND,
    ),
    (
        "A command: added in register()",
        "src/notes/cli.py",
        "    app.cli.add_command(release_command)\n",
        "    app.cli.add_command(release_command)\n    app.cli.add_command(init_db_command)\n",
    ),
    (
        "A setting: a field on Config",
        "src/notes/config.py",
        "    secret_key: str | None\n",
        "    secret_key: str | None\n"
        "    # How many notes the index page and GET /api/notes show, newest first.\n"
        "    notes_page_size: int\n",
    ),
    (
        "A setting: read in load_config()",
        "src/notes/config.py",
        "    return Config(\n",
        "    return Config(\n"
        '        notes_page_size=env.integer("NOTES_PAGE_SIZE", 20, minimum=1, maximum=500),\n',
    ),
    (
        "A setting: copied into app.config",
        "src/notes/app.py",
        "        SECRET_KEY=config.secret_key,\n",
        "        SECRET_KEY=config.secret_key,\n        NOTES_PAGE_SIZE=config.notes_page_size,\n",
    ),
    (
        "A secret: the app's own, a field on Config",
        "src/notes/config.py",
        "    secret_key: str | None\n",
        "    secret_key: str | None\n"
        "    # The bearer token scripts write notes with (api.py).\n"
        "    notes_api_token: str\n",
    ),
    (
        "A secret: env.secret(NAME, required=True)",
        "src/notes/config.py",
        "    return Config(\n",
        "    return Config(\n"
        '        notes_api_token=env.secret("NOTES_API_TOKEN", required=True, min_length=16),\n',
    ),
    (
        "A secret: copied into app.config",
        "src/notes/app.py",
        "        SECRET_KEY=config.secret_key,\n",
        "        SECRET_KEY=config.secret_key,\n        NOTES_API_TOKEN=config.notes_api_token,\n",
    ),
    (
        "Tests: the new required variable's test value in tests/test.env",
        "tests/test.env",
        "# SECRET_KEY and DATA_DIR are not here: environment.py makes fresh ones for each run.\n",
        "# SECRET_KEY and DATA_DIR are not here: environment.py makes fresh ones for each run.\n"
        + API_TOKEN_LINE,
    ),
    (
        "A secret: sessions make SECRET_KEY required",
        "src/notes/config.py",
        "USES_SESSIONS = False\n",
        "USES_SESSIONS = True\n",
    ),
    (
        "A dependency: in [project] dependencies",
        "pyproject.toml",
        "dependencies = [\n",
        f'dependencies = [\n    "{DEPENDENCY}",\n',
    ),
]


def edit(project: Path, step: str, name: str, anchor: str, replacement: str) -> None:
    path = project / name
    text = path.read_text()
    assert text.count(anchor) == 1, (
        f"worked path, {step}: {name} no longer has the anchor {anchor!r} exactly once"
    )
    path.write_text(text.replace(anchor, replacement))


def copy_app_files(project: Path) -> None:
    """The app's own files (src/notes/..., tests/...): new to the bake, or in REPLACED."""
    for folder in ("src", "tests"):
        for source in sorted((REAL_APP / folder).rglob("*")):
            if source.is_dir() or "__pycache__" in source.parts:
                continue
            target = project / source.relative_to(REAL_APP)
            name = target.relative_to(project).as_posix()
            assert target.exists() == (name in REPLACED), (
                f"{name}: in the bake already, and not in REPLACED"
                if target.exists()
                else f"{name}: in REPLACED, but the bake has no such file"
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def run(command: list[str], cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def bake_notes(output: Path) -> Path:
    return Path(
        cookiecutter(str(TEMPLATE), no_input=True, extra_context=ANSWERS, output_dir=str(output))
    )


@pytest.fixture(scope="module")
def notes_project(tmp_path_factory) -> Path:
    """A bake of its own (edited, so never the shared `bake` fixture's), with the app."""
    output = tmp_path_factory.mktemp("real-app")
    project = bake_notes(output)
    copy_app_files(project)
    for step, name, anchor, replacement in EDITS:
        edit(project, step, name, anchor, replacement)
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert DEPENDENCY in dependencies["dependencies"]
    # A dependency, then `make lock`, as a user runs it; -o: the shared venv stands in
    # for the project's .venv, which make must not create.
    assert (VENV / "bin" / "uv").exists(), f"make lock needs uv in {VENV} (requirements-dev.in)"
    run(["make", "-C", str(project), "lock", f"VENV={VENV}", "-o", f"{VENV}/bin/gunicorn"], output)
    return project


def test_make_lock_pins_the_new_dependency_with_hashes(notes_project):
    locked = (notes_project / "requirements.txt").read_text()
    for name in ("markdown-it-py", "mdurl"):  # mdurl: markdown-it-py's own dependency
        assert re.search(rf"^{name}==\S+ \\\n\s+--hash=sha256:", locked, re.MULTILINE), name
    assert "markdown-it-py==" in (notes_project / "requirements-dev.txt").read_text()


def changed_files(baked: Path, edited: Path) -> list[str]:
    """Every file the move-in changed, added or removed, relative to the project."""
    names = {
        path.relative_to(root).as_posix()
        for root in (baked, edited)
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    return sorted(
        name
        for name in names
        if not ((baked / name).is_file() and (edited / name).is_file())
        or not filecmp.cmp(baked / name, edited / name, shallow=False)
    )


def test_the_move_in_changes_no_file_the_template_owns(notes_project, tmp_path):
    changed = changed_files(bake_notes(tmp_path), notes_project)
    assert "tests/test.env" in changed and "src/notes/config.py" in changed  # it did compare
    owned = [name for name in changed if name.startswith(TEMPLATE_OWNED)]
    assert not owned, f"the move-in changed files the template owns: {owned}"
    assert API_TOKEN_LINE in (notes_project / "tests" / "test.env").read_text()


def test_the_app_passes_the_bakes_ruff(notes_project):
    ruff = [sys.executable, "-m", "ruff"]
    run([*ruff, "check", "--no-cache", "."], notes_project)
    run([*ruff, "format", "--no-cache", "--check", "."], notes_project)


@pytest.mark.docker
def test_the_bake_passes_every_suite_with_the_app(notes_project, tmp_path):
    assert find_spec("markdown_it"), f"the shared venv has no {DEPENDENCY} to run the app with"
    report = tmp_path / "junit.xml"
    # Compose too (slow, but it runs the app with compose.yaml's environment, the
    # required NOTES_API_TOKEN from tests/test.env included).
    run_suite(notes_project, "-m", "not slow or compose", f"--junitxml={report}")
    cases = ElementTree.parse(report).getroot().iter("testcase")
    outcomes: dict[str, list[str]] = {}
    for case in cases:
        skipped = case.find("skipped") is not None
        outcomes.setdefault(case.get("classname"), []).append("skipped" if skipped else "ran")
    # The app's own tests, the generated ones, and the serving suite with its servers.
    for module in ("test_notes", "test_app", "serving.test_gunicorn"):
        assert "ran" in outcomes.get(f"tests.{module}", []), f"tests/{module}.py did not run"
    # The container tests skip without an engine, unless REQUIRE_DOCKER=1.
    containers = outcomes.get("tests.serving.test_container", [])
    assert containers, "tests/serving/test_container.py was not collected"
    if os.environ.get("REQUIRE_DOCKER") == "1":
        assert set(containers) == {"ran"}, "container tests were skipped"
        compose = outcomes.get("tests.serving.test_compose", [])
        assert compose and set(compose) == {"ran"}, "compose tests did not run"


@pytest.mark.docker
def test_the_image_serves_the_app_from_a_volume_shared_by_two_uids(notes_project, docker_client):
    """Release as one arbitrary UID creates the database; the service, as another, writes it."""
    tag = f"notes-real-app:{uuid.uuid4().hex[:8]}"
    containers, volume, layers = [], None, []
    try:
        layers = build(docker_client, notes_project, tag)
        volume = docker_client.volumes.create(f"notes-data-{uuid.uuid4().hex[:8]}")
        hardened = {
            "read_only": True,
            "tmpfs": {"/tmp": ""},
            "cap_drop": ["ALL"],
            "volumes": {volume.name: {"bind": "/data", "mode": "rw"}},
            # The bake's test environment (tests/test.env and a fresh SECRET_KEY).
            "environment": bake_test_environment(notes_project),
            "detach": True,
        }
        release = docker_client.containers.run(
            tag, command=["python", "-m", "notes", "release"], user="23456:0", **hardened
        )
        containers.append(release)
        assert release.wait(timeout=60)["StatusCode"] == 0, "the release step failed"

        service = docker_client.containers.run(
            tag, user="23457:0", ports={"8080/tcp": ("127.0.0.1", None)}, **hardened
        )
        containers.append(service)
        service.reload()
        port = service.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
        url = f"http://127.0.0.1:{port}"
        wait_for_health(service, url)
        check_the_app(url, hardened["environment"]["NOTES_API_TOKEN"])

        # The file is the release's; the service, another UID in group 0, wrote to it.
        code, stat = service.exec_run(["python", "-c", STAT_DATABASE])
        assert (code, stat.decode().split()) == (0, ["23456", "0", "0o664"])
    except BaseException:
        for container in containers:
            print(f"--- logs of {container.short_id} ---")
            print(container.logs().decode(errors="replace"))
        raise
    finally:
        for container in containers:
            container.remove(force=True)
        if volume is not None:
            volume.remove(force=True)
        remove_image(docker_client, tag, layers)


def bake_test_environment(project: Path) -> dict[str, str]:
    """What the bake's tests/environment.py gives a container: the one place tests read."""
    spec = importlib.util.spec_from_file_location(
        "notes_test_environment", project / "tests" / "environment.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app_environment(PurePosixPath("/data"))


def check_the_app(url: str, api_token: str) -> None:
    browser = requests.Session()
    page = browser.get(f"{url}/", headers=BROWSER, timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<link rel="stylesheet" href="/static/notes.css">' in page.text
    css = browser.get(f"{url}/static/notes.css", timeout=5)
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")

    form = {"username": "grace", "password": secrets.token_urlsafe(12)}
    registered = browser.post(f"{url}/register", data=form, allow_redirects=False, timeout=5)
    assert registered.status_code == 302
    login = browser.post(f"{url}/login", data=form, allow_redirects=False, timeout=5)
    assert login.status_code == 302
    assert "HttpOnly" in login.headers["Set-Cookie"]
    assert "SameSite=Lax" in login.headers["Set-Cookie"]

    note = {"title": "From the container", "body": "Kept **on a volume**."}
    created = browser.post(f"{url}/api/notes", json=note, timeout=5)
    assert created.status_code == 201, created.text
    assert created.json()["author"] == "grace"
    assert "<strong>on a volume</strong>" in browser.get(f"{url}/", timeout=5).text

    token = {"Authorization": f"Bearer {api_token}"}
    exported = requests.get(f"{url}/api/export", headers=token, timeout=5)
    assert exported.status_code == 200, exported.text
    assert [n["title"] for n in exported.json()["notes"]] == ["From the container"]

    missing = f"{url}/api/notes/{created.json()['id'] + 1}"
    message = f"Note {created.json()['id'] + 1} does not exist."
    html = requests.get(missing, headers=BROWSER, timeout=5)
    assert html.status_code == 404
    assert html.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Sorry, the notes could not do that (404)" in html.text and message in html.text
    as_json = requests.get(missing, headers=API_CLIENT, timeout=5)
    assert as_json.status_code == 404
    assert as_json.json()["problem"]["detail"] == message
