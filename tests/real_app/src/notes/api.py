"""The JSON API: read notes, write one once logged in (the same session as the pages),
and export them for a backup script that sends the API token
(`Authorization: Bearer NOTES_API_TOKEN`).

Errors come from errors.py: the app's own problem JSON for API clients, its own page
for browsers.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, abort, current_app, jsonify, request, session, url_for

from . import db

bp = Blueprint("api", __name__, url_prefix="/api")
NOT_A_NOTE = 'Send {"title": "...", "body": "..."}: a title that is not empty, a text body.'


@bp.get("/notes")
def list_notes():
    return jsonify(notes=db.latest_notes(current_app.config["NOTES_PAGE_SIZE"]))


@bp.get("/notes/<int:note_id>")
def show_note(note_id: int):
    note = db.get_note(note_id)
    if note is None:
        abort(404, f"Note {note_id} does not exist.")
    return jsonify(note)


# Notes an export holds at most: NOTES_PAGE_SIZE's own maximum.
EXPORT_LIMIT = 500


@bp.get("/export")
def export_notes():
    expected = f"Bearer {current_app.config['NOTES_API_TOKEN']}"
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        abort(401, "Send the API token.")
    return jsonify(notes=db.latest_notes(EXPORT_LIMIT))


@bp.post("/notes")
def create_note():
    if "user" not in session:
        abort(401, "Log in to write notes.")
    # Not JSON at all: get_json() answers 415 or 400 itself.
    data = request.get_json()
    if not isinstance(data, dict):
        abort(400, NOT_A_NOTE)
    title, body = data.get("title"), data.get("body", "")
    if not (isinstance(title, str) and title.strip() and isinstance(body, str)):
        abort(400, NOT_A_NOTE)
    note_id = db.add_note(session["user"], title.strip(), body)
    location = url_for("api.show_note", note_id=note_id)
    return jsonify(db.get_note(note_id)), 201, {"Location": location}
