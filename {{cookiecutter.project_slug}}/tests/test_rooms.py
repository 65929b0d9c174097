"""The example Socket.IO events (rooms.py), with Flask-SocketIO's test client: no
server, no network. tests/serving/test_socketio.py has real servers and clients."""

import pytest

from {{ cookiecutter.package_name }} import create_app
from {{ cookiecutter.package_name }}.rooms import socketio


@pytest.fixture
def app(app, monkeypatch):
    """Your app without a message queue: the test client runs it in this process."""
    monkeypatch.setenv("REDIS_URL", "")
    return create_app({"TESTING": True})


@pytest.fixture
def connect(app, client):
    made = []

    def connect():
        made.append(socketio.test_client(app, flask_test_client=client))
        return made[-1]

    yield connect
    for each in made:
        if each.is_connected():
            each.disconnect()


def test_a_room_hears_what_is_said_in_it_and_only_it(connect):
    alice, bob, carol = connect(), connect(), connect()
    for member in (alice, bob):
        assert member.emit("join", {"room": "lobby"}, callback=True) == {"room": "lobby"}
    for each in (alice, bob, carol):
        each.get_received()
    assert alice.emit("say", {"room": "lobby", "text": "hi"}, callback=True) == {"sent": True}
    said = {"name": "said", "args": [{"room": "lobby", "text": "hi"}], "namespace": "/"}
    assert bob.get_received() == [said]
    assert carol.get_received() == []


def test_an_announcement_reaches_everyone(connect):
    alice, bob = connect(), connect()
    alice.emit("announce", {"text": "news"}, callback=True)
    for each in (alice, bob):
        assert [e["args"] for e in each.get_received()] == [[{"text": "news"}]]


def test_bad_input_gets_an_error_not_a_room(connect):
    alice = connect()
    assert "error" in alice.emit("join", {"room": ""}, callback=True)
    assert "error" in alice.emit("say", "not a dict", callback=True)
