"""Your command-line commands: `flask --app {{ cookiecutter.package_name }} NAME` locally,
`python -m {{ cookiecutter.package_name }} manage NAME` in the image (settings validated first).

`release` is the release step every deploy file runs once per deploy, before the
new version takes traffic (Heroku's release phase, Railway's pre-deploy command, a
Cloud Run job): put what must happen exactly once there, such as creating tables or
running migrations.
{%- if cookiecutter.database == "postgresql" %}

Here it waits for the database (DB_RELEASE_WAIT seconds at most), then migrates it to
the newest revision (serving/migrations.py).
{%- endif %}
{%- if cookiecutter.scheduled_jobs %}

`tick` (scheduled.py) is the scheduled command: each platform's scheduler runs it,
once per run, from the same image (docs/scheduled-jobs.md).
{%- endif %}

Commands get an app context (`with_appcontext`), so `current_app` and your database
helpers work in them.
"""

from __future__ import annotations

import logging

import click
from flask import Flask
from flask.cli import with_appcontext
{%- if cookiecutter.database == "postgresql" %}

from . import serving
{%- endif %}
{%- if cookiecutter.scheduled_jobs %}
{% if cookiecutter.database != "postgresql" %}
{% endif %}from .scheduled import tick_command
{%- endif %}

log = logging.getLogger(__name__)


@click.command("release")
@with_appcontext
def release_command() -> None:
{%- if cookiecutter.database == "postgresql" %}
    """Run the release step: the database's migrations, then anything you add."""
    serving.release_database()
{%- else %}
    """Run the release step (empty until you fill it)."""
    log.info("release: nothing to do")
{%- endif %}


def register(app: Flask) -> None:
    app.cli.add_command(release_command)
{%- if cookiecutter.scheduled_jobs %}
    app.cli.add_command(tick_command)
{%- endif %}
