"""Fold an answer's packages into the template's lock files as small Jinja spots.

    python scripts/answer_locks.py CONDITION BAKE_WITH_ANSWER [BAKE_WITHOUT]
    python scripts/answer_locks.py render OUTPUT_FOLDER        (the template's `make lock`)

The locks of a project are what `make lock` resolves from its pyproject.toml. An
answer that adds dependencies (background_jobs=rq) changes a few blocks of each lock
only: its packages, and the `# via` lines of packages it shares. Rather than a second
copy of every lock per answer value (and one per combination once two answers add
packages: 4 copies, then 8), each lock keeps one text with those few blocks wrapped in
`{%- if CONDITION %} ... {%- else %} ... {%- endif %}`, which cookiecutter, cruft and
copier render alike.

Steps: bake the template with and without the answer, run `make lock` in both (the
without-bake's locks equal the template's; any difference is a lock out of step),
then run this: it rewrites the template's locks from the two. A test renders each
lock both ways and compares with what `make lock` resolves (tests/test_background_jobs_answer.py).
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "{{cookiecutter.project_slug}}"
LOCKS = ("requirements.txt", "requirements-dev.txt", "requirements-bench.txt")
SLUG = "{{ cookiecutter.project_slug }}"


def folded(without: list[str], with_answer: list[str], condition: str) -> list[str]:
    """`without` with each block that differs in `with_answer` as an if/else spot."""
    out: list[str] = []
    matcher = difflib.SequenceMatcher(a=without, b=with_answer, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += without[i1:i2]
            continue
        if not out:
            raise SystemExit("a lock's first line differs: nothing to hang a Jinja spot on")
        out.append(f"{{%- if {condition} %}}")
        out += with_answer[j1:j2]
        if i2 > i1:
            out.append("{%- else %}")
            out += without[i1:i2]
        out.append("{%- endif %}")
    return out


# Every answer value that adds packages: the rendering that holds every package a
# project may lock, which constrains the template's own venv (requirements-dev.in),
# where each bake's suite runs.
SUPERSET = {"background_jobs": "rq"}


def render(output: Path) -> None:
    """The project's locks rendered with SUPERSET, plain requirements files for uv.

    Standard library only (the template's `make lock` runs it before any venv): the
    locks hold only the spots folded() writes, on lines of their own.
    """
    output.mkdir(parents=True, exist_ok=True)
    spot = re.compile(r'\{%- if cookiecutter\.(\w+) == "([^"]*)" %\}')
    for lock in LOCKS:
        lines, keep = [], [True]
        for line in (PROJECT / lock).read_text().splitlines():
            if match := spot.fullmatch(line):
                keep.append(keep[-1] and SUPERSET.get(match[1]) == match[2])
            elif line == "{%- else %}":
                keep[-1] = keep[-2] and not keep[-1]
            elif line == "{%- endif %}":
                keep.pop()
            elif keep[-1]:
                lines.append(line.replace(SLUG, "project"))
        (output / lock).write_text("\n".join(lines) + "\n")


def main(condition: str, with_bake: Path, without_bake: Path | None) -> None:
    slug = with_bake.name
    for lock in LOCKS:
        template_lock = PROJECT / lock
        base = (without_bake / lock if without_bake else template_lock).read_text()
        base = base.replace(f" {slug} (", f" {SLUG} (")
        answer = (with_bake / lock).read_text().replace(f" {slug} (", f" {SLUG} (")
        lines = folded(base.splitlines(), answer.splitlines(), condition)
        template_lock.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[0] == "render":
        render(Path(args[1]))
        sys.exit(0)
    main(args[0], Path(args[1]), Path(args[2]) if len(args) > 2 else None)
