"""Reject bad cookiecutter answers before anything is written.

A non-zero exit here makes cookiecutter raise FailedHookException and remove the
output folder, so a bad answer leaves nothing behind. Each problem is one line.
Plain Python, no shell: it runs on Windows too.
"""

import json
import keyword
import re
import sys

# The whole context, as JSON inside a raw string: no answer can break this file's
# syntax (tojson escapes quotes, and json.loads reads the escapes back).
CONTEXT = json.loads(r"""{{ cookiecutter | tojson }}""")

SUPPORTED_PYTHON = ("3.12", "3.13", "3.14")
# Cloud Run service names: lowercase letters, digits and hyphens, starting with a
# letter, not ending with a hyphen, at most 49 characters.
SLUG = re.compile(r"^[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?$")
PACKAGE = re.compile(r"^[a-z_][a-z0-9_]*$")
EMAIL = re.compile(r"^[^@\s\"\\]+@[^@\s\"\\]+\.[^@\s\"\\]+$")
VERSION = re.compile(r"^\d+(\.\d+){0,2}((a|b|rc)\d+)?(\.dev\d+)?$")
# Free text lands in TOML, YAML, JSON, Python and Markdown strings: refuse the
# characters that would need escaping in one of them.
UNSAFE_TEXT = re.compile(r"[\"\\`${}\x00-\x1f\x7f]")
# Modules the service or its tests import: a package with one of these names
# would shadow it.
THIRD_PARTY_IMPORTS = {
    "blinker",
    "click",
    "docker",
    "flask",
    "gevent",
    "greenlet",
    "gunicorn",
    "itsdangerous",
    "jinja2",
    "markupsafe",
    "pytest",
    "requests",
    "ruff",
    "urllib3",
    "werkzeug",
    "zope",
    "test",
    "tests",
    "src",
    "conftest",
}


def problems(context):
    slug = context["project_slug"]
    package = context["package_name"]
    if not SLUG.match(slug):
        yield (
            f"project_slug {slug!r} is not valid: use lowercase letters, digits and hyphens, "
            "start with a letter, do not end with a hyphen, at most 49 characters"
        )
    if not PACKAGE.match(package):
        yield (
            f"package_name {package!r} is not valid: use a Python identifier of lowercase "
            "letters, digits and underscores, not starting with a digit"
        )
    elif keyword.iskeyword(package) or keyword.issoftkeyword(package):
        yield f"package_name {package!r} is a Python keyword: choose another name"
    elif package in sys.stdlib_module_names or package in THIRD_PARTY_IMPORTS:
        yield (
            f"package_name {package!r} would shadow the module of the same name "
            "that the service imports: choose another name"
        )
    if context["python_version"] not in SUPPORTED_PYTHON:
        yield (
            f"python_version {context['python_version']!r} is not supported: "
            f"choose one of {', '.join(SUPPORTED_PYTHON)}"
        )
    for field in ("project_name", "description", "author_name"):
        value = context[field]
        if not value.strip():
            yield f"{field} is empty: give a value"
        elif UNSAFE_TEXT.search(value):
            yield (
                f"{field} {value!r} contains a character that is not allowed: "
                "no quotes, backslashes, backticks, $, braces or control characters"
            )
    if not EMAIL.match(context["author_email"]):
        yield f"author_email {context['author_email']!r} is not an email address"
    if not VERSION.match(context["version"]):
        yield (
            f"version {context['version']!r} is not valid: use a release number such as "
            "0.1.0 or 1.0.0rc1"
        )


def main():
    found = list(problems(CONTEXT))
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
