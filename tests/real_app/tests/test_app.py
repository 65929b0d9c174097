"""The starter's tests of health, readiness, errors and release, as the notes app keeps
them: its errors have a shape of their own (errors.py), so these replace the starter's."""

import json

import pytest

from notes import __version__, create_app
from notes.health import add_readiness_check

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_health_reports_status_service_and_version(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "service": "notes", "version": __version__}


def test_ready_names_the_failing_check(app, client):
    assert client.get("/ready").get_json()["status"] == "ready"
    add_readiness_check(app, "database", lambda: False)
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert (body["status"], body["failing"]) == ("unavailable", ["database"])
    assert body["checks"]["database"]["error"] == "returned false"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_api_clients_get_a_problem(client, accept):
    response = client.get("/nope", headers={"Accept": accept} if accept else {})
    assert response.status_code == 404
    assert response.get_json()["problem"]["status"] == 404


def test_browsers_get_the_apps_own_page(client):
    response = client.get("/nope", headers=BROWSER)
    assert response.status_code == 404
    assert "Sorry, the notes could not do that (404)" in response.data.decode()


def test_method_not_allowed_keeps_allow(client):
    response = client.post("/health")
    assert response.status_code == 405
    assert response.get_json()["problem"]["title"] == "Method Not Allowed"
    assert "GET" in response.headers["Allow"]


def test_exceptions_propagate_under_testing(app, client):
    def boom():
        raise RuntimeError("the real exception")

    app.add_url_rule("/boom", "_test_boom", boom)
    with pytest.raises(RuntimeError, match="the real exception"):
        client.get("/boom")


@pytest.mark.parametrize("headers", [{}, BROWSER], ids=["api", "browser"])
def test_production_500_has_no_traceback_and_logs_it(app, capsys, headers):
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
