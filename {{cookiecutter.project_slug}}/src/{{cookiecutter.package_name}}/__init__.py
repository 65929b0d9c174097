"""{{ cookiecutter.project_name }}: your application. `create_app()` is in app.py.

`from {{ cookiecutter.package_name }} import create_app` and `flask --app {{ cookiecutter.package_name }} ...` both work.
The import is deferred until asked for: gunicorn's master reads serving/ settings
from this package, and must not import your app (and everything it imports) before
the gevent worker patches the standard library.
"""

# The one place the version lives: pyproject.toml reads it, /health reports it.
__version__ = "{{ cookiecutter.version }}"

__all__ = ["__version__", "create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
