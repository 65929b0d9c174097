"""Refuse bad answers before anything is written, one line per problem.

A non-zero exit here makes cookiecutter (and cruft, which runs this hook) raise
FailedHookException and remove the output folder, so a bad answer leaves nothing.

Each check is a small Jinja template that renders the problem, or nothing. The same
text is the `validator:` of its question in copier.yml (scripts/copier_config.py
writes it from `checks()` below), so cookiecutter, cruft and copier refuse an answer
with the same words. A line names the field the user typed: a slug derived from the
project name is the name's problem, and the line says which answer to pass instead.

The file is importable without rendering (the generator and the tests do so); plain
Python, no shell, so it also runs on Windows.
"""

import json
import keyword
import re
import sys

# cookiecutter renders this file before running it: the answers arrive as JSON in a
# raw string, so no answer can break the syntax (tojson escapes quotes).
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""
# {% raw %} Everything below stays as written when cookiecutter renders this file.

# How cookiecutter.json derives the slug from the name and the package from the slug
# (a test keeps them equal to its defaults); a problem in a derived answer is reported
# against the answer it came from.
DERIVED = {
    "project_slug": (
        "project_name.lower().strip().replace(' ', '-').replace('_', '-')"
        ".replace('/', '-').replace('\\\\', '-') or 'service'"
    ),
    "package_name": "project_slug.replace('-', '_')",
}

# Cloud Run service names: lowercase letters, digits and hyphens, starting with a
# letter, not ending with a hyphen, at most 49 characters. \Z: no trailing newline.
SLUG = r"^[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?\Z"
SLUG_RULE = (
    "lowercase ASCII letters, digits and hyphens, starting with a letter, "
    "not ending with a hyphen, at most 49 characters"
)
PACKAGE = r"^[a-z_][a-z0-9_]*\Z"
PACKAGE_RULE = "a Python identifier of lowercase ASCII letters, digits and underscores"
EMAIL = r"^[^@\s\"\\]+@[^@\s\"\\]+\.[^@\s\"\\]+\Z"
VERSION = r"^\d+(\.\d+){0,2}((a|b|rc)\d+)?(\.dev\d+)?\Z"
# Free text lands in TOML, YAML, JSON, Python and Markdown strings: refuse the
# characters that would need escaping in one of them.
UNSAFE_TEXT = r"[\"\\`${}\x00-\x1f\x7f]"
FREE_TEXT = ("project_name", "description", "author_name")
# Modules the service or its tests import: a package with one of these names would
# shadow it (the standard library's are added from the running Python).
THIRD_PARTY_IMPORTS = {
    "blinker",
    "click",
    "croniter",
    "dateutil",
    "docker",
    "flask",
    "gevent",
    "greenlet",
    "gunicorn",
    "itsdangerous",
    "jinja2",
    "markupsafe",
    "pytest",
    "redis",
    "requests",
    "rq",
    "ruff",
    "urllib3",
    "werkzeug",
    "zope",
    # Metrics (every project), the suite's processes (xdist, filelock), WebSocket routes
    # (websockets=yes and socketio: few enough to refuse for every project, as rq's are).
    "prometheus_client",
    # Traces (every project): OpenTelemetry, protobuf's `google`, and what the OTLP/HTTP
    # exporter brings (requests' certifi, idna, charset_normalizer).
    "opentelemetry",
    "google",
    "certifi",
    "idna",
    "charset_normalizer",
    "xdist",
    "execnet",
    "filelock",
    "flask_sock",
    "simple_websocket",
    "websocket",
    "wsproto",
    "flask_socketio",
    "socketio",
    "engineio",
    "bidict",
    "test",
    "tests",
    "src",
    "conftest",
}
# Modules only database=postgresql brings: refused as package names with that answer
# alone, so database=none accepts exactly the names it accepted before the answer.
DATABASE_IMPORTS = ["alembic", "mako", "psycopg", "psycopg_binary", "sqlalchemy"]


def names_from_this_python():
    """The names a package may not take, from the running interpreter."""
    return {
        "keywords": sorted({*keyword.kwlist, *keyword.softkwlist}),
        "shadowed": sorted(
            name
            for name in {*sys.stdlib_module_names, *THIRD_PARTY_IMPORTS}
            if re.match(PACKAGE, name)
        ),
    }


def constants(names):
    """The values the checks compare with, as `{% set %}` lines (JSON is valid Jinja)."""
    values = {
        "control": r"[\x00-\x1f\x7f]",
        "unsafe": UNSAFE_TEXT,
        "slug": SLUG,
        "package": PACKAGE,
        "email": EMAIL,
        "version_pattern": VERSION,
        "keywords": names["keywords"],
        "shadowed": names["shadowed"],
        "database_shadowed": DATABASE_IMPORTS,
    }
    return {
        name: "{%- set " + name + " = " + wrapped(json.dumps(value)) + " -%}\n"
        for name, value in values.items()
    }


def wrapped(text, width=88):
    """A long JSON list over several lines (Jinja ignores newlines inside a tag)."""
    if len(text) <= width:
        return text
    lines, line = [], ""
    for item in text.split(", "):
        if line and len(line) + len(item) > width:
            lines.append(line + ",")
            line = ""
        line = f"{line}, {item}" if line else item
    return "\n    ".join([*lines, line])


# The checks. An answer is shown as '{{ x | regex_replace(control, "?") }}' so that a
# control character cannot split its line. `-` in every block tag strips the layout.
FREE_TEXT_CHECK = """\
{%- if not FIELD.strip() -%}
  FIELD is empty: give a value
{%- elif FIELD | regex_search(unsafe) is not none -%}
  FIELD '{{ FIELD | regex_replace(control, "?") }}' contains a character that is not
  {{- " " }}allowed: no quotes, backslashes, backticks, $, braces or control characters
{%- endif -%}
"""
DERIVATIONS = """\
{%- set derived_slug = DERIVED_SLUG -%}
{%- set name_ok = project_name.strip() and project_name | regex_search(unsafe) is none -%}
{%- set slug_from_name = project_slug == derived_slug and name_ok -%}
"""
SLUG_CHECK = """\
{%- if project_slug | regex_search(slug) is none -%}
  {%- if slug_from_name -%}
    project_name '{{ project_name | regex_replace(control, "?") }}' makes the slug
    {{- " " }}'{{ project_slug | regex_replace(control, "?") }}', which is not valid:
    {{- " " }}pass a slug of your own, project_slug=NAME (SLUG_RULE)
  {%- elif project_slug != derived_slug -%}
    project_slug '{{ project_slug | regex_replace(control, "?") }}' is not valid:
    {{- " " }}use SLUG_RULE
  {%- endif -%}
{%- endif -%}
"""
PACKAGE_CHECK = """\
{%- set from_slug = package_name == (DERIVED_PACKAGE) -%}
{%- if from_slug and project_slug | regex_search(slug) is none -%}
  {#- The slug's own line covers a package derived from it. -#}
{%- elif package_name | regex_search(package) is none -%}
  {%- set problem = "is not valid" -%}
{%- elif package_name in keywords -%}
  {%- set problem = "is a Python keyword" -%}
{%- elif package_name in shadowed -%}
  {%- set problem = "would shadow the module of the same name that the service imports" -%}
{%- endif -%}
{%- if problem is defined and not from_slug -%}
  package_name '{{ package_name | regex_replace(control, "?") }}' {{ problem }}:
  {{- " " }}{{ "use PACKAGE_RULE, not starting with a digit" if problem == "is not valid"
  else "choose another name" }}
{%- elif problem is defined -%}
  {%- if slug_from_name -%}
    project_name '{{ project_name | regex_replace(control, "?") }}'
  {%- else -%}
    project_slug '{{ project_slug | regex_replace(control, "?") }}'
  {%- endif -%}
  {{- " " }}gives the package name '{{ package_name | regex_replace(control, "?") }}',
  {{- " " }}which {{ problem }}: pass package_name=NAME (PACKAGE_RULE, not a keyword
  {{- " " }}or a module the service imports)
{%- endif -%}
"""
DATABASE_CHECK = """\
{%- if database == "postgresql" and package_name in database_shadowed -%}
  {%- if package_name != (DERIVED_PACKAGE) -%}
    package_name '{{ package_name }}'
  {%- elif slug_from_name -%}
    project_name '{{ project_name | regex_replace(control, "?") }}' gives the package name
    {{- " " }}'{{ package_name }}', which
  {%- else -%}
    project_slug '{{ project_slug }}' gives the package name '{{ package_name }}', which
  {%- endif -%}
  {{- " " }}would shadow the module of the same name that database=postgresql imports:
  {{- " " }}pass package_name=NAME, or database=none
{%- endif -%}
"""
EMAIL_CHECK = """\
{%- if author_email | regex_search(email) is none -%}
  author_email '{{ author_email | regex_replace(control, "?") }}' is not an email address:
  {{- " " }}give one such as you@example.com
{%- endif -%}
"""
VERSION_CHECK = """\
{%- if version | regex_search(version_pattern) is none -%}
  version '{{ version | regex_replace(control, "?") }}' is not valid: use a release
  {{- " " }}number such as 0.1.0 or 1.0.0rc1
{%- endif -%}
"""


def checks(names=None):
    """Field -> the Jinja that renders its problem, or nothing.

    Copier validates the questions in order and stops at the first problem, so a
    check reads only its own answer and the ones asked before it.
    """
    defined = constants(names or names_from_this_python())

    def check(body, *needed):
        text = "".join(defined[name] for name in needed) + body
        for placeholder, value in (
            ("DERIVED_SLUG", DERIVED["project_slug"]),
            ("DERIVED_PACKAGE", DERIVED["package_name"]),
            ("SLUG_RULE", SLUG_RULE),
            ("PACKAGE_RULE", PACKAGE_RULE),
        ):
            text = text.replace(placeholder, value)
        return text

    free_text = {
        field: check(FREE_TEXT_CHECK.replace("FIELD", field), "control", "unsafe")
        for field in FREE_TEXT
    }
    # In the order of cookiecutter.json, which is the order copier asks in (a test
    # keeps the two in step).
    return {
        "project_name": free_text["project_name"],
        "project_slug": check(DERIVATIONS + SLUG_CHECK, "control", "unsafe", "slug"),
        "package_name": check(
            DERIVATIONS + PACKAGE_CHECK,
            "control",
            "unsafe",
            "slug",
            "package",
            "keywords",
            "shadowed",
        ),
        "description": free_text["description"],
        "author_name": free_text["author_name"],
        "author_email": check(EMAIL_CHECK, "control", "email"),
        "version": check(VERSION_CHECK, "control", "version_pattern"),
        "database": check(DERIVATIONS + DATABASE_CHECK, "control", "unsafe", "database_shadowed"),
    }


def environment():
    """A Jinja environment like copier's for these checks: sandboxed, with the two
    regex filters copier has from jinja2-ansible-filters (same names, same results)."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined)

    def regex_search(value, pattern):
        found = re.search(pattern, value)
        return found.group() if found else None

    def regex_replace(value, pattern, replacement=""):
        return re.sub(pattern, replacement, value)

    env.filters["regex_search"] = regex_search
    env.filters["regex_replace"] = regex_replace
    return env


def problems(answers):
    """The refusals for these answers, in the order copier asks the questions."""
    env = environment()
    # As text, like copier's `str` questions (an API caller may pass version=1).
    strings = {
        key: str(value)
        for key, value in answers.items()
        if isinstance(value, str | int | float) and not isinstance(value, bool)
    }
    for check in checks().values():
        message = env.from_string(check).render(**strings).strip()
        if message:
            yield message


def main():
    found = list(problems(json.loads(ANSWERS_JSON)))
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
# {% endraw %}
