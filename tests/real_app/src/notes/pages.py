"""The HTML side: the notes list, writing a note, registering, logging in and out.

Who is logged in lives in the signed session cookie (`session["user"]`), which is
why config.py sets USES_SESSIONS. Note bodies are Markdown.
"""

from __future__ import annotations

import functools

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from markdown_it import MarkdownIt
from markupsafe import Markup
from werkzeug.security import check_password_hash, generate_password_hash

from . import db

bp = Blueprint("pages", __name__)
# "js-default" leaves raw HTML out: a note's <script> is shown as text, never run.
markdown = MarkdownIt("js-default")


@bp.app_template_filter("markdown")
def render_markdown(text: str) -> Markup:
    return Markup(markdown.render(text))  # noqa: S704 (markdown-it escapes raw HTML)


def login_required(view):
    @functools.wraps(view)
    def wrapped(**kwargs):
        if "user" not in session:
            return redirect(url_for("pages.login"))
        return view(**kwargs)

    return wrapped


@bp.get("/")
def index():
    notes = db.latest_notes(current_app.config["NOTES_PAGE_SIZE"])
    return render_template("pages/index.html", notes=notes)


@bp.route("/notes/new", methods=["GET", "POST"])
@login_required
def new_note():
    error = None
    if request.method == "POST":
        title = request.form["title"].strip()
        if title:
            db.add_note(session["user"], title, request.form["body"])
            return redirect(url_for("pages.index"))
        error = "A note needs a title."
    return render_template("pages/new.html", error=error)


@bp.route("/register", methods=["GET", "POST"])
def register():
    error = None
    if request.method == "POST":
        username, password = request.form["username"].strip(), request.form["password"]
        if not username or not password:
            error = "Choose a username and a password."
        elif db.add_user(username, generate_password_hash(password)):
            return redirect(url_for("pages.login"))
        else:
            error = f"The name {username} is taken."
    return render_template("pages/auth.html", action="Register", error=error)


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        username, password = request.form["username"].strip(), request.form["password"]
        stored = db.password_hash(username)
        if stored and check_password_hash(stored, password):
            # A fresh session at login: nothing set before it carries over.
            session.clear()
            session["user"] = username
            return redirect(url_for("pages.index"))
        error = "Wrong username or password."
    return render_template("pages/auth.html", action="Log in", error=error)


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("pages.index"))
