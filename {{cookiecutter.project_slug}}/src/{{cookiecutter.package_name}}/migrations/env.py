"""Alembic's environment: how your migrations run (release, make migration, db commands).

serving/migrations.py configures Alembic in code and hands this file a connection:
there is no alembic.ini and no fileConfig() here, so the service's JSON logging stays
as it is. Point `target_metadata` at your models' metadata (autogenerate compares it
with the database).
"""

from alembic import context

from {{ cookiecutter.package_name }}.models import Base

target_metadata = Base.metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through `python -m {{ cookiecutter.package_name }} release` or `... manage db`, "
        "which connect with DATABASE_URL (offline SQL scripts are not set up)"
    )
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    # A changed column type is a change to migrate, not only a new column.
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
