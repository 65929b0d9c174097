"""An example WebSocket route with flask-sock: /ws/echo sends back each message.

Declare a route with `@sock.route(PATH, bp=bp)`; the view gets the socket and runs
as long as it is open, holding a thread (gthread) or a greenlet (gevent) of its
worker. `ws.receive()` waits for the next message and raises ConnectionClosed once
the client or the server has closed it; the view then returns.

The serving machinery guards every such route (serving/websockets.py): cross-site
handshakes get 403, a worker full of sockets 503 at once; idle sockets are pinged,
and on a stop every socket is closed with 1001 so clients reconnect elsewhere.
docs/websockets.md has the settings and each platform's limits.
"""

from __future__ import annotations

from flask import Blueprint
from flask_sock import Sock

bp = Blueprint("ws", __name__)
sock = Sock()


@sock.route("/ws/echo", bp=bp)
def echo(ws) -> None:
    while True:
        ws.send(ws.receive())
