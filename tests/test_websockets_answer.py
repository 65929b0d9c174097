"""The `websockets` answer: `no` adds nothing, `yes` adds flask-sock, its guard in
serving/websockets.py, the /ws/echo example and their tests. The generated suite of a
`yes` bake (tests/serving/test_websockets.py) runs real gunicorn per worker class."""

import tomllib

from choice_answers import (
    LOCKS,
    assert_the_default_adds_nothing,
    assert_the_hook_keeps_its_paths_for_its_value_only,
    locked,
    owned_by,
    post_gen_hook,
)

WEBSOCKET_PACKAGES = ("flask-sock", "simple-websocket", "wsproto", "websocket-client")
# Names the WebSocket machinery brings; a project without it has none of them.
WEBSOCKET_NAMES = ("WEBSOCKET_", "flask_sock", "init_websockets", "/ws/echo")


def test_no_adds_nothing(bake):
    assert_the_default_adds_nothing(
        bake, "websockets", "yes", WEBSOCKET_NAMES, WEBSOCKET_PACKAGES, default="no"
    )


def test_yes_adds_its_files_dependencies_and_route(bake):
    project = bake(websockets="yes")
    for path in owned_by("websockets", "yes"):
        assert (project / path).exists(), path
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert "flask-sock==0.7.0" in pyproject["project"]["dependencies"]
    assert "websocket-client>=1.8" in pyproject["dependency-groups"]["dev"]
    assert {"flask-sock", "simple-websocket", "wsproto"} <= locked(project / "requirements.txt")
    assert "websocket-client" in locked(project / "requirements-dev.txt")
    for lock in LOCKS:
        assert "flask-sock" in locked(project / lock), lock
    assert "app.register_blueprint(ws.bp)" in (project / "src/my_service/app.py").read_text()
    assert "WEBSOCKET_MAX_PER_WORKER" in (project / "README.md").read_text()


def test_the_hook_removes_websockets_paths_only_for_other_values():
    assert_the_hook_keeps_its_paths_for_its_value_only(
        "websockets", "yes", "src/shop/serving/websockets.py", default="no"
    )


SOCKETIO_PACKAGES = ("flask-socketio", "python-socketio", "python-engineio", "bidict")


def test_socketio_adds_its_files_dependencies_and_events(bake):
    project = bake(websockets="socketio")
    for path in owned_by("websockets", "socketio"):
        assert (project / path).exists(), path
    for path in set(owned_by("websockets", "yes")) - set(owned_by("websockets", "socketio")):
        assert not (project / path).exists(), path  # flask-sock's own files
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert "flask-socketio==5.7.0" in pyproject["project"]["dependencies"]
    assert "python-socketio[client]>=5.18" in pyproject["dependency-groups"]["dev"]
    assert {*SOCKETIO_PACKAGES, "redis"} <= locked(project / "requirements.txt")
    assert "flask-sock" not in locked(project / "requirements.txt")
    app = (project / "src/my_service/app.py").read_text()
    assert "serving.init_socketio(app, rooms.socketio)" in app


def test_the_hook_keeps_shared_paths_while_either_answer_keeps_them():
    """redis_settings.py: background jobs' and Socket.IO's; websocket_guard.py and
    docs/websockets.md: flask-sock's and Socket.IO's."""
    answers = {"package_name": "shop", "project_slug": "shop-api", "deploy_systemd": False}
    hook = post_gen_hook()
    answers |= {name: "no" for name in hook.OWNED_BY_ANSWER if name not in answers}
    shared = "src/shop/serving/redis_settings.py"
    for jobs, websockets, kept in [
        ("none", "no", False),
        ("rq", "no", True),
        ("none", "socketio", True),
        ("rq", "socketio", True),
        ("none", "yes", False),
    ]:
        removed = hook.removed_paths({**answers, "background_jobs": jobs, "websockets": websockets})
        assert (shared not in removed) == kept, (jobs, websockets)
        guard = "src/shop/serving/websocket_guard.py"
        assert (guard not in removed) == (websockets != "no"), websockets
