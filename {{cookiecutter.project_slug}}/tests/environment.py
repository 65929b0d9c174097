"""The environment your app gets in tests: never your real data or secrets.

The `app` fixture, and every server and container the serving tests start, run
with these variables on top of your shell's. Each gets a data folder of its own.
When you add a required variable to config.py (a database URL, say), give it a
test value here.
"""

import secrets
from pathlib import PurePath


def app_environment(data_dir: PurePath) -> dict[str, str]:
    return {
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": secrets.token_urlsafe(32),
    }
