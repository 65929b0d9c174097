"""Your database tables, as SQLAlchemy 2 declarative classes.

`Base.metadata` is what migrations compare with the database: after changing a model,
`make migration MESSAGE="add notes.title"` writes the next revision into migrations/
and `make release` applies it (so does every deploy's release step). In a view, read
and write through this request's session:

    from .serving import db_session
    db_session().add(Note(text="hello")); db_session().commit()

docs/database.md has the rest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Constraint names that Alembic can find again to drop them (a downgrade, a rename):
# without a convention PostgreSQL picks names that differ between databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Note(Base):
    """The example: replace it with your own tables (and its migration with yours)."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
