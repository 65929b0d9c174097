"""`make demo` renders each version of the template once and starts it: a second run
starts the same folder with the user's edits in it, a changed template a fresh one."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

from conftest import TEMPLATE
from processes import free_port, stop

# The shared venv's uv stands in for one on the user's PATH.
UV = Path(sys.executable).parent / "uv"
# What a checkout holds that `make demo` reads; not .venv, build/ or caches.
CHECKOUT = ("Makefile", "cookiecutter.json", "hooks", "scripts", "requirements-demo.txt")
SLUG = "{{cookiecutter.project_slug}}"


def demo(checkout: Path, timeout: float = 120.0) -> str:
    """Run `make demo` until /health answers 200, stop it, and return what it printed."""
    port = free_port()
    log = checkout / f"demo-{port}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["make", "demo", f"UV={UV}"],
            cwd=checkout,
            env={**os.environ, "PORT": str(port)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, f"make demo exited:\n{log.read_text()}"
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"no 200 within {timeout}s:\n{log.read_text()}"
            time.sleep(0.1)
    finally:
        stop(process, timeout=30)
    return log.read_text()


def test_make_demo_keeps_edits_and_renders_a_changed_template_afresh(tmp_path):
    checkout = tmp_path / "checkout"
    for name in CHECKOUT:
        source = TEMPLATE / name
        if source.is_dir():
            shutil.copytree(source, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            checkout.mkdir(exist_ok=True)
            shutil.copy(source, checkout / name)
    shutil.copytree(TEMPLATE / SLUG, checkout / SLUG, ignore=shutil.ignore_patterns("__pycache__"))

    first = demo(checkout)
    (folder,) = (checkout / "build").glob("demo-*")
    assert f"rendered into build/{folder.name}/my-service" in first, first
    edited = folder / "my-service" / "src" / "my_service" / "app.py"
    edited.write_text(edited.read_text() + "# the user's edit\n")

    again = demo(checkout)
    assert f"build/{folder.name}/my-service again" in again, again
    assert edited.read_text().endswith("# the user's edit\n")

    readme = checkout / SLUG / "README.md"
    readme.write_text(readme.read_text() + "\nA template change.\n")
    changed = demo(checkout)
    assert len(list((checkout / "build").glob("demo-*"))) == 2, changed
    assert edited.read_text().endswith("# the user's edit\n")
