"""The notes store: one SQLite file in the data folder, one connection per request.

The file is `notes.sqlite` in `app.instance_path` (DATA_DIR: `/data` in the image).
`init_db()` creates the tables; the release step runs it once per deploy, and
`flask --app notes init-db` runs it by hand.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flask import Flask, current_app, g

from .serving import shared_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    author TEXT NOT NULL REFERENCES users (username),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
"""


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)


def database_path() -> Path:
    return Path(current_app.instance_path) / "notes.sqlite"


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(shared_file(database_path()))
        g.db.row_factory = sqlite3.Row
        g.db.execute("PRAGMA foreign_keys = ON")
    return g.db


def close_db(_error: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_db() -> None:
    """Create the tables that do not exist yet; running it again changes nothing."""
    get_db().executescript(SCHEMA)


def add_user(username: str, password_hash: str) -> bool:
    """False when the name is taken."""
    db = get_db()
    try:
        with db:
            db.execute("INSERT INTO users VALUES (?, ?)", (username, password_hash))
    except sqlite3.IntegrityError:
        return False
    return True


def password_hash(username: str) -> str | None:
    query = "SELECT password_hash FROM users WHERE username = ?"
    row = get_db().execute(query, (username,)).fetchone()
    return row["password_hash"] if row else None


def add_note(author: str, title: str, body: str) -> int:
    db = get_db()
    with db:
        cursor = db.execute(
            "INSERT INTO notes (author, title, body) VALUES (?, ?, ?)", (author, title, body)
        )
    return cursor.lastrowid


def latest_notes(limit: int) -> list[dict]:
    rows = get_db().execute("SELECT * FROM notes ORDER BY id DESC LIMIT ?", (limit,))
    return [dict(row) for row in rows]


def get_note(note_id: int) -> dict | None:
    row = get_db().execute("SELECT * FROM notes WHERE id = ?", (note_id,)).fetchone()
    return dict(row) if row else None
