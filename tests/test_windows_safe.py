"""The template and every bake can be checked out and used on Windows.

No path holds a character or a name Windows refuses, or differs from another only in
case. Text files keep LF endings however git checks them out: both `.gitattributes`
(the template's, so that cookiecutter, which copies each template file's line endings,
renders LF; the project's, for its own clones) say `eol=lf`. The checkout tests clone
with `core.autocrlf=true`, as Git for Windows does by default, and first show that
such a clone does turn LF into CRLF without the attribute.
"""

import os
import re
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import copier
import pytest
from cookiecutter.main import cookiecutter

from conftest import BINARY_SUFFIXES, TEMPLATE, files
from template_repo import commit, git, git_environment, snapshot, template_files

# Characters no Windows file name may hold, control characters included.
FORBIDDEN = re.compile(r'[<>:"\\|?*\x00-\x1f]')
# Device names, reserved with any extension and in any case.
RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$", re.IGNORECASE)
# Windows' classic limit is 260 characters for the whole path; leave the user's own
# folder 80 of them.
LONGEST_RELATIVE = 180
BAKES = {
    "defaults": {},
    "with-systemd": {"deploy_systemd": "yes"},
    "longest-names": {"project_slug": "a" + "-b" * 24, "package_name": "a" * 40},
}


def problems(paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        for part in PurePosixPath(path).parts:
            if FORBIDDEN.search(part):
                found.append(f"{path}: {part!r} has a character Windows refuses")
            if part.endswith((" ", ".")):
                found.append(f"{path}: {part!r} ends with a space or a dot")
            if RESERVED.match(part):
                found.append(f"{path}: {part!r} is a Windows device name")
    folded: dict[str, str] = {}
    for path in paths:
        other = folded.setdefault(path.lower(), path)
        if other != path:
            found.append(f"{path} and {other} differ only in case")
    return found


def test_the_check_finds_what_windows_refuses():
    bad = ["a/b:c", "aux.txt", "docs/x ", "README.md", "readme.md", "ok/fine.txt"]
    assert len(problems(bad)) == 4


def test_no_template_path_is_refused_by_windows():
    assert not problems(template_files())


@pytest.mark.parametrize("name", list(BAKES))
def test_no_path_of_a_bake_is_refused_by_windows(bake, name):
    project = bake(**BAKES[name])
    paths = [p.relative_to(project.parent).as_posix() for p in project.rglob("*")]
    assert not problems(paths)
    longest = max(paths, key=len)
    assert len(longest) <= LONGEST_RELATIVE, longest


def test_both_gitattributes_keep_text_files_lf(bake):
    for attributes in (TEMPLATE / ".gitattributes", bake() / ".gitattributes"):
        lines = attributes.read_text().splitlines()
        assert "* text=auto eol=lf" in lines, attributes


def test_no_generated_text_file_has_a_carriage_return(bake):
    for name in BAKES:
        project = bake(**BAKES[name])
        with_cr = [p.relative_to(project) for p in files(project) if b"\r" in p.read_bytes()]
        assert not with_cr, with_cr


@contextmanager
def windows_git():
    """Every git command of this process (copier's clone too) with autocrlf on."""
    saved = {name: os.environ.get(name) for name in ("GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0")}
    os.environ.update(
        GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="core.autocrlf", GIT_CONFIG_VALUE_0="true"
    )
    try:
        yield
    finally:
        os.environ.pop("GIT_CONFIG_VALUE_0", None)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def crlf_files(root: Path) -> list[str]:
    return [
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file()
        and ".git" not in p.parts
        and p.suffix not in BINARY_SUFFIXES
        and b"\r\n" in p.read_bytes()
    ]


def test_without_the_attribute_a_windows_checkout_has_crlf(tmp_path):
    # The control: this git, so configured, does rewrite endings.
    with git_environment():
        plain = tmp_path / "plain"
        plain.mkdir()
        (plain / "a.txt").write_text("one\ntwo\n")
        git(plain, "init", "-q")
        commit(plain, message="lf")
        with windows_git():
            git(tmp_path, "clone", "-q", str(plain), "clone")
    assert crlf_files(tmp_path / "clone") == ["a.txt"]


def test_a_windows_checkout_of_the_template_bakes_lf_files_with_both_tools(tmp_path):
    with git_environment():
        repository = snapshot(tmp_path / "template", "v1.0.0")
        with windows_git():
            git(tmp_path, "clone", "-q", str(repository), "checkout")
            checkout = tmp_path / "checkout"
            assert not crlf_files(checkout)
            # Binary files come out as they went in (a PNG's header holds "\r\n").
            for chart in repository.rglob("*.png"):
                assert (checkout / chart.relative_to(repository)).read_bytes() == chart.read_bytes()
            baked = Path(
                cookiecutter(str(checkout), no_input=True, output_dir=str(tmp_path / "baked"))
            )
            # copier clones the template itself, under the same configuration.
            copied = tmp_path / "copied"
            copier.run_copy(str(repository), copied, defaults=True, quiet=True)
            # The project's own .gitattributes holds in its clones.
            git(baked, "init", "-q")
            commit(baked, message="New service")
            git(tmp_path, "clone", "-q", str(baked), "project-clone")
    for root in (baked, copied, tmp_path / "project-clone"):
        assert not crlf_files(root), root
