"""The example WebSocket route (ws.py), through a real server: Flask's test client
speaks no WebSocket. Werkzeug's threaded server runs the app in this process."""

import threading

import pytest
import websocket
from werkzeug.serving import make_server


@pytest.fixture
def ws_base(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_echo_sends_each_message_back(ws_base):
    ws = websocket.create_connection(f"{ws_base}/ws/echo", timeout=10)
    try:
        ws.send("hello")
        assert ws.recv() == "hello"
        ws.send_binary(b"\x00\x01")
        assert ws.recv() == b"\x00\x01"
    finally:
        ws.close()


def test_a_page_of_another_site_cannot_open_it(ws_base):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            f"{ws_base}/ws/echo", timeout=10, origin="https://elsewhere.example"
        )
    assert refused.value.status_code == 403
