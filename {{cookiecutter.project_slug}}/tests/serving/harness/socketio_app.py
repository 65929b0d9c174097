"""The probe app plus Socket.IO events, bound by the machinery. Never deployed.

Gunicorn loads it as `harness.socketio_app:app`. `pid` answers the worker's process
id, so a test knows which worker holds each client; connects and disconnects are
logged, so a test knows without sleeping.
"""

import logging
import os

from flask_socketio import SocketIO, emit, join_room

from {{ cookiecutter.package_name }}.serving.settings import current_settings
from {{ cookiecutter.package_name }}.serving.socketio import init_socketio

from .probe_app import create_probe_app

log = logging.getLogger("probe.socketio")
CONNECTED = "socket.io connected"
DISCONNECTED = "socket.io disconnected"

socketio = SocketIO()


@socketio.on("connect")
def connected():
    log.info(CONNECTED)


@socketio.on("disconnect")
def disconnected(reason=None):
    log.info(DISCONNECTED)


@socketio.on("pid")
def pid():
    return os.getpid()


@socketio.on("join")
def join(room):
    join_room(room)
    return room


@socketio.on("say")
def say(data):
    emit("said", {"text": data["text"], "pid": os.getpid()}, to=data["room"])


@socketio.on("announce")
def announce(text):
    emit("announced", {"text": text, "pid": os.getpid()}, broadcast=True)


app = create_probe_app()
init_socketio(app, socketio, current_settings())
