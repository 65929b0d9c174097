"""Print a short digest of what cookiecutter renders from: `make demo` names its folder
with it, so a changed template renders into a fresh folder and an unchanged one is
started again, with whatever was edited in it kept."""

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a render reads: the answers, the hooks and the project tree.
SOURCES = ("cookiecutter.json", "hooks", "{{cookiecutter.project_slug}}")
# What tools leave behind in the tree, which a render does not depend on.
SKIPPED = {"__pycache__", ".pytest_cache", ".ruff_cache", ".venv"}


def digest(root: Path = ROOT) -> str:
    sha = hashlib.sha256()
    for source in SOURCES:
        top = root / source
        files = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in files:
            relative = path.relative_to(root)
            if path.is_dir() or SKIPPED.intersection(relative.parts):
                continue
            sha.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    # 12 hex digits: a readable folder name, and no two template versions alike in practice.
    return sha.hexdigest()[:12]


if __name__ == "__main__":
    print(digest())
