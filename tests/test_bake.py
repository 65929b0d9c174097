"""Bake the default answers and each answer changed one at a time; check every file."""

import json
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from conftest import DEFAULTS, NO_TARGETS, TEMPLATE, files, unrendered

VARIANTS = {
    "default": {},
    **{f"worker-{w}": {"worker_class": w} for w in DEFAULTS["worker_class"][1:]},
    **{f"python-{v}": {"python_version": v} for v in DEFAULTS["python_version"][1:]},
    "no-cloud-run": {"deploy_cloud_run": "no"},
    "no-railway": {"deploy_railway": "no"},
    "no-heroku": {"deploy_heroku": "no"},
    "no-github-actions": {"github_actions": "no"},
    "no-targets": NO_TARGETS,
    "with-systemd": {"deploy_systemd": "yes"},
    "scheduled-jobs": {"scheduled_jobs": "yes", "deploy_systemd": "yes"},
    "scheduled-jobs-postgresql": {"scheduled_jobs": "yes", "database": "postgresql"},
    "custom-names": {
        "project_name": "Billing API",
        "package_name": "billing",
        "license": "Apache-2.0",
    },
    "proprietary": {"license": "Proprietary"},
    "postgresql": {"database": "postgresql"},
    "postgresql-gevent-custom-names": {
        "database": "postgresql",
        "worker_class": "gevent",
        "project_name": "Billing API",
        "package_name": "billing_api",
    },
    "rq": {"background_jobs": "rq"},
    "rq-sync-custom-names": {
        "background_jobs": "rq",
        "worker_class": "sync",
        "project_name": "Export Jobs",
        "package_name": "exports",
    },
    "postgresql-rq": {"database": "postgresql", "background_jobs": "rq"},
    "every-answer": {"database": "postgresql", "background_jobs": "rq", "scheduled_jobs": "yes"},
}


def test_binary_files_are_copied_unchanged(bake):
    project = bake()
    template = TEMPLATE / "{{cookiecutter.project_slug}}"
    charts = list(template.rglob("*.png"))
    assert charts, "the benchmark chart is committed"
    for chart in charts:
        copied = project / chart.relative_to(template)
        assert copied.read_bytes() == chart.read_bytes()
        assert copied.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.fixture(params=list(VARIANTS), scope="module")
def project(request, bake):
    return bake(**VARIANTS[request.param])


def test_nothing_left_unrendered(project):
    for path in files(project):
        text = path.read_text(encoding="utf-8")
        match = unrendered(project, path, text)
        assert match is None, f"{path.relative_to(project)}: {text[match.start() :][:60]!r}"


def test_every_python_file_compiles(project):
    for path in project.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


def test_ruff_check_and_format(project):
    for command in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_data_files_parse(project):
    for path in files(project):
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yml", ".yaml"):
            yaml.safe_load(text)
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".json":
            json.loads(text)


def test_pyproject_metadata(project):
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == project.name
    package = pyproject["tool"]["flit"]["module"]["name"]
    assert (project / "src" / package / "__init__.py").is_file()


def test_hashed_lock_files(project):
    for name in ("requirements.txt", "requirements-dev.txt"):
        requirements = [
            line
            for line in (project / name).read_text().splitlines()
            if line and not line.startswith((" ", "#"))
        ]
        assert requirements and all(line.endswith("\\") for line in requirements), name
    assert "gevent==" in (project / "requirements.txt").read_text()


def test_license(bake):
    assert "MIT License" in (bake() / "LICENSE").read_text()
    assert "Apache License" in (bake(**VARIANTS["custom-names"]) / "LICENSE").read_text()
    assert not (bake(**VARIANTS["proprietary"]) / "LICENSE").exists()
    assert not (bake() / "licenses").exists()


# answer -> (paths it owns, the README line that names it)
OWNED = {
    "deploy_cloud_run": (
        ["deploy/cloudrun", "docs/deploy-cloud-run.md", ".github/workflows/deploy-cloudrun.yml"],
        "| Google Cloud Run |",
    ),
    "deploy_railway": ([".railway", "docs/deploy-railway.md"], "| Railway |"),
    "deploy_heroku": (
        ["heroku.yml", "app.json", "Procfile", "docs/deploy-heroku.md"],
        "| Heroku |",
    ),
    "github_actions": ([".github"], "## Continuous integration"),
    "deploy_render": (["render.yaml", "docs/deploy-render.md"], "| Render |"),
    "deploy_fly": (["fly.toml", "docs/deploy-fly.md"], "| Fly.io |"),
    "deploy_kubernetes": (["deploy/kubernetes", "docs/deploy-kubernetes.md"], "| Kubernetes |"),
    "deploy_systemd": (["deploy/systemd", "docs/deploy-systemd.md"], "| a VM with systemd |"),
    "scheduled_jobs": (
        [
            "src/my_service/scheduled.py",
            "tests/test_scheduled.py",
            "deploy/kubernetes/base/cron-job.yaml",
        ],
        "[docs/scheduled-jobs.md](docs/scheduled-jobs.md): one clock",
    ),
}


def pages(project):
    return [project / "README.md", *sorted((project / "docs").glob("*.md"))]


@pytest.mark.parametrize("answer", list(OWNED))
def test_turning_a_target_off_removes_its_files_and_readme_section(bake, answer):
    paths, line = OWNED[answer]
    on, off = bake(**({} if DEFAULTS[answer] else {answer: "yes"})), bake(**{answer: "no"})
    for path in paths:
        assert (on / path).exists(), path
        assert not (off / path).exists(), path
    on_readme, off_readme = (on / "README.md").read_text(), (off / "README.md").read_text()
    assert line in on_readme
    assert line not in off_readme
    for page in [*pages(on), *pages(off)]:
        assert "section:" not in page.read_text(), page


def test_readme_tables_survive_a_removed_row(bake):
    def rows(project):
        readme = (project / "README.md").read_text()
        return readme[readme.index("| platform | files | guide |") :].split("\n\n")[0].splitlines()

    kept = rows(bake(deploy_railway="no"))
    assert len(kept) == len(rows(bake())) - 1 and all(row.startswith("|") for row in kept), kept


def test_readme_is_a_day_one_readme(bake):
    readme = (bake() / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    assert readme.index("## Where your code goes") < readme.index("## Environment variables")
    for heading in ("## Performance", "Results on", "| met |"):
        assert heading not in readme, heading
    # Every page it links to exists.
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        assert (bake() / target).exists(), target


def test_python_version_reaches_the_image(bake):
    dockerfile = (bake(python_version="3.12") / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.12-slim" in dockerfile


def test_worker_class_answer_is_the_default(bake):
    settings = bake(worker_class="gevent") / "src" / "my_service" / "serving" / "settings.py"
    assert 'DEFAULT_WORKER_CLASS = "gevent"' in settings.read_text()
