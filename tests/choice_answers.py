"""What every answer with choices (database, background_jobs) is tested for: its
default adds nothing, byte for byte, and the hook keeps its paths for its value only.
Each answer's test file brings its own names, packages and files."""

import importlib.util
from pathlib import Path

from conftest import TEMPLATE, files

LOCKS = ("requirements.txt", "requirements-dev.txt", "requirements-bench.txt")


def post_gen_hook():
    spec = importlib.util.spec_from_file_location(
        "post_gen_hook", TEMPLATE / "hooks" / "post_gen_project.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def owned_by(
    answer: str, value: str, package: str = "my_service", slug: str = "my-service"
) -> list[str]:
    """The paths the hook's table gives `answer` when it is `value`."""
    hook = post_gen_hook()
    return [
        path.replace(hook.PACKAGE, package).replace(hook.SLUG, slug)
        for name, owner, paths in hook.owners()
        if (name, owner) == (answer, value)
        for path in paths
    ]


def locked(lock: Path) -> set[str]:
    return {
        line.split("==")[0]
        for line in lock.read_text().splitlines()
        if line and not line.startswith((" ", "#"))
    }


def assert_the_default_adds_nothing(
    bake, answer: str, value: str, names, packages, default: str = "none"
) -> None:
    """`answer=none` (or its `default`) is the default's project, byte for byte: none of
    `value`'s files, none of its `names` in any file, none of its `packages` in any lock."""
    project, explicit = bake(), bake(**{answer: default})
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == sorted(
        p.relative_to(explicit) for p in explicit.rglob("*")
    )
    for path in files(project):
        assert path.read_bytes() == (explicit / path.relative_to(project)).read_bytes(), path
    for path in owned_by(answer, value):
        assert not (project / path).exists(), path
    for path in files(project):
        text = path.read_text(encoding="utf-8")
        for name in names:
            assert name not in text, f"{path.relative_to(project)} mentions {name}"
    for lock in LOCKS:
        assert not locked(project / lock) & set(packages), lock


def assert_the_hook_keeps_its_paths_for_its_value_only(
    answer: str, value: str, one_path: str, default: str = "none"
):
    hook = post_gen_hook()
    answers = {name: "yes" for name in hook.OWNED_BY_ANSWER} | {
        "package_name": "shop",
        "project_slug": "shop-api",
    }
    kept = hook.removed_paths({**answers, answer: value})
    removed = hook.removed_paths({**answers, answer: default})
    assert not set(owned_by(answer, value, "shop", "shop-api")) & set(kept)
    assert set(owned_by(answer, value, "shop", "shop-api")) <= set(removed)
    assert one_path in removed
