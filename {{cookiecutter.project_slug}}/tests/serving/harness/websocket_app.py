"""The probe app plus WebSocket routes, under /_probe/ws/. Never deployed.

Gunicorn loads it as `harness.websocket_app:app`. Each route logs when its socket
opens and when its view returns, so a test knows without sleeping.
"""

import logging

from flask import Blueprint
from flask_sock import Sock

from .probe_app import create_probe_app

log = logging.getLogger("probe.ws")
OPENED = "websocket opened"
RETURNED = "websocket view returned"

bp = Blueprint("_probe_ws", __name__, url_prefix="/_probe/ws")
sock = Sock()


@sock.route("/echo", bp=bp)
def echo(ws):
    log.info(OPENED)
    try:
        while True:
            ws.send(ws.receive())
    finally:
        log.info(RETURNED)


@sock.route("/close", bp=bp)
def close(ws):
    """Closes from the server side at once, with 1000."""
    log.info(OPENED)
    ws.close(reason=1000, message="done")
    log.info(RETURNED)


app = create_probe_app()
app.register_blueprint(bp)
