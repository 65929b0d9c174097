"""The notes app through Flask's test client: pages, static files, login, API, commands."""

import secrets
from pathlib import Path

import pytest
from environment import app_environment

from notes import create_app
from notes.config import load_config
from notes.db import init_db

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
API = {"Accept": "application/json"}
PASSWORD = secrets.token_urlsafe(12)
NOT_A_NOTE = [{}, {"title": " "}, {"title": 1}, ["x"], {"title": "t", "body": 2}]


@pytest.fixture(autouse=True)
def _tables(app):
    with app.app_context():
        init_db()


def log_in(client, username="ada"):
    form = {"username": username, "password": PASSWORD}
    assert client.post("/register", data=form).status_code == 302
    return client.post("/login", data=form)


def test_index_renders_with_the_stylesheet(client):
    response = client.get("/", headers=BROWSER)
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert b'<link rel="stylesheet" href="/static/notes.css">' in response.data
    assert b"No notes yet." in response.data


def test_the_stylesheet_is_served(client):
    response = client.get("/static/notes.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert b"body {" in response.data


def test_login_sets_an_httponly_samesite_lax_cookie(client):
    response = log_in(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert b"ada" in client.get("/").data


def test_a_wrong_password_is_refused(client):
    log_in(client)
    client.post("/logout")
    response = client.post("/login", data={"username": "ada", "password": "guess"})
    assert b"Wrong username or password." in response.data
    assert "Set-Cookie" not in response.headers


def test_a_taken_name_is_refused(client):
    log_in(client)
    response = client.post("/register", data={"username": "ada", "password": PASSWORD})
    assert b"The name ada is taken." in response.data


def test_writing_a_note_needs_a_login(client):
    response = client.get("/notes/new")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


def test_a_note_written_on_its_page_is_listed_as_markdown(client):
    log_in(client)
    body = "Some **bold** text.\n\n<script>alert(1)</script>"
    response = client.post("/notes/new", data={"title": "First", "body": body})
    assert response.status_code == 302
    page = client.get("/").data.decode()
    assert "<h2>First</h2>" in page
    assert "<strong>bold</strong>" in page
    # Raw HTML in a note is text, never markup.
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_logout_ends_the_session(client):
    log_in(client)
    client.post("/logout")
    assert client.get("/notes/new").status_code == 302


def test_api_lists_notes_newest_first(client):
    log_in(client)
    for title in ("one", "two"):
        client.post("/api/notes", json={"title": title, "body": ""})
    response = client.get("/api/notes")
    assert response.is_json
    assert [note["title"] for note in response.get_json()["notes"]] == ["two", "one"]


def test_api_writes_a_note_with_the_session(client):
    log_in(client)
    response = client.post("/api/notes", json={"title": "From the API", "body": "*hi*"})
    assert response.status_code == 201
    note = response.get_json()
    assert note["author"] == "ada" and note["body"] == "*hi*"
    assert response.headers["Location"] == f"/api/notes/{note['id']}"
    assert client.get(response.headers["Location"]).get_json() == note


def test_api_writes_need_a_login(client):
    response = client.post("/api/notes", json={"title": "x"}, headers=API)
    assert response.status_code == 401
    assert response.get_json()["problem"]["detail"] == "Log in to write notes."


def test_the_export_needs_the_api_token(app, client):
    log_in(client)
    client.post("/api/notes", json={"title": "Kept"})
    token = {"Authorization": f"Bearer {app.config['NOTES_API_TOKEN']}"}
    response = client.get("/api/export", headers=token)
    assert [note["title"] for note in response.get_json()["notes"]] == ["Kept"]
    wrong = client.get("/api/export", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert wrong.get_json()["problem"]["detail"] == "Send the API token."


@pytest.mark.parametrize("payload", NOT_A_NOTE)
def test_api_refuses_a_note_without_a_title(client, payload):
    log_in(client)
    response = client.post("/api/notes", json=payload)
    assert response.status_code == 400
    assert response.get_json()["problem"]["detail"].startswith('Send {"title"')


def test_a_missing_note_is_json_for_an_api_client(client):
    response = client.get("/api/notes/404", headers=API)
    assert response.status_code == 404
    assert response.get_json()["problem"] == {
        "status": 404,
        "title": "Not Found",
        "detail": "Note 404 does not exist.",
    }


def test_a_missing_note_is_an_html_page_for_a_browser(client):
    response = client.get("/api/notes/404", headers=BROWSER)
    assert response.status_code == 404
    assert response.content_type == "text/html; charset=utf-8"
    page = response.data.decode()
    assert "Sorry, the notes could not do that (404)" in page and "Note 404 does not exist." in page
    assert '<link rel="stylesheet" href="/static/notes.css">' in page  # the app's own layout


def test_the_page_size_comes_from_the_environment(app, monkeypatch):
    # `app` set the environment and made the tables; a second app reads one more variable.
    monkeypatch.setenv("NOTES_PAGE_SIZE", "1")
    small = create_app({"TESTING": True})
    client = small.test_client()
    log_in(client)
    for title in ("older", "newer"):
        client.post("/api/notes", json={"title": title})
    assert [note["title"] for note in client.get("/api/notes").get_json()["notes"]] == ["newer"]


def test_a_bad_page_size_is_refused_by_name(tmp_path):
    environ = {**app_environment(tmp_path), "NOTES_PAGE_SIZE": "0"}
    with pytest.raises(ValueError, match="NOTES_PAGE_SIZE='0' is not allowed"):
        load_config(environ)


def test_the_api_token_is_required(tmp_path):
    environ = app_environment(tmp_path)
    del environ["NOTES_API_TOKEN"]
    with pytest.raises(ValueError, match="NOTES_API_TOKEN is not set"):
        load_config(environ)


def test_init_db_command_creates_the_database(app):
    database = Path(app.instance_path) / "notes.sqlite"
    database.unlink()
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Initialised the database." in result.output
    assert database.exists()


def test_release_creates_the_tables(app, client):
    (Path(app.instance_path) / "notes.sqlite").unlink()
    result = app.test_cli_runner().invoke(args=["release"])
    assert result.exit_code == 0, result.output
    assert client.get("/api/notes").get_json() == {"notes": []}
