"""Start the service: `python -m {{ cookiecutter.package_name }} [gunicorn flags or app]`.

The one start command, in the Dockerfile, the Procfile and every manifest. It
validates the environment before gunicorn is imported: gunicorn 27 runs
int(WEB_CONCURRENCY) when its config module loads, so a bad value would otherwise
end in a traceback rather than one line. Then it runs gunicorn in this process
(PID 1 in the container, so it receives SIGTERM directly) with gunicorn.conf.py
from the working directory. Extra arguments go to gunicorn.
"""

import os
import sys

from .settings import load_settings_or_exit

CONFIG_FILE = "gunicorn.conf.py"


def main() -> None:
    load_settings_or_exit(os.environ)
    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", "--config", CONFIG_FILE, *sys.argv[1:]]
    run()


if __name__ == "__main__":
    main()
