"""The WSGI entry point gunicorn loads: `{{ cookiecutter.package_name }}.wsgi:app`."""

from .app import create_app

app = create_app()
