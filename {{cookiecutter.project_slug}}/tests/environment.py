"""The environment your app gets in tests: never your real data or secrets.

The `app` fixture, and every server and container the serving tests start, run
with these variables on top of your shell's: the values in test.env, a fresh
SECRET_KEY and a data folder of their own. When you add a required variable to
config.py (an API token, a database URL), give it a test value in test.env, which
compose.yaml reads too.
"""

import secrets
from pathlib import Path, PurePath

TEST_ENV = Path(__file__).with_name("test.env")


def app_environment(data_dir: PurePath) -> dict[str, str]:
    return {
        **read_env_file(TEST_ENV),
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": secrets.token_urlsafe(32),
    }


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines as Compose's env_file reads them; blank lines and # comments skipped."""
    values = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip().isidentifier():
            raise ValueError(f"{path.name} line {number}: expected NAME=value, got {line!r}")
        values[name.strip()] = value
    return values
