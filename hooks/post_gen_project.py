"""Remove what the answers turned off and print the next steps.

One declarative table maps each answer to the paths it owns: a yes/no answer's paths
go when it is "no", a choice answer's (database, background_jobs) when it is another
value. A path two rows name (Redis's settings: background jobs and Socket.IO) stays
while either keeps it. The README and docs wrap a target's lines in a Jinja `if` on the same answer,
which cookiecutter and copier render alike; copier.yml's `_exclude` is written from this table by
scripts/copier_config.py, so copier leaves out the same paths without running this
file. The licence is LICENSE, rendered from licenses/ (whose name is empty, so absent,
for "Proprietary").

The file is importable without rendering (the generator and the tests do so); plain
Python (pathlib, shutil), no shell, so it also runs on Windows.
"""

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

# cookiecutter renders this file before running it: the answers arrive as JSON in a
# raw string, so no answer can break the syntax.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""
# {% raw %} Everything below stays as written when cookiecutter renders this file.

# answer -> the paths it owns, removed when it is "no"; for a choice answer, value ->
# the paths that value owns, removed when the answer is another value.
OWNED_BY_ANSWER = {
    "deploy_cloud_run": [
        "deploy/cloudrun",
        ".github/workflows/deploy-cloudrun.yml",
        "docs/deploy-cloud-run.md",
    ],
    "deploy_railway": [".railway", "docs/deploy-railway.md"],
    "deploy_heroku": ["heroku.yml", "app.json", "Procfile", "docs/deploy-heroku.md"],
    "deploy_render": ["render.yaml", "docs/deploy-render.md"],
    "deploy_fly": ["fly.toml", "docs/deploy-fly.md"],
    "deploy_kubernetes": ["deploy/kubernetes", "docs/deploy-kubernetes.md"],
    "deploy_systemd": ["deploy/systemd", "docs/deploy-systemd.md"],
    "github_actions": [".github"],
    "database": {
        "postgresql": [
            "bench/database.py",
            "bench/database_apps.py",
            "bench/results-database.md",
            "tests/serving/test_bench_database.py",
            "src/{{ cookiecutter.package_name }}/serving/database.py",
            "src/{{ cookiecutter.package_name }}/serving/database_settings.py",
            "src/{{ cookiecutter.package_name }}/serving/migrations.py",
            "src/{{ cookiecutter.package_name }}/models.py",
            "src/{{ cookiecutter.package_name }}/migrations",
            "tests/serving/harness/database_app.py",
            "tests/serving/test_database.py",
            "tests/serving/test_database_settings.py",
            "tests/serving/harness/postgres.py",
            "tests/serving/harness/postgres_image",
            "tests/serving/test_database_container.py",
            "tests/serving/test_database_faults.py",
            "docs/database.md",
        ],
    },
    "background_jobs": {
        "rq": [
            "src/{{ cookiecutter.package_name }}/serving/redis_settings.py",
            "src/{{ cookiecutter.package_name }}/serving/jobs.py",
            "src/{{ cookiecutter.package_name }}/serving/jobs_settings.py",
            "src/{{ cookiecutter.package_name }}/serving/job_worker.py",
            "src/{{ cookiecutter.package_name }}/jobs.py",
            "tests/serving/harness/redis_server.py",
            "tests/serving/harness/jobs_app.py",
            "tests/serving/test_jobs.py",
            "tests/serving/test_jobs_settings.py",
            "tests/test_background_jobs.py",
            "bench/jobs.py",
            "bench/worker_stop.py",
            "docs/background-jobs.md",
            "deploy/kubernetes/base/worker-deployment.yaml",
            "deploy/kubernetes/base/worker-pod-disruption-budget.yaml",
            "deploy/cloudrun/worker-pool.yaml",
            "deploy/systemd/{{ cookiecutter.project_slug }}-worker.service",
        ],
    },
    # The worked example command and what runs it on a clock; each deploy file's own
    # lines for it sit in a Jinja `if` on the answer. A path under a deploy target's
    # folder goes when either answer is "no".
    "scheduled_jobs": [
        "src/{{ cookiecutter.package_name }}/scheduled.py",
        "tests/test_scheduled.py",
        "deploy/kubernetes/base/cron-job.yaml",
        "deploy/systemd/{{ cookiecutter.project_slug }}-tick.service",
        "deploy/systemd/{{ cookiecutter.project_slug }}-tick.timer",
    ],
    "websockets": {
        "yes": [
            "src/{{ cookiecutter.package_name }}/serving/websocket_guard.py",
            "src/{{ cookiecutter.package_name }}/serving/websockets.py",
            "src/{{ cookiecutter.package_name }}/ws.py",
            "tests/serving/harness/websocket_app.py",
            "tests/serving/test_websockets.py",
            "tests/test_ws.py",
            "docs/websockets.md",
        ],
        # Flask-SocketIO: its own machinery and example; the admission rules (Origin,
        # sockets per worker), the docs and, for its message queue, Redis's settings
        # and the tests' throwaway server are shared with the rows above.
        "socketio": [
            "src/{{ cookiecutter.package_name }}/serving/websocket_guard.py",
            "src/{{ cookiecutter.package_name }}/serving/socketio.py",
            "src/{{ cookiecutter.package_name }}/serving/redis_settings.py",
            "src/{{ cookiecutter.package_name }}/rooms.py",
            "tests/serving/harness/redis_server.py",
            "tests/serving/harness/socketio_app.py",
            "tests/serving/test_socketio.py",
            "tests/test_rooms.py",
            "docs/websockets.md",
        ],
    },
}
# Where a path names the package folder or the project (the table is raw, unrendered
# text).
PACKAGE = "{{ cookiecutter.package_name }}"
SLUG = "{{ cookiecutter.project_slug }}"
# Paths of the tree that serve the template and never reach a project: the licence
# texts that LICENSE includes.
TEMPLATE_ONLY = ["licenses"]


def is_on(value):
    if isinstance(value, str):  # an answer given on the command line
        return value.strip().lower() in ("1", "true", "yes", "y", "on")
    return bool(value)


def owners():
    """(answer, value, paths) for each row: the paths stay when the answer is that
    value; True stands for "yes" of a yes/no answer."""
    for answer, owned in OWNED_BY_ANSWER.items():
        if isinstance(owned, dict):
            for value, paths in owned.items():
                yield answer, value, paths
        else:
            yield answer, True, owned


def removed_paths(answers):
    """What this project leaves out, relative to its folder: the paths of every row its
    answers turn off, but a path another row keeps."""
    removed, kept = [], set()
    for answer, value, owned in owners():
        given = is_on(answers[answer]) if value is True else answers[answer]
        if given == value:
            kept.update(owned)
        else:
            removed += [path for path in owned if path not in removed]
    names = {PACKAGE: answers["package_name"], SLUG: answers["project_slug"]}
    paths = list(TEMPLATE_ONLY)
    for path in removed:
        if path not in kept:
            for placeholder, name in names.items():
                path = path.replace(placeholder, name)
            paths.append(path)
    return paths


def remove(project, relative):
    path = project / relative
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    # Folders left empty (deploy/ without any target) go too.
    for parent in path.parents:
        if parent == project or not parent.is_dir() or any(parent.iterdir()):
            break
        parent.rmdir()


def rendered_by_cruft_to_compare(project):
    """True when cruft renders the template only to compare, not for anyone to `cd` into.

    `cruft update` (twice: the project's release and the new one), `cruft diff` and
    `cruft check` render into a fresh `tempfile.TemporaryDirectory()` (a `tmpXXXXXXXX`
    folder directly in the temporary folder) and move the files out; no answer or
    setting tells this hook so. The next steps are printed once, for a project made.
    """
    folder = project.resolve().parent
    return folder.parent == Path(tempfile.gettempdir()).resolve() and bool(
        re.fullmatch(r"tmp[a-z0-9_]{8}", folder.name)
    )


def main():
    project = Path.cwd()
    for relative in removed_paths(json.loads(ANSWERS_JSON)):
        remove(project, relative)
    if rendered_by_cruft_to_compare(project):
        return 0
    print(
        f"\nCreated {project.name}. Next:\n"
        f"  cd {project.name}\n"
        "  make run     # start the service on http://127.0.0.1:8080\n"
        "  make test    # run every test (the container tests need Docker)\n"
        "Not a git repository yet: git init && git add -A && git commit -m 'New service'\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
# {% endraw %}
