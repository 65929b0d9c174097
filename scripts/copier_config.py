"""Write copier.yml's questions from cookiecutter.json and the hooks.

copier renders the same tree as cookiecutter (`{{cookiecutter.project_slug}}/`), so
its questions must be cookiecutter's: the same names, defaults, choices and prompts,
the pre-generation hook's checks as `validator:`, and the post-generation hook's
table as `_exclude`. This script writes them below the marker line of copier.yml and
keeps the hand-written part above it (settings, migrations, the closing message).

    python scripts/copier_config.py           # rewrite copier.yml (`make copier.yml`)
    python scripts/copier_config.py --check   # exit 1 if copier.yml is out of date

tests/test_copier.py runs the check, so a new answer in cookiecutter.json or a new
row in the hook's table fails the tests until copier.yml is regenerated.
"""

import importlib.util
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COPIER_YML = ROOT / "copier.yml"
PROJECT_DIR = "{{cookiecutter.project_slug}}"
MARKER = (
    "# ---- Written by scripts/copier_config.py from cookiecutter.json and hooks/: "
    "do not edit below. ----\n"
)
# cookiecutter's `{% now 'local', FORMAT %}` (its jinja2-time tag) has no copier
# equivalent; copier's Jinja has jinja2-ansible-filters' `strftime`, in local time too.
NOW_TAG = re.compile(r"""^\{%\s*now\s+'local',\s*('[^']*')\s*%\}$""")
EXPRESSION = re.compile(r"^\{\{\s*(.*?)\s*\}\}$", re.DOTALL)


def load_hook(name):
    """A hook as a module, without rendering it (its Jinja sits in strings)."""
    path = ROOT / "hooks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"wsgi_template_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copier_jinja(text):
    """cookiecutter's Jinja in copier's terms: copier's answers are top-level names."""
    if "{% now" in text:
        raise ValueError(f"no copier equivalent for {text!r}: use {{% now 'local', ... %}}")
    return text.replace("cookiecutter.", "")


def expression(value):
    """A cookiecutter.json value as one Jinja expression for copier."""
    if isinstance(value, str):
        if match := NOW_TAG.match(value):
            return f"({match.group(1)} | strftime)"
        if match := EXPRESSION.match(value):
            return f"({copier_jinja(match.group(1))})"
        if "{" in value:
            raise ValueError(f"no copier equivalent for {value!r}")
    return json.dumps(value)


def removal_conditions(post):
    """condition -> the paths it removes: copier's Jinja for each row of the hook's table
    (`not deploy_fly` for a yes/no answer, `database != "postgresql"` for a choice)."""
    by_path = {}
    for answer, value, paths in post.owners():
        condition = f"not {answer}" if value is True else f"{answer} != {json.dumps(value)}"
        for path in paths:
            by_path.setdefault(copier_jinja(path), []).append(condition)
    result = {}
    for path, conditions in by_path.items():
        # A path several rows name goes only when every one of them removes it.
        if len(conditions) > 1:
            conditions = [" and ".join(f"({c})" for c in conditions)]
        result.setdefault(conditions[0], []).append(path)
    return result


def owners(relative, owned):
    """The removal conditions whose paths contain this template-relative path."""
    return sorted(
        condition
        for condition, paths in owned.items()
        for path in paths
        if relative == path or relative.startswith(path + "/")
    )


def emptied_folders(owned, template_only):
    """Folders whose every file some answer owns (deploy/): the hook removes a folder
    left empty, so copier must leave it out under the same answers."""
    root = ROOT / PROJECT_DIR
    files = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    result = {}
    folders = sorted({str(parent) for f in files for parent in Path(f).parents} - {"."})
    for folder in folders:
        if "{" in folder or owners(folder, owned) or folder.split("/")[0] in template_only:
            continue
        inside = [f for f in files if f.startswith(folder + "/")]
        clauses = {tuple(owners(f, owned)) for f in inside}
        if inside and all(clauses):
            # Empty when, for every file, one of its owners removes it.
            result[folder] = " and ".join(
                "(" + " or ".join(f"({c})" if "!=" in c else c for c in clause) + ")"
                for clause in sorted(clauses)
            )
    return result


def exclusions(owned, template_only):
    entries = [f"/{path}" for path in template_only]
    for condition, paths in owned.items():
        entries += [f"{{% if {condition} %}}/{path}{{% endif %}}" for path in paths]
    for folder, condition in emptied_folders(owned, template_only).items():
        entries.append(f"{{% if {condition} %}}/{folder}{{% endif %}}")
    return entries


def questions(cookiecutter, checks):
    prompts = cookiecutter.get("__prompts__", {})
    result = {}
    namespace = {}
    for name, value in cookiecutter.items():
        if name == "__prompts__":
            continue
        if name.startswith("__"):  # rendered but never asked: only in the namespace
            namespace[name] = expression(value)
            continue
        if name.startswith("_"):
            raise ValueError(f"cookiecutter.json's {name} has no copier equivalent here")
        question = {}
        if isinstance(value, bool):
            question.update(type="bool", default=value)
        elif isinstance(value, list):
            question.update(type="str", choices=value, default=value[0])
        elif isinstance(value, str):
            question.update(type="str", default=copier_jinja(value))
        else:
            raise ValueError(f"cookiecutter.json's {name}: unsupported value {value!r}")
        prompt = prompts.get(name)
        if isinstance(prompt, dict):
            # cookiecutter's per-choice labels: copier's choices as {label: value}.
            question["help"] = prompt["__prompt__"]
            question["choices"] = {prompt.get(choice, choice): choice for choice in value}
        elif prompt is not None:
            question["help"] = prompt
        if name in checks:
            question["validator"] = checks[name]
        result[name] = question
        namespace[name] = name
    # The tree reads `cookiecutter.NAME`: a computed answer, never asked nor recorded,
    # gives copier's templates the same namespace.
    pairs = ", ".join(f"{json.dumps(key)}: {value}" for key, value in namespace.items())
    result["cookiecutter"] = {
        "type": "yaml",
        "when": False,
        "default": f"{{{{ {{{pairs}}} | tojson }}}}",
    }
    return result


def generated(names=None):
    """The part of copier.yml below the marker."""
    cookiecutter = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    pre, post = load_hook("pre_gen_project"), load_hook("post_gen_project")
    names = names or pre.names_from_this_python()
    config = {"_exclude": exclusions(removal_conditions(post), post.TEMPLATE_ONLY)}
    config.update(questions(cookiecutter, pre.checks(names)))
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    header = (
        "# package_name's validator lists the keywords and standard-library modules of\n"
        f"# Python {python}, the Python that wrote this part.\n"
    )
    body = yaml.dump(config, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
    return header + body


class Dumper(yaml.SafeDumper):
    """Multi-line strings (the validators) as literal blocks, readable as written."""


Dumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def names_in(text):
    """The keyword and module lists that a written copier.yml checks against."""
    validator = yaml.safe_load(text.split(MARKER, 1)[1])["package_name"]["validator"]
    found = dict(re.findall(r"set (keywords|shadowed) = (\[[^\]]*\])", validator))
    return {name: json.loads(found[name]) for name in ("keywords", "shadowed")}


def expected(current, names=None):
    head = current.split(MARKER, 1)[0]
    return head + MARKER + generated(names)


def main(argv):
    current = COPIER_YML.read_text(encoding="utf-8")
    if MARKER not in current:
        sys.exit(f"{COPIER_YML}: the marker line is missing:\n{MARKER}")
    wanted = expected(current)
    if "--check" in argv:
        if wanted != current:
            print(f"{COPIER_YML.name} is out of date: run `make copier.yml`", file=sys.stderr)
            return 1
        return 0
    COPIER_YML.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
