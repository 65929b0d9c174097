"""The WSGI entry point gunicorn loads: `{{ cookiecutter.package_name }}.serving.wsgi:app`."""

from {{ cookiecutter.package_name }} import create_app

app = create_app()
