"""An example of Socket.IO events with Flask-SocketIO: rooms and broadcasts.

A client connects to /socket.io/ (the websocket transport: socket.io-client's
`transports: ["websocket"]`, python-socketio's `transports=["websocket"]`), then:
- `join` {"room": NAME}: joins the room, and everyone in it gets `joined`;
- `say` {"room": NAME, "text": TEXT}: everyone in the room gets `said`;
- `announce` {"text": TEXT}: every connected client gets `announced`.
With REDIS_URL set, rooms and broadcasts reach the clients of every worker and
instance; a handler may also `emit` outside a request (a job, a command) through
the same SocketIO object.

The serving machinery binds `socketio` to the app (serving/socketio.py, from
create_app): the transport, the message queue, the Origin check, the bound per
worker, and the close with 1001 on a stop, so clients reconnect elsewhere.
docs/websockets.md has the settings and each platform's limits.
"""

from __future__ import annotations

from flask_socketio import SocketIO, emit, join_room

socketio = SocketIO()
# Longer names and texts are refused: a room is a key in every worker's memory.
MAX_ROOM = 100
MAX_TEXT = 1000


def _text(data, key: str, limit: int) -> str | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


@socketio.on("join")
def join(data) -> dict:
    room = _text(data, "room", MAX_ROOM)
    if room is None:
        return {"error": "expected {'room': NAME}, " + f"NAME of 1 to {MAX_ROOM} characters"}
    join_room(room)
    emit("joined", {"room": room}, to=room)
    return {"room": room}


@socketio.on("say")
def say(data) -> dict:
    room, text = _text(data, "room", MAX_ROOM), _text(data, "text", MAX_TEXT)
    if room is None or text is None:
        return {"error": "expected {'room': NAME, 'text': TEXT}"}
    emit("said", {"room": room, "text": text}, to=room)
    return {"sent": True}


@socketio.on("announce")
def announce(data) -> dict:
    text = _text(data, "text", MAX_TEXT)
    if text is None:
        return {"error": "expected {'text': TEXT}"}
    emit("announced", {"text": text}, broadcast=True)
    return {"sent": True}
