"""Your app through Flask's test client: health, readiness, errors, commands."""

import pytest

from {{ cookiecutter.package_name }} import __version__, create_app
from {{ cookiecutter.package_name }}.health import add_readiness_check

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_health_reports_status_service_and_version(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.is_json
    assert response.get_json() == {
        "status": "ok",
        "service": "{{ cookiecutter.project_slug }}",
        "version": __version__,
    }


def test_health_answers_head_without_a_body(client):
    response = client.head("/health")
    assert response.status_code == 200
    assert response.data == b""


def test_ready_when_every_check_passes({% if cookiecutter.database == "postgresql" %}database, {% endif %}app, client):
    add_readiness_check(app, "always", lambda: True)
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"
    assert response.get_json()["checks"]["always"]["ok"] is True


@pytest.mark.parametrize("check", [lambda: False, lambda: 1 / 0], ids=["returns-false", "raises"])
def test_ready_names_the_failing_check(app, client, check):
    add_readiness_check(app, "passing", lambda: True)
    add_readiness_check(app, "database", check)
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert (body["status"], body["failing"]) == ("unavailable", ["database"])
    assert body["checks"]["passing"]["ok"] is True


def test_status_reports_service_and_version(client):
    response = client.get("/status")
    assert response.status_code == 200
    assert response.get_json()["service"] == "{{ cookiecutter.project_slug }}"
    assert response.get_json()["version"] == __version__


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json, */*"])
def test_api_clients_get_json_errors(client, accept):
    response = client.get("/nope", headers={"Accept": accept} if accept else {})
    assert response.status_code == 404
    assert response.is_json
    assert response.get_json()["error"]["status"] == 404


def test_browsers_get_an_html_error_page(client):
    response = client.get("/nope", headers=BROWSER)
    assert response.status_code == 404
    assert response.content_type == "text/html; charset=utf-8"
    assert b"<h1>404 Not Found</h1>" in response.data


def test_the_message_given_to_abort_reaches_both(app, client):
    from flask import abort

    app.add_url_rule("/posts/<int:id>", "_test_post", lambda id: abort(404, f"No post {id}."))
    assert client.get("/posts/99").get_json()["error"]["message"] == "No post 99."
    page = client.get("/posts/99", headers=BROWSER).data.decode()
    assert "No post 99." in page


def test_html_errors_escape_the_message(app, client):
    from flask import abort

    app.add_url_rule("/xss", "_test_xss", lambda: abort(400, "<script>x</script>"))
    page = client.get("/xss", headers=BROWSER).data.decode()
    assert "<script>x" not in page and "&lt;script&gt;" in page


def test_method_not_allowed_keeps_allow(client):
    response = client.post("/health")
    assert response.status_code == 405
    assert response.get_json()["error"]["name"] == "Method Not Allowed"
    assert "GET" in response.headers["Allow"]


def test_exceptions_propagate_under_testing(app, client):
    def boom():
        raise RuntimeError("the real exception")

    app.add_url_rule("/boom", "_test_boom", boom)
    with pytest.raises(RuntimeError, match="the real exception"):
        client.get("/boom")


@pytest.mark.parametrize("headers", [{}, BROWSER], ids=["api", "browser"])
def test_production_500_has_no_traceback_and_logs_it(app, monkeypatch, capsys, headers):
    import json

    production = create_app({"TESTING": False})

    def boom():
        raise RuntimeError("secret detail")

    production.add_url_rule("/boom", "_test_boom", boom)
    capsys.readouterr()
    response = production.test_client().get("/boom", headers=headers)
    assert response.status_code == 500
    assert b"secret detail" not in response.data and b"Traceback" not in response.data
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    (error,) = [line for line in logged if line["severity"] == "ERROR"]
    assert "secret detail" in error["exception"]


{% if cookiecutter.database == "postgresql" -%}
def test_release_migrates_an_empty_database(postgres_database_url, monkeypatch, tmp_path):
    from environment import app_environment
    from sqlalchemy import inspect

    from {{ cookiecutter.package_name }}.serving import database_engine

    # An empty database, not `database` (already migrated): release must create the tables.
    for name, value in app_environment(tmp_path / "data").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", postgres_database_url)
    app = create_app({"TESTING": True})
    result = app.test_cli_runner().invoke(args=["release"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert "notes" in inspect(database_engine()).get_table_names()


def test_ready_checks_the_database(client):
    # Without `database`, DATABASE_URL is test.env's closed port.
    assert client.get("/ready").get_json()["failing"] == ["database"]


def test_a_note_is_written_and_read_back(database, app, client):
    # The README's notes blueprint, added to this app as you would add yours. Named
    # apart from it: once you add notes.py (README), its /notes routes answer first.
    from flask import Blueprint, abort, request

    from {{ cookiecutter.package_name }}.models import Note
    from {{ cookiecutter.package_name }}.serving import db_session

    bp = Blueprint("readme_notes", __name__, url_prefix="/notes")

    @bp.post("")
    def add_note():
        body = request.get_json(silent=True)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            abort(400, 'Send JSON with a non-empty "text".')
        note = Note(text=text)
        db_session().add(note)
        db_session().commit()
        return {"id": note.id, "text": note.text}, 201

    @bp.get("/<int:note_id>")
    def get_note(note_id):
        note = db_session().get(Note, note_id) or abort(404, f"Note {note_id} does not exist.")
        return {"id": note.id, "text": note.text}

    app.register_blueprint(bp)
    created = client.post("/notes", json={"text": "hello"})
    assert created.status_code == 201
    note_id = created.get_json()["id"]
    assert client.get(f"/notes/{note_id}").get_json() == {"id": note_id, "text": "hello"}
    assert client.get(f"/notes/{note_id + 1}").status_code == 404
    # A bad body is the client's mistake, named: a 400, never a 500.
    for body in ({"text": ""}, {"title": "hello"}, ["hello"]):
        refused = client.post("/notes", json=body)
        assert refused.status_code == 400, body
        assert "non-empty" in refused.get_data(as_text=True), body
    assert client.post("/notes", data="hello").status_code == 400
{%- else -%}
def test_release_command_runs_and_does_nothing_by_default(app):
    result = app.test_cli_runner().invoke(args=["release"])
    assert result.exit_code == 0, result.output
{%- endif %}


def test_sessions_make_secret_key_required(monkeypatch):
    from pathlib import PurePath

    from environment import app_environment

    from {{ cookiecutter.package_name }} import config
    from {{ cookiecutter.package_name }}.serving import SettingsError

    # Your test environment (every variable your config.py requires) without a key.
    tests = app_environment(PurePath("/data"))
    unkeyed = {name: value for name, value in tests.items() if not name.startswith("SECRET_KEY")}
    assert config.USES_SESSIONS or config.load_config(unkeyed).secret_key is None
    monkeypatch.setattr(config, "USES_SESSIONS", True)
    with pytest.raises(SettingsError, match="SECRET_KEY is not set"):
        config.load_config(unkeyed)
    with pytest.raises(SettingsError, match="SECRET_KEY is too short"):
        config.load_config({**unkeyed, "SECRET_KEY": "guessable"})
    key = "k" * 40
    assert config.load_config({**unkeyed, "SECRET_KEY": key}).secret_key == key
