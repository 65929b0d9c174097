"""The `scheduled_jobs` answer: `no` adds nothing of it, `yes` adds exactly the paths the
hook's table gives it plus lines in files every project has.

Every project gets the boot-time WARNING for a scheduler started inside the workers
(serving/in_process_schedulers.py) and docs/scheduled-jobs.md, which that warning names;
the deploy files' own checks are in test_deploy_files.py and test_deploy_targets.py, the
command's tests in the bake's tests/test_scheduled.py.
"""

from choice_answers import post_gen_hook

from conftest import files

# What the answer brings; a project without it has none of these anywhere.
SCHEDULED_NAMES = (
    "manage tick",
    "tick_command",
    "scheduled.py",
    "cronSchedule",
    "scheduler:standard",
    "type: cron",
    "CronJob",
    "-tick",
)
EVERYTHING = {"deploy_systemd": "yes"}


def owned_by_scheduled_jobs(project):
    hook = post_gen_hook()
    return sorted(
        path.replace(hook.PACKAGE, "my_service").replace(hook.SLUG, project.name)
        for answer, value, paths in hook.owners()
        if answer == "scheduled_jobs"
        for path in paths
    )


def relative_files(project):
    return {path.relative_to(project).as_posix() for path in files(project)}


def test_yes_adds_exactly_the_paths_the_hook_gives_it(bake):
    off, on = bake(**EVERYTHING), bake(**EVERYTHING, scheduled_jobs="yes")
    owned = owned_by_scheduled_jobs(on)
    assert len(owned) == 5
    assert sorted(relative_files(on) - relative_files(off)) == owned
    assert relative_files(off) <= relative_files(on)


def test_no_leaves_no_trace_of_it(bake):
    project = bake(**EVERYTHING)
    page = project / "docs/scheduled-jobs.md"
    for path in files(project):
        text = path.read_text(encoding="utf-8")
        # The page names each platform's scheduler (its table), not this command.
        names = SCHEDULED_NAMES[:3] if path == page else SCHEDULED_NAMES
        for name in names:
            assert name not in text, f"{path.relative_to(project)}: {name}"
    # What every project has: the warning and the page it names.
    text = page.read_text()
    assert "scheduled_jobs=yes" in text and "## Why not a scheduler in the app" in text
    assert "## This project's files" not in text
    assert (project / "src/my_service/serving/in_process_schedulers.py").is_file()


def test_yes_names_its_command_in_every_deploy_file(bake):
    project = bake(**EVERYTHING, scheduled_jobs="yes")
    command = "python -m my_service manage tick"
    for name in ("render.yaml", ".railway/railway.ts", "docs/scheduled-jobs.md"):
        assert command in (project / name).read_text(), name
    cron_job = (project / "deploy/kubernetes/base/cron-job.yaml").read_text()
    assert '["-m", "my_service", "manage", "tick"]' in cron_job
    unit = (project / f"deploy/systemd/{project.name}-tick.service").read_text()
    assert f".venv/bin/{command}\n" in unit
    assert "- tick\n" in (project / "compose.yaml").read_text()
    assert "scheduler:standard" in (project / "app.json").read_text()
