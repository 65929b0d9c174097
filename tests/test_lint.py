"""The template's own Python passes ruff, and ruff never reads the template folder.

The generated project's files are linted in bakes (test_bake.py), as rendered. Read
here, their Jinja fails ruff, and ruff would leave its cache inside the template
folder, which cookiecutter then fails to render (a binary file it cannot decode).
"""

import subprocess
import sys
from pathlib import Path

from conftest import TEMPLATE

RUFF = Path(sys.executable).with_name("ruff")


def ruff(*args):
    return subprocess.run(
        [str(RUFF), *args], cwd=TEMPLATE, capture_output=True, text=True, timeout=120
    )


def test_ruff_reads_no_file_of_the_template_folder():
    listed = ruff("check", "--no-cache", "--show-files", ".")
    assert listed.returncode == 0, listed.stderr
    files = [Path(line) for line in listed.stdout.splitlines() if line.strip()]
    assert any(path.name == "conftest.py" for path in files), listed.stdout[:500]
    inside = [str(path) for path in files if "{{cookiecutter.project_slug}}" in path.parts]
    assert not inside, inside[:5]


def test_the_templates_own_python_passes_ruff():
    for args in (("check", "--no-cache", "."), ("format", "--no-cache", "--check", ".")):
        result = ruff(*args)
        assert result.returncode == 0, result.stdout + result.stderr
