"""Remove what the answers turned off, pick the license, print the next steps.

One declarative table maps each yes/no answer to the paths it owns; the generated
README and docs mark each target's lines with `<!-- section:NAME -->` ...
`<!-- /section:NAME -->`.
Plain Python (pathlib, shutil), no shell: it runs on Windows too.
"""

import json
import re
import shutil
import sys
from pathlib import Path

CONTEXT = json.loads(r"""{{ cookiecutter | tojson }}""")
PROJECT = Path.cwd()

# answer -> (paths it owns, README sections it owns)
OWNED_BY_ANSWER = {
    "deploy_cloud_run": (
        [
            "deploy/cloudrun",
            ".github/workflows/deploy-cloudrun.yml",
            "docs/deploy-cloud-run.md",
        ],
        ["cloud-run"],
    ),
    "deploy_railway": ([".railway", "docs/deploy-railway.md"], ["railway"]),
    "deploy_heroku": (
        ["heroku.yml", "app.json", "Procfile", "docs/deploy-heroku.md"],
        ["heroku"],
    ),
    "github_actions": ([".github"], ["github-actions"]),
}
LICENSES = PROJECT / "licenses"


def is_on(answer):
    value = CONTEXT[answer]
    if isinstance(value, str):  # an answer given on the command line
        return value.strip().lower() in ("1", "true", "yes", "y", "on")
    return bool(value)


def remove(relative):
    path = PROJECT / relative
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def strip_sections(text, names):
    for name in names:
        text = re.sub(
            rf"\n?<!-- section:{name} -->.*?<!-- /section:{name} -->\n?",
            "\n",
            text,
            flags=re.DOTALL,
        )
    # Markers of kept sections are only for this hook.
    return re.sub(r"^<!-- /?section:[a-z-]+ -->\n", "", text, flags=re.MULTILINE)


def main():
    dropped_sections = []
    for answer, (paths, sections) in OWNED_BY_ANSWER.items():
        if not is_on(answer):
            for relative in paths:
                remove(relative)
            dropped_sections += sections
    # Folders left empty by the removals (deploy/ without cloudrun/) go too.
    for folder in ("deploy", ".github/workflows", ".github"):
        path = PROJECT / folder
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()

    for page in [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]:
        page.write_text(
            strip_sections(page.read_text(encoding="utf-8"), dropped_sections), encoding="utf-8"
        )

    chosen = LICENSES / f"{CONTEXT['license']}.txt"
    if CONTEXT["license"] != "Proprietary":
        shutil.copyfile(chosen, PROJECT / "LICENSE")
    shutil.rmtree(LICENSES)

    print(
        f"\nCreated {PROJECT.name}. Next:\n"
        f"  cd {PROJECT.name}\n"
        "  make run     # start the service on http://127.0.0.1:8080\n"
        "  make test    # run every test (the container tests need Docker)\n"
        "Not a git repository yet: git init && git add -A && git commit -m 'New service'\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
