"""The project's locks: one text per lock file, the answers' packages as Jinja spots.

    python scripts/answer_locks.py refresh        resolve every combination, rewrite the locks
    python scripts/answer_locks.py render FOLDER  every answer on, plain (the template's make lock)

A project's locks are what its `make lock` resolves from its pyproject.toml. Some
answers add packages (ANSWERS below). Rather than one copy of every lock per
combination of their values (2 answers: 4 copies, 3: 8), each lock keeps one text in
which the blocks an answer changes (its packages, the `# via` lines of packages it
shares) are wrapped in `{%- if cookiecutter.ANSWER == "VALUE" %} ... {%- else %} ...
{%- endif %}`, nested where answers meet. Cookiecutter, cruft and copier render them
alike; a bake's lock holds no Jinja.

`refresh` bakes the template once per combination, runs each bake's own `make lock`
(uv keeps the pins it finds, so only what an answer changes moves), folds the results
into one text per lock, and checks that the text renders back to each bake's lock
before writing it. tests/test_answer_locks.py runs `make lock` in bakes of every
combination and compares, so a lock out of step fails there.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "{{cookiecutter.project_slug}}"
# The locks an answer changes; requirements-build.txt and requirements-update.txt are
# the same for every answer (refresh checks it).
LOCKS = ("requirements.txt", "requirements-dev.txt", "requirements-bench.txt")
SAME_FOR_EVERY_ANSWER = ("requirements-build.txt", "requirements-update.txt")
# Each answer that adds packages: its value without them, then each value with them.
ANSWERS = {
    "database": ("none", "postgresql"),
    "background_jobs": ("none", "rq"),
    "websockets": ("no", "yes", "socketio"),
}
# The bakes' name, and how the locks' `# via` lines name the project in the template.
SLUG = "lock-bake"
SLUG_SPOT = "{{ cookiecutter.project_slug }}"
SPOT = re.compile(r'\{%- if cookiecutter\.(\w+) == "([^"]*)" %\}')


def rendered(lines: list[str], answers: dict[str, str]) -> list[str]:
    """The lines of a folded lock for these answers (only the spots folded() writes)."""
    out, keep, taken = [], [True], [False]
    for line in lines:
        if match := SPOT.fullmatch(line):
            chosen = answers[match[1]] == match[2]
            keep.append(keep[-1] and chosen)
            taken.append(chosen)
        elif line == "{%- else %}":
            keep[-1] = keep[-2] and not taken[-1]
        elif line == "{%- endif %}":
            keep.pop()
            taken.pop()
        elif keep[-1]:
            out.append(line)
    if len(keep) != 1:
        raise SystemExit("a lock's Jinja spots do not nest")
    return out


def combinations() -> list[dict[str, str]]:
    product = itertools.product(*ANSWERS.values())
    return [dict(zip(ANSWERS, values, strict=True)) for values in product]


def blocks(lines: list[str]) -> tuple[list[str], dict[str, tuple[list[str], list[str]]]]:
    """A lock's header, and each package's (requirement and hashes, `# via` lines) by
    name, in the lock's order (a name locked twice, under two markers, gets `#2`)."""
    header: list[str] = []
    packages: dict[str, tuple[list[str], list[str]]] = {}
    for line in lines:
        if not line.startswith((" ", "#")):
            name = re.split(r"[=; ]", line, maxsplit=1)[0]
            seen = sum(k.split("#")[0] == name for k in packages)
            key = f"{name}#{seen + 1}" if seen else name
            packages[key] = ([line], [])
        elif not packages:
            header.append(line)
        elif line.startswith("    #"):
            packages[key][1].append(line)
        else:
            packages[key][0].append(line)
    return header, packages


def spotted(texts: dict[tuple[str, ...], list[str]], names: tuple[str, ...] = ()) -> list[str]:
    """One text for every combination of answers: plain where they agree, else an
    if/else spot on the first answer it depends on, nested for the ones after it.

    `texts` maps each combination of the answers in `names` (all of ANSWERS at first)
    to its lines; an answer the text does not depend on is left out of its spots."""
    names = names or tuple(ANSWERS)
    first = next(iter(texts.values()))
    if all(text == first for text in texts.values()):
        return first

    def where(index: int, value: str) -> dict[tuple[str, ...], list[str]]:
        """The texts where answer `index` has `value`, keyed without it."""
        return {v[:index] + v[index + 1 :]: t for v, t in texts.items() if v[index] == value}

    for index, name in enumerate(names):
        first_value, *others = (where(index, value) for value in ANSWERS[name])
        if all(other == first_value for other in others):  # the same whatever this answer
            return spotted(first_value, names[:index] + names[index + 1 :])
    name = names[0]
    return chained(name, ANSWERS[name], [spotted(where(0, v), names[1:]) for v in ANSWERS[name]])


def chained(name: str, values: tuple[str, ...], texts: list[list[str]]) -> list[str]:
    """One spot per value after the first, the last value's outermost: `if VALUE ...
    else` down to the first value's text (an answer with two values: one if/else)."""
    if all(text == texts[0] for text in texts):
        return texts[0]
    rest = chained(name, values[:-1], texts[:-1])
    out = [f'{{%- if cookiecutter.{name} == "{values[-1]}" %}}', *texts[-1]]
    if rest:
        out += ["{%- else %}", *rest]
    return [*out, "{%- endif %}"]


def fold_all(locks: dict[tuple[str, ...], list[str]]) -> list[str]:
    """The locks of every combination as one text, package by package."""
    parsed = {values: blocks(lines) for values, lines in locks.items()}
    headers = {tuple(header) for header, _ in parsed.values()}
    if len(headers) != 1:
        raise SystemExit("the locks' headers differ between answers")

    # uv writes packages sorted by name: every combination's, in that order.
    def position(key: str) -> tuple[str, int]:
        name, _, count = key.partition("#")
        return name, int(count or 1)

    order = sorted({key for _, packages in parsed.values() for key in packages}, key=position)
    for _, packages in parsed.values():
        if list(packages) != [key for key in order if key in packages]:
            raise SystemExit("a lock is not sorted by package name")
    out = list(headers.pop())
    for key in order:
        for part in (0, 1):
            out += spotted({v: p[key][part] if key in p else [] for v, (_, p) in parsed.items()})
    return out


def render(output: Path) -> None:
    """Every answer on (the set holding every package a project may lock), as plain
    requirements files: what constrains the template's own venv, where every bake's
    suite runs. Standard library only: the template's `make lock` runs it first."""
    output.mkdir(parents=True, exist_ok=True)
    # An answer with several values that add packages (websockets: yes, socketio):
    # the union of each value's packages, which share their pins.
    every = [
        dict(zip(ANSWERS, values, strict=True))
        for values in itertools.product(*(values[1:] for values in ANSWERS.values()))
    ]
    for lock in LOCKS:
        text = (PROJECT / lock).read_text().splitlines()
        header, packages = None, {}
        for answers in every:
            header, found = blocks(rendered(text, answers))
            for key, block in found.items():
                packages.setdefault(key, block)
        lines = list(header)
        for key in sorted(packages, key=lambda key: key.partition("#")[::2]):
            lines += packages[key][0] + packages[key][1]
        text = "\n".join(line.replace(SLUG_SPOT, "project") for line in lines) + "\n"
        (output / lock).write_text(text)


def bake_and_lock(answers: dict[str, str], folder: Path, uv: str) -> Path:
    from cookiecutter.main import cookiecutter

    extra = {**answers, "project_name": SLUG}
    name = "-".join(answers.values())
    output = folder / name
    project = Path(cookiecutter(str(ROOT), no_input=True, extra_context=extra, output_dir=output))
    lock = ["make", "-C", str(project), f"UV={uv}", "lock"]
    subprocess.run(lock, check=True, capture_output=True)
    return project


def refresh() -> None:
    uv = str(Path(sys.executable).parent / "uv")
    with tempfile.TemporaryDirectory() as temporary:
        bakes = {tuple(c.values()): bake_and_lock(c, Path(temporary), uv) for c in combinations()}
        for lock in SAME_FOR_EVERY_ANSWER:
            texts = {(project / lock).read_text() for project in bakes.values()}
            if len(texts) != 1:
                raise SystemExit(f"{lock} differs between answers: it needs spots too")
            (PROJECT / lock).write_text(texts.pop().replace(f" {SLUG} (", f" {SLUG_SPOT} ("))
        for lock in LOCKS:
            locks = {
                values: (project / lock).read_text().replace(f" {SLUG} (", f" {SLUG_SPOT} (")
                for values, project in bakes.items()
            }
            locks = {values: text.splitlines() for values, text in locks.items()}
            lines = fold_all(locks)
            for values, expected in locks.items():
                if rendered(lines, dict(zip(ANSWERS, values, strict=True))) != expected:
                    raise SystemExit(f"{lock} folded for {values} does not render back")
            (PROJECT / lock).write_text("\n".join(lines) + "\n")
            print(f"{lock}: {sum(line.startswith('{%- if') for line in lines)} spots")


if __name__ == "__main__":
    if sys.argv[1:2] == ["render"] and len(sys.argv) == 3:
        render(Path(sys.argv[2]))
    elif sys.argv[1:] == ["refresh"]:
        refresh()
    else:
        raise SystemExit(__doc__)
