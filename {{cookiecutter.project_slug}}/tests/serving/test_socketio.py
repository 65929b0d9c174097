"""Socket.IO through the worker classes (serving/socketio.py), with real clients.

Real gunicorn masters (harness/socketio_app.py), gevent unless a test says otherwise:
two workers and a throwaway Redis carry a room's message and a broadcast from one
worker's client to another's; without REDIS_URL the service runs one worker and says
so; a cross-site Origin is refused; SIGTERM closes every socket with 1001 and the
master exits; on gthread the bound is the threads less one, refused with 503 at once.
"""

import contextlib
import json
import queue
import signal
import time

import pytest
import requests
import socketio
import websocket
from harness.http import wait_for, wait_for_health
from harness.socketio_app import CONNECTED, DISCONNECTED

from {{ cookiecutter.package_name }}.serving.settings import load_settings
from {{ cookiecutter.package_name }}.serving.worker_sizing import (
    socketio_worker_count,
    worker_count,
)

SOCKETIO_APP = "harness.socketio_app:app"
# A message or a refusal, on a loaded CI machine.
PROMPT = 5.0
# Clients tried before two land on different workers (the kernel spreads connections
# over the workers' sockets by their addresses: a few suffice).
TRIES = 20


def start(start_gunicorn, redis_url, **env):
    """A server whose message queue is the throwaway Redis, or none with redis_url="".
    (test.env's REDIS_URL, where background jobs need one, is a port nothing listens on.)"""
    defaults = {"GUNICORN_WORKER_CLASS": "gevent", "WEB_CONCURRENCY": "1", "REDIS_URL": redis_url}
    server = start_gunicorn({**defaults, **env}, app=SOCKETIO_APP)
    wait_for_health(server.url)
    return server


class Client:
    """A python-socketio client on the websocket transport, its events in a queue."""

    def __init__(self, server, **headers):
        self.events: queue.Queue = queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        for name in ("said", "announced"):
            self.sio.on(name, lambda data, name=name: self.events.put((name, data)))
        self.sio.connect(server.url, transports=["websocket"], headers=headers, wait_timeout=10)
        self.pid = self.sio.call("pid", timeout=PROMPT)

    def next_event(self) -> tuple[str, dict]:
        return self.events.get(timeout=PROMPT)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sio.disconnect()


@contextlib.contextmanager
def clients():
    made: list[Client] = []
    try:
        yield made
    finally:
        for client in made:
            client.close()


def engineio_socket(server, **options) -> websocket.WebSocket:
    """A bare Engine.IO websocket (what a Socket.IO client opens), to read its frames."""
    url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    return websocket.create_connection(url, timeout=10, **options)


def close_code(ws: websocket.WebSocket) -> int:
    while True:
        frame = ws.recv_frame()
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big")


def boot_config(server) -> dict:
    booted = '"gunicorn configuration"'
    wait_for(lambda: any(booted in line for line in server.lines()), 10, "boot line")
    line = next(line for line in server.lines() if booted in line)
    return json.loads(line)["config"]


def test_rooms_and_broadcasts_cross_workers_through_redis(start_gunicorn, redis_url):
    server = start(start_gunicorn, redis_url, WEB_CONCURRENCY="2")
    with clients() as made:
        made.append(Client(server))
        for _ in range(TRIES):
            if made[-1].pid != made[0].pid:
                break
            made.append(Client(server))
        first, other = made[0], made[-1]
        assert first.pid != other.pid, f"{TRIES} clients all on worker {first.pid}"
        for client in (first, other):
            assert client.sio.call("join", "lobby", timeout=PROMPT) == "lobby"
        sent = time.perf_counter()
        first.sio.emit("say", {"room": "lobby", "text": "hello"})
        # The message crossed workers: sent by first's worker, delivered by other's.
        assert other.next_event() == ("said", {"text": "hello", "pid": first.pid})
        crossed = time.perf_counter() - sent
        other.sio.emit("announce", "to everyone")
        for client in made:
            event = client.next_event()
            while event[0] == "said":  # the room's message, for clients in the room
                event = client.next_event()
            assert event == ("announced", {"text": "to everyone", "pid": other.pid})
    print(f"\nroom message across workers through Redis: {crossed * 1000:.1f} ms")


def test_without_redis_the_count_is_one_worker_whatever_asks_for_more():
    for environ in ({"WEB_CONCURRENCY": "3"}, {"WORKERS_PER_CORE": "4"}):
        settings = load_settings(environ)
        assert socketio_worker_count(settings, worker_count(settings)).workers == 1
    queued = load_settings({"WEB_CONCURRENCY": "3", "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert socketio_worker_count(queued, worker_count(queued)).workers == 3

{%- if cookiecutter.background_jobs != "rq" %}
{#- With background jobs every process needs REDIS_URL (test_jobs_settings.py). #}


def test_without_redis_one_worker_runs_and_a_warning_says_why(start_gunicorn):
    server = start(start_gunicorn, "", WEB_CONCURRENCY="3")
    config = boot_config(server)
    assert config["workers"] == 1
    assert config["workers_source"].startswith("one worker: Socket.IO without REDIS_URL")
    assert any("REDIS_URL is not set" in line and "WARNING" in line for line in server.lines())
    with clients() as made:
        made += [Client(server), Client(server)]
        made[0].sio.call("join", "lobby", timeout=PROMPT)
        made[1].sio.call("join", "lobby", timeout=PROMPT)
        made[0].sio.emit("say", {"room": "lobby", "text": "one worker"})
        assert made[1].next_event()[1]["text"] == "one worker"
{%- endif %}


def test_a_cross_site_origin_is_refused(start_gunicorn, redis_url):
    server = start(start_gunicorn, redis_url)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        engineio_socket(server, origin="https://elsewhere.example")
    assert refused.value.status_code == 400  # Engine.IO's answer to an origin it refuses
    ws = engineio_socket(server, origin=server.url)  # the service's own page
    try:
        assert ws.recv().startswith("0{")  # Engine.IO's open packet
    finally:
        ws.close(timeout=1)
    assert any("elsewhere.example is not an accepted origin" in line for line in server.lines())


def test_sigterm_closes_every_socket_with_1001_and_the_master_exits(start_gunicorn, redis_url):
    graceful = 8
    server = start(start_gunicorn, redis_url, WEB_CONCURRENCY="2", GUNICORN_GRACEFUL_TIMEOUT="8")
    sockets = [engineio_socket(server) for _ in range(4)]
    with clients() as made:
        made += [Client(server), Client(server)]
        wait_for(lambda: sum(CONNECTED in line for line in server.lines()) >= 2, 10, "connected")
        for ws in sockets:
            assert ws.recv().startswith("0{")  # Engine.IO's open packet
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        for ws in sockets:
            assert close_code(ws) == 1001
            ws.close(timeout=1)  # the answer a client sends
        closed = time.monotonic() - signalled
        wait_for(lambda: not any(c.sio.connected for c in made), graceful, "clients disconnected")
        exit_code = server.process.wait(timeout=graceful + 5)
    took = time.monotonic() - signalled
    print(f"\n1001 {closed:.2f}s after SIGTERM, master exited in {took:.2f}s")
    assert exit_code == 0
    assert closed < 1.5
    assert took < graceful / 2, f"took {took:.1f}s"
    assert sum(DISCONNECTED in line for line in server.lines()) >= 2


def test_on_gthread_sockets_are_bounded_below_the_threads(start_gunicorn, redis_url):
    threads = 3  # two sockets, one thread kept for probes and plain requests
    server = start(
        start_gunicorn, redis_url, GUNICORN_WORKER_CLASS="gthread", GUNICORN_THREADS=str(threads)
    )
    sockets = [engineio_socket(server) for _ in range(threads - 1)]
    try:
        for ws in sockets:
            assert ws.recv().startswith("0{")
        asked = time.monotonic()
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            engineio_socket(server)
        assert refused.value.status_code == 503
        assert time.monotonic() - asked < PROMPT
        assert requests.get(server.url + "/health", timeout=PROMPT).status_code == 200
    finally:
        for ws in sockets:
            ws.close(timeout=1)


def test_a_sync_worker_answers_501(start_gunicorn, redis_url):
    server = start(start_gunicorn, redis_url, GUNICORN_WORKER_CLASS="sync")
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        engineio_socket(server)
    assert refused.value.status_code == 501
